//! The embedded store: one redb file in a data dir, for a single process.
//!
//! redb calls block, so every operation runs on tokio's blocking pool with
//! the database shared through an `Arc`. Writes are serialized by redb
//! (one write transaction at a time) and durable when they return; reads
//! see a consistent snapshot and never wait for writes.

mod apply;
mod cache;
mod histories;
mod interactions;
pub(crate) mod lease;
mod like_key;
mod likes;
mod migrate;
mod pool;
mod prune;
mod scan;
mod schema;

pub use migrate::MigrationProgress;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use tokio::sync::mpsc;

use crate::{
    ApplyStats, Change, Changes, Interaction, InteractionLimits, LikeSink, PoolStats, PoolUpdate,
    PostChange, PostChangeKind, PostRef, PostSink, PruneStats, RemovedRef, RemovedSink, RepoEvent,
    Store, StoreCounts, StoreError, checks, post_codec,
};
use feedmixer_atproto::clock;
use schema::{
    ACCOUNT_STATUSES, CHANGES_FROM_KEY, DELETED_ACCOUNTS, LIKE_COUNT_KEY, LIKES_VERSION_KEY, META,
    POOL_SIZES, POST_CHANGES, POST_LOG, POST_TOMBSTONES, RESERVED_META_PREFIX,
};

/// The database file inside the data dir.
pub const DATABASE_FILE: &str = "feedmixer.redb";
/// Held locked while a store has the data dir open, so two processes never
/// write the same store (and a second one gets a clear error).
const LOCK_FILE: &str = "feedmixer.lock";

/// The default [`Store`]: the like log in `DATA_DIR/feedmixer.redb`.
pub struct EmbeddedStore {
    inner: Arc<Inner>,
    dir: PathBuf,
    /// Changes kept for [`Store::changes_since`].
    changes_kept: u64,
    /// [`Store::cache_set`] values: one process owns the store, so they
    /// need not leave it.
    cache: cache::MemoryCache,
    /// Viewers' interaction histories, so the per-request read stays off
    /// the blocking pool.
    histories: histories::Histories,
    /// [`Store::acquire_lease`] leases, in memory for the same reason.
    leases: lease::Leases,
}

/// Shared with the blocking tasks, so the data dir stays locked until the
/// last task using the database is done.
struct Inner {
    db: Database,
    // Declared after `db`: the lock is released only once the file is
    // closed.
    _lock: File,
}

/// redb's page cache (its default is 1 GiB). Serving reads little from the
/// file (the graph and feed data live in memory; a verified viewer's
/// history is a few pages, and read histories stay in memory, see
/// `histories`), and whatever the cache holds stays resident: the start-up
/// scan alone filled a 128 MiB cache with log pages no request reads
/// again (10M likes: 450 MB resident when ready, 322 MB with 32 MiB). A
/// bulk load gains nothing from more: the kernel's page cache serves the
/// misses (3M likes replayed in 141 s with 128 MiB, 136 s with 1 GiB).
const PAGE_CACHE_BYTES: usize = 32 << 20;

