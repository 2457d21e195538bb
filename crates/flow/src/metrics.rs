//! Every metric the flow framework emits, named in one place. Labels are
//! bounded: flow, stage, component and outcome, never a DID or a URI.
//! Hydrators are recorded like components, under stage `hydrator`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use feedmixer_atproto::clock;
use metrics::{Counter, Histogram, counter, histogram};

/// Time per stage and component, seconds.
pub const STAGE_DURATION: &str = "feedmixer_stage_duration_seconds";
/// Candidates a component received.
pub const STAGE_CANDIDATES_IN: &str = "feedmixer_stage_candidates_in_total";
/// Candidates a component passed on.
pub const STAGE_CANDIDATES_OUT: &str = "feedmixer_stage_candidates_out_total";
/// Candidates a predicate removed.
pub const PREDICATE_DROPPED: &str = "feedmixer_predicate_dropped_total";
/// Components that failed or ran out of budget, by `outcome`.
pub const COMPONENT_FAILURES: &str = "feedmixer_component_failures_total";
/// Whole-flow time, seconds.
pub const FLOW_DURATION: &str = "feedmixer_flow_duration_seconds";
/// Flow runs.
pub const FLOW_REQUESTS: &str = "feedmixer_flow_requests_total";
/// Gauge of each flow's current quality factor.
pub const QUALITY_FACTOR: &str = "feedmixer_quality_factor";

/// Why a component contributed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Timeout,
    Failure,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Failure => "failure",
        }
    }
}

/// Handles for one component's series, registered once when the flow is
/// built so a request touches no label maps, and its failures kept in
/// process for the feed's status.
#[derive(Clone)]
pub struct StageMetrics {
    duration: Histogram,
    candidates_in: Counter,
    candidates_out: Counter,
    dropped: Counter,
    timeouts: Counter,
    failures: Counter,
    log: Arc<FailureLog>,
}

/// A component's failures since its flow was built: what an operator asks
/// "why is my feed empty?" of, without a Prometheus at hand.
#[derive(Debug, Default)]
pub struct FailureLog {
    timeouts: AtomicU64,
    failures: AtomicU64,
    last: Mutex<Option<LastFailure>>,
}

/// The newest failure of a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastFailure {
    pub at_us: u64,
    pub kind: FailureKind,
    pub why: String,
}

/// A component's failures as [`FailureLog`] counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureCounts {
    pub timeouts: u64,
    pub failures: u64,
    pub last: Option<LastFailure>,
}

impl FailureLog {
    fn add(&self, kind: FailureKind, why: &str) {
        match kind {
            FailureKind::Timeout => &self.timeouts,
            FailureKind::Failure => &self.failures,
        }
        .fetch_add(1, Ordering::Relaxed);
        let last = LastFailure {
            at_us: clock::now_us(),
            kind,
            why: why.to_owned(),
        };
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(last);
    }

    pub fn counts(&self) -> FailureCounts {
        FailureCounts {
            timeouts: self.timeouts.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            last: self.last.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }
}

impl StageMetrics {
    pub fn new(flow: &str, stage: &str, component: &str) -> Self {
        let labels = [
            ("flow", flow.to_string()),
            ("stage", stage.to_string()),
            ("component", component.to_string()),
        ];
        let failure = |outcome: FailureKind| {
            let mut with_outcome = labels.to_vec();
            with_outcome.push(("outcome", outcome.as_str().to_string()));
            counter!(COMPONENT_FAILURES, &with_outcome)
        };
        StageMetrics {
            duration: histogram!(STAGE_DURATION, &labels),
            candidates_in: counter!(STAGE_CANDIDATES_IN, &labels),
            candidates_out: counter!(STAGE_CANDIDATES_OUT, &labels),
            dropped: counter!(PREDICATE_DROPPED, &labels),
            timeouts: failure(FailureKind::Timeout),
            failures: failure(FailureKind::Failure),
            log: Arc::default(),
        }
    }

    pub fn record(&self, elapsed: Duration, candidates_in: usize, candidates_out: usize) {
        self.duration.record(elapsed.as_secs_f64());
        self.candidates_in.increment(candidates_in as u64);
        self.candidates_out.increment(candidates_out as u64);
    }

    pub fn dropped(&self, n: usize) {
        self.dropped.increment(n as u64);
    }

    /// Counts a failure of `kind`, `why` kept as the newest.
    pub fn failed(&self, kind: FailureKind, why: &str) {
        match kind {
            FailureKind::Timeout => self.timeouts.increment(1),
            FailureKind::Failure => self.failures.increment(1),
        }
        self.log.add(kind, why);
    }

    pub fn failure_counts(&self) -> FailureCounts {
        self.log.counts()
    }
}

/// Handles for a flow's own series.
#[derive(Clone)]
pub struct FlowMetrics {
    duration: Histogram,
    requests: Counter,
}

impl FlowMetrics {
    pub fn new(flow: &str) -> Self {
        let labels = [("flow", flow.to_string())];
        FlowMetrics {
            duration: histogram!(FLOW_DURATION, &labels),
            requests: counter!(FLOW_REQUESTS, &labels),
        }
    }

    pub fn record(&self, elapsed: Duration) {
        self.requests.increment(1);
        self.duration.record(elapsed.as_secs_f64());
    }
}

/// Every metric name the framework emits, the quality factor's included.
pub const ALL: &[&str] = &[
    STAGE_DURATION,
    STAGE_CANDIDATES_IN,
    STAGE_CANDIDATES_OUT,
    PREDICATE_DROPPED,
    COMPONENT_FAILURES,
    FLOW_DURATION,
    FLOW_REQUESTS,
    QUALITY_FACTOR,
];
