//! The likes of the embedded store, inside one write transaction: the
//! index that judges every event ([`like_key`](super::like_key)), the
//! numbered log of what changed ([`like_log`](crate::like_log)), and
//! the set of logged likes removed since.
//!
//! A create is one index insert (it returns the old entry, which decides
//! whether the like is new) and a record appended in memory; the batch's
//! records become one chunk value when the transaction ends. Nothing is
//! written per like in DID order, and nothing per DID. A removal (a
//! delete, an account deletion, a prune) marks the like's record dead by
//! its number and logs a removal record, so a scan skips it and a
//! follower reading the log learns of it.

use feedmixer_atproto::{DidRef, RkeyRef, SubjectRef};
use redb::{ReadableTable, Table, WriteTransaction};

mod changes;
mod prune;

use super::like_key::{Entry, IndexKey, LikeKey, Live, did_key};
use super::schema::{ChunkMeta, LIKE_CHUNKS, LIKE_COUNT_KEY, LIKE_DEAD, LIKE_INDEX, LIKE_SEGMENTS};
use crate::StoreError;
use crate::like_log::{Chunk, ChunkBuilder, Record};

pub(super) use changes::changes_after;

/// The meta table, which the caller has open.
pub(super) type MetaTable<'txn> = Table<'txn, &'static str, &'static [u8]>;

/// Records in a chunk at most: a bulk load writes chunks of this many.
const MAX_CHUNK_RECORDS: usize = 1 << 16;
/// Chunks smaller than this are joined once they add up to it, so live
/// ingest's many small batches make few chunks (see `Likes::flush`).
const COALESCE_RECORDS: u64 = 4_096;

/// What a create did.
pub(super) enum Created {
    New,
    Duplicate,
    Stale,
}

/// What a delete did.
pub(super) enum Deleted {
    Removed,
    /// The key was never seen; its tombstone is recorded all the same.
    Missing,
    Stale,
}

/// The account an event belongs to, as far as likes need it.
pub(super) struct Account<'e> {
    pub(super) did: &'e str,
    /// `did`, packed once for all its events.
    pub(super) packed: DidRef<'e>,
    /// Time of its newest recorded deletion.
    pub(super) deleted_at: Option<u64>,
}

impl Account<'_> {
    /// True when the account was deleted at or after `time_us`.
    pub(super) fn deleted_since(&self, time_us: u64) -> bool {
        self.deleted_at.is_some_and(|at| at >= time_us)
    }
}

pub(super) struct Likes<'txn> {
    index: Table<'txn, IndexKey, &'static [u8]>,
    chunks: Table<'txn, u64, ChunkMeta>,
    segments: Table<'txn, u64, &'static [u8]>,
    dead: Table<'txn, u64, ()>,
    pending: Pending,
    /// Live likes now (read at open, kept by every change).
    count: u64,
    count_at_open: u64,
    /// Scratch for index values.
    buf: Vec<u8>,
}

/// The records of this transaction not yet in a chunk.
#[derive(Default)]
struct Pending {
    builder: ChunkBuilder,
    /// The first record's number and the bounds so far.
    meta: Option<(u64, Meta)>,
}

/// Chunk metadata, as the `like_chunks` table keeps it (keyed by the first
/// record's number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Meta {
    pub(super) last_seq: u64,
    /// The oldest log time of a live like in the chunk, or lower (removals
    /// do not raise it; a prune that reads the chunk sets it exactly);
    /// `u64::MAX` when it has none.
    pub(super) live_min_us: u64,
    /// The newest time of any record in it.
    pub(super) max_us: u64,
    pub(super) records: u64,
}

impl Meta {
    pub(super) fn from_tuple((last_seq, live_min_us, max_us, records): ChunkMeta) -> Self {
        Meta {
            last_seq,
            live_min_us,
            max_us,
            records,
        }
    }

    pub(super) fn to_tuple(self) -> ChunkMeta {
        (self.last_seq, self.live_min_us, self.max_us, self.records)
    }

    fn join(self, later: Meta) -> Meta {
        Meta {
            last_seq: later.last_seq,
            live_min_us: self.live_min_us.min(later.live_min_us),
            max_us: self.max_us.max(later.max_us),
            records: self.records + later.records,
        }
    }
}

