//! Converting a schema version 1 file to version 2, once, when it is
//! opened: the likes move from the four B-trees of version 1 into the like
//! index and log (`likes/`); everything else stays as it is.
//!
//! The conversion goes in steps of [`STEP`] likes, each one transaction
//! that moves them (taking them out of the old tables), so a conversion
//! that stops half way (a crash, a kill) goes on where it was at the next
//! open, and the file is never both. The likes take numbers after the
//! file's newest change, in time order; the old numbered changes are
//! dropped, so a follower behind the conversion rebuilds (`changes_from`).
//! The schema version moves to 2 when the last old table is gone.

use std::time::{Duration, Instant};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};

use super::likes::Likes;
use super::schema::{self, CHANGES_FROM_KEY, LIKES_VERSION_KEY, LogKey, META, RecordKey};
use crate::StoreError;

const V1_LIKE_LOG: TableDefinition<LogKey, &str> = TableDefinition::new("like_log");
const V1_LIKE_KEYS: TableDefinition<RecordKey, (u64, u64)> = TableDefinition::new("like_keys");
const V1_TOMBSTONES: TableDefinition<RecordKey, u64> = TableDefinition::new("tombstones");
const V1_TOMBSTONE_AGES: TableDefinition<LogKey, ()> = TableDefinition::new("tombstone_ages");
const V1_LIKERS: TableDefinition<&str, u64> = TableDefinition::new("likers");
const V1_LIKE_CHANGES: TableDefinition<u64, (&str, &str, u64, bool)> =
    TableDefinition::new("like_changes");

/// How often a conversion says how far it is in the log.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Likes (or tombstones) moved per transaction.
const STEP: usize = 200_000;

/// How far a conversion is: records moved of all there were when this open
/// began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationProgress {
    pub moved: u64,
    pub total: u64,
}

/// Converts the version 1 file `db` to version 2, telling `progress`
/// after every step.
pub(super) fn run(
    db: &Database,
    progress: &mut dyn FnMut(MigrationProgress),
) -> Result<(), StoreError> {
    let total = {
        let txn = db.begin_write()?;
        let total = txn.open_table(V1_LIKE_LOG)?.len()? + txn.open_table(V1_TOMBSTONES)?.len()?;
        txn.commit()?;
        total
    };
    let mut moved = 0;
    let mut logged = Instant::now();
    tracing::info!(records = total, "converting the store to schema version 2");
    loop {
        let txn = db.begin_write()?;
        let step = move_likes(&txn, STEP)?;
        let step = if step == 0 {
            move_tombstones(&txn, STEP)?
        } else {
            step
        };
        if step == 0 {
            finish(&txn)?;
            txn.commit()?;
            progress(MigrationProgress { moved, total });
            tracing::info!(records = moved, "converted the store to schema version 2");
            return Ok(());
        }
        txn.commit()?;
        moved += step;
        progress(MigrationProgress { moved, total });
        if logged.elapsed() >= LOG_EVERY {
            logged = Instant::now();
            tracing::info!(moved, total, "converting the store");
        }
    }
}

/// Moves the oldest `step` likes of the old log; returns how many old
/// records went (the likes and the tombstones that stay with them).
fn move_likes(txn: &WriteTransaction, step: usize) -> Result<u64, StoreError> {
    let mut log = txn.open_table(V1_LIKE_LOG)?;
    let keys = txn.open_table(V1_LIKE_KEYS)?;
    let mut tombstones = txn.open_table(V1_TOMBSTONES)?;
    let mut meta = txn.open_table(META)?;
    let mut seq = schema::read_seq(meta.get(LIKES_VERSION_KEY)?.map(|v| v.value().to_vec()))?;
    let mut likes = Likes::open(txn, &meta)?;
    let mut last = None;
    let mut moved = 0;
    for item in log.range::<LogKey>(..)?.take(step) {
        let (key, subject) = item?;
        let (logged_us, did, rkey) = key.value();
        let newest_us = keys
            .get((did, rkey))?
            .map_or(logged_us, |times| times.value().1);
        // A live key's tombstone is older than its like: it stays with
        // the like.
        let tombstone_us = tombstones.remove((did, rkey))?.map(|at| at.value());
        moved += u64::from(tombstone_us.is_some());
        likes.adopt(
            did,
            rkey,
            subject.value(),
            logged_us,
            newest_us,
            tombstone_us,
            &mut seq,
        )?;
        last = Some((logged_us, did.to_owned(), rkey.to_owned()));
        moved += 1;
    }
    if let Some((time_us, did, rkey)) = last {
        log.retain_in(..=(time_us, did.as_str(), rkey.as_str()), |_, _| false)?;
    }
    likes.finish(&mut meta)?;
    meta.insert(LIKES_VERSION_KEY, seq.to_le_bytes().as_slice())?;
    Ok(moved)
}

