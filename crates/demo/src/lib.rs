//! A deterministic, Bluesky-shaped synthetic dataset so a fresh install
//! answers feeds at once and benchmarks run on realistic shapes.
//!
//! The shape is what makes personalization visible: users belong to a few
//! communities (power-law sizes), like mostly posts from their communities,
//! like activity and post popularity are heavy-tailed, and likes come soon
//! after a post is created. The same spec and seed always give the same
//! events; timestamps are anchored at `now_us` so the data sits inside the
//! retention window when it is loaded.
//!
//! Posts speak their community's language (`content`): several languages,
//! Norwegian among them, with replies, media and hashtags, and the demo
//! viewer writes a few posts of its own.
//!
//! Events come out as [`RepoEvent::PostCreate`] and
//! [`RepoEvent::LikeCreate`], in time order, exactly what a Jetstream
//! capture replay produces, so the demo loads through the same path.

mod content;
mod ids;
mod sampling;

use feedmixer_atproto::{RepoEvent, post_uri};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashSet;

pub use content::{language, topic};
pub use ids::{did_for, tid};
use sampling::Cumulative;

/// The viewer whose personalized feed the README shows.
pub const DEMO_VIEWER: &str = "did:plc:demoviewer22222222222222";

/// Communities the demo viewer likes, with the share of its likes in each.
const VIEWER_TASTE: [(usize, f64); 3] = [(2, 0.5), (5, 0.3), (9, 0.2)];

/// Posts the demo viewer writes (in its first community), so feeds show
/// they leave a viewer's own posts out.
const VIEWER_POSTS: usize = 12;

/// The share of posts that reply to an earlier post of their community.
const REPLY_SHARE: f64 = 0.2;

const MICROS_PER_SEC: u64 = 1_000_000;

/// Size and shape of a generated dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoSpec {
    /// Accounts, authors included (the first `authors` users write posts).
    pub users: usize,
    /// Like events generated, the demo viewer's included.
    pub likes: usize,
    /// Accounts that write posts.
    pub authors: usize,
    /// Posts written over the period.
    pub posts: usize,
    /// Interest communities; must exceed the demo viewer's (10).
    pub communities: usize,
    /// Likes the demo viewer makes.
    pub viewer_likes: usize,
    /// Length of the period, ending at `now_us`.
    pub days: u32,
    pub seed: u64,
    /// The end of the period, in Jetstream's `time_us`.
    pub now_us: u64,
}

impl DemoSpec {
    /// The `serve --demo` dataset: 100k users, 1M likes over 7 days.
    pub fn full(now_us: u64) -> Self {
        DemoSpec {
            users: 100_000,
            likes: 1_000_000,
            authors: 3_000,
            posts: 60_000,
            communities: 24,
            viewer_likes: 300,
            days: 7,
            seed: 0xfeed_5eed,
            now_us,
        }
    }

    /// `full` with `factor` times the users, likes, authors and posts (the
    /// demo viewer and its likes, the communities and the period are
    /// unchanged): 10 gives 10M likes, the graph production replicas are
    /// sized for. For benchmarks at scale.
    pub fn scaled(now_us: u64, factor: usize) -> Self {
        let full = Self::full(now_us);
        DemoSpec {
            users: full.users * factor,
            likes: full.likes * factor,
            authors: full.authors * factor,
            posts: full.posts * factor,
            ..full
        }
    }

    /// A small dataset with the same shape, for tests.
    pub fn small(now_us: u64) -> Self {
        DemoSpec {
            users: 2_000,
            likes: 20_000,
            authors: 200,
            posts: 2_000,
            communities: 12,
            viewer_likes: 120,
            days: 7,
            seed: 0xfeed_5eed,
            now_us,
        }
    }
}

/// One generated post.
struct Post {
    author: usize,
    created_us: u64,
    rkey: String,
}

/// The seed of the post content's own generator.
const CONTENT_SEED: u64 = 0xc0_47e7;

