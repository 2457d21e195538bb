//! What only the embedded store promises, through the `Store` trait: what
//! it writes survives a reopen of its data dir, the cache keeps to its
//! byte bound, a write sweeps histories that expired whole, and a scan
//! reads one snapshot.
//!
//! What every backend promises is the contract suite's
//! (`crates/store-redis/tests/contract.rs`), which runs each scenario on
//! this store too; `crates/store-redis/tests/redis.rs` checks the bound on
//! kept changes on this store and on Redis.

mod common;

use std::time::Duration;

use common::*;
use feedmixer_atproto::InteractionEvent;
use feedmixer_store::{
    Change, Changes, EmbeddedStore, Interaction, InteractionLimits, LikeChange, PoolStats, Store,
};
use tempfile::TempDir;

const P1: &str = "at://did:plc:bob/app.bsky.feed.post/3p1";
const P2: &str = "at://did:plc:bob/app.bsky.feed.post/3p2";
const VIEWER: &str = "did:plc:viewer";

/// Opens the store in `dir` again, as a restarted process would; the
/// store that wrote it must be dropped first (it holds the data dir's
/// lock).
fn reopen(dir: &TempDir) -> EmbeddedStore {
    EmbeddedStore::open(dir.path()).unwrap()
}

fn uri(n: u32) -> String {
    format!("at://did:plc:author/app.bsky.feed.post/3p{n:03}")
}

fn uris(ns: impl IntoIterator<Item = u32>) -> Vec<String> {
    ns.into_iter().map(uri).collect()
}

fn event(item: &str, event: InteractionEvent, time_us: u64) -> Interaction {
    Interaction {
        item: item.into(),
        event,
        time_us,
    }
}

// ---- a reopen of the data dir ------------------------------------------

#[tokio::test]
async fn data_survives_a_reopen() {
    let (dir, store) = open_temp();
    store
        .apply(&[
            create("did:plc:alice", "k1", P1, 10),
            create("did:plc:bob", "k1", P2, 11),
            delete("did:plc:carol", "k1", 12),
        ])
        .await
        .unwrap();
    store.set_meta("cursor", b"12").await.unwrap();
    let before = snapshot(&store).await;
    drop(store);

    let store = reopen(&dir);
    assert_eq!(snapshot(&store).await, before);
    assert_eq!(store.get_meta("cursor").await.unwrap().unwrap(), b"12");
    // The tombstone survived too.
    let stats = store
        .apply(&[create("did:plc:carol", "k1", P1, 11)])
        .await
        .unwrap();
    assert_eq!(stats.stale, 1);
}

#[tokio::test]
async fn pools_survive_a_reopen() {
    let (dir, store) = open_temp();
    store
        .update_pool("a", &uris([1, 2, 3]), &[], false)
        .await
        .unwrap();
    store
        .update_pool("ab", &uris([4]), &[], false)
        .await
        .unwrap();
    store
        .update_pool("a", &[], &uris([2]), false)
        .await
        .unwrap();
    drop(store);

    let store = reopen(&dir);
    assert_eq!(store.pool("a").await.unwrap(), uris([1, 3]));
    assert_eq!(store.pool("ab").await.unwrap(), uris([4]));
    assert_eq!(store.pool_feeds().await.unwrap(), ["a", "ab"]);
    assert_eq!(
        store
            .update_pool("a", &uris([1]), &[], false)
            .await
            .unwrap(),
        PoolStats {
            added: 0,
            removed: 0,
            size: 2
        },
        "the size survives too"
    );
}

#[tokio::test]
async fn changes_survive_a_reopen() {
    let (dir, store) = open_temp();
    store
        .apply(&[create(&did(1), "r", &post(1), 10)])
        .await
        .unwrap();
    drop(store);

    let store = reopen(&dir);
    assert_eq!(store.likes_version().await.unwrap(), 1);
    store
        .apply(&[create(&did(2), "r", &post(2), 11)])
        .await
        .unwrap();
    assert_eq!(
        store.changes_since(1, 10).await.unwrap(),
        Changes::Since(vec![Change::Like(LikeChange {
            seq: 2,
            did: did(2),
            subject: post(2),
            time_us: 11,
            added: true
        })])
    );
}

