//! Early signals: fresh posts with few likes so far, liked by users who are
//! well connected in the graph. And how old a post is, which they need.

use crate::decay::exact;
use crate::graph::{LikeGraph, PostId};
use crate::rank::into_top_k;

/// What [`discovery_scores`] keeps and how it decays.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryParams {
    /// Fewest likes (not counting the author's own) a post needs.
    pub min_likes: usize,
    /// Most likes (not counting the author's own) a post may have.
    pub max_likes: usize,
    /// Posts older than this are left out, seconds.
    pub max_age_secs: u32,
    /// Half-life of the post-age decay, seconds; 0: no decay.
    pub half_life_secs: u32,
}

/// When `p` was posted, unix seconds, as well as the graph can tell: the
/// time in its record key when that is a TID (posts' keys are), but never
/// later than its first like in the window, since a post cannot be liked
/// before it exists; the first like alone when the key is not a TID. So a
/// key claiming a future time cannot keep a post fresh.
pub fn post_created_secs(graph: &LikeGraph, p: PostId) -> u32 {
    let first_like = graph
        .likers_of(p)
        .first()
        .map_or(graph.newest_ts(), |e| e.ts);
    graph
        .post_key_secs(p)
        .map_or(first_like, |t| t.min(first_like))
}

/// Fresh posts with few but well-connected likers. For a post p created at
/// [`post_created_secs`], with age = now - created (0 if in the future),
/// L the users that liked p other than its author, n = |L| and deg(s) the
/// number of posts s liked in the window:
///
/// ```text
/// score(p) = decay(age) x (1/n) x sum over s in L of ln(1 + deg(s))
/// decay(age) = 2^(-age / half_life)          (1 when half_life is 0)
/// ```
///
/// for posts with `min_likes <= n <= max_likes` and `age <= max_age_secs`;
/// the others are left out. A liker with a high degree ties the post to
/// many others (so co-like neighbourhoods reach it) and has shown their
/// taste widely; the log gives diminishing returns, so an account that
/// likes everything cannot carry a post on its own (10,000 likes weigh 9.2,
/// only 2.3x a 50-like user's 3.9); the mean, not the sum, makes the score
/// about who liked the post, not how many did, which the like range already
/// bounds; the author's own like says nothing about reach. Returns the top
/// `limit`, score descending, ties broken by lower [`PostId`].
///
/// Cost O(posts + likers of the posts in range): a post is skipped at one
/// comparison unless its like count could be in range and its first like
/// is recent; only then is its key decoded and are its likers read.
pub fn discovery_scores(
    graph: &LikeGraph,
    now_secs: u32,
    params: &DiscoveryParams,
    limit: usize,
) -> Vec<(PostId, f32)> {
    if limit == 0 || params.min_likes > params.max_likes {
        return Vec::new();
    }
    let oldest = now_secs.saturating_sub(params.max_age_secs);
    let mut scores = Vec::new();
    for p in 0..graph.num_posts() as PostId {
        let likers = graph.likers_of(p);
        // The author's like, if any, is one of them.
        if likers.len() < params.min_likes || likers.len() > params.max_likes + 1 {
            continue;
        }
        // A post is created no later than its first like.
        match likers.first() {
            Some(first) if first.ts >= oldest => {}
            _ => continue,
        }
        let created = post_created_secs(graph, p);
        if created < oldest {
            continue;
        }
        let author = graph.post_author(p);
        let (n, connectedness) =
            likers
                .iter()
                .filter(|e| e.id != author)
                .fold((0usize, 0.0f64), |(n, sum), e| {
                    let degree = graph.likes_of(e.id).len() as f64;
                    (n + 1, sum + degree.ln_1p())
                });
        if n < params.min_likes.max(1) || n > params.max_likes {
            continue;
        }
        let decay = f64::from(exact(
            params.half_life_secs,
            now_secs.saturating_sub(created),
        ));
        let score = decay * connectedness / n as f64;
        if score > 0.0 {
            scores.push((p, score as f32));
        }
    }
    into_top_k(scores, limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GraphBuilder;
    use crate::fixture::{self, AUTHOR, HOUR, NOW, assert_scores, did, uri};
    use feedmixer_atproto::Tid;

    fn params(min_likes: usize, max_likes: usize, max_age_hours: u32) -> DiscoveryParams {
        DiscoveryParams {
            min_likes,
            max_likes,
            max_age_secs: max_age_hours * HOUR,
            half_life_secs: HOUR,
        }
    }

    fn mean_ln1p(degrees: &[u32]) -> f64 {
        degrees.iter().map(|&d| f64::from(d).ln_1p()).sum::<f64>() / degrees.len() as f64
    }

    fn tid_uri(author: &str, created: u32) -> String {
        let tid = Tid::new(u64::from(created) * 1_000_000, 0);
        format!("at://{}/app.bsky.feed.post/{tid}", did(author))
    }

    // Fixture keys are not TIDs, so a post is as old as its first like.
    // Degrees V 2, A 3, B 4, C 2; decay(kh) = 2^-k.
    //   p0 V A B, created 2h   p3 A B, created 2h
    //   p1 V B C, created 2h   p4 B,   created 1h
    //   p2 A,     created 0h   p5 C,   created 0h

    #[test]
    fn mean_log_degree_of_likers_decayed_by_age() {
        let g = fixture::graph();
        let expected = [
            (2, mean_ln1p(&[3])),
            (5, mean_ln1p(&[2])),
            (4, mean_ln1p(&[4]) / 2.0),
            (3, mean_ln1p(&[3, 4]) / 4.0),
            (0, mean_ln1p(&[2, 3, 4]) / 4.0),
            (1, mean_ln1p(&[2, 4, 2]) / 4.0),
        ];
        assert_scores(
            &discovery_scores(&g, NOW, &params(1, 20, 24), 10),
            &expected,
        );
        assert_scores(
            &discovery_scores(&g, NOW, &params(1, 20, 24), 2),
            &expected[..2],
        );
        // 2..=20 likes: p3, p0, p1. 2..=2: p3.
        assert_scores(
            &discovery_scores(&g, NOW, &params(2, 20, 24), 10),
            &expected[3..],
        );
        assert_scores(
            &discovery_scores(&g, NOW, &params(2, 2, 24), 10),
            &expected[3..4],
        );
        // At most 1 h old (inclusive): p2, p5, p4.
        assert_scores(
            &discovery_scores(&g, NOW, &params(1, 20, 1), 10),
            &expected[..3],
        );
        // No decay.
        let flat = DiscoveryParams {
            half_life_secs: 0,
            ..params(2, 20, 24)
        };
        assert_scores(
            &discovery_scores(&g, NOW, &flat, 10),
            &[
                (3, mean_ln1p(&[3, 4])),
                (0, mean_ln1p(&[2, 3, 4])),
                (1, mean_ln1p(&[2, 4, 2])),
            ],
        );
    }

    #[test]
    fn empty_and_inverted_ranges_give_nothing() {
        let g = fixture::graph();
        assert!(discovery_scores(&g, NOW, &params(3, 2, 24), 10).is_empty());
        assert!(discovery_scores(&g, NOW, &params(1, 20, 24), 0).is_empty());
        assert!(discovery_scores(&g, NOW, &params(4, 20, 24), 10).is_empty());
        let empty = GraphBuilder::new(0).build();
        assert!(discovery_scores(&empty, NOW, &params(1, 20, 24), 10).is_empty());
    }

    #[test]
    fn age_comes_from_the_tid_capped_by_the_first_like() {
        let mut b = GraphBuilder::new(NOW - 7 * 24 * HOUR);
        let old = tid_uri("x", NOW - 30 * HOUR); // posted 30 h ago, liked now
        let fresh = tid_uri("x", NOW - 3 * HOUR); // posted 3 h ago, liked 1 h ago
        let future = tid_uri("x", NOW + 5 * HOUR); // a key from the future
        for (user, post, age) in [
            ("a", &old, 0),
            ("a", &fresh, HOUR),
            ("a", &future, 2 * HOUR),
        ] {
            assert!(b.add_like(&did(user), post, NOW - age));
        }
        let g = b.build();
        let id = |uri: &str| g.post_id(uri).unwrap();
        assert_eq!(post_created_secs(&g, id(&old)), NOW - 30 * HOUR);
        assert_eq!(post_created_secs(&g, id(&fresh)), NOW - 3 * HOUR);
        assert_eq!(post_created_secs(&g, id(&future)), NOW - 2 * HOUR);
        let found = discovery_scores(&g, NOW, &params(1, 20, 24), 10);
        let ln4 = 4f64.ln(); // a liked 3 posts
        assert_scores(
            &found,
            &[
                (id(&future) as usize, ln4 / 4.0),
                (id(&fresh) as usize, ln4 / 8.0),
            ],
        );
    }

    #[test]
    fn the_authors_own_like_does_not_count() {
        let mut b = GraphBuilder::new(0);
        // The fixture's posts are AUTHOR's.
        assert!(b.add_like(AUTHOR, &uri(0), NOW));
        assert!(b.add_like(&did("a"), &uri(0), NOW));
        assert!(b.add_like(&did("a"), &uri(1), NOW));
        let g = b.build();
        let ln3 = 3f64.ln(); // a liked 2 posts
        assert_scores(
            &discovery_scores(&g, NOW, &params(1, 1, 24), 10),
            &[(0, ln3), (1, ln3)],
        );
        assert_scores(&discovery_scores(&g, NOW, &params(2, 20, 24), 10), &[]);
    }
}