impl EmbeddedStore {
    /// Opens the store in `data_dir`, creating the dir and an empty store
    /// on first use. Fails with [`StoreError::InUse`] when another process
    /// has it open, and with [`StoreError::NewerSchema`] when a newer
    /// feedmixer wrote it.
    ///
    /// Blocks (after a crash, redb checks and repairs the file first): call
    /// it at start-up, not from a busy runtime thread. A file of an older
    /// schema version is converted first, with progress in the log (see
    /// [`EmbeddedStore::open_with_progress`]).
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_progress(data_dir, &mut |_| {})
    }

    /// [`EmbeddedStore::open`], telling `progress` how a conversion of an
    /// older file goes (after every step; it is logged every few seconds
    /// too), for a progress bar: a schema
    /// version 1 file (before the like log of version 2) is converted once,
    /// in steps, each durable, so one stopped half way goes on at the next
    /// open.
    pub fn open_with_progress(
        data_dir: &Path,
        progress: &mut dyn FnMut(MigrationProgress),
    ) -> Result<Self, StoreError> {
        let started = Instant::now();
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            dir: data_dir.to_path_buf(),
            source,
        })?;
        let lock = lock_data_dir(data_dir)?;
        let db = match Database::builder()
            .set_cache_size(PAGE_CACHE_BYTES)
            .create(data_dir.join(DATABASE_FILE))
        {
            Ok(db) => db,
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::InUse {
                    dir: data_dir.to_path_buf(),
                });
            }
            Err(err) => return Err(err.into()),
        };
        if schema::stamped_version(&db)? == Some(1) {
            migrate::run(&db, progress)?;
        }
        let txn = db.begin_write()?;
        schema::prepare(&txn, data_dir)?;
        txn.commit()?;
        tracing::info!(
            dir = %data_dir.display(),
            schema_version = schema::SCHEMA_VERSION,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "opened embedded store"
        );
        Ok(EmbeddedStore {
            inner: Arc::new(Inner { db, _lock: lock }),
            dir: data_dir.to_path_buf(),
            changes_kept: schema::CHANGES_KEPT,
            cache: cache::MemoryCache::new(cache::DEFAULT_BYTES),
            histories: histories::Histories::new(histories::DEFAULT_BYTES),
            leases: lease::Leases::default(),
        })
    }

    /// Bounds the memory of [`Store::cache_set`] values (default 320 MiB);
    /// the least recently used go first.
    pub fn with_cache_bytes(mut self, bytes: u64) -> Self {
        self.cache = cache::MemoryCache::new(bytes);
        self
    }

    /// Keeps only the newest `kept` changes for [`Store::changes_since`]
    /// (default 1,000,000): replicas further behind rebuild from the log.
    pub fn with_changes_kept(mut self, kept: u64) -> Self {
        self.changes_kept = kept.max(1);
        self
    }

    /// The data dir the store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `op` on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || op(&inner.db)).await?
    }
}

/// Takes an exclusive advisory lock on the data dir's lock file. The OS
/// releases it when the process exits, however it exits.
fn lock_data_dir(dir: &Path) -> Result<File, StoreError> {
    let data_dir_error = |source| StoreError::DataDir {
        dir: dir.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(data_dir_error)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StoreError::InUse {
            dir: dir.to_path_buf(),
        }),
        Err(TryLockError::Error(err)) => Err(data_dir_error(err)),
    }
}

#[async_trait::async_trait]
impl Store for EmbeddedStore {
    async fn apply(&self, events: &[RepoEvent]) -> Result<ApplyStats, StoreError> {
        if events.is_empty() {
            return Ok(ApplyStats::default());
        }
        let started = Instant::now();
        let changes_kept = self.changes_kept;
        let write = move |db: &Database, events: &[RepoEvent]| {
            let txn = db.begin_write()?;
            let stats = apply::apply(&txn, events, changes_kept)?;
            txn.commit()?;
            Ok(stats)
        };
        let stats = if tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread
        {
            // This worker blocks on the write and hands its other tasks to
            // the others: the batch need not be copied for another thread.
            tokio::task::block_in_place(|| write(&self.inner.db, events))?
        } else {
            let owned = events.to_vec();
            self.blocking(move |db| write(db, &owned)).await?
        };
        tracing::debug!(
            events = events.len(),
            %stats,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "applied like events"
        );
        Ok(stats)
    }

    async fn scan_likes(&self, since_us: u64, sink: &mut LikeSink<'_>) -> Result<u64, StoreError> {
        let (tx, mut rx) = mpsc::channel(scan::CHUNKS_IN_FLIGHT);
        let inner = Arc::clone(&self.inner);
        let reader =
            tokio::task::spawn_blocking(move || scan::produce_likes(&inner.db, since_us, tx));
        let mut delivered = 0;
        let mut corrupt = None;
        while let Some(chunk) = rx.recv().await {
            match chunk.deliver(since_us, sink) {
                Ok(n) => delivered += n,
                Err(err) => {
                    corrupt = Some(err);
                    break;
                }
            }
        }
        drop(rx);
        // Also waits for the reader to release the database.
        reader.await??;
        corrupt.map_or(Ok(delivered), Err)
    }

