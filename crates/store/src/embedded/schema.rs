//! The tables of the embedded store and the schema version guarding them.
//!
//! Layout (schema version 1):
//!
//! | table              | key                    | value          | role |
//! |--------------------|------------------------|----------------|------|
//! | `like_log`         | `(time_us, did, rkey)` | subject AT-URI | the live likes in time order: what `scan_likes` streams |
//! | `like_keys`        | `(did, rkey)`          | `(logged_us, newest_us)` | dedup by record key; `logged_us` finds the like's log entry, `newest_us` is the newest create of the key seen (see `apply`); a DID prefix range for account deletion |
//! | `tombstones`       | `(did, rkey)`          | `time_us`      | deleted keys, so late older creates are stale |
//! | `tombstone_ages`   | `(time_us, did, rkey)` | `()`           | the tombstones by time, so `prune` finds the old ones without a scan |
//! | `deleted_accounts` | `did`                  | `time_us`      | deleted accounts, so late older creates are stale |
//! | `account_ages`     | `(time_us, did)`       | `()`           | the account deletions by time, for `prune` |
//! | `likers`           | `did`                  | live like count| its length is `counts().likers` without a scan |
//! | `meta`             | `&str`                 | bytes          | service values and `store.schema_version` |
//! | `pools`            | `(feed, post URI)`     | `time_us` added| the feeds' candidate pools; a feed's pool is the run of keys starting with it, in URI order |
//! | `pool_sizes`       | `feed`                 | pool size      | only feeds with a non-empty pool: the size without a scan, and its keys are `pool_feeds` |
//! | `like_changes`     | `seq`                  | `(did, subject, time_us, added)` | every like added to or removed from the log, numbered; the newest `CHANGES_KEPT` are kept, for replicas following the log |
//! | `interactions`     | viewer DID             | encoded history| a viewer's bounded interaction history, newest first (codec in `interactions.rs`) |
//! | `interaction_ages` | `(newest_us, viewer)`  | `()`           | viewers by their newest interaction, so whole histories past the TTL are found without a scan |
//! | `post_log`, `post_keys`, `post_tombstones`, `post_tombstone_ages` | as the like tables | the stored post (`post_codec`) | the post index: the same rules as likes, per `(did, rkey)` of `app.bsky.feed.post` |
//! | `post_changes`     | `seq`                  | `(did, rkey, time_us, kind, stored post)` | the numbered changes to the posts and to accounts, numbered in one sequence with `like_changes` (a `seq` is in one of the two) and trimmed with them |
//! | `account_statuses` | `did`                  | `(time_us, hidden)` | the newest status event of the account (see the crate docs) |
//! | `account_status_ages` | `(time_us, did)`    | `()`           | the statuses by time, for `prune` |
//!
//! The subject lives only in the log, not beside the key: every like is
//! written once per table, and the scan (the hot read) never joins.
//!
//! The meta key `store.likes_version` holds the newest change's `seq`
//! (see `Store::likes_version`), `store.pruned_before` the prune horizon
//! (absent: 0; see `Store::prune`), both as little-endian `u64`.
//!
//! The post tables and then the account status tables, like the pool and
//! interaction tables, came after version 1 and are created on open the
//! same way: a file written before them opens with no posts and every
//! account active.
//!
//! The pool and interaction tables came after version 1 was released without them, and
//! did not need a new version: `prepare` creates missing tables on every
//! open, so a file written before them opens with empty pools, and a
//! feedmixer that predates them never opens them, so it reads and writes
//! a file that has them as before.
//!
//! The two age indexes came later still, the same way. When `prepare` finds
//! them missing it builds them from `tombstones` and `deleted_accounts`,
//! once. A feedmixer that predates them (and pruning) still reads and
//! writes the file, harmlessly: the tombstones it records are not indexed,
//! so `prune` never drops them, but they are inert once the horizon passes
//! them; an index entry it leaves behind by overwriting a tombstone is
//! checked against the tombstone's time before anything is dropped; and an
//! old create it accepts despite the horizon is pruned again by the next
//! `prune`.

