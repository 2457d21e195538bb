//! The ingest loop: connect, read, batch, apply, store the cursor,
//! reconnect.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use feedmixer_atproto::{RepoEvent, clock};
use feedmixer_store::{PostRouter, Store, StoreError, apply_routed};
use futures::StreamExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::bot::BotFilter;
use crate::endpoint::Endpoint;
use crate::metrics::Metrics;
use crate::{CURSOR_KEY, IngestConfig, IngestError, IngestStatus, MAX_MESSAGE_BYTES};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Consecutive failed flushes of one batch before the connection is
/// dropped and resumed from the stored cursor.
const STORE_ATTEMPTS: u32 = 5;
/// Flush attempts at shutdown.
const SHUTDOWN_ATTEMPTS: u32 = 3;
/// Characters of a malformed message quoted in the debug log.
const EXCERPT_CHARS: usize = 160;

/// Why a connection ended.
#[derive(Debug)]
enum SessionEnd {
    Closed(Option<CloseFrame>),
    Error(tokio_tungstenite::tungstenite::Error),
    Idle,
    StoreFailing,
}

/// Events read but not yet applied, and the newest `time_us` handled.
#[derive(Debug, Default)]
struct Batch {
    events: Vec<RepoEvent>,
    /// Newest `time_us` of every handled event, ignored and bot-dropped
    /// ones included: where the cursor moves once the batch is applied.
    max_time_us: Option<u64>,
    /// `events` are in the store; only the cursor write is left.
    applied: bool,
}

impl Batch {
    fn note(&mut self, time_us: u64) {
        self.max_time_us = Some(self.max_time_us.map_or(time_us, |t| t.max(time_us)));
    }

    fn clear(&mut self) {
        self.events.clear();
        self.max_time_us = None;
        self.applied = false;
    }
}

pub(crate) struct Worker {
    config: IngestConfig,
    endpoint: Endpoint,
    store: Arc<dyn Store>,
    /// Which feeds' pools new posts join.
    router: Arc<dyn PostRouter>,
    status: watch::Sender<IngestStatus>,
    /// The local copy of the status, published with `publish`.
    view: IngestStatus,
    metrics: Metrics,
    bot: Option<BotFilter>,
    batch: Batch,
    /// The stored cursor.
    cursor: Option<u64>,
    /// With no stored cursor, the first `time_us` seen: a reconnect before
    /// the first batch is stored resumes there rather than at the live
    /// tail.
    first_seen: Option<u64>,
    connect_backoff: Backoff,
    store_backoff: Backoff,
    rate: EventRate,
}

/// Events applied per second over a sliding window of batches.
#[derive(Debug, Default)]
struct EventRate {
    /// (when, events applied in all) at each batch, oldest first.
    samples: VecDeque<(Instant, u64)>,
}

impl EventRate {
    const WINDOW: Duration = Duration::from_secs(10);

    /// Takes the total after a batch; the rate over the window.
    fn record(&mut self, total: u64) -> u64 {
        let now = Instant::now();
        self.samples.push_back((now, total));
        // Keep one sample at or past the window's start as the baseline.
        while self.samples.len() > 2 && now - self.samples[1].0 >= Self::WINDOW {
            self.samples.pop_front();
        }
        let (since, base) = self.samples[0];
        let secs = (now - since).as_secs_f64();
        if secs < 0.05 {
            return 0;
        }
        ((total - base) as f64 / secs).round() as u64
    }

    fn reset(&mut self) {
        self.samples.clear();
    }
}

impl Worker {
    pub fn new(
        config: IngestConfig,
        endpoint: Endpoint,
        store: Arc<dyn Store>,
        router: Arc<dyn PostRouter>,
        status: watch::Sender<IngestStatus>,
    ) -> Self {
        let backoff = Backoff::new(config.backoff_min, config.backoff_max);
        let view = status.borrow().clone();
        Worker {
            bot: config.max_likes_per_did_per_minute.map(BotFilter::new),
            batch: Batch {
                events: Vec::with_capacity(config.batch_max.min(1024)),
                ..Batch::default()
            },
            config,
            endpoint,
            store,
            router,
            view,
            status,
            metrics: Metrics::register(),
            cursor: None,
            first_seen: None,
            connect_backoff: backoff.clone(),
            store_backoff: backoff,
            rate: EventRate::default(),
        }
    }

