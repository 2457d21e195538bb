//! The tables of the embedded store and the schema version guarding them.
//!
//! Layout (schema version 2):
//!
//! | table              | key                    | value          | role |
//! |--------------------|------------------------|----------------|------|
//! | `like_index`       | `(bucket, did, rkey)` packed, 28 bytes | a live like's state, or a tombstone (`like_key.rs`) | judges every like event: dedup by record key, deletes, an account's likes one range per bucket |
//! | `like_segments`    | first record's number  | a chunk of numbered like records (`like_log.rs`) | the like log: every like added or removed, in number order; what `scan_likes` streams and `changes_since` reads |
//! | `like_chunks`      | first record's number  | `(last number, oldest live time, newest time, records)` | each chunk's bounds, read without its records (scans skip, prune picks) |
//! | `like_dead`        | record number          | `()`           | the logged likes removed since (deleted, account deleted, pruned): a scan skips them |
//! | `deleted_accounts` | `did`                  | `time_us`      | deleted accounts, so late older creates are stale |
//! | `account_ages`     | `(time_us, did)`       | `()`           | the account deletions by time, for `prune` |
//! | `meta`             | `&str`                 | bytes          | service values and the store's own (`store.*`) |
//! | `counters`         | `(group, field)`       | count          | `add_counts`' tallies (experiment arms' interactions) |
//! | `pools`            | `(feed, post URI)`     | `time_us` added| the feeds' candidate pools; a feed's pool is the run of keys starting with it, in URI order |
//! | `pool_sizes`       | `feed`                 | pool size      | only feeds with a non-empty pool: the size without a scan, and its keys are `pool_feeds` |
//! | `interactions`     | viewer DID             | encoded history| a viewer's bounded interaction history, newest first (codec in `interactions.rs`) |
//! | `interaction_ages` | `(newest_us, viewer)`  | `()`           | viewers by their newest interaction, so whole histories past the TTL are found without a scan |
//! | `post_log`         | `(time_us, did, rkey)` | the stored post (`post_codec`) | the post index in time order |
//! | `post_keys`        | `(did, rkey)`          | `(logged_us, newest_us)` | dedup by record key; `logged_us` finds the post's log entry, `newest_us` is the newest create of the key seen; a DID prefix range for account deletion |
//! | `post_tombstones`, `post_tombstone_ages` | `(did, rkey)`, `(time_us, did, rkey)` | `time_us`, `()` | deleted posts, and them by time for `prune` |
//! | `post_changes`     | `seq`                  | `(did, rkey, time_us, kind, stored post)` | the numbered changes to the posts and to accounts, numbered in one sequence with the like records |
//! | `account_statuses` | `did`                  | `(time_us, hidden)` | the newest status event of the account (see the crate docs) |
//! | `account_status_ages` | `(time_us, did)`    | `()`           | the statuses by time, for `prune` |
//!
//! The meta keys of the store, each a little-endian `u64` unless said:
//! `store.schema_version`; `store.likes_version`, the newest change's
//! number (see `Store::likes_version`); `store.like_count`, the live likes;
//! `store.pruned_before`, the prune horizon (absent: 0; see
//! `Store::prune`); `store.changes_from`, the oldest number
//! `changes_since` still serves (absent: 1): the changes before it were
//! trimmed from `post_changes` (which keeps the newest `CHANGES_KEPT`), or
//! predate the log; `store.tombstone_sweep`, the horizon a prune's sweep
//! of old like tombstones is for and, while unfinished, the index key it
//! goes on from.
//!
//! Version 1 kept the likes as the posts are still kept, each like in four
//! B-trees (`like_log`, `like_keys`, `tombstones` with `tombstone_ages`,
//! `likers`) and its changes in `like_changes`; opening a version 1 file
//! converts it once (`migrate.rs`).
//!
//! The pool, interaction, post and account status tables came after
//! version 1 was released without them and did not need a new version:
//! `prepare` creates missing tables on every open, so a file written before
//! them opens with empty pools, no posts and every account active.

use std::path::Path;

use redb::{ReadableTable, TableDefinition, TableHandle, WriteTransaction};

use super::like_key::IndexKey;

use crate::StoreError;

/// `(did, rkey)`: a post's key.
pub(super) type RecordKey<'a> = (&'a str, &'a str);
/// `(time_us, did, rkey)`: a log's order.
pub(super) type LogKey<'a> = (u64, &'a str, &'a str);

