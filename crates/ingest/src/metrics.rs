//! Every metric the ingester emits, named in one place. Labels are bounded:
//! `result` takes the values of [`RESULTS`], never a DID or a URI.

use std::time::Duration;

use feedmixer_store::ApplyStats;
use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

/// Jetstream messages by `result` (one of [`RESULTS`]).
pub const EVENTS: &str = "feedmixer_ingest_events_total";
/// Batches applied to the store with their cursor stored.
pub const BATCHES: &str = "feedmixer_ingest_batches_total";
/// Wall clock minus the newest applied `time_us`, seconds.
pub const LAG: &str = "feedmixer_ingest_lag_seconds";
/// The stored cursor as Unix time, seconds.
pub const CURSOR_TIME: &str = "feedmixer_ingest_cursor_time_seconds";
/// 1 while a Jetstream connection is open, else 0.
pub const CONNECTED: &str = "feedmixer_ingest_connected";
/// Connection attempts after the first.
pub const RECONNECTS: &str = "feedmixer_ingest_reconnects_total";
/// Failed store calls (apply or cursor write).
pub const STORE_ERRORS: &str = "feedmixer_ingest_store_errors_total";
/// Time of one `Store::apply` of a batch, seconds.
pub const APPLY_DURATION: &str = "feedmixer_ingest_apply_duration_seconds";

/// Every metric name this crate emits.
pub const ALL: &[&str] = &[
    EVENTS,
    BATCHES,
    LAG,
    CURSOR_TIME,
    CONNECTED,
    RECONNECTS,
    STORE_ERRORS,
    APPLY_DURATION,
];

/// Values of the `result` label of [`EVENTS`]. The first ten are what
/// the store did with an applied event (`created` and `deleted` for likes,
/// `post_created` and `post_deleted` for posts, `account_hidden` and
/// `account_revealed` for status changes of accounts; the others for
/// all);
/// `ignored` are valid events that touch neither likes nor posts,
/// `invalid` malformed or binary messages, `bot` creates the bot filter
/// dropped.
pub const RESULTS: [&str; 13] = [
    "created",
    "duplicate",
    "deleted",
    "missing_delete",
    "stale",
    "account_deleted",
    "post_created",
    "post_deleted",
    "account_hidden",
    "account_revealed",
    "ignored",
    "invalid",
    "bot",
];

/// Handles for every series, registered once when the ingester starts so
/// that each series exists (at zero) from the start.
pub(crate) struct Metrics {
    /// [`EVENTS`] for the first ten [`RESULTS`], what the store did with
    /// an applied event, in that order.
    applied: [Counter; 10],
    pub ignored: Counter,
    pub invalid: Counter,
    pub bot: Counter,
    pub batches: Counter,
    pub lag: Gauge,
    pub cursor_time: Gauge,
    pub connected: Gauge,
    pub reconnects: Counter,
    pub store_errors: Counter,
    apply_duration: Histogram,
}

impl Metrics {
    pub fn register() -> Self {
        let [applied @ .., ignored, invalid, bot] =
            RESULTS.map(|result| counter!(EVENTS, "result" => result));
        Metrics {
            applied,
            ignored,
            invalid,
            bot,
            batches: counter!(BATCHES),
            lag: gauge!(LAG),
            cursor_time: gauge!(CURSOR_TIME),
            connected: gauge!(CONNECTED),
            reconnects: counter!(RECONNECTS),
            store_errors: counter!(STORE_ERRORS),
            apply_duration: histogram!(APPLY_DURATION),
        }
    }

    pub fn applied(&self, stats: &ApplyStats, took: Duration) {
        self.apply_duration.record(took.as_secs_f64());
        // In the order of `RESULTS`.
        let counts = [
            stats.created,
            stats.duplicates,
            stats.deleted,
            stats.missing_deletes,
            stats.stale,
            stats.accounts_deleted,
            stats.posts_created,
            stats.posts_deleted,
            stats.accounts_hidden,
            stats.accounts_revealed,
        ];
        for (counter, count) in self.applied.iter().zip(counts) {
            counter.increment(count);
        }
    }

    pub fn apply_failed(&self, took: Duration) {
        self.apply_duration.record(took.as_secs_f64());
    }
}
