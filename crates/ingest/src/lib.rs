//! Jetstream like ingest into the store.
//!
//! An [`Ingester`] subscribes to Jetstream's like collection, decodes each
//! message into a [`RepoEvent`](feedmixer_atproto::RepoEvent), drops bot
//! floods, and writes batches through [`feedmixer_store::apply_routed`]
//! (the store, then the pools the feeds' rules route new posts to).
//! `feedmixer serve` runs it as a background task next to the HTTP server:
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn feedmixer_store::Store>) {
//! use feedmixer_ingest::{IngestConfig, Ingester};
//!
//! let ingester = Ingester::new(IngestConfig::default()).expect("valid config");
//! let status = ingester.status(); // for readiness and /v1/stats
//! let router = std::sync::Arc::new(feedmixer_store::NoRouting);
//! let task = tokio::spawn(ingester.run(store, router, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! }));
//! # let _ = (status, task);
//! # }
//! ```
//!
//! # Guarantees
//!
//! - **Nothing acknowledged is lost.** The cursor (store meta key
//!   [`CURSOR_KEY`], decimal `time_us`) is written only after the batch it
//!   covers was applied. A connection resumes from the cursor minus
//!   [`IngestConfig::replay_margin`]; the store's idempotent apply turns
//!   the overlap into duplicates and stale events, never double likes.
//! - **The stream never stops on bad input.** Malformed messages are
//!   counted (`result="invalid"`), logged at debug with an excerpt, and
//!   skipped; the cursor still moves over valid events that carry no like.
//!   A message the socket cannot read (over [`MAX_MESSAGE_BYTES`], or a
//!   text frame that is not UTF-8) is counted the same way, but it ends the connection: the
//!   next one resumes from the stored cursor. So does a connection cut
//!   mid-frame, or silent for [`IngestConfig::idle_timeout`].
//! - **Store failures keep the batch.** A failed apply is retried with
//!   backoff; when it keeps failing the batch is dropped and the connection
//!   resumes from the stored cursor, which replays it.
//! - **Shutdown flushes.** [`Ingester::run`] returns after the pending
//!   batch is applied and its cursor stored.

mod backoff;
mod bot;
mod endpoint;
pub mod metrics;
mod worker;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use feedmixer_store::{ApplyStats, PostRouter, Store, StoreError};
use tokio::sync::watch;

use crate::endpoint::Endpoint;
use crate::worker::Worker;

/// Store meta key of the ingest cursor: the newest handled and applied
/// Jetstream `time_us`, in decimal.
pub const CURSOR_KEY: &str = "ingest_cursor";

/// The largest Jetstream message (and frame) the ingester reads, in
/// bytes: four times the largest JSON record atproto allows (2 MiB), so no
/// real event comes near it, while a broken or hostile server cannot make
/// it buffer tungstenite's default of 64 MiB. A bigger message cannot be
/// skipped in place (its frame is refused at its header): it ends the
/// connection, is counted `invalid`, and the next connection resumes from
/// the stored cursor.
pub const MAX_MESSAGE_BYTES: usize = 8 << 20;

/// How the ingester connects, batches and retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// Jetstream base URL, `ws://` or `wss://`, with or without the
    /// `/subscribe` path, without a query.
    pub url: String,
    /// How far before the stored cursor a connection resumes.
    pub replay_margin: Duration,
    /// Events per store transaction, at most. Live, a batch is what came
    /// within `batch_linger`; catching up, it fills to this: a transaction
    /// syncs once and rewrites each page it touches once, so bigger ones
    /// write less per event (`bench/ingest.py`: 14k events/s at 500, 35k
    /// at 20,000).
    pub batch_max: usize,
    /// How long a partial batch waits before it is applied.
    pub batch_linger: Duration,
    /// Smallest reconnect (and store retry) delay.
    pub backoff_min: Duration,
    /// Largest reconnect (and store retry) delay.
    pub backoff_max: Duration,
    /// A connection silent this long is replaced; also the connect timeout.
    pub idle_timeout: Duration,
    /// Like creates per DID in any 60 s of event time beyond which the
    /// rest are dropped as a bot's (`None`: no filter). Deletes always
    /// pass.
    pub max_likes_per_did_per_minute: Option<u32>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            url: "wss://jetstream2.us-east.bsky.network".to_string(),
            replay_margin: Duration::from_secs(5),
            batch_max: 20_000,
            batch_linger: Duration::from_millis(50),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_likes_per_did_per_minute: Some(300),
        }
    }
}

