//! Loading a Jetstream capture (JSON lines) into a [`Store`].
//!
//! The demo dataset and recorded firehose windows reach the store this
//! way. A capture is data from outside: a bad line is counted, reported
//! with its line number and skipped, never a reason to stop. Only a failure
//! to read the capture or to write the store ends a replay, and every batch
//! applied before it stays applied (batches are atomic, and replaying again
//! is harmless since applying is idempotent).

use std::io::BufRead;
use std::time::Instant;

use feedmixer_atproto::RepoEvent;
use tokio::sync::mpsc;

use crate::{ApplyStats, PostRouter, Store, StoreError, apply_routed};

/// How many malformed lines a [`ReplayReport`] describes.
pub const MAX_REPORTED_ERRORS: usize = 10;

/// What a replay read and what the store did with it.
///
/// `lines == events + ignored + malformed`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Lines read, blank ones included.
    pub lines: u64,
    /// Lines that decoded to a like or post event and were applied.
    pub events: u64,
    /// Blank lines and valid events that touch neither likes nor posts.
    pub ignored: u64,
    /// Lines that could not be decoded, skipped.
    pub malformed: u64,
    /// The first [`MAX_REPORTED_ERRORS`] malformed lines: 1-based line
    /// number and why.
    pub first_errors: Vec<(u64, String)>,
    /// Totals of the store's [`Store::apply`] calls.
    pub stats: ApplyStats,
}

/// Reads a Jetstream JSONL capture, applies like and post events in
/// batches of `batch` through the store (new posts joining the pools
/// `router` routes them to), skipping and counting malformed lines (blank
/// lines are ignored, not malformed). `progress(bytes_read)` is called
/// after every batch so the CLI can draw a bar.
///
/// The capture is read and decoded on a blocking thread one batch ahead of
/// the store, so decoding (about as much work as applying, at a million
/// events a second) and applying run on two cores at once. A batch that
/// failed to apply ends the replay; every batch before it stays applied.
pub async fn replay<R: BufRead + Send + 'static>(
    store: &dyn Store,
    router: &dyn PostRouter,
    reader: R,
    batch: usize,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<ReplayReport, StoreError> {
    let started = Instant::now();
    let (batches, mut decoded) = mpsc::channel(1);
    let decoder = tokio::task::spawn_blocking(move || decode(reader, batch.max(1), batches));
    let mut stats = ApplyStats::default();
    while let Some(next) = decoded.recv().await {
        stats.add(&apply_routed(store, &next.events, router).await?);
        progress(next.bytes_read);
    }
    let mut report = decoder.await??;
    report.stats = stats;
    tracing::info!(
        lines = report.lines,
        events = report.events,
        ignored = report.ignored,
        malformed = report.malformed,
        stats = %report.stats,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "replayed capture"
    );
    Ok(report)
}

/// A batch of decoded events, and how far into the capture it ends.
struct Decoded {
    events: Vec<RepoEvent>,
    bytes_read: u64,
}

/// Reads and decodes the capture into `batches` of `batch` events; returns
/// the report of what it read (without the store's counts). Stops early
/// when the receiver is gone (a batch failed to apply).
fn decode<R: BufRead>(
    mut reader: R,
    batch: usize,
    batches: mpsc::Sender<Decoded>,
) -> Result<ReplayReport, StoreError> {
    let mut report = ReplayReport::default();
    let mut pending = Vec::with_capacity(batch);
    let mut line = Vec::new();
    let mut bytes_read = 0;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(StoreError::Capture)?;
        if n == 0 {
            break;
        }
        bytes_read += n as u64;
        report.lines += 1;
        match decode_line(&line) {
            Ok(Some(event)) => {
                report.events += 1;
                pending.push(event);
            }
            Ok(None) => report.ignored += 1,
            Err(reason) => {
                tracing::debug!(line = report.lines, %reason, "skipping malformed capture line");
                report.malformed += 1;
                if report.first_errors.len() < MAX_REPORTED_ERRORS {
                    report.first_errors.push((report.lines, reason));
                }
            }
        }
        if pending.len() >= batch {
            let events = std::mem::replace(&mut pending, Vec::with_capacity(batch));
            if batches
                .blocking_send(Decoded { events, bytes_read })
                .is_err()
            {
                return Ok(report);
            }
        }
    }
    // A receiver gone by now has nothing left to miss.
    let _ = batches.blocking_send(Decoded {
        events: pending,
        bytes_read,
    });
    Ok(report)
}

/// One capture line (with or without its line ending): `Ok(None)` for a
/// blank line or an event the graph does not use.
fn decode_line(line: &[u8]) -> Result<Option<RepoEvent>, String> {
    let line = std::str::from_utf8(line).map_err(|err| format!("not UTF-8: {err}"))?;
    let line = line.trim_ascii();
    if line.is_empty() {
        return Ok(None);
    }
    RepoEvent::from_jetstream_json(line).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_and_line_endings() {
        assert_eq!(decode_line(b""), Ok(None));
        assert_eq!(decode_line(b"  \r\n"), Ok(None));
        let event = RepoEvent::LikeDelete {
            did: "did:plc:a".into(),
            rkey: "k".into(),
            time_us: 1,
        };
        let crlf = format!("{}\r\n", event.to_jetstream_json());
        assert_eq!(decode_line(crlf.as_bytes()), Ok(Some(event)));
    }

    #[test]
    fn bad_lines_say_why() {
        assert!(
            decode_line(b"\xff\xfe{}")
                .unwrap_err()
                .starts_with("not UTF-8")
        );
        assert_eq!(
            decode_line(br#"{"did":"did:plc:a","kind":"identity"}"#),
            Err("missing or invalid field `time_us`".to_owned())
        );
    }
}
