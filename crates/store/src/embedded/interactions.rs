//! Interaction histories in the embedded store: one encoded value per
//! viewer, and an age index that lets each write drop a few histories
//! that expired whole, so viewers who never return do not stay forever.

use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::schema::{INTERACTION_AGES, INTERACTIONS};
use crate::interactions::{decode, encode, merge};
use crate::{Interaction, InteractionLimits, StoreError};

/// Expired histories removed per write, at most: bounded work per call,
/// and more than viewers can start histories, so the backlog shrinks.
const EXPIRED_PER_WRITE: usize = 8;

/// Merges `items` into `viewer`'s history; true when it also removed other
/// viewers' expired histories.
pub(super) fn add(
    txn: &WriteTransaction,
    viewer: &str,
    items: &[Interaction],
    limits: InteractionLimits,
    now_us: u64,
) -> Result<bool, StoreError> {
    let mut histories = txn.open_table(INTERACTIONS)?;
    let mut ages = txn.open_table(INTERACTION_AGES)?;
    let old = match histories.get(viewer)? {
        Some(bytes) => decode(bytes.value())?,
        None => Vec::new(),
    };
    if let Some(newest) = old.first() {
        ages.remove((newest.time_us, viewer))?;
    }
    let history = merge(old, items, limits, now_us);
    match history.first() {
        Some(newest) => {
            histories.insert(viewer, encode(&history).as_slice())?;
            ages.insert((newest.time_us, viewer), ())?;
        }
        None => {
            histories.remove(viewer)?;
        }
    }

    let cutoff = now_us.saturating_sub(limits.ttl_us);
    let expired: Vec<(u64, String)> = ages
        .range(..(cutoff, ""))?
        .take(EXPIRED_PER_WRITE)
        .map(|entry| entry.map(|(key, _)| (key.value().0, key.value().1.to_owned())))
        .collect::<Result<_, _>>()?;
    let removed_others = !expired.is_empty();
    for (time_us, viewer) in expired {
        ages.remove((time_us, viewer.as_str()))?;
        histories.remove(viewer.as_str())?;
    }
    Ok(removed_others)
}

/// `viewer`'s whole stored history, newest first.
pub(super) fn read(txn: &ReadTransaction, viewer: &str) -> Result<Vec<Interaction>, StoreError> {
    let histories = txn.open_table(INTERACTIONS)?;
    match histories.get(viewer)? {
        Some(bytes) => decode(bytes.value()),
        None => Ok(Vec::new()),
    }
}
