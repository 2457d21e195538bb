//! Streaming a log (the likes, the posts) out of a blocking read
//! transaction.
//!
//! redb reads block, so the scan runs on a blocking thread, while the sink
//! is a borrowed, non-`'static` callback that must stay on the caller's
//! task. The two meet through a small bounded channel of [`Chunk`]s: each
//! chunk packs a few thousand likes into one string buffer, so the scan
//! allocates per chunk rather than per like, and memory stays bounded by
//! the channel whatever the size of the log.

use redb::{Database, ReadableDatabase, TableDefinition};
use tokio::sync::mpsc;

use super::schema::LogKey;
use crate::{LikeRef, StoreError};

/// Likes per chunk: big enough to amortize the channel hand-off, small
/// enough (about 1 MiB of text) to keep the scan's memory flat.
const CHUNK_LIKES: usize = 8 * 1024;
/// Chunks in flight between the reader and the sink.
pub(super) const CHUNKS_IN_FLIGHT: usize = 4;

/// A run of likes, their strings laid end to end in one buffer.
pub(super) struct Chunk {
    text: String,
    rows: Vec<Row>,
}

/// Byte offsets into [`Chunk::text`]: `did` is `start..did_end`, `rkey`
/// `did_end..rkey_end`, the subject `rkey_end..end`.
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
            text: String::with_capacity(CHUNK_LIKES * 128),
            rows: Vec::with_capacity(CHUNK_LIKES),
        }
    }

    fn push(&mut self, did: &str, rkey: &str, subject: &str, time_us: u64) {
        let start = self.text.len();
        self.text.push_str(did);
        let did_end = self.text.len();
        self.text.push_str(rkey);
        let rkey_end = self.text.len();
        self.text.push_str(subject);
        self.rows.push(Row {
            start,
            did_end,
            rkey_end,
            end: self.text.len(),
            time_us,
        });
    }

    fn is_full(&self) -> bool {
        self.rows.len() >= CHUNK_LIKES
    }

    /// The rows of the chunk as likes (the value is the subject),
    /// borrowing its buffer.
    pub(super) fn likes(&self) -> impl Iterator<Item = LikeRef<'_>> {
        self.rows.iter().map(|row| LikeRef {
            did: &self.text[row.start..row.did_end],
            rkey: &self.text[row.did_end..row.rkey_end],
            subject: &self.text[row.rkey_end..row.end],
            time_us: row.time_us,
        })
    }
}

/// Reads every record of `log` with `time_us >= since_us` from one
/// snapshot into `chunks`, in log order (a like's subject, a post's stored
/// form, is the row's value). Stops early, without error, when the receiver
/// is gone (the scan's caller was cancelled or its sink panicked).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_gives_back_what_was_pushed() {
        let mut chunk = Chunk::new();
        chunk.push("did:plc:a", "k1", "at://did:plc:b/app.bsky.feed.post/p", 5);
        chunk.push("did:plc:c", "", "", 6);
        let likes: Vec<_> = chunk.likes().collect();
        assert_eq!(
            likes,
            [
                LikeRef {
                    did: "did:plc:a",
                    rkey: "k1",
                    subject: "at://did:plc:b/app.bsky.feed.post/p",
                    time_us: 5
                },
                LikeRef {
                    did: "did:plc:c",
                    rkey: "",
                    subject: "",
                    time_us: 6
                },
            ]
        );
    }
}
