//! Ranking metrics of one user's list against their held-out likes, and
//! latency percentiles.
//!
//! A list is what a feed would show, best first: `Some(post)` for a post
//! the graph knows, `None` for a slot it cannot score (a placed post the
//! graph has never seen), which still takes its place. Relevance is
//! binary: a held-out post is relevant, anything else is not.

use feedmixer_graph::PostId;

/// The cut-offs every metric is reported at.
pub const KS: [usize; 3] = [10, 30, 100];

/// The cut-off of coverage and source shares: a feed's first page as the
/// app asks for it.
pub const PAGE: usize = 30;

/// Held-out posts found in the first `k` slots / held-out posts. A post
/// listed twice counts once. 0 when nothing is held out.
pub fn recall_at(list: &[Option<PostId>], relevant: &[PostId], k: usize) -> f64 {
    if relevant.is_empty() {
        return 0.0;
    }
    let mut found: Vec<PostId> = Vec::new();
    for post in list.iter().take(k).flatten() {
        if relevant.contains(post) && !found.contains(post) {
            found.push(*post);
        }
    }
    found.len() as f64 / relevant.len() as f64
}

/// Normalized discounted cumulative gain at `k`, binary relevance: DCG =
/// sum over the first `k` slots `i` (0-based) holding a held-out post of
/// `1 / log2(i + 2)`, divided by the DCG of the ideal list, which puts
/// `min(k, |held out|)` held-out posts first. A post listed twice gains
/// once. 0 when nothing is held out.
pub fn ndcg_at(list: &[Option<PostId>], relevant: &[PostId], k: usize) -> f64 {
    let ideal: f64 = (0..k.min(relevant.len())).map(discount).sum();
    if ideal == 0.0 {
        return 0.0;
    }
    let mut found: Vec<PostId> = Vec::new();
    let mut dcg = 0.0;
    for (i, post) in list.iter().take(k).enumerate() {
        if let Some(post) = post
            && relevant.contains(post)
            && !found.contains(post)
        {
            found.push(*post);
            dcg += discount(i);
        }
    }
    dcg / ideal
}

/// The gain of a hit at 0-based position `i`.
fn discount(i: usize) -> f64 {
    1.0 / ((i + 2) as f64).log2()
}

/// The `p`-th percentile (0..=100) of `values` by nearest rank: the
/// smallest value at least `p` % of the values are at or below. 0 for no
/// values. Sorts `values`.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn recall_counts_hits_in_the_first_k() {
        let list = [Some(1), Some(9), None, Some(2), Some(8)];
        let relevant = [2, 1, 7, 6];
        assert_eq!(recall_at(&list, &relevant, 1), 0.25);
        assert_eq!(recall_at(&list, &relevant, 3), 0.25);
        assert_eq!(recall_at(&list, &relevant, 4), 0.5);
        assert_eq!(recall_at(&list, &relevant, 100), 0.5, "k past the list");
        assert_eq!(recall_at(&[Some(1), Some(1)], &relevant, 2), 0.25, "once");
        assert_eq!(recall_at(&list, &[], 10), 0.0);
    }

    #[test]
    fn ndcg_on_a_hand_computed_list() {
        // Hits at positions 0 and 2 of 3 slots, 2 held out:
        // DCG = 1/log2(2) + 1/log2(4) = 1 + 1/2 = 1.5;
        // ideal = 1/log2(2) + 1/log2(3) = 1 + 0.6309297535714575.
        let list = [Some(5), Some(9), Some(6)];
        let relevant = [6, 5];
        let ideal = 1.0 + 1.0 / 3f64.log2();
        assert!(close(ndcg_at(&list, &relevant, 3), 1.5 / ideal));
        // At k = 1 only the first slot counts, and the ideal holds one hit.
        assert!(close(ndcg_at(&list, &relevant, 1), 1.0));
        // A single hit at position 1, k = 10, 4 held out: ideal is four hits.
        let ideal4: f64 = (0..4).map(|i| 1.0 / ((i + 2) as f64).log2()).sum();
        let list = [Some(0), Some(3)];
        assert!(close(
            ndcg_at(&list, &[3, 4, 5, 6], 10),
            (1.0 / 3f64.log2()) / ideal4
        ));
    }

    #[test]
    fn ndcg_is_one_for_the_ideal_list_and_zero_without_hits() {
        let relevant = [1, 2, 3];
        assert!(close(
            ndcg_at(&[Some(3), Some(1), Some(2)], &relevant, 10),
            1.0
        ));
        assert!(close(ndcg_at(&[Some(3), Some(1)], &relevant, 2), 1.0));
        assert_eq!(ndcg_at(&[Some(9), None], &relevant, 10), 0.0);
        assert_eq!(ndcg_at(&[Some(1), Some(1)], &[1], 2), 1.0, "once");
        assert_eq!(ndcg_at(&[Some(1)], &[], 10), 0.0);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut values: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&mut values, 50.0), 50.0);
        assert_eq!(percentile(&mut values, 99.0), 99.0);
        assert_eq!(percentile(&mut values, 100.0), 100.0);
        assert_eq!(percentile(&mut values, 0.0), 1.0);
        assert_eq!(percentile(&mut [7.0], 99.0), 7.0);
        assert_eq!(percentile(&mut [], 50.0), 0.0);
    }
}