/// Moves `step` tombstones of deleted keys; returns how many.
fn move_tombstones(txn: &WriteTransaction, step: usize) -> Result<u64, StoreError> {
    let mut tombstones = txn.open_table(V1_TOMBSTONES)?;
    let mut meta = txn.open_table(META)?;
    let mut likes = Likes::open(txn, &meta)?;
    let mut last = None;
    let mut moved = 0;
    for item in tombstones.range::<RecordKey>(..)?.take(step) {
        let (key, time_us) = item?;
        let (did, rkey) = key.value();
        likes.adopt_tombstone(did, rkey, time_us.value())?;
        last = Some((did.to_owned(), rkey.to_owned()));
        moved += 1;
    }
    if let Some((did, rkey)) = last {
        tombstones.retain_in(..=(did.as_str(), rkey.as_str()), |_, _| false)?;
    }
    likes.finish(&mut meta)?;
    Ok(moved)
}

/// Drops the old tables, starts the changes served after the moved likes,
/// and stamps version 2.
fn finish(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.delete_table(V1_LIKE_LOG)?;
    txn.delete_table(V1_LIKE_KEYS)?;
    txn.delete_table(V1_TOMBSTONES)?;
    txn.delete_table(V1_TOMBSTONE_AGES)?;
    txn.delete_table(V1_LIKERS)?;
    txn.delete_table(V1_LIKE_CHANGES)?;
    {
        let mut meta = txn.open_table(META)?;
        let seq = schema::read_seq(meta.get(LIKES_VERSION_KEY)?.map(|v| v.value().to_vec()))?;
        meta.insert(CHANGES_FROM_KEY, (seq + 1).to_le_bytes().as_slice())?;
    }
    schema::stamp_current(txn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{create, delete, scan};
    use crate::{
        ApplyStats, Changes, DATABASE_FILE, EmbeddedStore, PruneStats, Store, StoreCounts,
    };
    use redb::TableHandle;

    const P1: &str = "at://did:plc:bob222222222222222222222/app.bsky.feed.post/3jzfcijpj2z2a";
    const ODD_SUBJECT: &str = "at://did:web:x.example/app.bsky.feed.generator/g";
    const ALICE: &str = "did:plc:alice22222222222222222222";
    const BOB: &str = "did:plc:bob222222222222222222222";
    const K1: &str = "3kabc22222222";
    const K2: &str = "3kabd22222222";

    /// A version 1 file as a feedmixer from before the like log left it,
    /// from before pools and the age indexes too: four live likes (a
    /// repeated create, a key deleted and created again, a subject that is
    /// no post, a DID that is no `did:plc`), a tombstone of a key never
    /// seen, and a deleted account.
    fn write_v1_file(dir: &std::path::Path) {
        std::fs::create_dir_all(dir).unwrap();
        let db = Database::create(dir.join(DATABASE_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        schema::stamp_version(&txn, 1).unwrap();
        {
            let mut log = txn.open_table(V1_LIKE_LOG).unwrap();
            let mut keys = txn.open_table(V1_LIKE_KEYS).unwrap();
            let mut likers = txn.open_table(V1_LIKERS).unwrap();
            let mut changes = txn.open_table(V1_LIKE_CHANGES).unwrap();
            let likes = [
                (ALICE, K1, P1, 10, 15),
                (ALICE, "self", P1, 20, 20),
                (BOB, K2, ODD_SUBJECT, 30, 30),
                ("did:web:carol.example", "k3", P1, 40, 40),
            ];
            for (i, (did, rkey, subject, logged, newest)) in likes.into_iter().enumerate() {
                log.insert((logged, did, rkey), subject).unwrap();
                keys.insert((did, rkey), (logged, newest)).unwrap();
                changes
                    .insert(i as u64 + 1, (did, subject, logged, true))
                    .unwrap();
            }
            likers.insert(ALICE, 2).unwrap();
            let mut tombstones = txn.open_table(V1_TOMBSTONES).unwrap();
            tombstones.insert((ALICE, "self"), 5).unwrap();
            tombstones.insert(("did:plc:dave", "gone"), 50).unwrap();
            txn.open_table(schema::DELETED_ACCOUNTS)
                .unwrap()
                .insert("did:plc:eve", 60)
                .unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(LIKES_VERSION_KEY, 7u64.to_le_bytes().as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }

    fn like(did: &str, rkey: &str, subject: &str, time_us: u64) -> crate::testkit::Like {
        (did.into(), rkey.into(), subject.into(), time_us)
    }

    #[tokio::test]
    async fn a_version_1_file_is_converted_and_judges_events_as_before() {
        let dir = tempfile::tempdir().unwrap();
        write_v1_file(dir.path());
        let mut seen = Vec::new();
        let store = EmbeddedStore::open_with_progress(dir.path(), &mut |p| seen.push(p)).unwrap();
        assert_eq!(
            seen.last(),
            Some(&MigrationProgress { moved: 6, total: 6 }),
            "{seen:?}"
        );
        assert_eq!(
            store.get_meta("store.schema_version").await.unwrap(),
            Some(2u64.to_le_bytes().to_vec())
        );
        {
            let txn = redb::ReadableDatabase::begin_read(&store.inner.db).unwrap();
            let names: Vec<String> = txn
                .list_tables()
                .unwrap()
                .map(|t| t.name().to_owned())
                .collect();
            for old in [
                "like_log",
                "like_keys",
                "tombstones",
                "likers",
                "like_changes",
            ] {
                assert!(!names.contains(&old.to_owned()), "{old} in {names:?}");
            }
        }
        assert_eq!(
            scan(&store, 0).await,
            [
                like(ALICE, K1, P1, 10),
                like(ALICE, "self", P1, 20),
                like(BOB, K2, ODD_SUBJECT, 30),
                like("did:web:carol.example", "k3", P1, 40),
            ]
        );
        assert_eq!(
            store.counts().await.unwrap(),
            StoreCounts { likes: 4, posts: 0 }
        );
        let version = store.likes_version().await.unwrap();
        assert_eq!(version, 11, "the likes numbered after the file's changes");
        assert_eq!(store.changes_since(0, 10).await.unwrap(), Changes::Trimmed);
        assert_eq!(
            store.changes_since(version, 10).await.unwrap(),
            Changes::Since(vec![])
        );

        let stats = store
            .apply(&[
                create(ALICE, K1, P1, 12),
                create(ALICE, "self", P1, 4),
                delete(ALICE, K1, 14),
                create("did:plc:dave", "gone", P1, 45),
                create("did:plc:eve", "x", P1, 55),
                delete(BOB, K2, 100),
            ])
            .await
            .unwrap();
        assert_eq!(
            stats,
            ApplyStats {
                duplicates: 1,
                stale: 4,
                deleted: 1,
                ..ApplyStats::default()
            }
        );
        // The account deletion's age was indexed; the key deleted and
        // created again keeps its tombstone, pruned with the like.
        assert_eq!(
            store.prune(35, 100).await.unwrap(),
            PruneStats {
                likes: 2,
                tombstones: 1,
                ..PruneStats::default()
            }
        );
        assert_eq!(
            store.prune(70, 100).await.unwrap(),
            PruneStats {
                likes: 1,
                tombstones: 1,
                accounts: 1,
                ..PruneStats::default()
            }
        );
        assert_eq!(scan(&store, 0).await, []);
    }

    #[tokio::test]
    async fn a_conversion_stopped_half_way_goes_on_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        write_v1_file(dir.path());
        {
            let db = Database::create(dir.path().join(DATABASE_FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            assert_eq!(
                move_likes(&txn, 3).unwrap(),
                4,
                "a tombstone went with its like"
            );
            txn.commit().unwrap();
            assert_eq!(schema::stamped_version(&db).unwrap(), Some(1));
        }
        let mut seen = Vec::new();
        let store = EmbeddedStore::open_with_progress(dir.path(), &mut |p| seen.push(p)).unwrap();
        assert_eq!(seen.last(), Some(&MigrationProgress { moved: 2, total: 2 }));
        assert_eq!(scan(&store, 0).await.len(), 4);
        assert_eq!(store.counts().await.unwrap().likes, 4);
        assert_eq!(store.likes_version().await.unwrap(), 11);
        // The tombstones came along: an older create of the deleted key
        // is stale.
        let stats = store
            .apply(&[create("did:plc:dave", "gone", P1, 45)])
            .await
            .unwrap();
        assert_eq!(stats.stale, 1);
    }
}
