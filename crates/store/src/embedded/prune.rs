//! Pruning the embedded store: the likes, posts, their tombstones, the
//! account deletions and the account statuses before the horizon, each
//! kind bounded per call, in one write transaction. Likes go chunk by chunk
//! of the log (`Likes::prune`); the rest in time order.

use redb::{ReadableTable, StorageError, Value, WriteTransaction};

use super::apply::{Records, Tables};
use super::schema::PRUNED_BEFORE_KEY;
use crate::{PruneStats, StoreError};

/// Prunes into `txn` (see [`crate::Store::prune`]); the caller commits.
pub(super) fn prune(
    txn: &WriteTransaction,
    before_us: u64,
    max: usize,
) -> Result<PruneStats, StoreError> {
    let mut tables = Tables::open(txn)?;
    let stored = tables.horizon()?;
    let horizon = stored.max(before_us);
    if horizon != stored {
        tables
            .meta
            .insert(PRUNED_BEFORE_KEY, horizon.to_le_bytes().as_slice())?;
    }
    let likes = tables.likes.prune(horizon, max)?;
    let (tombstones, more_tombstones) =
        tables
            .likes
            .sweep_tombstones(&mut tables.meta, horizon, max)?;
    let (posts, posts_replaced) = prune_log(&mut tables.posts, horizon, max)?;
    let mut stats = PruneStats {
        likes: likes.likes,
        tombstones: likes.tombstones + tombstones,
        posts: posts.len() as u64,
        post_tombstones: posts_replaced + prune_tombstones(&mut tables.posts, horizon, max)?,
        ..PruneStats::default()
    };

    let accounts = oldest_dids_before(&tables.account_ages, horizon, max)?;
    for (time_us, did) in &accounts {
        tables.account_ages.remove((*time_us, did.as_str()))?;
        let recorded = tables.accounts.get(did.as_str())?.map(|at| at.value());
        if recorded.is_some_and(|at| at < horizon) {
            tables.accounts.remove(did.as_str())?;
            stats.accounts += 1;
        }
    }

    // Each status is indexed at the time it holds, so an index entry
    // before the horizon is always its DID's status.
    let statuses = oldest_dids_before(&tables.status_ages, horizon, max)?;
    for (time_us, did) in &statuses {
        tables.status_ages.remove((*time_us, did.as_str()))?;
        tables.statuses.remove(did.as_str())?;
        stats.account_statuses += 1;
    }

    let before = |records: &Records<'_>| -> Result<bool, StorageError> {
        Ok(records.log.range(..(horizon, "", ""))?.next().is_some()
            || records
                .tombstone_ages
                .range(..(horizon, "", ""))?
                .next()
                .is_some())
    };
    stats.more = likes.more
        || more_tombstones
        || before(&tables.posts)?
        || tables.account_ages.range(..(horizon, ""))?.next().is_some()
        || tables.status_ages.range(..(horizon, ""))?.next().is_some();
    tables.likes.finish(&mut tables.meta)?;
    Ok(stats)
}

/// Drops the tombstones of `records` recorded before `horizon`, oldest
/// first, at most `max`; returns how many went.
fn prune_tombstones(
    records: &mut Records<'_>,
    horizon: u64,
    max: usize,
) -> Result<u64, StoreError> {
    let mut dropped = 0;
    for (time_us, did, rkey) in &oldest_before(&records.tombstone_ages, horizon, max)? {
        records
            .tombstone_ages
            .remove((*time_us, did.as_str(), rkey.as_str()))?;
        // An index entry left behind by a feedmixer that predates it may
        // be older than its tombstone: check the tombstone itself.
        let key = (did.as_str(), rkey.as_str());
        let recorded = records.tombstones.get(key)?.map(|at| at.value());
        if recorded.is_some_and(|at| at < horizon) {
            records.tombstones.remove(key)?;
            dropped += 1;
        }
    }
    Ok(dropped)
}

/// A record's log key, copied out: `(time_us, did, rkey)`.
type OwnedLogKey = (u64, String, String);

/// Removes the oldest records logged before `horizon`, at most `max`, and
/// returns them, and how many tombstones from before the horizon their
/// keys' new tombstones replaced.
fn prune_log(
    records: &mut Records<'_>,
    horizon: u64,
    max: usize,
) -> Result<(Vec<OwnedLogKey>, u64), StoreError> {
    let doomed = oldest_before(&records.log, horizon, max)?;
    let mut replaced = 0;
    for (time_us, did, rkey) in &doomed {
        records
            .log
            .remove((*time_us, did.as_str(), rkey.as_str()))?;
        let times = records
            .keys
            .remove((did.as_str(), rkey.as_str()))?
            .map(|times| times.value());
        match times {
            // Also created at or after the horizon: a replay of that
            // create must not bring the record back.
            Some((_, newest_us)) if newest_us >= horizon => {
                let tombstone = records
                    .tombstones
                    .get((did.as_str(), rkey.as_str()))?
                    .map(|at| at.value());
                if tombstone.is_none_or(|at| at < newest_us) {
                    records.set_tombstone(did, rkey, newest_us)?;
                }
                if tombstone.is_some_and(|at| at < horizon) {
                    replaced += 1;
                }
            }
            Some(_) => {}
            None => tracing::warn!(did, rkey, time_us, "a logged record without its key"),
        }
    }
    Ok((doomed, replaced))
}

/// The oldest `(time_us, did, rkey)` keys of a table in time order (the
/// like log, the tombstones' age index) stamped before `horizon`, at most
/// `max`, copied out so the caller can write the table while it goes
/// through them.
fn oldest_before<V: Value + 'static>(
    table: &impl ReadableTable<(u64, &'static str, &'static str), V>,
    horizon: u64,
    max: usize,
) -> Result<Vec<(u64, String, String)>, StorageError> {
    // (horizon, "", "") sorts before every key stamped at the horizon.
    table
        .range(..(horizon, "", ""))?
        .take(max)
        .map(|entry| {
            entry.map(|(key, _)| {
                let (time_us, did, rkey) = key.value();
                (time_us, did.to_owned(), rkey.to_owned())
            })
        })
        .collect()
}

/// The oldest `(time_us, did)` keys of a DID age index stamped before
/// `horizon`, at most `max`, copied out.
fn oldest_dids_before(
    table: &impl ReadableTable<(u64, &'static str), ()>,
    horizon: u64,
    max: usize,
) -> Result<Vec<(u64, String)>, StorageError> {
    table
        .range(..(horizon, ""))?
        .take(max)
        .map(|entry| {
            entry.map(|(key, _)| {
                let (time_us, did) = key.value();
                (time_us, did.to_owned())
            })
        })
        .collect()
}