/// Calls `sink` with every post and like of the dataset, in time order
/// (a post before the likes of it).
pub fn generate(spec: &DemoSpec, mut sink: impl FnMut(RepoEvent)) {
    assert!(
        spec.communities > 10,
        "the demo viewer's communities need at least 11"
    );
    assert!(spec.authors > 0 && spec.authors < spec.users && spec.posts > 0);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let period_us = u64::from(spec.days) * 86_400 * MICROS_PER_SEC;
    let start_us = spec.now_us.saturating_sub(period_us);

    // Users: a primary community from power-law community sizes, a
    // secondary one for some, and a heavy-tailed activity level.
    let community_sizes =
        Cumulative::new((0..spec.communities).map(|c| 1.0 / (c as f64 + 1.0).sqrt()));
    let primary: Vec<usize> = (0..spec.users)
        .map(|_| community_sizes.sample(&mut rng))
        .collect();
    let secondary: Vec<Option<usize>> = (0..spec.users)
        .map(|_| {
            rng.random_bool(0.3)
                .then(|| community_sizes.sample(&mut rng))
        })
        .collect();
    let viewer = spec.users - 1;
    let activity = Cumulative::new((0..spec.users).map(|u| {
        if u == viewer {
            0.0
        } else {
            pareto(&mut rng, 1.3)
        }
    }));

    // Posts: authors write at heavy-tailed rates, in their primary
    // community, at uniform times; popularity is heavy-tailed too.
    let author_rate = Cumulative::new((0..spec.authors).map(|_| pareto(&mut rng, 1.2)));
    let mut posts: Vec<Post> = (0..spec.posts)
        .map(|i| {
            let author = author_rate.sample(&mut rng);
            let created_us = start_us + rng.random_range(0..period_us.max(1));
            Post {
                author,
                created_us,
                rkey: tid(created_us, i as u16),
            }
        })
        .collect();
    let community_of = |author: usize| {
        if author == viewer {
            VIEWER_TASTE[0].0
        } else {
            primary[author]
        }
    };
    let mut by_community: Vec<Vec<usize>> = vec![Vec::new(); spec.communities];
    for (i, post) in posts.iter().enumerate() {
        by_community[community_of(post.author)].push(i);
    }
    let popularity: Vec<Option<Cumulative>> = by_community
        .iter()
        .map(|ids| {
            (!ids.is_empty()).then(|| Cumulative::new(ids.iter().map(|_| pareto(&mut rng, 1.1))))
        })
        .collect();
    let pick_post = |rng: &mut ChaCha8Rng, community: usize| -> Option<usize> {
        let table = popularity[community].as_ref()?;
        Some(by_community[community][table.sample(rng)])
    };

    // Likes: (time, user, post), no user liking a post twice.
    let mut likes = Likes::with_capacity(spec.likes);
    let viewer_taste = Cumulative::new(VIEWER_TASTE.iter().map(|&(_, share)| share));
    for _ in 0..spec.viewer_likes * 4 {
        if likes.len() >= spec.viewer_likes {
            break;
        }
        let community = VIEWER_TASTE[viewer_taste.sample(&mut rng)].0;
        if let Some(post) = pick_post(&mut rng, community) {
            likes.push(&mut rng, viewer, post, posts[post].created_us, spec.now_us);
        }
    }
    let mut attempts = 0;
    while likes.len() < spec.likes && attempts < spec.likes * 4 {
        attempts += 1;
        let user = activity.sample(&mut rng);
        let roll = rng.random::<f64>();
        let community = if roll < 0.85 {
            primary[user]
        } else if roll < 0.95 {
            secondary[user].unwrap_or(primary[user])
        } else {
            rng.random_range(0..spec.communities)
        };
        if let Some(post) = pick_post(&mut rng, community) {
            likes.push(&mut rng, user, post, posts[post].created_us, spec.now_us);
        }
    }

    // The viewer's own posts and their likes, from the content's
    // generator, so the draws of everything else stay as they were.
    let mut content_rng = ChaCha8Rng::seed_from_u64(spec.seed ^ CONTENT_SEED);
    let community = VIEWER_TASTE[0].0;
    for i in 0..VIEWER_POSTS {
        let created_us = start_us + content_rng.random_range(0..period_us.max(1));
        posts.push(Post {
            author: viewer,
            created_us,
            rkey: tid(created_us, (spec.posts + i) as u16),
        });
        let post = posts.len() - 1;
        let fans = content_rng.random_range(5..40);
        for _ in 0..fans * 20 {
            let user = content_rng.random_range(0..viewer);
            if primary[user] == community {
                likes.push(&mut content_rng, user, post, created_us, spec.now_us);
            }
        }
    }

    let did_of = |user: usize| {
        if user == viewer {
            DEMO_VIEWER.to_string()
        } else {
            did_for(spec.seed, user as u64)
        }
    };
    let uri_of = |post: &Post| post_uri(&did_of(post.author), &post.rkey);

    // Post records: a reply answers an earlier post of its community.
    let mut by_time: Vec<usize> = (0..posts.len()).collect();
    by_time.sort_unstable_by_key(|&i| (posts[i].created_us, i));
    let mut recent: Vec<Vec<usize>> = vec![Vec::new(); spec.communities];
    let mut post_events: Vec<(u64, RepoEvent)> = Vec::with_capacity(posts.len());
    for &i in &by_time {
        let post = &posts[i];
        let community = community_of(post.author);
        let earlier = &recent[community];
        let replied = (!earlier.is_empty() && content_rng.random_bool(REPLY_SHARE))
            .then(|| uri_of(&posts[earlier[content_rng.random_range(0..earlier.len())]]));
        let record = content::post(&mut content_rng, i, community, post.created_us, replied);
        recent[community].push(i);
        post_events.push((
            post.created_us,
            RepoEvent::PostCreate {
                did: did_of(post.author),
                rkey: post.rkey.clone(),
                time_us: post.created_us,
                post: Box::new(record),
            },
        ));
    }

    let mut likes = likes.list;
    likes.sort_unstable();
    let mut post_events = post_events.into_iter().peekable();
    for (n, (time_us, user, post)) in likes.into_iter().enumerate() {
        while let Some((_, event)) = post_events.next_if(|(at, _)| *at <= time_us) {
            sink(event);
        }
        let post = &posts[post as usize];
        sink(RepoEvent::LikeCreate {
            did: did_of(user as usize),
            rkey: tid(time_us, n as u16),
            subject: uri_of(post),
            time_us,
        });
    }
    for (_, event) in post_events {
        sink(event);
    }
}

