//! The feeds' candidate pools, in the `pools` and `pool_sizes` tables.
//!
//! A feed's pool is the run of `pools` keys `(feed, uri)` from `(feed, "")`
//! on that still start with the feed: tuple keys compare element by
//! element, so the pool of `a` never runs into the pool of `ab`. Every
//! update keeps `pool_sizes` equal to the length of that run, and holds no
//! entry for an empty pool.

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, StorageError, WriteTransaction};

use super::schema::{POOL_SIZES, POOLS, PoolKey};
use crate::{PoolStats, PoolUpdate, StoreError};

/// Applies one pool update into `txn`, stamping new posts `now_us`; the
/// caller commits. The posts come sorted (see [`PoolUpdate`]), so the
/// B-tree is written in key order.
pub(super) fn update(
    txn: &WriteTransaction,
    update: &PoolUpdate,
    now_us: u64,
) -> Result<PoolStats, StoreError> {
    let feed = update.feed.as_str();
    let mut pools = txn.open_table(POOLS)?;
    let mut sizes = txn.open_table(POOL_SIZES)?;
    let size_before = sizes.get(feed)?.map_or(0, |size| size.value());

    let mut stats = PoolStats::default();
    if update.replace {
        for uri in posts(&pools, feed)? {
            if !update.add.contains(uri.as_str()) {
                pools.remove((feed, uri.as_str()))?;
                stats.removed += 1;
            }
        }
    } else {
        for uri in &update.remove {
            if pools.remove((feed, uri.as_str()))?.is_some() {
                stats.removed += 1;
            }
        }
    }
    for uri in &update.add {
        // Insert first and undo when present, so that a post keeps the
        // time it was first added: new posts, the common case, then cost
        // one descent.
        let previous = pools
            .insert((feed, uri.as_str()), now_us)?
            .map(|added_us| added_us.value());
        match previous {
            Some(added_us) => {
                pools.insert((feed, uri.as_str()), added_us)?;
            }
            None => stats.added += 1,
        }
    }

    stats.size = (size_before + stats.added)
        .checked_sub(stats.removed)
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "pool of feed `{feed}` counted {size_before} posts but held more"
            ))
        })?;
    if stats.size != size_before {
        if stats.size == 0 {
            sizes.remove(feed)?;
        } else {
            sizes.insert(feed, stats.size)?;
        }
    }
    Ok(stats)
}

/// The posts of `feed`'s pool in URI order, read from `txn`.
pub(super) fn read(txn: &ReadTransaction, feed: &str) -> Result<Vec<String>, StoreError> {
    Ok(posts(&txn.open_table(POOLS)?, feed)?)
}

/// The feeds with a non-empty pool, sorted, read from `txn`.
pub(super) fn feeds(txn: &ReadTransaction) -> Result<Vec<String>, StoreError> {
    let sizes: ReadOnlyTable<&str, u64> = txn.open_table(POOL_SIZES)?;
    let mut feeds = Vec::new();
    for entry in sizes.iter()? {
        let (feed, _) = entry?;
        feeds.push(feed.value().to_owned());
    }
    Ok(feeds)
}

/// The posts of `feed`'s pool in URI order, from a read or write table.
fn posts(
    pools: &impl ReadableTable<PoolKey<'static>, u64>,
    feed: &str,
) -> Result<Vec<String>, StorageError> {
    let mut posts = Vec::new();
    // (feed, "") sorts before every post of the feed.
    for entry in pools.range((feed, "")..)? {
        let (key, _) = entry?;
        let (key_feed, uri) = key.value();
        if key_feed != feed {
            break;
        }
        posts.push(uri.to_owned());
    }
    Ok(posts)
}
