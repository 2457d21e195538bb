//! A seeded stream of Jetstream events (likes, posts, and deletes of
//! both) with the store content it must leave, and a reader of what a
//! store holds, for tests that interrupt ingest and check that it ended
//! exact: nothing lost, nothing doubled.

use std::collections::BTreeSet;

use feedmixer_atproto::{Post, RepoEvent};
use feedmixer_store::{Store, StoreCounts};

/// SplitMix64: a few lines with output fixed forever, so a seed names the
/// same run on every machine and every version of the `rand` crate.
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`hi > lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }

    /// Uniform in `[lo, hi)`.
    pub fn fraction(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
    }
}

/// Likers and authors: enough of them that no DID comes near the bot
/// filter's 300 creates a minute at the paces the tests stream.
const FANS: u64 = 97;
const AUTHORS: u64 = 13;
/// The author of the posts liked that never come on the stream.
const NEVER_POSTED: &str = "did:plc:crashghost222222222222222";

/// What a store holds, reduced to what ingest decides: the live likes
/// and posts by `(did, rkey)`, the counts and the ingest cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub likes: BTreeSet<(String, String)>,
    pub posts: BTreeSet<(String, String)>,
    pub counts: StoreCounts,
    pub cursor: Option<u64>,
}

impl Content {
    /// Reads `store` whole.
    pub async fn read(store: &dyn Store) -> Content {
        let mut likes = BTreeSet::new();
        store
            .scan_likes(0, &mut |like: feedmixer_store::LikeRef<'_>| {
                likes.insert((like.did.to_string(), like.rkey.to_string()));
            })
            .await
            .unwrap();
        let mut posts = BTreeSet::new();
        store
            .scan_posts(0, &mut |post: feedmixer_store::PostRef<'_>| {
                posts.insert((post.did.to_string(), post.rkey.to_string()));
            })
            .await
            .unwrap();
        let cursor = store
            .get_meta(feedmixer_ingest::CURSOR_KEY)
            .await
            .unwrap()
            .map(|v| String::from_utf8(v).unwrap().parse().unwrap());
        Content {
            likes,
            posts,
            counts: store.counts().await.unwrap(),
            cursor,
        }
    }
}

/// A seeded event stream, in time order, one `step_us` apart from
/// `base_us`: about 80 % like creates (6 % of them of a post the liker
/// already likes), 8 % post creates (half of them about Rust, which the
/// shipped `rust` feed takes into its pool), 8 % deletes of a live like
/// and 4 % deletes of a live post. Every create has its own key, so what a
/// store must hold at the end is known exactly.
pub struct Workload {
    /// Jetstream JSON lines.
    pub lines: Vec<String>,
    /// `time_us` of each line.
    pub times: Vec<u64>,
    /// The store content once every line was applied (cursor: the last
    /// `time_us`).
    pub expected: Content,
    /// The likes the graph then counts (`/v1/stats` `likes`): distinct
    /// (liker, post) pairs, likes of deleted posts left out.
    pub graph_likes: u64,
}

impl Workload {
    pub fn new(seed: u64, events: usize, base_us: u64, step_us: u64) -> Workload {
        let mut rng = SplitMix::new(seed);
        let mut lines = Vec::with_capacity(events);
        let mut times = Vec::with_capacity(events);
        let mut likes: Vec<(String, String)> = Vec::new();
        let mut posts: Vec<(String, String)> = Vec::new();
        let mut subjects: std::collections::HashMap<(String, String), String> =
            std::collections::HashMap::new();
        let mut deleted_posts = BTreeSet::new();
        for i in 0..events {
            let time_us = base_us + i as u64 * step_us;
            let roll = rng.range(0, 100);
            let event = if roll < 8 && !likes.is_empty() {
                let (did, rkey) = likes.swap_remove(rng.range(0, likes.len() as u64) as usize);
                RepoEvent::LikeDelete { did, rkey, time_us }
            } else if roll < 12 && !posts.is_empty() {
                let (did, rkey) = posts.swap_remove(rng.range(0, posts.len() as u64) as usize);
                deleted_posts.insert(feedmixer_atproto::post_uri(&did, &rkey));
                RepoEvent::PostDelete { did, rkey, time_us }
            } else if roll < 20 {
                let did = format!("did:plc:crashauthor{:0>12}", rng.range(0, AUTHORS));
                let rkey = format!("3p{i:011}");
                posts.push((did.clone(), rkey.clone()));
                RepoEvent::PostCreate {
                    did,
                    rkey,
                    time_us,
                    post: Box::new(Post {
                        langs: vec!["en".to_string()],
                        // Every other one for the shipped `rust` feed's
                        // pool.
                        text: if i % 2 == 0 {
                            format!("post {i} about rust")
                        } else {
                            format!("post {i}")
                        },
                        ..Post::default()
                    }),
                }
            } else {
                let (did, subject) = if roll < 26 && !likes.is_empty() {
                    // A liker likes a post it already likes, in a record
                    // of its own: the graph counts the pair once, and
                    // keeps it while either record is live.
                    let (did, earlier) = &likes[rng.range(0, likes.len() as u64) as usize];
                    let subject = subjects[&(did.clone(), earlier.clone())].clone();
                    (did.clone(), subject)
                } else {
                    let did = format!("did:plc:crashfan{:0>16}", rng.range(0, FANS));
                    let subject = match posts.len() {
                        0 => feedmixer_atproto::post_uri(NEVER_POSTED, &format!("3x{i:010}")),
                        n => {
                            let (did, rkey) = &posts[rng.range(0, n as u64) as usize];
                            feedmixer_atproto::post_uri(did, rkey)
                        }
                    };
                    (did, subject)
                };
                let rkey = format!("3lk{i:010}");
                likes.push((did.clone(), rkey.clone()));
                subjects.insert((did.clone(), rkey.clone()), subject.clone());
                RepoEvent::LikeCreate {
                    did,
                    rkey,
                    subject,
                    time_us,
                }
            };
            lines.push(event.to_jetstream_json());
            times.push(time_us);
        }
        let graph_likes = likes
            .iter()
            .map(|key| (&key.0, &subjects[key]))
            .filter(|(_, subject)| !deleted_posts.contains(*subject))
            .collect::<BTreeSet<_>>()
            .len() as u64;
        let counts = StoreCounts {
            likes: likes.len() as u64,
            posts: posts.len() as u64,
        };
        let expected = Content {
            likes: likes.into_iter().collect(),
            posts: posts.into_iter().collect(),
            counts,
            cursor: times.last().copied(),
        };
        Workload {
            lines,
            times,
            expected,
            graph_likes,
        }
    }

    /// The index of the first event at or after `cursor`.
    pub fn first_at(&self, cursor: u64) -> usize {
        self.times.partition_point(|&t| t < cursor)
    }
}