impl<'txn> Likes<'txn> {
    /// Opens the like tables of `txn`; `meta` is its meta table.
    pub(super) fn open(
        txn: &'txn WriteTransaction,
        meta: &MetaTable<'_>,
    ) -> Result<Self, StoreError> {
        let count = super::schema::read_u64(
            "like count",
            meta.get(LIKE_COUNT_KEY)?.map(|v| v.value().to_vec()),
        )?;
        Ok(Likes {
            index: txn.open_table(LIKE_INDEX)?,
            chunks: txn.open_table(LIKE_CHUNKS)?,
            segments: txn.open_table(LIKE_SEGMENTS)?,
            dead: txn.open_table(LIKE_DEAD)?,
            pending: Pending::default(),
            count,
            count_at_open: count,
            buf: Vec::with_capacity(128),
        })
    }

    /// Applies a create of `rkey` by `account` at `time_us`; a new like
    /// takes the number after `seq`.
    pub(super) fn create(
        &mut self,
        account: &Account<'_>,
        rkey: &str,
        subject: &str,
        time_us: u64,
        seq: &mut u64,
    ) -> Result<Created, StoreError> {
        if account.deleted_since(time_us) {
            return Ok(Created::Stale);
        }
        let did = account.packed;
        let rkey = RkeyRef::parse(rkey);
        let subject = SubjectRef::parse(subject);
        let key = LikeKey::of(did, rkey).to_key();
        let odd_rkey = match rkey {
            RkeyRef::Other(text) => Some(text),
            RkeyRef::Tid(_) => None,
        };
        let mut new = Live {
            logged_us: time_us,
            newest_us: time_us,
            seq: *seq + 1,
            tombstone_us: None,
            subject,
            odd_rkey,
        };
        Entry::Live(new).encode(&mut self.buf);
        // Insert first and look at what was there: a new like, by far the
        // common case, costs one B-tree descent.
        let old = self
            .index
            .insert(key, self.buf.as_slice())?
            .map(|old| old.value().to_vec());
        let Some(old) = old else {
            *seq += 1;
            self.log_added(*seq, time_us, did, rkey, subject)?;
            return Ok(Created::New);
        };
        let outcome = match Entry::decode(&old)? {
            Entry::Tombstone(at) if at >= time_us => Created::Stale,
            Entry::Tombstone(at) => {
                new.tombstone_us = Some(at);
                Entry::Live(new).encode(&mut self.buf);
                self.index.insert(key, self.buf.as_slice())?;
                *seq += 1;
                self.log_added(*seq, time_us, did, rkey, subject)?;
                return Ok(Created::New);
            }
            Entry::Live(live) if live.tombstone_us.is_some_and(|at| at >= time_us) => {
                Created::Stale
            }
            Entry::Live(live) if time_us > live.newest_us => {
                Entry::Live(Live {
                    newest_us: time_us,
                    ..live
                })
                .encode(&mut self.buf);
                self.index.insert(key, self.buf.as_slice())?;
                return Ok(Created::Duplicate);
            }
            Entry::Live(_) => Created::Duplicate,
        };
        self.index.insert(key, old.as_slice())?;
        Ok(outcome)
    }

    /// Applies a delete of `rkey` by `account` at `time_us`; a removal
    /// takes the number after `seq`.
    pub(super) fn delete(
        &mut self,
        account: &Account<'_>,
        rkey: &str,
        time_us: u64,
        seq: &mut u64,
    ) -> Result<Deleted, StoreError> {
        let did = account.packed;
        let key = LikeKey::of(did, RkeyRef::parse(rkey)).to_key();
        let existing = self.index.get(key)?.map(|v| v.value().to_vec());
        let entry = existing.as_deref().map(Entry::decode).transpose()?;
        let outcome = match entry {
            Some(Entry::Live(live)) if live.newest_us <= time_us => {
                self.dead.insert(live.seq, ())?;
                *seq += 1;
                self.log_removed(*seq, live.logged_us, did, live.subject)?;
                Deleted::Removed
            }
            // Created again after this delete: a replay from before that.
            Some(Entry::Live(_)) => return Ok(Deleted::Stale),
            Some(Entry::Tombstone(at)) if at >= time_us => return Ok(Deleted::Stale),
            _ if account.deleted_since(time_us) => return Ok(Deleted::Stale),
            _ => Deleted::Missing,
        };
        Entry::Tombstone(time_us).encode(&mut self.buf);
        self.index.insert(key, self.buf.as_slice())?;
        Ok(outcome)
    }

