//! Viewers' interaction histories as last read or written, in memory.
//!
//! Every request of a verified viewer reads its history (the
//! `viewer_feedback` hydrator), nearly always to find none, and a read of
//! the file is a hop to the blocking pool: two context switches a request.
//! One process owns the data dir, so what it wrote last is what the file
//! holds, and the cache can answer instead.
//!
//! A miss reads the file and then fills the cache; a write to the file
//! drops the viewer's entry once committed. A miss whose read raced a
//! write must not put the older history back: `generation` counts writes,
//! and a fill whose read started before the newest write is dropped (the
//! check and the fill happen under its lock, as do a write's count and
//! drop).

use std::sync::{Arc, Mutex, MutexGuard};

use moka::sync::Cache;

use crate::Interaction;

/// Enough for the histories of about a million viewers with none, or tens
/// of thousands with long ones.
pub(super) const DEFAULT_BYTES: u64 = 64 << 20;

pub(super) struct Histories {
    /// Viewer DID to its whole stored history, newest first (empty: none).
    entries: Cache<String, Arc<[Interaction]>>,
    /// Writes so far.
    generation: Mutex<u64>,
}

impl Histories {
    pub(super) fn new(max_bytes: u64) -> Self {
        Histories {
            entries: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|viewer: &String, history: &Arc<[Interaction]>| {
                    let items: usize = history.iter().map(|i| i.item.len() + 32).sum();
                    (viewer.len() + items + 64).min(u32::MAX as usize) as u32
                })
                .build(),
            generation: Mutex::new(0),
        }
    }

    pub(super) fn get(&self, viewer: &str) -> Option<Arc<[Interaction]>> {
        self.entries.get(viewer)
    }

    /// Taken before a miss reads the file; given back to [`Self::fill`].
    pub(super) fn generation(&self) -> u64 {
        *self.writes()
    }

    /// Keeps `history`, read after [`Self::generation`] returned `read_at`,
    /// unless a write committed since.
    pub(super) fn fill(&self, read_at: u64, viewer: &str, history: Arc<[Interaction]>) {
        let writes = self.writes();
        if *writes == read_at {
            self.entries.insert(viewer.to_owned(), history);
        }
    }

    /// After a write to `viewer`'s history committed.
    pub(super) fn written(&self, viewer: &str) {
        let mut writes = self.writes();
        *writes += 1;
        self.entries.invalidate(viewer);
    }

    /// After a write that also removed other viewers' (expired) histories.
    pub(super) fn written_many(&self) {
        let mut writes = self.writes();
        *writes += 1;
        self.entries.invalidate_all();
    }

    fn writes(&self) -> MutexGuard<'_, u64> {
        self.generation.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The entries of `history` (newest first) at or after `since_us`.
pub(super) fn since(history: &[Interaction], since_us: u64) -> Vec<Interaction> {
    let keep = history.partition_point(|i| i.time_us >= since_us);
    history[..keep].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedmixer_atproto::InteractionEvent;

    fn history(times: &[u64]) -> Arc<[Interaction]> {
        times
            .iter()
            .map(|&time_us| Interaction {
                item: "at://did:plc:a/app.bsky.feed.post/1".into(),
                event: InteractionEvent::Seen,
                time_us,
            })
            .collect()
    }

    #[test]
    fn a_fill_that_raced_a_write_is_dropped() {
        let histories = Histories::new(DEFAULT_BYTES);
        let read_at = histories.generation();
        histories.written("did:plc:v");
        histories.fill(read_at, "did:plc:v", history(&[1]));
        assert!(
            histories.get("did:plc:v").is_none(),
            "the older read is not kept"
        );

        let read_at = histories.generation();
        histories.fill(read_at, "did:plc:v", history(&[2]));
        assert_eq!(histories.get("did:plc:v").unwrap()[0].time_us, 2);
        histories.written("did:plc:v");
        assert!(
            histories.get("did:plc:v").is_none(),
            "a write drops the entry"
        );
    }

    #[test]
    fn a_write_removing_expired_histories_drops_every_entry() {
        let histories = Histories::new(DEFAULT_BYTES);
        for viewer in ["did:plc:a", "did:plc:b"] {
            histories.fill(histories.generation(), viewer, history(&[]));
        }
        histories.written_many();
        assert!(histories.get("did:plc:a").is_none() && histories.get("did:plc:b").is_none());
    }

    #[test]
    fn since_keeps_the_newest_prefix() {
        let h = history(&[30, 20, 10]);
        assert_eq!(since(&h, 20).len(), 2);
        assert_eq!(since(&h, 0).len(), 3);
        assert!(since(&h, 31).is_empty());
    }
}