/// Generated likes, `(time_us, user, post)`, at most one per user and post.
struct Likes {
    list: Vec<(u64, u32, u32)>,
    seen: FxHashSet<(u32, u32)>,
}

impl Likes {
    fn with_capacity(n: usize) -> Self {
        Likes {
            list: Vec::with_capacity(n),
            seen: FxHashSet::default(),
        }
    }

    fn len(&self) -> usize {
        self.list.len()
    }

    fn push(
        &mut self,
        rng: &mut ChaCha8Rng,
        user: usize,
        post: usize,
        created_us: u64,
        now_us: u64,
    ) {
        if self.seen.insert((user as u32, post as u32)) {
            // Most likes come soon after the post appears.
            let delay = (now_us - created_us) as f64 * rng.random::<f64>().powi(3);
            self.list
                .push((created_us + delay as u64, user as u32, post as u32));
        }
    }
}

/// A Pareto(alpha) draw with minimum 1: heavy tails for activity and
/// popularity.
fn pareto(rng: &mut ChaCha8Rng, alpha: f64) -> f64 {
    let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    u.powf(-1.0 / alpha).min(1e6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustc_hash::FxHashMap;

    const NOW: u64 = 1_790_000_000 * MICROS_PER_SEC;

    fn events(spec: &DemoSpec) -> Vec<RepoEvent> {
        let mut out = Vec::new();
        generate(spec, |e| out.push(e));
        out
    }

    #[test]
    fn scaled_multiplies_the_full_spec() {
        assert_eq!(DemoSpec::scaled(NOW, 1), DemoSpec::full(NOW));
        let full = DemoSpec::full(NOW);
        let ten = DemoSpec::scaled(NOW, 10);
        assert_eq!(
            (ten.users, ten.likes, ten.authors, ten.posts),
            (
                full.users * 10,
                full.likes * 10,
                full.authors * 10,
                full.posts * 10
            )
        );
        assert_eq!(
            (ten.viewer_likes, ten.communities, ten.days, ten.seed),
            (full.viewer_likes, full.communities, full.days, full.seed)
        );
        // The demo viewer is in a scaled dataset too.
        let mut spec = DemoSpec::scaled(NOW, 2);
        spec.likes = 50_000;
        let mut viewer_likes = 0;
        generate(&spec, |e| {
            if let RepoEvent::LikeCreate { did, .. } = e
                && did == DEMO_VIEWER
            {
                viewer_likes += 1;
            }
        });
        assert!(viewer_likes > 0);
    }

    #[test]
    fn is_deterministic() {
        let spec = DemoSpec::small(NOW);
        assert_eq!(events(&spec), events(&spec));
    }

    #[test]
    fn has_the_promised_shape() {
        let spec = DemoSpec::small(NOW);
        let events = events(&spec);
        assert!(
            events.len() > spec.likes * 9 / 10,
            "{} events",
            events.len()
        );
        let start = NOW - 7 * 86_400 * MICROS_PER_SEC;
        let mut last = 0;
        let mut keys = FxHashSet::default();
        let mut per_user: FxHashMap<&str, usize> = FxHashMap::default();
        let mut posted = FxHashSet::default();
        let (mut replies, mut media, mut tagged, mut own) = (0, 0, 0, 0);
        let mut languages = FxHashSet::default();
        for e in &events {
            if let RepoEvent::PostCreate {
                did,
                rkey,
                time_us,
                post,
            } = e
            {
                assert!(*time_us >= last, "events come in time order");
                last = *time_us;
                posted.insert(feedmixer_atproto::post_uri(did, rkey));
                replies += usize::from(post.is_reply());
                media += usize::from(post.has_media());
                tagged += usize::from(!post.tags.is_empty());
                own += usize::from(did == DEMO_VIEWER);
                languages.extend(post.langs.iter().cloned());
                continue;
            }
            let RepoEvent::LikeCreate {
                did,
                rkey,
                subject,
                time_us,
            } = e
            else {
                panic!("only creates")
            };
            assert!(posted.contains(subject), "a like follows its post");
            assert!((start..=NOW).contains(time_us));
            assert!(*time_us >= last, "events come in time order");
            last = *time_us;
            assert!(
                keys.insert((did.clone(), rkey.clone())),
                "like keys are unique"
            );
            let uri = feedmixer_atproto::AtUri::parse(subject).unwrap();
            assert!(uri.is_post() && feedmixer_atproto::is_did(did));
            *per_user.entry(did).or_default() += 1;
        }
        assert_eq!(posted.len(), spec.posts + VIEWER_POSTS);
        let share = |n: usize| n as f64 / posted.len() as f64;
        assert!((0.1..0.3).contains(&share(replies)), "{replies} replies");
        assert!((0.15..0.4).contains(&share(media)), "{media} with media");
        assert!(
            (0.3..0.5).contains(&share(tagged)),
            "{tagged} with hashtags"
        );
        assert_eq!(own, VIEWER_POSTS);
        for lang in ["nb", "nn", "se", "en", "ja"] {
            assert!(languages.contains(lang), "{lang} posts");
        }
        let viewer = per_user[DEMO_VIEWER];
        assert!((spec.viewer_likes * 9 / 10..=spec.viewer_likes).contains(&viewer));
        let max = per_user.values().max().unwrap();
        assert!(
            *max > 20 * events.len() / per_user.len(),
            "activity is heavy-tailed"
        );
    }
}