    /// Runs until a fatal error; cancelled (dropped) at shutdown.
    pub async fn run(&mut self) -> IngestError {
        self.metrics.connected.set(0.0);
        self.cursor = loop {
            match self.load_cursor().await {
                Ok(cursor) => break cursor,
                Err(Ok(err)) => return err,
                Err(Err(err)) => {
                    self.store_error();
                    let delay = self.store_backoff.next_delay();
                    warn!(error = %err, retry_in = ?delay, "cannot read the ingest cursor");
                    sleep(delay).await;
                }
            }
        };
        self.store_backoff.reset();
        self.view.last_time_us = self.cursor;
        self.update_time_gauges();
        self.publish();
        match self.cursor {
            Some(cursor) => info!(cursor, "resuming Jetstream ingest from the stored cursor"),
            None => info!("no stored ingest cursor: starting at Jetstream's live tail"),
        }

        let mut first = true;
        loop {
            if !first {
                self.metrics.reconnects.increment(1);
            }
            first = false;
            let resume = self.resume_cursor();
            let url = self.endpoint.url(resume);
            debug!(%url, "connecting to Jetstream");
            let limits = WebSocketConfig::default()
                .max_message_size(Some(MAX_MESSAGE_BYTES))
                .max_frame_size(Some(MAX_MESSAGE_BYTES));
            match timeout(
                self.config.idle_timeout,
                tokio_tungstenite::connect_async_with_config(url.as_str(), Some(limits), false),
            )
            .await
            {
                Ok(Ok((mut socket, _))) => {
                    info!(%url, "connected to Jetstream");
                    self.connected();
                    let batches_before = self.view.batches;
                    let end = self.session(&mut socket).await;
                    self.disconnected();
                    // What arrived before the connection ended is valid.
                    let store_ok =
                        !matches!(end, SessionEnd::StoreFailing) && self.flush_retrying().await;
                    match end {
                        SessionEnd::Closed(frame) => {
                            warn!(?frame, "Jetstream closed the connection")
                        }
                        SessionEnd::Error(err) if is_bad_message(&err) => {
                            // The message is lost with the connection;
                            // counted like any other bad message.
                            self.invalid();
                            warn!(error = %err, "Jetstream sent a message that cannot be read; reconnecting")
                        }
                        SessionEnd::Error(err) => {
                            warn!(error = %err, "Jetstream connection failed")
                        }
                        SessionEnd::Idle => warn!(
                            idle = ?self.config.idle_timeout,
                            "no message from Jetstream; replacing the connection"
                        ),
                        SessionEnd::StoreFailing => warn!(
                            cursor = ?self.cursor,
                            "the store keeps failing; resuming from the stored cursor"
                        ),
                    }
                    if store_ok && self.view.batches > batches_before {
                        self.connect_backoff.reset();
                    }
                }
                Ok(Err(err)) => warn!(%url, error = %err, "cannot connect to Jetstream"),
                Err(_) => {
                    warn!(%url, timeout = ?self.config.idle_timeout, "Jetstream connect timed out")
                }
            }
            self.update_time_gauges();
            let delay = self.connect_backoff.next_delay();
            info!(delay = ?delay, "reconnecting to Jetstream");
            sleep(delay).await;
        }
    }

