//! The quality factor: product-mixer's LinearLatencyQualityFactor, per flow.
//!
//! After an initial delay, every finished request moves the value: up by
//! `delta` when its latency was at or under the target, down by
//! `delta x p / (100 - p)` when it was over the target or failed. The value
//! settles where (100 - p)% of requests are slow — the p-th latency
//! percentile sits at the target — with no window to keep. Components read
//! it once per request and scale their effort by it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use metrics::{Gauge, gauge};
use rustc_hash::FxHashMap;

use crate::metrics::QUALITY_FACTOR;
use crate::params;
use crate::params::check_range;

params! {
    /// A flow's `[quality_factor]` table.
    pub struct QualityFactorConfig {
        /// The lowest value.
        min: f64 = 0.1, in 0.0..=1.0;
        /// The highest value.
        max: f64 = 1.0, bounds "min..=1";
        /// Where it starts.
        default: f64 = 1.0, bounds "min..=max";
        /// No adjustment before the flow has run this long (warm-up).
        initial_delay_secs: u64 = 60, in 0..=86_400;
        /// The latency the target percentile should sit at.
        target_latency_ms: f64 = 100.0, in 0.1..=60_000.0;
        /// The percentile held at the target.
        target_percentile: f64 = 95.0, in 50.0..=99.99;
        /// Step up after a fast request.
        delta: f64 = 0.001, in 0.000_001..=0.5;
    }
    check(c) {
        check_range("max", c.max, c.min..=1.0)
            .and_then(|()| check_range("default", c.default, c.min..=c.max))
    }
}

/// One flow's quality factor: an `f64` in an atomic, updated lock-free.
pub struct QualityFactor {
    config: QualityFactorConfig,
    bits: AtomicU64,
    started: Instant,
    gauge: Gauge,
}

impl QualityFactor {
    pub fn new(flow: &str, config: QualityFactorConfig) -> Self {
        let gauge = gauge!(QUALITY_FACTOR, "flow" => flow.to_string());
        gauge.set(config.default);
        QualityFactor {
            bits: AtomicU64::new(config.default.to_bits()),
            config,
            started: Instant::now(),
            gauge,
        }
    }

    /// A value that never moves and reports to no gauge: for runs that must
    /// not depend on load, nor touch a serving flow's value (offline
    /// evaluation). `value` is clamped to `[0, 1]`.
    pub fn pinned(value: f64) -> Self {
        let value = value.clamp(0.0, 1.0);
        QualityFactor {
            bits: AtomicU64::new(value.to_bits()),
            config: QualityFactorConfig {
                min: value,
                max: value,
                default: value,
                ..QualityFactorConfig::default()
            },
            started: Instant::now(),
            gauge: Gauge::noop(),
        }
    }

    pub fn config(&self) -> &QualityFactorConfig {
        &self.config
    }

    /// The current value, in `[min, max]`.
    pub fn value(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }

    /// Moves the value after a finished request. `failed` counts as slow.
    pub fn record(&self, latency: Duration, failed: bool) {
        if self.started.elapsed() < Duration::from_secs(self.config.initial_delay_secs) {
            return;
        }
        let c = &self.config;
        let slow = failed || latency.as_secs_f64() * 1000.0 > c.target_latency_ms;
        let step = if slow {
            -c.delta * c.target_percentile / (100.0 - c.target_percentile)
        } else {
            c.delta
        };
        let mut current = self.bits.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(current) + step).clamp(c.min, c.max);
            match self.bits.compare_exchange_weak(
                current,
                next.to_bits(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.gauge.set(next);
                    return;
                }
                Err(actual) => current = actual,
            }
        }
    }
}

/// Quality factors by flow name, kept across reloads: a flow rebuilt with
/// the same config keeps its learned value.
static BY_FLOW: LazyLock<Mutex<FxHashMap<String, Arc<QualityFactor>>>> =
    LazyLock::new(Default::default);