    async fn scan_posts(&self, since_us: u64, sink: &mut PostSink<'_>) -> Result<u64, StoreError> {
        let (tx, mut rx) = mpsc::channel(scan::CHUNKS_IN_FLIGHT);
        let inner = Arc::clone(&self.inner);
        let reader =
            tokio::task::spawn_blocking(move || scan::produce(&inner.db, POST_LOG, since_us, tx));
        let mut delivered = 0;
        let mut corrupt = None;
        while let Some(chunk) = rx.recv().await {
            for row in chunk.rows() {
                match post_codec::decode(row.value) {
                    Ok(post) => {
                        sink(PostRef {
                            did: row.did,
                            rkey: row.rkey,
                            time_us: row.time_us,
                            post: &post,
                        });
                        delivered += 1;
                    }
                    Err(err) => corrupt = Some(err),
                }
            }
            if corrupt.is_some() {
                break;
            }
        }
        drop(rx);
        reader.await??;
        corrupt.map_or(Ok(delivered), Err)
    }

    async fn scan_removed_posts(&self, sink: &mut RemovedSink<'_>) -> Result<u64, StoreError> {
        // Deletions are a small fraction of the posts: read them at once.
        let (posts, accounts, hidden) = self
            .blocking(|db| {
                let txn = db.begin_read()?;
                let mut posts = Vec::new();
                for entry in txn.open_table(POST_TOMBSTONES)?.iter()? {
                    let (key, _) = entry?;
                    let (did, rkey) = key.value();
                    posts.push((did.to_owned(), rkey.to_owned()));
                }
                let mut accounts = Vec::new();
                for entry in txn.open_table(DELETED_ACCOUNTS)?.iter()? {
                    accounts.push(entry?.0.value().to_owned());
                }
                let mut hidden = Vec::new();
                for entry in txn.open_table(ACCOUNT_STATUSES)?.iter()? {
                    let (did, status) = entry?;
                    if status.value().1 {
                        hidden.push(did.value().to_owned());
                    }
                }
                Ok((posts, accounts, hidden))
            })
            .await?;
        for (did, rkey) in &posts {
            sink(RemovedRef::Post { did, rkey });
        }
        for did in &accounts {
            sink(RemovedRef::Account { did });
        }
        for did in &hidden {
            sink(RemovedRef::Hidden { did });
        }
        Ok((posts.len() + accounts.len() + hidden.len()) as u64)
    }