use std::path::Path;

use redb::{ReadableTable, TableDefinition, TableHandle, WriteTransaction};

use crate::StoreError;

pub(super) type LikeKey<'a> = (&'a str, &'a str);
/// `(time_us, did, rkey)`: a log's order.
pub(super) type LogKey<'a> = (u64, &'a str, &'a str);

pub(super) const LIKE_LOG: TableDefinition<LogKey, &str> = TableDefinition::new("like_log");
pub(super) const LIKE_KEYS: TableDefinition<LikeKey, (u64, u64)> =
    TableDefinition::new("like_keys");
pub(super) const TOMBSTONES: TableDefinition<LikeKey, u64> = TableDefinition::new("tombstones");
pub(super) const TOMBSTONE_AGES: TableDefinition<LogKey, ()> =
    TableDefinition::new("tombstone_ages");
pub(super) const POST_LOG: TableDefinition<LogKey, &str> = TableDefinition::new("post_log");
pub(super) const POST_KEYS: TableDefinition<LikeKey, (u64, u64)> =
    TableDefinition::new("post_keys");
pub(super) const POST_TOMBSTONES: TableDefinition<LikeKey, u64> =
    TableDefinition::new("post_tombstones");
pub(super) const POST_TOMBSTONE_AGES: TableDefinition<LogKey, ()> =
    TableDefinition::new("post_tombstone_ages");
/// `(did, rkey, time_us, kind, stored post)`; kinds in `apply::post_change`.
pub(super) type PostChangeRow<'a> = (&'a str, &'a str, u64, u8, &'a str);
pub(super) const POST_CHANGES: TableDefinition<u64, PostChangeRow> =
    TableDefinition::new("post_changes");
pub(super) const DELETED_ACCOUNTS: TableDefinition<&str, u64> =
    TableDefinition::new("deleted_accounts");
pub(super) const ACCOUNT_AGES: TableDefinition<(u64, &str), ()> =
    TableDefinition::new("account_ages");
pub(super) const ACCOUNT_STATUSES: TableDefinition<&str, (u64, bool)> =
    TableDefinition::new("account_statuses");
pub(super) const ACCOUNT_STATUS_AGES: TableDefinition<(u64, &str), ()> =
    TableDefinition::new("account_status_ages");
pub(super) const LIKERS: TableDefinition<&str, u64> = TableDefinition::new("likers");
pub(super) type PoolKey<'a> = (&'a str, &'a str);
pub(super) const POOLS: TableDefinition<PoolKey, u64> = TableDefinition::new("pools");
pub(super) const POOL_SIZES: TableDefinition<&str, u64> = TableDefinition::new("pool_sizes");
pub(super) const LIKE_CHANGES: TableDefinition<u64, (&str, &str, u64, bool)> =
    TableDefinition::new("like_changes");
/// Changes kept for replicas following the log: a replica further behind
/// rebuilds from the log itself.
pub(super) const CHANGES_KEPT: u64 = 1_000_000;
pub(super) const INTERACTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("interactions");
pub(super) const INTERACTION_AGES: TableDefinition<(u64, &str), ()> =
    TableDefinition::new("interaction_ages");
/// Must keep this name and type in every schema version: it is read before
/// anything else to learn which version the file has.
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Meta keys under this prefix belong to the store.
pub(super) const RESERVED_META_PREFIX: &str = "store.";
const SCHEMA_VERSION_KEY: &str = "store.schema_version";
pub(super) const LIKES_VERSION_KEY: &str = "store.likes_version";
pub(super) const PRUNED_BEFORE_KEY: &str = "store.pruned_before";
pub(super) const SCHEMA_VERSION: u64 = 1;