    /// Removes every like of `did` not created again after `time_us`, in
    /// record key order, numbering each removal after `seq`; returns how
    /// many went. The keys keep their older tombstones (an account
    /// deletion records none of its own: the account's is enough).
    pub(super) fn remove_account(
        &mut self,
        did: &str,
        time_us: u64,
        seq: &mut u64,
    ) -> Result<u64, StoreError> {
        let packed = DidRef::parse(did);
        let mut entries = self.live_entries_of(did_key(packed))?;
        entries.sort_by(|a, b| a.2.as_bytes().cmp(b.2.as_bytes()));
        let mut removed = 0;
        for (key, value, _) in &entries {
            let Entry::Live(live) = Entry::decode(value)? else {
                continue;
            };
            if live.newest_us > time_us {
                continue;
            }
            self.dead.insert(live.seq, ())?;
            match live.tombstone_us {
                None => {
                    self.index.remove(key)?;
                }
                Some(at) => {
                    Entry::Tombstone(at).encode(&mut self.buf);
                    self.index.insert(key, self.buf.as_slice())?;
                }
            }
            *seq += 1;
            self.log_removed(*seq, live.logged_us, packed, live.subject)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// The live entries of DID key `did`, with each one's record key as
    /// text: one range per bucket that holds any, found by skipping from
    /// bucket to bucket.
    fn live_entries_of(&self, did: u128) -> Result<Vec<(IndexKey, Vec<u8>, String)>, StoreError> {
        let mut out = Vec::new();
        let mut bucket = 0u32;
        loop {
            let start = LikeKey::first_of(bucket, did).to_key();
            let Some(next) = self.index.range(start..)?.next() else {
                break;
            };
            let found = LikeKey::from_key(next?.0.value());
            if found.bucket != bucket || found.did != did {
                // Nothing of the DID here: on to the next bucket that holds
                // anything.
                bucket = match found.bucket.cmp(&bucket) {
                    std::cmp::Ordering::Greater if found.did <= did => found.bucket,
                    _ => match found.bucket.checked_add(1) {
                        Some(next) => next,
                        None => break,
                    },
                };
                continue;
            }
            let end = LikeKey {
                bucket,
                did,
                rkey: u64::MAX,
            }
            .to_key();
            for item in self.index.range(start..=end)? {
                let (key, value) = item?;
                if let Entry::Live(live) = Entry::decode(value.value())? {
                    let key = key.value();
                    let rkey = match live.odd_rkey {
                        Some(text) => text.to_owned(),
                        None => feedmixer_atproto::Tid::from_bits(LikeKey::from_key(key).rkey)
                            .to_string(),
                    };
                    out.push((key, value.value().to_vec(), rkey));
                }
            }
            bucket = match bucket.checked_add(1) {
                Some(next) => next,
                None => break,
            };
        }
        Ok(out)
    }

    /// Takes over a live like of an older file: indexed and logged as
    /// `apply` would have, numbered after `seq`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn adopt(
        &mut self,
        did: &str,
        rkey: &str,
        subject: &str,
        logged_us: u64,
        newest_us: u64,
        tombstone_us: Option<u64>,
        seq: &mut u64,
    ) -> Result<(), StoreError> {
        let (did, rkey, subject) = (
            DidRef::parse(did),
            RkeyRef::parse(rkey),
            SubjectRef::parse(subject),
        );
        *seq += 1;
        Entry::Live(Live {
            logged_us,
            newest_us,
            seq: *seq,
            tombstone_us,
            subject,
            odd_rkey: match rkey {
                RkeyRef::Other(text) => Some(text),
                RkeyRef::Tid(_) => None,
            },
        })
        .encode(&mut self.buf);
        self.index
            .insert(LikeKey::of(did, rkey).to_key(), self.buf.as_slice())?;
        self.log_added(*seq, logged_us, did, rkey, subject)
    }

    /// Takes over a tombstone of an older file.
    pub(super) fn adopt_tombstone(
        &mut self,
        did: &str,
        rkey: &str,
        time_us: u64,
    ) -> Result<(), StoreError> {
        let key = LikeKey::of(DidRef::parse(did), RkeyRef::parse(rkey)).to_key();
        let existing = self.index.get(key)?.map(|v| v.value().to_vec());
        match existing.as_deref().map(Entry::decode).transpose()? {
            Some(Entry::Live(live)) => Entry::Live(Live {
                tombstone_us: Some(live.tombstone_us.map_or(time_us, |at| at.max(time_us))),
                ..live
            }),
            Some(Entry::Tombstone(at)) => Entry::Tombstone(at.max(time_us)),
            None => Entry::Tombstone(time_us),
        }
        .encode(&mut self.buf);
        self.index.insert(key, self.buf.as_slice())?;
        Ok(())
    }

    fn log_added(
        &mut self,
        seq: u64,
        time_us: u64,
        did: DidRef<'_>,
        rkey: RkeyRef<'_>,
        subject: SubjectRef<'_>,
    ) -> Result<(), StoreError> {
        self.count += 1;
        self.log(&Record {
            added: true,
            seq,
            time_us,
            did,
            rkey: Some(rkey),
            subject,
        })
    }

    fn log_removed(
        &mut self,
        seq: u64,
        logged_us: u64,
        did: DidRef<'_>,
        subject: SubjectRef<'_>,
    ) -> Result<(), StoreError> {
        self.count = self.count.saturating_sub(1);
        self.log(&Record {
            added: false,
            seq,
            time_us: logged_us,
            did,
            rkey: None,
            subject,
        })
    }

    fn log(&mut self, record: &Record<'_>) -> Result<(), StoreError> {
        let meta = Meta {
            last_seq: record.seq,
            live_min_us: if record.added {
                record.time_us
            } else {
                u64::MAX
            },
            max_us: record.time_us,
            records: 1,
        };
        self.pending.meta = Some(match self.pending.meta {
            None => (record.seq, meta),
            Some((first, before)) => (first, before.join(meta)),
        });
        self.pending.builder.push(record);
        if self.pending.builder.len() >= MAX_CHUNK_RECORDS {
            self.flush(false)?;
        }
        Ok(())
    }

    /// Writes the pending records as a chunk of their own. When that
    /// leaves the small chunks at the end of the log (live ingest's, a
    /// few records each) holding [`COALESCE_RECORDS`] or more, and
    /// `coalesce` allows, they become one chunk: a record is written
    /// twice at most, where growing one chunk batch by batch would write
    /// it once per batch after it.
    fn flush(&mut self, coalesce: bool) -> Result<(), StoreError> {
        let Some((first, meta)) = self.pending.meta.take() else {
            return Ok(());
        };
        let builder = std::mem::take(&mut self.pending.builder);
        self.segments.insert(first, builder.finish().as_slice())?;
        self.chunks.insert(first, meta.to_tuple())?;
        if coalesce && meta.records < COALESCE_RECORDS {
            self.merge_small_tail()?;
        }
        Ok(())
    }

    /// Joins the small chunks at the end of the log into one, once they
    /// hold [`COALESCE_RECORDS`] records between them.
    fn merge_small_tail(&mut self) -> Result<(), StoreError> {
        let mut tail: Vec<(u64, Meta)> = Vec::new();
        let mut records = 0;
        for item in self.chunks.iter()?.rev() {
            let (first, meta) = item?;
            let meta = Meta::from_tuple(meta.value());
            if meta.records >= COALESCE_RECORDS {
                break;
            }
            records += meta.records;
            tail.push((first.value(), meta));
        }
        if records < COALESCE_RECORDS || tail.len() < 2 {
            return Ok(());
        }
        tail.reverse();
        let mut merged = ChunkBuilder::default();
        let mut joined: Option<Meta> = None;
        for (first, meta) in &tail {
            let stored = self
                .segments
                .remove(first)?
                .ok_or_else(|| StoreError::Corrupt(format!("like chunk {first} missing")))?;
            merged.append(&ChunkBuilder::from_chunk(&Chunk::parse(stored.value())?));
            drop(stored);
            self.chunks.remove(first)?;
            joined = Some(joined.map_or(*meta, |before| before.join(*meta)));
        }
        let (first, meta) = (tail[0].0, joined.expect("two chunks at least"));
        self.segments.insert(first, merged.finish().as_slice())?;
        self.chunks.insert(first, meta.to_tuple())?;
        Ok(())
    }

    /// Writes what is pending and the live count; the caller commits.
    pub(super) fn finish(&mut self, meta: &mut MetaTable<'_>) -> Result<(), StoreError> {
        self.flush(true)?;
        if self.count != self.count_at_open {
            meta.insert(LIKE_COUNT_KEY, self.count.to_le_bytes().as_slice())?;
            self.count_at_open = self.count;
        }
        Ok(())
    }
}
