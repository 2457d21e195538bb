//! Aggregations over recent likes: time-decayed popularity and like counts
//! in a time range. Both lean on likers lists being time-ordered, so they
//! read only the likes in range.

use crate::decay::DecayTable;
use crate::graph::{LikeGraph, PostId};
use crate::rank::into_top_k;

/// Time-decayed like counts: every like with `ts >= now - window_secs`
/// adds `decay(now - ts)` to its post, where `decay(age) = exp(-ln2 * age /
/// half_life_secs)` (half-life 0: no decay, every like counts 1). Returns
/// the top `limit` posts, score descending, ties broken by lower
/// [`PostId`]; posts with no like in range are left out.
///
/// Cost O(posts + likes in range): each post's likers list is read
/// backwards from its newest like until one is older than the cutoff.
pub fn recent_like_scores(
    graph: &LikeGraph,
    now_secs: u32,
    window_secs: u32,
    half_life_secs: u32,
    limit: usize,
) -> Vec<(PostId, f32)> {
    recent_like_scores_with_floor(graph, now_secs, window_secs, half_life_secs, 1, limit)
}

/// [`recent_like_scores`] of the posts with at least `min_likes` likes in
/// the window (counted, not decayed), so the floor does not move as likes
/// age. The top `limit` are taken after the floor, so a list is only
/// shorter than `limit` when fewer posts pass it.
pub fn recent_like_scores_with_floor(
    graph: &LikeGraph,
    now_secs: u32,
    window_secs: u32,
    half_life_secs: u32,
    min_likes: usize,
    limit: usize,
) -> Vec<(PostId, f32)> {
    if limit == 0 {
        return Vec::new();
    }
    let cutoff = now_secs.saturating_sub(window_secs);
    let oldest = cutoff.max(graph.window_start());
    let decay = DecayTable::new(half_life_secs, now_secs.saturating_sub(oldest));
    let mut scores = Vec::new();
    for p in 0..graph.num_posts() as PostId {
        let likers = graph.likers_of(p);
        if likers.len() < min_likes {
            continue;
        }
        let mut score = 0.0;
        let mut count = 0;
        for like in likers.iter().rev() {
            if like.ts < cutoff {
                break;
            }
            score += decay.get(now_secs.saturating_sub(like.ts));
            count += 1;
        }
        if count >= min_likes && score > 0.0 {
            scores.push((p, score));
        }
    }
    into_top_k(scores, limit)
}