/// Checks the file's schema version (stamping a new file with the current
/// one) and creates the tables, so that read transactions find them all.
/// A newer version is refused before any table is opened with this
/// version's types.
pub(super) fn prepare(txn: &WriteTransaction, dir: &Path) -> Result<(), StoreError> {
    {
        let mut meta = txn.open_table(META)?;
        let found = meta
            .get(SCHEMA_VERSION_KEY)?
            .map(|bytes| decode_version(bytes.value()))
            .transpose()?;
        match found {
            None => {
                meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION.to_le_bytes().as_slice())?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(found) if found > SCHEMA_VERSION => {
                return Err(StoreError::NewerSchema {
                    dir: dir.to_path_buf(),
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(found) => {
                return Err(StoreError::Corrupt(format!(
                    "schema version {found} was never written by feedmixer"
                )));
            }
        }
    }
    let has_age_indexes = txn
        .list_tables()?
        .any(|table| table.name() == TOMBSTONE_AGES.name());
    txn.open_table(LIKE_LOG)?;
    txn.open_table(LIKE_KEYS)?;
    txn.open_table(TOMBSTONES)?;
    txn.open_table(DELETED_ACCOUNTS)?;
    if !has_age_indexes {
        build_age_indexes(txn)?;
    }
    txn.open_table(LIKERS)?;
    txn.open_table(POOLS)?;
    txn.open_table(POOL_SIZES)?;
    txn.open_table(LIKE_CHANGES)?;
    txn.open_table(INTERACTIONS)?;
    txn.open_table(INTERACTION_AGES)?;
    txn.open_table(POST_LOG)?;
    txn.open_table(POST_KEYS)?;
    txn.open_table(POST_TOMBSTONES)?;
    txn.open_table(POST_TOMBSTONE_AGES)?;
    txn.open_table(POST_CHANGES)?;
    txn.open_table(ACCOUNT_STATUSES)?;
    txn.open_table(ACCOUNT_STATUS_AGES)?;
    Ok(())
}

/// Indexes the tombstones and account deletions of a file written before
/// the age indexes by their time.
fn build_age_indexes(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut tombstone_ages = txn.open_table(TOMBSTONE_AGES)?;
    for entry in txn.open_table(TOMBSTONES)?.iter()? {
        let (key, time_us) = entry?;
        let (did, rkey) = key.value();
        tombstone_ages.insert((time_us.value(), did, rkey), ())?;
    }
    let mut account_ages = txn.open_table(ACCOUNT_AGES)?;
    for entry in txn.open_table(DELETED_ACCOUNTS)?.iter()? {
        let (did, time_us) = entry?;
        account_ages.insert((time_us.value(), did.value()), ())?;
    }
    Ok(())
}

/// Stamps `version` over the file's schema version; for tests of the
/// newer-version refusal.
#[cfg(test)]
pub(super) fn stamp_version(txn: &WriteTransaction, version: u64) -> Result<(), StoreError> {
    txn.open_table(META)?
        .insert(SCHEMA_VERSION_KEY, version.to_le_bytes().as_slice())?;
    Ok(())
}

/// The newest change's number from its meta value; absent is 0.
pub(super) fn read_seq(bytes: Option<Vec<u8>>) -> Result<u64, StoreError> {
    read_u64("likes version", bytes)
}

/// The prune horizon from its meta value; absent is 0.
pub(super) fn read_horizon(bytes: Option<Vec<u8>>) -> Result<u64, StoreError> {
    read_u64("prune horizon", bytes)
}

fn read_u64(what: &str, bytes: Option<Vec<u8>>) -> Result<u64, StoreError> {
    match bytes {
        None => Ok(0),
        Some(bytes) => bytes
            .as_slice()
            .try_into()
            .map(u64::from_le_bytes)
            .map_err(|_| StoreError::Corrupt(format!("{what} of {} bytes", bytes.len()))),
    }
}

fn decode_version(bytes: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("schema version is {} bytes", bytes.len())))?;
    Ok(u64::from_le_bytes(bytes))
}