    /// Applies the pending batch after shutdown, a few attempts at most.
    pub async fn shutdown_flush(&mut self) -> Result<(), IngestError> {
        let mut attempt = 1;
        loop {
            match self.flush().await {
                Ok(()) => return Ok(()),
                Err(err) if attempt >= SHUTDOWN_ATTEMPTS => {
                    warn!(error = %err, "could not apply the last batch; it is replayed at the next start");
                    return Err(IngestError::Flush(err));
                }
                Err(err) => {
                    let delay = self.store_backoff.next_delay();
                    warn!(error = %err, retry_in = ?delay, "could not apply the last batch");
                    sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    /// `Ok(cursor)`; `Err(Ok(_))` for a fatal bad value, `Err(Err(_))` for a
    /// store failure worth retrying.
    async fn load_cursor(&self) -> Result<Option<u64>, Result<IngestError, StoreError>> {
        let Some(bytes) = self.store.get_meta(CURSOR_KEY).await.map_err(Err)? else {
            return Ok(None);
        };
        std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| {
                Ok(IngestError::BadCursor(
                    String::from_utf8_lossy(&bytes).into(),
                ))
            })
    }

    fn resume_cursor(&self) -> Option<u64> {
        let margin = u64::try_from(self.config.replay_margin.as_micros()).unwrap_or(u64::MAX);
        self.cursor
            .or(self.first_seen)
            .map(|c| c.saturating_sub(margin))
    }

    /// Reads one connection until it ends, applying batches as they fill
    /// or linger.
    async fn session(&mut self, socket: &mut Socket) -> SessionEnd {
        let idle_timeout = self.config.idle_timeout;
        let mut last_message = Instant::now();
        let idle = sleep(idle_timeout);
        let linger = sleep(Duration::ZERO);
        tokio::pin!(idle, linger);
        let mut linger_armed = false;
        loop {
            tokio::select! {
                biased;
                () = &mut linger, if linger_armed => {
                    linger_armed = false;
                    if !self.flush_retrying().await {
                        return SessionEnd::StoreFailing;
                    }
                }
                () = &mut idle => {
                    let deadline = last_message + idle_timeout;
                    if deadline <= Instant::now() {
                        return SessionEnd::Idle;
                    }
                    idle.as_mut().reset(deadline);
                }
                message = socket.next() => {
                    let message = match message {
                        None => return SessionEnd::Closed(None),
                        Some(Err(err)) => return SessionEnd::Error(err),
                        Some(Ok(message)) => message,
                    };
                    last_message = Instant::now();
                    match message {
                        Message::Text(text) => self.handle_line(text.as_str()),
                        Message::Binary(bytes) => {
                            self.invalid();
                            debug!(len = bytes.len(), "skipping a binary Jetstream message");
                        }
                        Message::Close(frame) => return SessionEnd::Closed(frame),
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                    }
                    if self.batch.events.len() >= self.config.batch_max {
                        linger_armed = false;
                        if !self.flush_retrying().await {
                            return SessionEnd::StoreFailing;
                        }
                    } else if !linger_armed {
                        linger.as_mut().reset(last_message + self.config.batch_linger);
                        linger_armed = true;
                    }
                }
            }
        }
    }

    fn handle_line(&mut self, line: &str) {
        match RepoEvent::from_jetstream_json(line) {
            Ok(Some(event)) => {
                let time_us = event.time_us();
                if let Some(bot) = &mut self.bot
                    && !bot.admit(&event)
                {
                    self.metrics.bot.increment(1);
                    self.view.bot += 1;
                } else {
                    self.batch.events.push(event);
                }
                self.handled(time_us);
            }
            Ok(None) => {
                self.metrics.ignored.increment(1);
                self.view.ignored += 1;
                if let Some(time_us) = envelope_time_us(line) {
                    self.handled(time_us);
                }
            }
            Err(err) => {
                self.invalid();
                debug!(error = %err, excerpt = excerpt(line), "skipping a malformed Jetstream event");
            }
        }
    }

    fn handled(&mut self, time_us: u64) {
        self.batch.note(time_us);
        if self.cursor.is_none() && self.first_seen.is_none() {
            self.first_seen = Some(time_us);
        }
    }

    fn invalid(&mut self) {
        self.metrics.invalid.increment(1);
        self.view.invalid += 1;
    }

    /// Flushes the batch, retrying with backoff; `false` when the store
    /// kept failing and the batch was dropped (the stored cursor replays
    /// it).
    async fn flush_retrying(&mut self) -> bool {
        loop {
            match self.flush().await {
                Ok(()) => {
                    self.store_backoff.reset();
                    return true;
                }
                Err(err) if self.store_backoff.attempts() + 1 >= STORE_ATTEMPTS => {
                    warn!(
                        error = %err,
                        events = self.batch.events.len(),
                        "the store failed {STORE_ATTEMPTS} times in a row; dropping the batch"
                    );
                    self.store_backoff.reset();
                    self.batch.clear();
                    return false;
                }
                Err(err) => {
                    let delay = self.store_backoff.next_delay();
                    warn!(error = %err, retry_in = ?delay, "the store failed to take a batch; retrying");
                    sleep(delay).await;
                }
            }
        }
    }

    /// Applies the batch and stores the cursor over it; publishes the
    /// status either way.
    async fn flush(&mut self) -> Result<(), StoreError> {
        let result = self.flush_inner().await;
        if result.is_err() {
            self.store_error();
        }
        self.publish();
        result
    }

    async fn flush_inner(&mut self) -> Result<(), StoreError> {
        let Some(max_time_us) = self.batch.max_time_us else {
            return Ok(());
        };
        if !self.batch.applied && !self.batch.events.is_empty() {
            let started = std::time::Instant::now();
            let result = apply_routed(
                self.store.as_ref(),
                &self.batch.events,
                self.router.as_ref(),
            )
            .await;
            let took = started.elapsed();
            let stats = match result {
                Ok(stats) => stats,
                Err(err) => {
                    self.metrics.apply_failed(took);
                    return Err(err);
                }
            };
            self.metrics.applied(&stats, took);
            self.view.applied.add(&stats);
            self.view.events_applied += self.batch.events.len() as u64;
            self.view.events_per_sec = self.rate.record(self.view.events_applied);
            self.batch.applied = true;
        }
        let cursor = self.cursor.map_or(max_time_us, |c| c.max(max_time_us));
        if self.cursor != Some(cursor) {
            self.store
                .set_meta(CURSOR_KEY, cursor.to_string().as_bytes())
                .await?;
            self.cursor = Some(cursor);
        }
        self.batch.clear();
        self.metrics.batches.increment(1);
        self.view.batches += 1;
        self.view.last_time_us = self.cursor;
        self.update_time_gauges();
        Ok(())
    }

    fn store_error(&mut self) {
        self.metrics.store_errors.increment(1);
        self.view.store_errors += 1;
    }

    fn connected(&mut self) {
        self.metrics.connected.set(1.0);
        self.view.connected = true;
        self.view.connections += 1;
        self.publish();
    }

    pub fn disconnected(&mut self) {
        self.metrics.connected.set(0.0);
        self.view.connected = false;
        self.view.events_per_sec = 0;
        self.rate.reset();
        self.publish();
    }

    fn update_time_gauges(&self) {
        let Some(cursor) = self.cursor else {
            return;
        };
        let now_us = clock::now_us();
        self.metrics.cursor_time.set(cursor as f64 / 1e6);
        self.metrics
            .lag
            .set((now_us as f64 - cursor as f64).max(0.0) / 1e6);
    }

    fn publish(&self) {
        self.status.send_if_modified(|status| {
            let changed = *status != self.view;
            if changed {
                *status = self.view.clone();
            }
            changed
        });
    }
}

/// Whether a read failed on the message itself (too big, or a text frame
/// that is not UTF-8) rather than on the connection.
fn is_bad_message(err: &WsError) -> bool {
    matches!(
        err,
        WsError::Capacity(CapacityError::MessageTooLong { .. }) | WsError::Utf8(_)
    )
}

/// The `time_us` of a valid event the like decoder passed over.
fn envelope_time_us(line: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        time_us: u64,
    }
    serde_json::from_str::<Envelope>(line)
        .ok()
        .map(|e| e.time_us)
}

/// The start of a line, cut at a character boundary.
fn excerpt(line: &str) -> &str {
    line.char_indices()
        .nth(EXCERPT_CHARS)
        .map_or(line, |(at, _)| &line[..at])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_event_rate_covers_the_last_ten_seconds() {
        let mut rate = EventRate::default();
        assert_eq!(rate.record(100), 0, "one batch is no rate");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(rate.record(300), 200);
        let mut total = 300;
        for _ in 0..30 {
            tokio::time::advance(Duration::from_secs(1)).await;
            total += 50;
            rate.record(total);
        }
        // The early fast second left the window.
        assert_eq!(rate.record(total), 50);
        rate.reset();
        assert_eq!(rate.record(total), 0);
    }

    #[test]
    fn excerpts_cut_at_char_boundaries() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(EXCERPT_CHARS + 10);
        assert_eq!(excerpt(&long).chars().count(), EXCERPT_CHARS);
    }

    #[test]
    fn envelope_time_is_read_from_any_event() {
        let identity = r#"{"did":"did:plc:a","time_us":1725516665234703,"kind":"identity","identity":{"did":"did:plc:a","handle":"a.bsky.social"}}"#;
        assert_eq!(envelope_time_us(identity), Some(1_725_516_665_234_703));
        assert_eq!(envelope_time_us("{}"), None);
        assert_eq!(envelope_time_us("nope"), None);
    }
}
