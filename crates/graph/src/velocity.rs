//! Like-rate acceleration: posts whose likes in the latest window outnumber
//! those of the window before, scored by how far the rise is beyond chance.

use crate::graph::{LikeGraph, PostId};
use crate::rank::into_top_k;
use crate::recent::like_counts_in;

/// Likes added to the previous window's count under the square root: it
/// keeps a post new in the recent window (previous = 0) finite and damps
/// the noise of tiny counts.
const PRIOR_LIKES: f64 = 1.0;

/// Posts whose like rate is rising. With `w = window_secs`, r the likes in
/// `[now - w, now]` and q those in `[now - 2w, now - w)` (half-open, so no
/// like counts in both), the score is
///
/// ```text
/// (r - q) / sqrt(q + 1)
/// ```
///
/// for posts with `r >= min_recent_likes` and `r > q`; the others are left
/// out. Were the rate unchanged, r would be about Poisson with mean q and
/// standard deviation sqrt(q): the score is how many standard deviations
/// the rise is (the +1 keeps q = 0 finite). So a rise needs volume to
/// count: 0 -> 3 scores 3, 10 -> 20 scores 3.0, 100 -> 150 scores 5.0,
/// where a plain ratio would put the 0 -> 3 post first and 100 -> 150
/// last. `min_recent_likes` keeps out posts that rose from nothing to
/// one or two likes. Returns the top `limit`, score descending, ties broken
/// by lower [`PostId`].
///
/// Both windows should lie in the graph's retention: a previous window
/// reaching before [`LikeGraph::window_start`] sees fewer likes than there
/// were, which overstates the rise.
///
/// Cost O(posts + rising posts x log likers): a post whose
/// `min_recent_likes`-th newest like is older than the recent window is
/// skipped at one comparison; the counts are binary searches.
pub fn like_velocity_scores(
    graph: &LikeGraph,
    now_secs: u32,
    window_secs: u32,
    min_recent_likes: usize,
    limit: usize,
) -> Vec<(PostId, f32)> {
    if limit == 0 {
        return Vec::new();
    }
    let min_recent = min_recent_likes.max(1);
    let recent_from = now_secs.saturating_sub(window_secs);
    let previous_from = recent_from.saturating_sub(window_secs);
    let mut scores = Vec::new();
    for p in 0..graph.num_posts() as PostId {
        let likers = graph.likers_of(p);
        // Time-ordered: fewer than `min_recent` likes since `recent_from`
        // unless the `min_recent`-th newest is among them.
        match likers.len().checked_sub(min_recent) {
            Some(at) if likers[at].ts >= recent_from => {}
            _ => continue,
        }
        let recent = like_counts_in(graph, p, recent_from, now_secs.saturating_add(1));
        let previous = like_counts_in(graph, p, previous_from, recent_from);
        if recent >= min_recent && recent > previous {
            let score = (recent - previous) as f64 / (previous as f64 + PRIOR_LIKES).sqrt();
            scores.push((p, score as f32));
        }
    }
    into_top_k(scores, limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GraphBuilder;
    use crate::fixture::{self, HOUR, NOW, assert_scores, did, uri};

    // With a 1 h window, recent = ages 0h and 1h, previous = age 2h (see
    // the fixture):
    //   p0: r 2 q 1 -> 1/sqrt2     p3: r 1 q 1 -> not rising
    //   p1: r 2 q 1 -> 1/sqrt2     p4: r 1 q 0 -> 1
    //   p2: r 1 q 0 -> 1           p5: r 1 q 0 -> 1

    #[test]
    fn scores_the_rise_in_standard_deviations() {
        let g = fixture::graph();
        let half = std::f64::consts::FRAC_1_SQRT_2;
        assert_scores(
            &like_velocity_scores(&g, NOW, HOUR, 1, 10),
            &[(2, 1.0), (4, 1.0), (5, 1.0), (0, half), (1, half)],
        );
        assert_scores(
            &like_velocity_scores(&g, NOW, HOUR, 2, 10),
            &[(0, half), (1, half)],
        );
        assert!(like_velocity_scores(&g, NOW, HOUR, 3, 10).is_empty());
        assert_scores(
            &like_velocity_scores(&g, NOW, HOUR, 1, 2),
            &[(2, 1.0), (4, 1.0)],
        );
        assert!(like_velocity_scores(&g, NOW, HOUR, 1, 0).is_empty());
        // 0 behaves as 1: a post with no recent like never rises.
        assert_eq!(
            like_velocity_scores(&g, NOW, HOUR, 0, 10),
            like_velocity_scores(&g, NOW, HOUR, 1, 10)
        );
    }

    #[test]
    fn windows_move_with_now_and_exclude_the_future() {
        let g = fixture::graph();
        // An hour later: recent = age 0h (p0 p1 p2 p5), previous = age 1h
        // (p0 p1 p3 p4): only p2 and p5 rose.
        assert_scores(
            &like_velocity_scores(&g, NOW + HOUR, HOUR, 1, 10),
            &[(2, 1.0), (5, 1.0)],
        );
        // A 2 h window: everything is recent, nothing previous.
        assert_scores(
            &like_velocity_scores(&g, NOW, 2 * HOUR, 1, 10),
            &[(0, 3.0), (1, 3.0), (3, 2.0), (2, 1.0), (4, 1.0), (5, 1.0)],
        );
        // A second before the newest likes, they are in the future.
        assert_scores(&like_velocity_scores(&g, NOW - 1, HOUR, 1, 10), &[(4, 1.0)]);
        assert!(like_velocity_scores(&GraphBuilder::new(0).build(), NOW, HOUR, 1, 10).is_empty());
    }

    #[test]
    fn volume_beats_a_ratio_of_tiny_counts() {
        // a: 0 -> 3, b: 10 -> 20, c: 100 -> 150, d: 30 -> 20 (falling).
        let mut builder = GraphBuilder::new(0);
        let mut user = 0;
        let mut like = |post: usize, n: usize, age: u32| {
            for _ in 0..n {
                user += 1;
                assert!(builder.add_like(&did(&format!("u{user}")), &uri(post), NOW - age));
            }
        };
        for (post, previous, recent) in [(0, 0, 3), (1, 10, 20), (2, 100, 150), (3, 30, 20)] {
            like(post, previous, HOUR + 60);
            like(post, recent, 60);
        }
        let g = builder.build();
        assert_scores(
            &like_velocity_scores(&g, NOW, HOUR, 3, 10),
            &[
                (2, 50.0 / 101f64.sqrt()),
                (1, 10.0 / 11f64.sqrt()),
                (0, 3.0),
            ],
        );
    }
}
