//! The embedded store: one redb file in a data dir, for a single process.
//!
//! redb calls block, so every operation runs on tokio's blocking pool with
//! the database shared through an `Arc`. Writes are serialized by redb
//! (one write transaction at a time) and durable when they return; reads
//! see a consistent snapshot and never wait for writes.

mod apply;
mod scan;
mod schema;

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use redb::{Database, DatabaseError, ReadableDatabase, ReadableTableMetadata};
use tokio::sync::mpsc;

use crate::{ApplyStats, LikeEvent, LikeSink, Store, StoreCounts, StoreError};
use schema::{LIKE_LOG, LIKERS, META, RESERVED_META_PREFIX};

/// The database file inside the data dir.
pub const DATABASE_FILE: &str = "feedmixer.redb";
/// Held locked while a store has the data dir open, so two processes never
/// write the same store (and a second one gets a clear error).
const LOCK_FILE: &str = "feedmixer.lock";

/// The default [`Store`]: the like log in `DATA_DIR/feedmixer.redb`.
pub struct EmbeddedStore {
    inner: Arc<Inner>,
    dir: PathBuf,
}

/// Shared with the blocking tasks, so the data dir stays locked until the
/// last task using the database is done.
struct Inner {
    db: Database,
    // Declared after `db`: the lock is released only once the file is
    // closed.
    _lock: File,
}

impl EmbeddedStore {
    /// Opens the store in `data_dir`, creating the dir and an empty store
    /// on first use. Fails with [`StoreError::InUse`] when another process
    /// has it open, and with [`StoreError::NewerSchema`] when a newer
    /// feedmixer wrote it.
    ///
    /// Blocks (after a crash, redb checks and repairs the file first): call
    /// it at start-up, not from a busy runtime thread.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let started = Instant::now();
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            dir: data_dir.to_path_buf(),
            source,
        })?;
        let lock = lock_data_dir(data_dir)?;
        let db = match Database::create(data_dir.join(DATABASE_FILE)) {
            Ok(db) => db,
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::InUse {
                    dir: data_dir.to_path_buf(),
                });
            }
            Err(err) => return Err(err.into()),
        };
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
        })
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
    async fn apply(&self, events: &[LikeEvent]) -> Result<ApplyStats, StoreError> {
        if events.is_empty() {
            return Ok(ApplyStats::default());
        }
        let started = Instant::now();
        // The blocking task must own what it reads; a copy of the batch is
        // small next to the B-tree writes it feeds.
        let owned = events.to_vec();
        let stats = self
            .blocking(move |db| {
                let txn = db.begin_write()?;
                let stats = apply::apply(&txn, &owned)?;
                txn.commit()?;
                Ok(stats)
            })
            .await?;
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
        let reader = tokio::task::spawn_blocking(move || scan::produce(&inner.db, since_us, tx));
        let mut delivered = 0;
        while let Some(chunk) = rx.recv().await {
            for like in chunk.likes() {
                sink(like);
                delivered += 1;
            }
        }
        // Also waits for the reader to release the database.
        reader.await??;
        Ok(delivered)
    }

    async fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.blocking(|db| {
            let txn = db.begin_read()?;
            Ok(StoreCounts {
                likes: txn.open_table(LIKE_LOG)?.len()?,
                likers: txn.open_table(LIKERS)?.len()?,
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
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("schema version 2"), "{err}");
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
            Some(1u64.to_le_bytes().to_vec())
        );
    }
}