/// Likes of `p` with `from_secs <= ts < to_secs` (half-open, so adjacent
/// ranges never count a like twice; pass `now + 1` to include `now`). Two
/// binary searches on the time-ordered likers.
pub fn like_counts_in(graph: &LikeGraph, p: PostId, from_secs: u32, to_secs: u32) -> usize {
    let likers = graph.likers_of(p);
    let from = likers.partition_point(|e| e.ts < from_secs);
    let to = likers.partition_point(|e| e.ts < to_secs);
    to.saturating_sub(from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GraphBuilder;
    use crate::fixture::{self, HOUR, NOW, assert_scores, uri};

    // Likes by age (see the fixture), decay(kh) = 2^-k at a 1 h half-life:
    //   p0: 0h 1h 2h -> 1 + 1/2 + 1/4 = 7/4     p3: 1h 2h -> 1/2 + 1/4 = 3/4
    //   p1: 0h 1h 2h -> 7/4                     p4: 1h    -> 1/2
    //   p2: 0h       -> 1                       p5: 0h    -> 1

    #[test]
    fn decayed_counts_over_the_window() {
        let g = fixture::graph();
        assert_scores(
            &recent_like_scores(&g, NOW, 2 * HOUR, HOUR, 10),
            &[
                (0, 1.75),
                (1, 1.75),
                (2, 1.0),
                (5, 1.0),
                (3, 0.75),
                (4, 0.5),
            ],
        );
        // A 1 h window drops the 2h likes; the limit keeps the top 3.
        assert_scores(
            &recent_like_scores(&g, NOW, HOUR, HOUR, 3),
            &[(0, 1.5), (1, 1.5), (2, 1.0)],
        );
        // A zero window keeps only likes at `now`.
        assert_scores(
            &recent_like_scores(&g, NOW, 0, HOUR, 10),
            &[(0, 1.0), (1, 1.0), (2, 1.0), (5, 1.0)],
        );
        assert!(recent_like_scores(&g, NOW, HOUR, HOUR, 0).is_empty());
    }

    #[test]
    fn zero_half_life_counts_likes() {
        let g = fixture::graph();
        assert_scores(
            &recent_like_scores(&g, NOW, 2 * HOUR, 0, 10),
            &[(0, 3.0), (1, 3.0), (3, 2.0), (2, 1.0), (4, 1.0), (5, 1.0)],
        );
    }

    #[test]
    fn floor_counts_likes_in_the_window_not_their_decayed_weight() {
        let g = fixture::graph();
        // 2 h window: p0, p1 have 3 likes, p3 has 2, the rest 1. p3's
        // decayed 0.75 is below the floor of 2, but its 2 likes pass.
        assert_scores(
            &recent_like_scores_with_floor(&g, NOW, 2 * HOUR, HOUR, 2, 10),
            &[(0, 1.75), (1, 1.75), (3, 0.75)],
        );
        // The limit applies after the floor.
        assert_scores(
            &recent_like_scores_with_floor(&g, NOW, 2 * HOUR, 0, 3, 1),
            &[(0, 3.0)],
        );
        // A 1 h window leaves p0, p1 with 2 likes each and p3 with 1.
        assert_scores(
            &recent_like_scores_with_floor(&g, NOW, HOUR, 0, 2, 10),
            &[(0, 2.0), (1, 2.0)],
        );
        assert!(recent_like_scores_with_floor(&g, NOW, 2 * HOUR, 0, 4, 10).is_empty());
        // A floor of 0 or 1 is recent_like_scores.
        for floor in [0, 1] {
            assert_eq!(
                recent_like_scores_with_floor(&g, NOW, 2 * HOUR, HOUR, floor, 10),
                recent_like_scores(&g, NOW, 2 * HOUR, HOUR, 10)
            );
        }
    }

    #[test]
    fn later_now_decays_everything_and_future_likes_count_fully() {
        let g = fixture::graph();
        // One hour later, a 2 h window holds ages 1h..2h: p0, p1 = 1/2 + 1/4.
        assert_scores(
            &recent_like_scores(&g, NOW + HOUR, 2 * HOUR, HOUR, 2),
            &[(0, 0.75), (1, 0.75)],
        );
        // A like newer than `now` has age 0.
        let mut b = GraphBuilder::new(0);
        assert!(b.add_like(&fixture::did("a"), &uri(0), NOW + 100));
        let g = b.build();
        assert_scores(&recent_like_scores(&g, NOW, HOUR, HOUR, 5), &[(0, 1.0)]);
    }

    #[test]
    fn counts_in_half_open_ranges() {
        let g = fixture::graph();
        let p0 = g.post_id(&uri(0)).unwrap();
        // p0 was liked at NOW - 2h, NOW - 1h and NOW.
        assert_eq!(like_counts_in(&g, p0, NOW - 2 * HOUR, NOW - HOUR), 1);
        assert_eq!(like_counts_in(&g, p0, NOW - HOUR, NOW + 1), 2);
        assert_eq!(like_counts_in(&g, p0, NOW - HOUR, NOW), 1);
        assert_eq!(like_counts_in(&g, p0, 0, u32::MAX), 3);
        assert_eq!(like_counts_in(&g, p0, NOW + 1, u32::MAX), 0);
        assert_eq!(like_counts_in(&g, p0, NOW, NOW - HOUR), 0);
        let p4 = g.post_id(&uri(4)).unwrap();
        assert_eq!(like_counts_in(&g, p4, NOW - 2 * HOUR, NOW - HOUR), 0);
        assert_eq!(like_counts_in(&g, p4, NOW - HOUR, NOW), 1);
    }
}