    async fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.blocking(|db| {
            let txn = db.begin_read()?;
            let meta = txn.open_table(META)?;
            Ok(StoreCounts {
                likes: schema::read_u64(
                    "like count",
                    meta.get(LIKE_COUNT_KEY)?.map(|v| v.value().to_vec()),
                )?,
                posts: txn.open_table(POST_LOG)?.len()?,
            })
        })
        .await
    }

    async fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let meta = txn.open_table(META)?;
            Ok(meta.get(key.as_str())?.map(|value| value.value().to_vec()))
        })
        .await
    }

    async fn set_meta_if_absent(&self, key: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        if key.starts_with(RESERVED_META_PREFIX) {
            return Err(StoreError::ReservedMetaKey(key.to_owned()));
        }
        let (key, value) = (key.to_owned(), value.to_vec());
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            let held = {
                let mut meta = txn.open_table(META)?;
                let existing = meta.get(key.as_str())?.map(|v| v.value().to_vec());
                match existing {
                    Some(existing) => existing,
                    None => {
                        meta.insert(key.as_str(), value.as_slice())?;
                        value
                    }
                }
            };
            txn.commit()?;
            Ok(held)
        })
        .await
    }

    async fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if key.starts_with(RESERVED_META_PREFIX) {
            return Err(StoreError::ReservedMetaKey(key.to_owned()));
        }
        let (key, value) = (key.to_owned(), value.to_vec());
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            txn.open_table(META)?
                .insert(key.as_str(), value.as_slice())?;
            txn.commit()?;
            Ok(())
        })
        .await
    }

    async fn update_pool(
        &self,
        feed: &str,
        add: &[String],
        remove: &[String],
        replace: bool,
    ) -> Result<PoolStats, StoreError> {
        let Some(update) = PoolUpdate::new(feed, add, remove, replace)? else {
            // Nothing to change: spare the commit's sync.
            let feed = feed.to_owned();
            let size = self
                .blocking(move |db| {
                    let txn = db.begin_read()?;
                    let sizes = txn.open_table(POOL_SIZES)?;
                    Ok(sizes.get(feed.as_str())?.map_or(0, |size| size.value()))
                })
                .await?;
            return Ok(PoolStats {
                size,
                ..PoolStats::default()
            });
        };
        let (update, stats) = self
            .blocking(move |db| {
                let txn = db.begin_write()?;
                let stats = pool::update(&txn, &update, clock::now_us())?;
                txn.commit()?;
                Ok((update, stats))
            })
            .await?;
        update.log(&stats);
        Ok(stats)
    }

    async fn pool(&self, feed: &str) -> Result<Vec<String>, StoreError> {
        checks::pool_update(feed, &[], &[])?;
        let feed = feed.to_owned();
        self.blocking(move |db| pool::read(&db.begin_read()?, &feed))
            .await
    }

    async fn pool_feeds(&self) -> Result<Vec<String>, StoreError> {
        self.blocking(|db| pool::feeds(&db.begin_read()?)).await
    }

    async fn add_interactions(
        &self,
        viewer: &str,
        items: &[Interaction],
        limits: InteractionLimits,
        now_us: u64,
    ) -> Result<(), StoreError> {
        checks::interactions(viewer, items)?;
        if items.is_empty() {
            return Ok(());
        }
        let (owned, items) = (viewer.to_owned(), items.to_vec());
        let outcome = self
            .blocking(move |db| {
                let txn = db.begin_write()?;
                let removed_others = interactions::add(&txn, &owned, &items, limits, now_us)?;
                txn.commit()?;
                Ok(removed_others)
            })
            .await;
        // Dropped whatever the outcome: a failed commit may still have
        // reached the file.
        match outcome {
            Ok(false) => self.histories.written(viewer),
            _ => self.histories.written_many(),
        }
        outcome.map(|_| ())
    }

    async fn interactions(
        &self,
        viewer: &str,
        since_us: u64,
    ) -> Result<Vec<Interaction>, StoreError> {
        if let Some(history) = self.histories.get(viewer) {
            return Ok(histories::since(&history, since_us));
        }
        let read_at = self.histories.generation();
        let owned = viewer.to_owned();
        let history: Arc<[Interaction]> = self
            .blocking(move |db| interactions::read(&db.begin_read()?, &owned))
            .await?
            .into();
        self.histories.fill(read_at, viewer, Arc::clone(&history));
        Ok(histories::since(&history, since_us))
    }

    async fn likes_version(&self) -> Result<u64, StoreError> {
        self.blocking(|db| {
            let txn = db.begin_read()?;
            let meta = txn.open_table(META)?;
            schema::read_seq(meta.get(LIKES_VERSION_KEY)?.map(|v| v.value().to_vec()))
        })
        .await
    }

    async fn add_counts(&self, group: &str, counts: &[(String, u64)]) -> Result<(), StoreError> {
        checks::counts(group, counts)?;
        let (group, counts) = (group.to_owned(), counts.to_vec());
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(schema::COUNTERS)?;
                for (field, by) in &counts {
                    let key = (group.as_str(), field.as_str());
                    let now = table.get(key)?.map_or(0, |v| v.value());
                    table.insert(key, now.saturating_add(*by))?;
                }
            }
            txn.commit()?;
            Ok(())
        })
        .await
    }

    async fn counts_in(&self, group: &str) -> Result<BTreeMap<String, u64>, StoreError> {
        let group = group.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let table = match txn.open_table(schema::COUNTERS) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(BTreeMap::new()),
                Err(e) => return Err(e.into()),
            };
            let mut out = BTreeMap::new();
            for entry in table.range((group.as_str(), "")..)? {
                let (key, count) = entry?;
                let (g, field) = key.value();
                if g != group {
                    break;
                }
                out.insert(field.to_owned(), count.value());
            }
            Ok(out)
        })
        .await
    }

    async fn cache_set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.cache.set(key, value, ttl);
        Ok(())
    }

    async fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.cache.get(key))
    }

    /// One process owns the data dir.
    fn shared(&self) -> bool {
        false
    }

    async fn prune(&self, before_us: u64, max_likes: usize) -> Result<PruneStats, StoreError> {
        let started = Instant::now();
        let stats = self
            .blocking(move |db| {
                let txn = db.begin_write()?;
                let stats = prune::prune(&txn, before_us, max_likes)?;
                txn.commit()?;
                Ok(stats)
            })
            .await?;
        log_prune(before_us, &stats, started);
        Ok(stats)
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        checks::lease(name, holder)?;
        Ok(self.leases.acquire(name, holder, ttl))
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        checks::lease(name, holder)?;
        self.leases.release(name, holder);
        Ok(())
    }

    async fn changes_since(&self, after: u64, max: usize) -> Result<Changes, StoreError> {
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let version = schema::read_seq(
                txn.open_table(META)?
                    .get(LIKES_VERSION_KEY)?
                    .map(|v| v.value().to_vec()),
            )?;
            if version <= after {
                return Ok(Changes::Since(Vec::new()));
            }
            // The changes kept start at `changes_from` (the post changes
            // before it were trimmed, or predate the log).
            let from = schema::read_u64(
                "changes start",
                txn.open_table(META)?
                    .get(CHANGES_FROM_KEY)?
                    .map(|v| v.value().to_vec()),
            )?
            .max(1);
            if after.saturating_add(1) < from {
                return Ok(Changes::Trimmed);
            }
            let mut out: Vec<Change> = likes::changes_after(&txn, after, max)?
                .into_iter()
                .map(Change::Like)
                .collect();
            let posts = txn.open_table(POST_CHANGES)?;
            for entry in posts.range(after + 1..)?.take(max) {
                let (seq, change) = entry?;
                let (did, rkey, time_us, kind, stored) = change.value();
                let kind = match kind {
                    apply::post_change::ADDED => PostChangeKind::Added(post_codec::decode(stored)?),
                    apply::post_change::REMOVED => PostChangeKind::Removed,
                    apply::post_change::ACCOUNT_DELETED => PostChangeKind::AccountDeleted,
                    apply::post_change::ACCOUNT_HIDDEN => PostChangeKind::AccountHidden,
                    apply::post_change::ACCOUNT_REVEALED => PostChangeKind::AccountRevealed,
                    other => {
                        return Err(StoreError::Corrupt(format!("post change of kind {other}")));
                    }
                };
                out.push(Change::Post(PostChange {
                    seq: seq.value(),
                    did: did.to_owned(),
                    rkey: rkey.to_owned(),
                    time_us,
                    kind,
                }));
            }
            out.sort_by_key(Change::seq);
            out.truncate(max);
            Ok(Changes::Since(out))
        })
        .await
    }
}