impl IngestConfig {
    /// Checks every field; the first problem found is returned.
    pub fn validate(&self) -> Result<(), IngestError> {
        Endpoint::parse(&self.url)?;
        let bad = |reason: &str| Err(IngestError::Config(reason.to_string()));
        if self.batch_max == 0 {
            return bad("batch_max must be at least 1");
        }
        if self.backoff_min.is_zero() {
            return bad("backoff_min must be above zero");
        }
        if self.backoff_min > self.backoff_max {
            return bad("backoff_min must not exceed backoff_max");
        }
        if self.idle_timeout.is_zero() {
            return bad("idle_timeout must be above zero");
        }
        if self.max_likes_per_did_per_minute == Some(0) {
            return bad("max_likes_per_did_per_minute must be at least 1 (or unset: no filter)");
        }
        Ok(())
    }

    /// The URL a connection resuming from `cursor` (`time_us`, already
    /// less the replay margin) opens; `None` is the live tail.
    pub fn subscribe_url(&self, cursor: Option<u64>) -> Result<String, IngestError> {
        Ok(Endpoint::parse(&self.url)?.url(cursor))
    }
}

/// What the ingester is doing, published on a watch channel
/// ([`Ingester::status`]) at each batch and connection change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestStatus {
    /// A Jetstream connection is open.
    pub connected: bool,
    /// Connections opened since start.
    pub connections: u64,
    /// The stored cursor: the newest `time_us` handled and applied (read
    /// from the store at start; `None` while nothing was ever stored).
    pub last_time_us: Option<u64>,
    /// Like events the store applied (a replayed event counts again).
    pub events_applied: u64,
    /// Events applied per second over the last ten seconds of batches
    /// (0 while disconnected).
    pub events_per_sec: u64,
    /// What the store did with them.
    pub applied: ApplyStats,
    /// Batches applied with their cursor stored.
    pub batches: u64,
    /// Valid events that do not touch likes.
    pub ignored: u64,
    /// Malformed or binary messages skipped.
    pub invalid: u64,
    /// Like creates the bot filter dropped.
    pub bot: u64,
    /// Failed store calls.
    pub store_errors: u64,
}

/// Why the ingester cannot start or did not finish cleanly.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("invalid Jetstream URL `{url}`: {reason}")]
    Url { url: String, reason: String },

    #[error("invalid ingest config: {0}")]
    Config(String),

    /// The stored cursor is not a decimal `time_us`; resuming from a guess
    /// could skip events, so ingest stops until an operator fixes or
    /// deletes the value.
    #[error("stored ingest cursor (meta key `{CURSOR_KEY}`) is not a decimal time_us: {0:?}")]
    BadCursor(String),

    /// The batch pending at shutdown could not be applied; its events come
    /// again on the next start, which resumes from the stored cursor.
    #[error("could not apply the last batch at shutdown: {0}")]
    Flush(#[source] StoreError),
}

/// The ingester: built from a validated config, run once as a task.
#[derive(Debug)]
pub struct Ingester {
    config: IngestConfig,
    endpoint: Endpoint,
    status: watch::Sender<IngestStatus>,
}

impl Ingester {
    /// Validates the config and installs rustls' ring provider as the
    /// process default when none is installed.
    pub fn new(config: IngestConfig) -> Result<Self, IngestError> {
        config.validate()?;
        let endpoint = Endpoint::parse(&config.url)?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Ingester {
            config,
            endpoint,
            status: watch::Sender::new(IngestStatus::default()),
        })
    }

    pub fn config(&self) -> &IngestConfig {
        &self.config
    }

    /// A receiver of the ingester's status; it keeps the last value after
    /// [`Ingester::run`] returns.
    pub fn status(&self) -> watch::Receiver<IngestStatus> {
        self.status.subscribe()
    }

    /// Ingests until `shutdown` resolves, then applies the pending batch,
    /// stores its cursor and returns.
    ///
    /// Connection and store failures are retried forever with backoff;
    /// only a corrupt stored cursor ([`IngestError::BadCursor`]) ends the
    /// run early, and a failed final flush ([`IngestError::Flush`]) is
    /// reported after shutdown.
    pub async fn run(
        self,
        store: Arc<dyn Store>,
        router: Arc<dyn PostRouter>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), IngestError> {
        let mut worker = Worker::new(self.config, self.endpoint, store, router, self.status);
        let failed = tokio::select! {
            () = shutdown => None,
            err = worker.run() => Some(err),
        };
        worker.disconnected();
        match failed {
            Some(err) => Err(err),
            None => worker.shutdown_flush().await,
        }
    }
}