/// The quality factor of `flow`, created (or replaced, when its config
/// changed) on first use.
pub fn for_flow(flow: &str, config: &QualityFactorConfig) -> Arc<QualityFactor> {
    let mut all = BY_FLOW.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(existing) = all.get(flow)
        && existing.config == *config
    {
        return existing.clone();
    }
    let qf = Arc::new(QualityFactor::new(flow, config.clone()));
    all.insert(flow.to_string(), qf.clone());
    qf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qf(delay: u64) -> QualityFactor {
        QualityFactor::new(
            "t",
            QualityFactorConfig {
                initial_delay_secs: delay,
                target_latency_ms: 10.0,
                target_percentile: 90.0,
                delta: 0.01,
                ..Default::default()
            },
        )
    }

    const FAST: Duration = Duration::from_millis(5);
    const SLOW: Duration = Duration::from_millis(50);

    #[test]
    fn slow_requests_push_it_down_by_the_percentile_ratio() {
        let q = qf(0);
        q.record(SLOW, false);
        // 1.0 - 0.01 x 90 / 10
        assert!((q.value() - 0.91).abs() < 1e-12, "{}", q.value());
        q.record(FAST, false);
        assert!((q.value() - 0.92).abs() < 1e-12);
        q.record(FAST, true);
        assert!((q.value() - 0.83).abs() < 1e-12, "a failure counts as slow");
    }

    #[test]
    fn stays_within_bounds() {
        let q = qf(0);
        for _ in 0..1000 {
            q.record(SLOW, false);
        }
        assert_eq!(q.value(), 0.1);
        for _ in 0..1000 {
            q.record(FAST, false);
        }
        assert_eq!(q.value(), 1.0);
    }

    #[test]
    fn a_pinned_value_never_moves() {
        let q = QualityFactor::pinned(1.0);
        for _ in 0..1000 {
            q.record(SLOW, true);
        }
        assert_eq!(q.value(), 1.0);
        assert_eq!(QualityFactor::pinned(7.0).value(), 1.0, "clamped");
    }

    #[test]
    fn waits_for_the_initial_delay() {
        let q = qf(3600);
        q.record(SLOW, false);
        assert_eq!(q.value(), 1.0);
    }

    #[test]
    fn settles_where_the_percentile_meets_the_target() {
        // Latency falls with q: 100 ms x q x jitter, jitter uniform in
        // [0.75, 1.25]. Target 40 ms at p90: 10% of requests are slow when
        // P(jitter > 0.4 / q) = 0.1, i.e. 1.25 - 0.4 / q = 0.05, q = 1/3.
        let q = QualityFactor::new(
            "settle",
            QualityFactorConfig {
                initial_delay_secs: 0,
                target_latency_ms: 40.0,
                target_percentile: 90.0,
                delta: 0.001,
                ..Default::default()
            },
        );
        let mut state = 1u64;
        let mut jitter = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            0.75 + 0.5 * ((state >> 11) as f64 / (1u64 << 53) as f64)
        };
        let mut sum = 0.0;
        for i in 0..200_000 {
            q.record(Duration::from_secs_f64(0.1 * q.value() * jitter()), false);
            if i >= 100_000 {
                sum += q.value();
            }
        }
        let settled = sum / 100_000.0;
        assert!((settled - 1.0 / 3.0).abs() < 0.02, "{settled}");
    }

    #[test]
    fn the_registry_keeps_the_value_while_the_config_is_unchanged() {
        let config = QualityFactorConfig::default();
        let a = for_flow("registry-test", &config);
        assert!(Arc::ptr_eq(&a, &for_flow("registry-test", &config)));
        let changed = QualityFactorConfig {
            delta: 0.01,
            ..config
        };
        assert!(!Arc::ptr_eq(&a, &for_flow("registry-test", &changed)));
    }
}

#[cfg(test)]
mod recovery {
    use super::*;

    #[test]
    fn drops_under_injected_latency_and_recovers_after() {
        let q = QualityFactor::new(
            "recovery",
            QualityFactorConfig {
                initial_delay_secs: 0,
                target_latency_ms: 10.0,
                target_percentile: 95.0,
                delta: 0.01,
                ..Default::default()
            },
        );
        for _ in 0..20 {
            q.record(Duration::from_millis(50), false);
        }
        assert_eq!(q.value(), 0.1, "sustained slowness drives it to the floor");
        for _ in 0..45 {
            q.record(Duration::from_millis(2), false);
        }
        assert!((q.value() - 0.55).abs() < 1e-9, "{}", q.value());
        for _ in 0..100 {
            q.record(Duration::from_millis(2), false);
        }
        assert_eq!(q.value(), 1.0, "and back to the top once fast again");
    }
}