pub(super) const LIKE_INDEX: TableDefinition<IndexKey, &[u8]> = TableDefinition::new("like_index");
/// `(last number, oldest live time, newest time, records)`; see
/// `likes::Meta`.
pub(super) type ChunkMeta = (u64, u64, u64, u64);
pub(super) const LIKE_CHUNKS: TableDefinition<u64, ChunkMeta> = TableDefinition::new("like_chunks");
pub(super) const LIKE_SEGMENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("like_segments");
pub(super) const LIKE_DEAD: TableDefinition<u64, ()> = TableDefinition::new("like_dead");
pub(super) const POST_LOG: TableDefinition<LogKey, &str> = TableDefinition::new("post_log");
pub(super) const POST_KEYS: TableDefinition<RecordKey, (u64, u64)> =
    TableDefinition::new("post_keys");
pub(super) const POST_TOMBSTONES: TableDefinition<RecordKey, u64> =
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
pub(super) type PoolKey<'a> = (&'a str, &'a str);
pub(super) const POOLS: TableDefinition<PoolKey, u64> = TableDefinition::new("pools");
pub(super) const POOL_SIZES: TableDefinition<&str, u64> = TableDefinition::new("pool_sizes");
/// Changes kept for replicas following the log: a replica further behind
/// rebuilds from the log itself.
pub(super) const CHANGES_KEPT: u64 = 1_000_000;
pub(super) const INTERACTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("interactions");
pub(super) const INTERACTION_AGES: TableDefinition<(u64, &str), ()> =
    TableDefinition::new("interaction_ages");
/// Must keep this name and type in every schema version: it is read before
/// anything else to learn which version the file has.
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// `add_counts`' tallies: `(group, field)` → count.
pub(super) const COUNTERS: TableDefinition<(&str, &str), u64> = TableDefinition::new("counters");

/// Meta keys under this prefix belong to the store.
pub(super) const RESERVED_META_PREFIX: &str = "store.";
const SCHEMA_VERSION_KEY: &str = "store.schema_version";
pub(super) const LIKES_VERSION_KEY: &str = "store.likes_version";
pub(super) const PRUNED_BEFORE_KEY: &str = "store.pruned_before";
pub(super) const LIKE_COUNT_KEY: &str = "store.like_count";
pub(super) const CHANGES_FROM_KEY: &str = "store.changes_from";
pub(super) const TOMBSTONE_SWEEP_KEY: &str = "store.tombstone_sweep";
pub(super) const SCHEMA_VERSION: u64 = 2;

/// The schema version a file was stamped with (`None`: a new file).
pub(super) fn stamped_version(db: &redb::Database) -> Result<Option<u64>, StoreError> {
    let txn = redb::ReadableDatabase::begin_read(db)?;
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    meta.get(SCHEMA_VERSION_KEY)?
        .map(|bytes| decode_version(bytes.value()))
        .transpose()
}

/// Checks the file's schema version (stamping a new file with the current
/// one) and creates the tables, so that read transactions find them all.
/// A newer version is refused before any table is opened with this
/// version's types; an older one must have been converted first
/// (`migrate::run`).
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
                    "schema version {found} was not converted to {SCHEMA_VERSION}"
                )));
            }
        }
    }
    let has_account_ages = txn
        .list_tables()?
        .any(|table| table.name() == ACCOUNT_AGES.name());
    txn.open_table(DELETED_ACCOUNTS)?;
    if !has_account_ages {
        build_account_ages(txn)?;
    }
    txn.open_table(LIKE_INDEX)?;
    txn.open_table(LIKE_CHUNKS)?;
    txn.open_table(LIKE_SEGMENTS)?;
    txn.open_table(LIKE_DEAD)?;
    txn.open_table(POOLS)?;
    txn.open_table(POOL_SIZES)?;
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

/// Stamps the current schema version (a converted file).
pub(super) fn stamp_current(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(META)?
        .insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION.to_le_bytes().as_slice())?;
    Ok(())
}

/// Indexes the account deletions of a file written before the age index
/// by their time.
fn build_account_ages(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut account_ages = txn.open_table(ACCOUNT_AGES)?;
    for entry in txn.open_table(DELETED_ACCOUNTS)?.iter()? {
        let (did, time_us) = entry?;
        account_ages.insert((time_us.value(), did.value()), ())?;
    }
    Ok(())
}

/// Stamps `version` over the file's schema version; for tests of the
/// newer-version refusal and of conversions.
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

pub(super) fn read_u64(what: &str, bytes: Option<Vec<u8>>) -> Result<u64, StoreError> {
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
