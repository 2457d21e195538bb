//! Recency decay `exp(-ln2 * age / half_life)` by table lookup.
//!
//! `exp` per edge costs 30-75 % of a walk, and a table at bucket resolution
//! is only approximate (a 60 s bucket is 1.2 % off at a 1 h half-life). So
//! the table is split in two: `age = q * 1024 + r` and
//! `decay(age) = coarse[q] * fine[r]`. That is exact to f32 rounding for
//! every age in seconds, and both halves together are a few KB (7 days is
//! 591 coarse entries), so they stay in L1 while the walk streams edges.

use std::f64::consts::LN_2;

const FINE_BITS: u32 = 10;
const FINE: usize = 1 << FINE_BITS;
/// Coarse entries cover at most 2^26 s (~2 years); older ages use `exp`.
const MAX_COARSE: usize = 1 << 16;
/// Tables a scratch keeps, one per half-life seen recently.
const CACHED_TABLES: usize = 4;

/// `exp(-ln2 * age / half_life)` in f64, rounded to f32; 1 when
/// `half_life == 0` (no decay).
pub(crate) fn exact(half_life: u32, age: u32) -> f32 {
    if half_life == 0 {
        return 1.0;
    }
    (-LN_2 * f64::from(age) / f64::from(half_life)).exp() as f32
}

/// Decay for one half-life, for ages up to the span it was extended to.
#[derive(Debug, Clone)]
pub(crate) struct DecayTable {
    half_life: u32,
    fine: Box<[f32; FINE]>,
    coarse: Vec<f32>,
}

impl DecayTable {
    /// A table covering ages `0..=max_age` (more later via [`Self::cover`]).
    pub(crate) fn new(half_life: u32, max_age: u32) -> Self {
        let mut fine = Box::new([0.0; FINE]);
        for (r, slot) in fine.iter_mut().enumerate() {
            *slot = exact(half_life, r as u32);
        }
        let mut table = DecayTable {
            half_life,
            fine,
            coarse: Vec::new(),
        };
        table.cover(max_age);
        table
    }

    pub(crate) fn half_life(&self) -> u32 {
        self.half_life
    }

    /// Extends the coarse half so lookups up to `max_age` need no `exp`.
    /// Stops early once the decay has underflowed to 0 (or at ~2 years).
    pub(crate) fn cover(&mut self, max_age: u32) {
        let needed = ((max_age >> FINE_BITS) as usize + 1).min(MAX_COARSE);
        while self.coarse.len() < needed && self.coarse.last() != Some(&0.0) {
            let q = self.coarse.len() as u32;
            self.coarse.push(exact(self.half_life, q << FINE_BITS));
        }
    }

    /// Decay at `age` seconds.
    #[inline(always)]
    pub(crate) fn get(&self, age: u32) -> f32 {
        match self.coarse.get((age >> FINE_BITS) as usize) {
            Some(coarse) => coarse * self.fine[age as usize & (FINE - 1)],
            None => self.beyond(age),
        }
    }

    #[cold]
    #[inline(never)]
    fn beyond(&self, age: u32) -> f32 {
        if self.coarse.last() == Some(&0.0) {
            0.0
        } else {
            exact(self.half_life, age)
        }
    }

    fn memory_bytes(&self) -> usize {
        size_of::<[f32; FINE]>() + self.coarse.capacity() * size_of::<f32>()
    }
}

/// The few tables a walk scratch keeps, so a steady mix of half-lives
/// (a handful of feeds) never rebuilds one.
#[derive(Debug, Default)]
pub(crate) struct DecayCache {
    tables: Vec<DecayTable>,
}

impl DecayCache {
    /// The table for `half_life`, covering ages up to `max_age`.
    pub(crate) fn table(&mut self, half_life: u32, max_age: u32) -> &DecayTable {
        let at = match self.tables.iter().position(|t| t.half_life() == half_life) {
            Some(at) => {
                self.tables[at].cover(max_age);
                at
            }
            None => {
                if self.tables.len() == CACHED_TABLES {
                    self.tables.remove(0);
                }
                self.tables.push(DecayTable::new(half_life, max_age));
                self.tables.len() - 1
            }
        };
        &self.tables[at]
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.tables.iter().map(DecayTable::memory_bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(a: f32, b: f32) {
        assert!((a - b).abs() <= 1e-6 * b.abs(), "{a} vs {b}");
    }

    #[test]
    fn halves_every_half_life() {
        let table = DecayTable::new(3_600, 7 * 86_400);
        for k in 0..20 {
            assert_close(table.get(k * 3_600), 0.5f32.powi(k as i32));
        }
    }

    #[test]
    fn matches_exp_at_every_second() {
        for half_life in [1, 60, 3_600, 86_400] {
            let table = DecayTable::new(half_life, 100_000);
            for age in (0..100_000).step_by(7).chain([1023, 1024, 1025]) {
                let exact = exact(half_life, age);
                let got = table.get(age);
                assert!(
                    (got - exact).abs() <= 3e-7 * exact + f32::MIN_POSITIVE,
                    "half-life {half_life} age {age}: {got} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn ages_past_the_table() {
        let table = DecayTable::new(86_400, 1_000);
        assert_close(table.get(10 * 86_400), 0.5f32.powi(10));
        // A 1 s half-life underflows within the first coarse entries.
        let table = DecayTable::new(1, u32::MAX);
        assert!(table.coarse.len() < 4);
        assert_eq!(table.get(u32::MAX), 0.0);
    }

    #[test]
    fn zero_half_life_means_no_decay() {
        let table = DecayTable::new(0, 86_400);
        assert_eq!(table.get(0), 1.0);
        assert_eq!(table.get(86_400), 1.0);
        assert_eq!(table.get(u32::MAX), 1.0);
    }

    #[test]
    fn cache_keeps_a_few_half_lives() {
        let mut cache = DecayCache::default();
        for half_life in [10, 20, 30, 86_400, 50, 10] {
            assert_eq!(cache.table(half_life, 100).half_life(), half_life);
        }
        assert_eq!(cache.tables.len(), CACHED_TABLES);
        let extended = cache.table(86_400, 1_000_000);
        assert_eq!(extended.coarse.len(), 1_000_000 / 1024 + 1);
        assert_eq!(cache.tables.len(), CACHED_TABLES);
        assert!(cache.memory_bytes() > 0);
    }
}
