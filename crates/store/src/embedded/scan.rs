//! Streaming the logs (the likes, the posts) out of a blocking read
//! transaction.
//!
//! redb reads block, so the scan runs on a blocking thread, while the sink
//! is a borrowed, non-`'static` callback that must stay on the caller's
//! task. The two meet through a small bounded channel: of the like log's
//! chunks as stored, with the numbers of their likes removed since
//! ([`LikeChunk`]), and of [`Chunk`]s of posts, each packing a few thousand
//! rows into one string buffer. Either way the scan allocates per chunk,
//! not per record, and memory stays bounded by the channel whatever the
//! size of the log.

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::mpsc;

use super::likes::Meta;
use super::schema::{LIKE_CHUNKS, LIKE_DEAD, LIKE_SEGMENTS, LogKey};
use crate::like_log as like_chunk;
use crate::{LikeRef, StoreError};

/// Rows per chunk: big enough to amortize the channel hand-off, small
/// enough (about 1 MiB of text) to keep the scan's memory flat.
const CHUNK_ROWS: usize = 8 * 1024;
/// Chunks in flight between the reader and the sink.
pub(super) const CHUNKS_IN_FLIGHT: usize = 4;

/// A run of log rows, their strings laid end to end in one buffer.
pub(super) struct Chunk {
    text: String,
    rows: Vec<Row>,
}

/// Byte offsets into [`Chunk::text`]: `did` is `start..did_end`, `rkey`
/// `did_end..rkey_end`, the value `rkey_end..end`.
struct Row {
    start: usize,
    did_end: usize,
    rkey_end: usize,
    end: usize,
    time_us: u64,
}

impl Chunk {
    fn new() -> Self {
        Chunk {
            text: String::with_capacity(CHUNK_ROWS * 128),
            rows: Vec::with_capacity(CHUNK_ROWS),
        }
    }

    fn push(&mut self, did: &str, rkey: &str, value: &str, time_us: u64) {
        let start = self.text.len();
        self.text.push_str(did);
        let did_end = self.text.len();
        self.text.push_str(rkey);
        let rkey_end = self.text.len();
        self.text.push_str(value);
        self.rows.push(Row {
            start,
            did_end,
            rkey_end,
            end: self.text.len(),
            time_us,
        });
    }

    fn is_full(&self) -> bool {
        self.rows.len() >= CHUNK_ROWS
    }

    /// The rows of the chunk, borrowing its buffer.
    pub(super) fn rows(&self) -> impl Iterator<Item = RowRef<'_>> {
        self.rows.iter().map(|row| RowRef {
            did: &self.text[row.start..row.did_end],
            rkey: &self.text[row.did_end..row.rkey_end],
            value: &self.text[row.rkey_end..row.end],
            time_us: row.time_us,
        })
    }
}

/// One row of a [`Chunk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RowRef<'a> {
    pub(super) did: &'a str,
    pub(super) rkey: &'a str,
    /// A post's stored form.
    pub(super) value: &'a str,
    pub(super) time_us: u64,
}

/// Reads every record of `log` with `time_us >= since_us` from one
/// snapshot into `chunks`, in log order (a post's stored form is the row's
/// value). Stops early, without error, when the receiver is gone (the
/// scan's caller was cancelled or its sink panicked).
pub(super) fn produce(
    db: &Database,
    log: TableDefinition<'static, LogKey<'static>, &'static str>,
    since_us: u64,
    chunks: mpsc::Sender<Chunk>,
) -> Result<(), StoreError> {
    let txn = db.begin_read()?;
    let log = txn.open_table(log)?;
    let mut chunk = Chunk::new();
    // (since_us, "", "") sorts before every key stamped since_us.
    for entry in log.range((since_us, "", "")..)? {
        let (key, subject) = entry?;
        let (time_us, did, rkey) = key.value();
        chunk.push(did, rkey, subject.value(), time_us);
        if chunk.is_full()
            && chunks
                .blocking_send(std::mem::replace(&mut chunk, Chunk::new()))
                .is_err()
        {
            return Ok(());
        }
    }
    if !chunk.rows.is_empty() {
        // A receiver gone by now has nothing left to miss.
        let _ = chunks.blocking_send(chunk);
    }
    Ok(())
}

/// One chunk of the like log as stored, and the numbers of its likes
/// removed since, sorted.
pub(super) struct LikeChunk {
    bytes: Vec<u8>,
    dead: Vec<u64>,
}

impl LikeChunk {
    /// Calls `sink` for each live like of the chunk logged at `since_us`
    /// or later; returns how many.
    pub(super) fn deliver(
        &self,
        since_us: u64,
        sink: &mut dyn FnMut(LikeRef<'_>),
    ) -> Result<u64, StoreError> {
        let chunk = like_chunk::Chunk::parse(&self.bytes)?;
        let mut delivered = 0;
        for record in chunk.records() {
            let record = record?;
            if record.time_us < since_us || self.dead.binary_search(&record.seq).is_ok() {
                continue;
            }
            if let Some(like) = record.like() {
                sink(like);
                delivered += 1;
            }
        }
        Ok(delivered)
    }
}

/// Reads the like log's chunks that may hold live likes logged at
/// `since_us` or later from one snapshot into `chunks`, in log order.
/// Stops early, without error, when the receiver is gone.
pub(super) fn produce_likes(
    db: &Database,
    since_us: u64,
    chunks: mpsc::Sender<LikeChunk>,
) -> Result<(), StoreError> {
    let txn = db.begin_read()?;
    let metas = txn.open_table(LIKE_CHUNKS)?;
    let segments = txn.open_table(LIKE_SEGMENTS)?;
    let dead = txn.open_table(LIKE_DEAD)?;
    for item in metas.iter()? {
        let (first, meta) = item?;
        let (first, meta) = (first.value(), Meta::from_tuple(meta.value()));
        if meta.max_us < since_us || meta.live_min_us == u64::MAX {
            continue;
        }
        let bytes = segments
            .get(first)?
            .ok_or_else(|| StoreError::Corrupt(format!("like chunk {first} missing")))?
            .value()
            .to_vec();
        let dead = dead
            .range(first..=meta.last_seq)?
            .map(|item| item.map(|(seq, _)| seq.value()))
            .collect::<Result<Vec<_>, _>>()?;
        if chunks.blocking_send(LikeChunk { bytes, dead }).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_gives_back_what_was_pushed() {
        let mut chunk = Chunk::new();
        chunk.push("did:plc:a", "k1", "{}", 5);
        chunk.push("did:plc:c", "", "", 6);
        let rows: Vec<_> = chunk.rows().collect();
        assert_eq!(
            rows,
            [
                RowRef {
                    did: "did:plc:a",
                    rkey: "k1",
                    value: "{}",
                    time_us: 5
                },
                RowRef {
                    did: "did:plc:c",
                    rkey: "",
                    value: "",
                    time_us: 6
                },
            ]
        );
    }
}