#[tokio::test]
async fn histories_survive_a_reopen() {
    let (dir, store) = open_temp();
    let now = 1_000_000;
    store
        .add_interactions(
            VIEWER,
            &[event("at://a", InteractionEvent::RequestMore, now)],
            InteractionLimits::default(),
            now,
        )
        .await
        .unwrap();
    drop(store);

    let store = reopen(&dir);
    assert_eq!(
        store.interactions(VIEWER, 0).await.unwrap(),
        vec![event("at://a", InteractionEvent::RequestMore, now)]
    );
}

/// Histories are answered from memory once read: a write after a read
/// (none, then one, then two entries) is what the next read sees.
#[tokio::test]
async fn a_read_history_follows_later_writes() {
    let (_dir, store) = open_temp();
    let limits = InteractionLimits::default();
    assert!(store.interactions(VIEWER, 0).await.unwrap().is_empty());
    let first = event("at://a", InteractionEvent::Seen, 10);
    store
        .add_interactions(VIEWER, std::slice::from_ref(&first), limits, 10)
        .await
        .unwrap();
    assert_eq!(
        store.interactions(VIEWER, 0).await.unwrap(),
        vec![first.clone()]
    );
    let second = event("at://b", InteractionEvent::RequestLess, 20);
    store
        .add_interactions(VIEWER, std::slice::from_ref(&second), limits, 20)
        .await
        .unwrap();
    assert_eq!(
        store.interactions(VIEWER, 0).await.unwrap(),
        vec![second.clone(), first]
    );
    assert_eq!(store.interactions(VIEWER, 15).await.unwrap(), vec![second]);
}

// ---- bounds and sweeps -------------------------------------------------

#[tokio::test]
async fn the_memory_bound_evicts() {
    let (_dir, store) = open_temp();
    let store = store.with_cache_bytes(10_000);
    for n in 0..1_000 {
        store
            .cache_set(&format!("k{n}"), &[0u8; 1_000], Duration::from_secs(60))
            .await
            .unwrap();
    }
    let mut kept = 0;
    for n in 0..1_000 {
        kept += usize::from(store.cache_get(&format!("k{n}")).await.unwrap().is_some());
    }
    assert!(kept < 1_000, "{kept} of 1000 kept under a 10 kB bound");
}

/// Redis lets a history's key expire; the embedded store removes a
/// history that expired whole when any viewer writes later.
#[tokio::test]
async fn a_later_write_removes_histories_that_expired_whole() {
    const LIMITS: InteractionLimits = InteractionLimits {
        max_per_viewer: 4,
        ttl_us: 1_000,
    };
    let (_dir, store) = open_temp();
    let many: Vec<_> = (0..10)
        .map(|n| event(&format!("at://p{n}"), InteractionEvent::Seen, 100 + n))
        .collect();
    store
        .add_interactions(VIEWER, &many, LIMITS, 200)
        .await
        .unwrap();
    let kept = store.interactions(VIEWER, 0).await.unwrap();
    assert_eq!(
        kept.iter().map(|i| i.time_us).collect::<Vec<_>>(),
        vec![109, 108, 107, 106]
    );

    // Another viewer's write long after: the first history expired whole
    // and is removed, not just hidden.
    store
        .add_interactions(
            "did:plc:late",
            &[event("at://x", InteractionEvent::Like, 5_000)],
            LIMITS,
            5_000,
        )
        .await
        .unwrap();
    assert!(store.interactions(VIEWER, 0).await.unwrap().is_empty());
    assert_eq!(
        store.interactions("did:plc:late", 0).await.unwrap().len(),
        1
    );
}

// ---- snapshots ---------------------------------------------------------

