//! Weighted sampling by binary search over cumulative weights.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// Draws index `i` with probability `w[i] / sum(w)`.
pub struct Cumulative {
    totals: Vec<f64>,
}

impl Cumulative {
    pub fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut sum = 0.0;
        let totals = weights
            .into_iter()
            .map(|w| {
                sum += w;
                sum
            })
            .collect();
        Cumulative { totals }
    }

    pub fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = *self.totals.last().expect("weights are not empty");
        let target = rng.random::<f64>() * total;
        self.totals
            .partition_point(|&t| t <= target)
            .min(self.totals.len() - 1)
    }
}
