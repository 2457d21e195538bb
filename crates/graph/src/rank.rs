//! Top-k selection shared by the walk and the recent-likes scores.

use std::cmp::Ordering;

use crate::graph::PostId;

/// Score descending, then lower post id first.
fn by_score_then_id(a: &(PostId, f32), b: &(PostId, f32)) -> Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Reorders `scores` so that its first `min(k, len)` entries are the top `k`
/// in ranking order, and returns them. `select_nth_unstable_by` keeps this
/// O(n + k log k) rather than sorting every candidate.
pub(crate) fn top_k(scores: &mut [(PostId, f32)], k: usize) -> &[(PostId, f32)] {
    let k = k.min(scores.len());
    if k == 0 {
        return &[];
    }
    if k < scores.len() {
        scores.select_nth_unstable_by(k - 1, by_score_then_id);
    }
    let top = &mut scores[..k];
    // Ids are distinct, so an unstable sort is deterministic.
    top.sort_unstable_by(by_score_then_id);
    top
}

/// `scores` cut down to its top `k`, in ranking order.
pub(crate) fn into_top_k(mut scores: Vec<(PostId, f32)>, k: usize) -> Vec<(PostId, f32)> {
    let kept = top_k(&mut scores, k).len();
    scores.truncate(kept);
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_score_then_id() {
        let mut scores = vec![(5, 1.0), (3, 2.0), (9, 2.0), (1, 0.5), (2, 2.0)];
        assert_eq!(top_k(&mut scores, 3), &[(2, 2.0), (3, 2.0), (9, 2.0)]);
        assert_eq!(
            top_k(&mut scores, 10),
            &[(2, 2.0), (3, 2.0), (9, 2.0), (5, 1.0), (1, 0.5)]
        );
        assert!(top_k(&mut scores, 0).is_empty());
        assert!(top_k(&mut [], 3).is_empty());
    }
}