/// The scan reads the snapshot it started on, even when a write commits
/// while it is half way: more likes than the scan buffers ahead, and the
/// sink holds the scan until the write is on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_reads_one_snapshot_while_writes_go_on() {
    const LIKES: u32 = 100_000;
    let (_dir, store) = open_temp();
    let events: Vec<_> = (0..LIKES)
        .map(|i| create(&did(i % 5_000), &format!("k{i}"), P1, u64::from(i)))
        .collect();
    store.apply(&events).await.unwrap();
    let store = std::sync::Arc::new(store);

    let (start_write, write_started) = tokio::sync::oneshot::channel::<()>();
    let (write_done, wait_for_write) = std::sync::mpsc::channel();
    let writer = std::sync::Arc::clone(&store);
    let write = tokio::spawn(async move {
        write_started.await.unwrap();
        let stats = writer
            .apply(&[
                account_deleted(&did(4_999), u64::from(LIKES)),
                create("did:plc:late", "k", P2, 0),
            ])
            .await
            .unwrap();
        write_done.send(()).unwrap();
        stats
    });

    let mut start_write = Some(start_write);
    let mut seen = Vec::with_capacity(LIKES as usize);
    let seen_by_sink = &mut seen;
    let delivered = store
        .scan_likes(0, &mut move |like| {
            if let Some(start) = start_write.take() {
                start.send(()).unwrap();
                wait_for_write.recv().unwrap();
            }
            seen_by_sink.push(like.did.to_string());
        })
        .await
        .unwrap();
    assert_eq!(write.await.unwrap().likes_removed_by_account, 20);
    assert_eq!(delivered, u64::from(LIKES), "the scan saw its snapshot");
    assert!(seen.iter().all(|did| did != "did:plc:late"));
    assert_eq!(
        store.counts().await.unwrap().likes,
        u64::from(LIKES) - 20 + 1
    );
}

#[tokio::test]
async fn post_changes_share_the_like_sequence() {
    use feedmixer_store::{PostChange, PostChangeKind};
    let (_dir, store) = open_temp();
    let alice = did(1);
    let nb = post_record(&["nb"], "hei");
    store
        .apply(&[
            create(&alice, "l1", &post(1), 10),
            post_create(&alice, "p1", nb.clone(), 11),
            post_delete(&alice, "p1", 12),
            // A delete of a post the index never held still hides it.
            post_delete(&alice, "p0", 13),
            account_deleted(&alice, 14),
        ])
        .await
        .unwrap();
    let Changes::Since(changes) = store.changes_since(0, 100).await.unwrap() else {
        panic!("nothing trimmed");
    };
    let post_change = |seq, rkey: &str, time_us, kind| {
        Change::Post(PostChange {
            seq,
            did: alice.clone(),
            rkey: rkey.into(),
            time_us,
            kind,
        })
    };
    assert_eq!(
        changes,
        vec![
            Change::Like(LikeChange {
                seq: 1,
                did: alice.clone(),
                subject: post(1),
                time_us: 10,
                added: true
            }),
            post_change(2, "p1", 11, PostChangeKind::Added(nb.without_text())),
            post_change(3, "p1", 12, PostChangeKind::Removed),
            post_change(4, "p0", 13, PostChangeKind::Removed),
            Change::Like(LikeChange {
                seq: 5,
                did: alice.clone(),
                subject: post(1),
                time_us: 10,
                added: false
            }),
            post_change(6, "", 14, PostChangeKind::AccountDeleted),
        ]
    );
    assert_eq!(store.likes_version().await.unwrap(), 6);
    // Bounded pages stay in order across both kinds.
    let Changes::Since(page) = store.changes_since(1, 2).await.unwrap() else {
        panic!("nothing trimmed");
    };
    assert_eq!(page.iter().map(Change::seq).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(
        scan_removed(&store).await,
        vec![
            (alice.clone(), String::new()),
            (alice.clone(), "p0".into()),
            (alice.clone(), "p1".into())
        ]
    );
    assert_eq!(store.counts().await.unwrap().posts, 0);
}