/// Logs a prune call: at `info` when it removed something, else at
/// `debug` (a caller looping on an empty backlog stays quiet).
fn log_prune(before_us: u64, stats: &PruneStats, started: Instant) {
    let elapsed_ms = started.elapsed().as_millis() as u64;
    if stats.removed() > 0 {
        tracing::info!(before_us, %stats, elapsed_ms, "pruned the like log");
    } else {
        tracing::debug!(before_us, %stats, elapsed_ms, "pruned the like log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_of_the_data_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = EmbeddedStore::open(dir.path()).unwrap();
        let err = EmbeddedStore::open(dir.path()).err().expect("second open");
        assert!(matches!(err, StoreError::InUse { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "data dir {} is in use by another feedmixer process",
                dir.path().display()
            )
        );
        drop(first);
        EmbeddedStore::open(dir.path()).expect("free again once closed");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(EmbeddedStore::open(dir.path()).unwrap());
        {
            let db = Database::create(dir.path().join(DATABASE_FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            schema::stamp_version(&txn, schema::SCHEMA_VERSION + 1).unwrap();
            txn.commit().unwrap();
        }
        let err = EmbeddedStore::open(dir.path()).err().expect("newer schema");
        assert!(
            matches!(
                err,
                StoreError::NewerSchema {
                    found: 3,
                    supported: 2,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("schema version 3"), "{err}");
    }

    #[tokio::test]
    async fn a_post_kept_in_the_pool_keeps_its_time_added() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let (p1, p2) = (
            "at://did:plc:b/app.bsky.feed.post/1".to_owned(),
            "at://did:plc:b/app.bsky.feed.post/2".to_owned(),
        );
        let added_us = |store: &EmbeddedStore, uri: &str| {
            let txn = store.inner.db.begin_read().unwrap();
            let pools = txn.open_table(schema::POOLS).unwrap();
            pools.get(("f", uri)).unwrap().map(|at| at.value())
        };
        store
            .update_pool("f", std::slice::from_ref(&p1), &[], false)
            .await
            .unwrap();
        let first = added_us(&store, &p1).expect("p1 is in the pool");
        assert!(first > 1_600_000_000_000_000, "µs since the epoch: {first}");
        std::thread::sleep(std::time::Duration::from_millis(2));
        store
            .update_pool("f", &[p1.clone(), p2.clone()], &[], true)
            .await
            .unwrap();
        store
            .update_pool("f", std::slice::from_ref(&p1), &[], false)
            .await
            .unwrap();
        assert_eq!(added_us(&store, &p1), Some(first));
        assert!(added_us(&store, &p2).unwrap() > first);
    }

    #[tokio::test]
    async fn the_prune_horizon_persists_and_is_the_stores_own() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            store.prune(1_000, 10).await.unwrap();
            let err = store
                .set_meta("store.pruned_before", &0u64.to_le_bytes())
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::ReservedMetaKey(_)), "{err}");
        }
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(
            store.get_meta("store.pruned_before").await.unwrap(),
            Some(1_000u64.to_le_bytes().to_vec())
        );
        let stats = store
            .apply(&[RepoEvent::LikeCreate {
                did: "did:plc:a".into(),
                rkey: "k".into(),
                subject: "at://p".into(),
                time_us: 999,
            }])
            .await
            .unwrap();
        assert_eq!(stats.stale, 1);
    }

    #[tokio::test]
    async fn small_batches_make_few_chunks_and_every_like_stays_readable() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let batches = 5_000u64;
        for i in 0..batches {
            let like = RepoEvent::LikeCreate {
                did: format!("did:plc:user{i}"),
                rkey: "3kabc22222222".into(),
                subject: "at://did:plc:b/app.bsky.feed.post/3kabc22222222".into(),
                time_us: 1_000 + i,
            };
            store.apply(&[like]).await.unwrap();
        }
        let chunks: Vec<(u64, likes::Meta)> = {
            let txn = store.inner.db.begin_read().unwrap();
            let table = txn.open_table(schema::LIKE_CHUNKS).unwrap();
            table
                .iter()
                .unwrap()
                .map(|item| {
                    let (first, meta) = item.unwrap();
                    (first.value(), likes::Meta::from_tuple(meta.value()))
                })
                .collect()
        };
        // One chunk of the first 4,096 records, and the small ones since.
        assert_eq!(chunks.len(), 1 + 5_000 - 4_096, "{:?}", &chunks[..2]);
        assert_eq!(chunks[0].1.records, 4_096);
        assert_eq!((chunks[0].0, chunks[0].1.last_seq), (1, 4_096));
        assert_eq!(crate::testkit::scan(&store, 0).await.len(), 5_000);
        let Changes::Since(changes) = store.changes_since(4_000, 200).await.unwrap() else {
            panic!("trimmed");
        };
        let seqs: Vec<u64> = changes.iter().map(Change::seq).collect();
        assert_eq!(seqs, (4_001..=4_200).collect::<Vec<_>>());
    }

    #[test]
    fn a_file_that_is_not_a_store_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DATABASE_FILE), b"not a database at all").unwrap();
        assert!(matches!(
            EmbeddedStore::open(dir.path()),
            Err(StoreError::Backend(_))
        ));
    }

    #[test]
    fn open_creates_missing_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b/c");
        EmbeddedStore::open(&nested).unwrap();
        assert!(nested.join(DATABASE_FILE).is_file());
    }

    #[tokio::test]
    async fn meta_values_persist_and_store_keys_are_reserved() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            assert_eq!(store.get_meta("cursor").await.unwrap(), None);
            store.set_meta("cursor", b"1725911162329308").await.unwrap();
            store.set_meta("cursor", b"1725911162329309").await.unwrap();
            let err = store
                .set_meta("store.schema_version", b"x")
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::ReservedMetaKey(_)), "{err}");
        }
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(
            store.get_meta("cursor").await.unwrap().as_deref(),
            Some(&b"1725911162329309"[..])
        );
        assert_eq!(
            store.get_meta("store.schema_version").await.unwrap(),
            Some(schema::SCHEMA_VERSION.to_le_bytes().to_vec())
        );
    }
}
