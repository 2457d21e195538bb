//! Pruning the likes: the records logged before the horizon, chunk by
//! chunk of the log, and the tombstones, by a sweep of the index's old
//! buckets that goes on where the last call stopped.

use feedmixer_atproto::RkeyRef;
use redb::ReadableTable;

use super::{Likes, Meta, MetaTable};
use crate::StoreError;
use crate::embedded::like_key::{Entry, IndexKey, LikeKey, Live, bucket_at};
use crate::embedded::schema::TOMBSTONE_SWEEP_KEY;
use crate::like_log::{Chunk, Record};

impl Likes<'_> {
    /// Prunes the likes logged before `horizon`, at most `max`: returns
    /// how many went, how many older tombstones of their keys went with
    /// them, and whether more wait.
    pub(in crate::embedded) fn prune(
        &mut self,
        horizon: u64,
        max: usize,
    ) -> Result<LikesPruned, StoreError> {
        let mut out = LikesPruned::default();
        let mut candidates: Vec<(u64, Meta)> = Vec::new();
        for item in self.chunks.iter()? {
            let (first, meta) = item?;
            let meta = Meta::from_tuple(meta.value());
            if meta.live_min_us < horizon {
                candidates.push((first.value(), meta));
            }
        }
        for (first, meta) in candidates {
            if out.likes >= max as u64 {
                out.more = true;
                break;
            }
            let stored = self
                .segments
                .get(first)?
                .ok_or_else(|| StoreError::Corrupt(format!("like chunk {first} missing")))?
                .value()
                .to_vec();
            let chunk = Chunk::parse(&stored)?;
            let dead: Vec<u64> = self
                .dead
                .range(first..=meta.last_seq)?
                .map(|item| item.map(|(seq, _)| seq.value()))
                .collect::<Result<_, _>>()?;
            let mut live_min_us = u64::MAX;
            let mut stopped = false;
            for record in chunk.records() {
                let record = record?;
                let Some(rkey) = record
                    .rkey
                    .filter(|_| dead.binary_search(&record.seq).is_err())
                else {
                    continue;
                };
                if record.time_us >= horizon || out.likes >= max as u64 {
                    stopped |= record.time_us < horizon;
                    live_min_us = live_min_us.min(record.time_us);
                    continue;
                }
                self.prune_like(&record, rkey, horizon, &mut out)?;
                self.dead.insert(record.seq, ())?;
            }
            if !stopped && meta.max_us < horizon {
                self.segments.remove(first)?;
                self.chunks.remove(first)?;
                self.dead.retain_in(first..=meta.last_seq, |_, _| false)?;
            } else {
                self.chunks.insert(
                    first,
                    Meta {
                        live_min_us,
                        ..meta
                    }
                    .to_tuple(),
                )?;
            }
            if stopped {
                out.more = true;
                break;
            }
        }
        Ok(out)
    }

    /// Takes one like logged before `horizon` out of the index.
    fn prune_like(
        &mut self,
        record: &Record<'_>,
        rkey: RkeyRef<'_>,
        horizon: u64,
        out: &mut LikesPruned,
    ) -> Result<(), StoreError> {
        let key = LikeKey::of(record.did, rkey).to_key();
        let entry = self.index.get(key)?.map(|v| v.value().to_vec());
        match entry.as_deref().map(Entry::decode).transpose()? {
            Some(Entry::Live(live)) if live.seq == record.seq => {
                if live.newest_us >= horizon {
                    // Also created at or after the horizon: a replay of
                    // that create must not bring the like back.
                    Entry::Tombstone(live.newest_us).encode(&mut self.buf);
                    self.index.insert(key, self.buf.as_slice())?;
                } else {
                    self.index.remove(key)?;
                }
                if live.tombstone_us.is_some_and(|at| at < horizon) {
                    out.tombstones += 1;
                }
            }
            _ => tracing::warn!(
                seq = record.seq,
                "a live like record the index does not point at"
            ),
        }
        self.count = self.count.saturating_sub(1);
        out.likes += 1;
        Ok(())
    }

    /// Drops the tombstones recorded before `horizon`, at most `max`,
    /// visiting a bounded stretch of the index per call and going on where
    /// the last call stopped (`store.tombstone_sweep`); returns how many
    /// went and whether the sweep for this horizon is unfinished.
    ///
    /// A tombstone sits in the bucket of its key's TID, and a key is
    /// deleted after it was created, so every tombstone before the horizon
    /// is in a bucket up to the horizon's (but for a key stamped ahead of
    /// its delete's clock, which waits for a later horizon).
    pub(in crate::embedded) fn sweep_tombstones(
        &mut self,
        meta: &mut MetaTable<'_>,
        horizon: u64,
        max: usize,
    ) -> Result<(u64, bool), StoreError> {
        if max == 0 {
            return Ok((0, true));
        }
        let sweep = meta.get(TOMBSTONE_SWEEP_KEY)?.map(|v| v.value().to_vec());
        let mut from: Option<IndexKey> = Some((0, 0, 0));
        if let Some(sweep) = sweep.filter(|s| s.len() >= 8) {
            let swept_for = u64::from_le_bytes(sweep[..8].try_into().expect("8 bytes"));
            if swept_for == horizon {
                from = (sweep.len() == 8 + 28).then(|| {
                    let key = &sweep[8..];
                    (
                        u32::from_le_bytes(key[..4].try_into().expect("4 bytes")),
                        u128::from_le_bytes(key[4..20].try_into().expect("16 bytes")),
                        u64::from_le_bytes(key[20..].try_into().expect("8 bytes")),
                    )
                });
            }
        }
        let Some(from) = from else {
            // This horizon's sweep is done.
            return Ok((0, false));
        };
        let end = LikeKey::first_of(bucket_at(horizon).saturating_add(1), 0).to_key();
        if from >= end {
            return Ok((0, false));
        }
        let visit = (max * 4).max(4_096);
        let mut doomed: Vec<(IndexKey, Option<Vec<u8>>)> = Vec::new();
        let mut next: Option<IndexKey> = None;
        for (visited, item) in self.index.range(from..end)?.enumerate() {
            let (key, value) = item?;
            if visited >= visit || doomed.len() >= max {
                next = Some(key.value());
                break;
            }
            match Entry::decode(value.value())? {
                Entry::Tombstone(at) if at < horizon => doomed.push((key.value(), None)),
                Entry::Live(live) if live.tombstone_us.is_some_and(|at| at < horizon) => {
                    let mut kept = Vec::new();
                    Entry::Live(Live {
                        tombstone_us: None,
                        ..live
                    })
                    .encode(&mut kept);
                    doomed.push((key.value(), Some(kept)));
                }
                _ => {}
            }
        }
        for (key, kept) in &doomed {
            match kept {
                None => self.index.remove(key)?,
                Some(value) => self.index.insert(key, value.as_slice())?,
            };
        }
        let mut state = horizon.to_le_bytes().to_vec();
        if let Some((bucket, did, rkey)) = next {
            state.extend_from_slice(&bucket.to_le_bytes());
            state.extend_from_slice(&did.to_le_bytes());
            state.extend_from_slice(&rkey.to_le_bytes());
        }
        meta.insert(TOMBSTONE_SWEEP_KEY, state.as_slice())?;
        Ok((doomed.len() as u64, next.is_some()))
    }
}

/// What [`Likes::prune`] did.
#[derive(Debug, Default)]
pub(in crate::embedded) struct LikesPruned {
    pub(in crate::embedded) likes: u64,
    /// Older tombstones of the pruned likes' keys that went with them.
    pub(in crate::embedded) tombstones: u64,
    pub(in crate::embedded) more: bool,
}
