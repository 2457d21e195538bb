//! The like-log semantics of the embedded store, through the `Store` trait.

mod common;

use common::*;
use feedmixer_store::{ApplyStats, EmbeddedStore, Store, StoreCounts};

const P1: &str = "at://did:plc:bob/app.bsky.feed.post/3p1";
const P2: &str = "at://did:plc:bob/app.bsky.feed.post/3p2";

#[tokio::test]
async fn a_new_store_is_empty() {
    let (_dir, store) = open_temp();
    assert_eq!(snapshot(&store).await, (vec![], StoreCounts::default()));
    assert_eq!(store.apply(&[]).await.unwrap(), ApplyStats::default());
}

#[tokio::test]
async fn creates_are_stored_and_counted() {
    let (_dir, store) = open_temp();
    let stats = store
        .apply(&[
            create("did:plc:alice", "k1", P1, 10),
            create("did:plc:alice", "k2", P2, 20),
            create("did:plc:carol", "k1", P1, 15),
        ])
        .await
        .unwrap();
    assert_eq!(
        stats,
        ApplyStats {
            created: 3,
            ..Default::default()
        }
    );
    assert_eq!(
        store.counts().await.unwrap(),
        StoreCounts {
            likes: 3,
            likers: 2
        }
    );
}

#[tokio::test]
async fn a_repeated_create_is_one_like_and_the_first_stays() {
    let (_dir, store) = open_temp();
    store
        .apply(&[create("did:plc:alice", "k1", P1, 10)])
        .await
        .unwrap();
    let stats = store
        .apply(&[
            create("did:plc:alice", "k1", P2, 12),
            create("did:plc:alice", "k1", P1, 10),
        ])
        .await
        .unwrap();
    assert_eq!(stats.duplicates, 2);
    assert_eq!(stats.created, 0);
    assert_eq!(
        scan(&store, 0).await,
        [("did:plc:alice".into(), "k1".into(), P1.into(), 10)]
    );
}

#[tokio::test]
async fn a_delete_removes_its_like_and_counts_missing_ones() {
    let (_dir, store) = open_temp();
    store
        .apply(&[
            create("did:plc:alice", "k1", P1, 10),
            create("did:plc:alice", "k2", P2, 11),
        ])
        .await
        .unwrap();
    let stats = store
        .apply(&[
            delete("did:plc:alice", "k1", 20),
            delete("did:plc:alice", "nope", 21),
        ])
        .await
        .unwrap();
    assert_eq!(
        stats,
        ApplyStats {
            deleted: 1,
            missing_deletes: 1,
            ..Default::default()
        }
    );
    assert_eq!(
        scan(&store, 0).await,
        [("did:plc:alice".into(), "k2".into(), P2.into(), 11)]
    );
    assert_eq!(store.counts().await.unwrap().likers, 1);

    store
        .apply(&[delete("did:plc:alice", "k2", 22)])
        .await
        .unwrap();
    assert_eq!(
        store.counts().await.unwrap(),
        StoreCounts::default(),
        "a DID without likes is no liker"
    );
}

#[tokio::test]
async fn a_tombstone_makes_older_creates_stale() {
    let (_dir, store) = open_temp();
    // The delete of a like the store never saw arrives first.
    let stats = store
        .apply(&[delete("did:plc:alice", "k1", 20)])
        .await
        .unwrap();
    assert_eq!(stats.missing_deletes, 1);
    let stats = store
        .apply(&[
            create("did:plc:alice", "k1", P1, 10),
            create("did:plc:alice", "k1", P1, 20),
        ])
        .await
        .unwrap();
    assert_eq!(
        stats,
        ApplyStats {
            stale: 2,
            ..Default::default()
        },
        "a delete wins a tie"
    );
    assert_eq!(scan(&store, 0).await, []);

    // A create after the delete is a new like.
    let stats = store
        .apply(&[create("did:plc:alice", "k1", P2, 30)])
        .await
        .unwrap();
    assert_eq!(stats.created, 1);
    assert_eq!(
        scan(&store, 0).await,
        [("did:plc:alice".into(), "k1".into(), P2.into(), 30)]
    );
}

#[tokio::test]
async fn a_delete_older_than_the_live_like_is_stale() {
    let (_dir, store) = open_temp();
    store
        .apply(&[
            create("did:plc:alice", "k1", P1, 10),
            delete("did:plc:alice", "k1", 20),
            create("did:plc:alice", "k1", P2, 30),
        ])
        .await
        .unwrap();
    let stats = store
        .apply(&[delete("did:plc:alice", "k1", 20)])
        .await
        .unwrap();
    assert_eq!(stats.stale, 1);
    assert_eq!(scan(&store, 0).await.len(), 1);
}

#[tokio::test]
async fn an_account_deletion_removes_the_accounts_likes_only() {
    let (_dir, store) = open_temp();
    // did:plc:ab is a prefix of did:plc:abc: the prefix range must not
    // spill into it.
    store
        .apply(&[
            create("did:plc:ab", "k1", P1, 10),
            create("did:plc:ab", "k2", P2, 11),
            create("did:plc:abc", "k1", P1, 12),
            create("did:plc:aa", "k1", P1, 13),
        ])
        .await
        .unwrap();
    let stats = store
        .apply(&[account_deleted("did:plc:ab", 20)])
        .await
        .unwrap();
    assert_eq!(
        stats,
        ApplyStats {
            accounts_deleted: 1,
            likes_removed_by_account: 2,
            ..Default::default()
        }
    );
    let dids: Vec<_> = scan(&store, 0)
        .await
        .into_iter()
        .map(|like| like.0)
        .collect();
    assert_eq!(dids, ["did:plc:abc", "did:plc:aa"]);
    assert_eq!(
        store.counts().await.unwrap(),
        StoreCounts {
            likes: 2,
            likers: 2
        }
    );
}

#[tokio::test]
async fn after_an_account_deletion_older_creates_are_stale_and_newer_ones_count() {
    let (_dir, store) = open_temp();
    store
        .apply(&[account_deleted("did:plc:alice", 20)])
        .await
        .unwrap();
    let stats = store
        .apply(&[
            create("did:plc:alice", "k1", P1, 10),
            create("did:plc:alice", "k2", P1, 20),
            delete("did:plc:alice", "k3", 15),
            create("did:plc:alice", "k4", P2, 25),
        ])
        .await
        .unwrap();
    assert_eq!(
        stats,
        ApplyStats {
            stale: 3,
            created: 1,
            ..Default::default()
        }
    );
    assert_eq!(
        scan(&store, 0).await,
        [("did:plc:alice".into(), "k4".into(), P2.into(), 25)]
    );

    // A replayed deletion is stale and keeps the newer like; a later one
    // removes it.
    let stats = store
        .apply(&[account_deleted("did:plc:alice", 20)])
        .await
        .unwrap();
    assert_eq!(stats.stale, 1);
    assert_eq!(scan(&store, 0).await.len(), 1);
    let stats = store
        .apply(&[account_deleted("did:plc:alice", 30)])
        .await
        .unwrap();
    assert_eq!(stats.likes_removed_by_account, 1);
    assert_eq!(snapshot(&store).await, (vec![], StoreCounts::default()));
}

#[tokio::test]
async fn scan_streams_in_time_order_from_since() {
    let (_dir, store) = open_temp();
    // More likes than one scan chunk, applied out of time order.
    let events: Vec<_> = (0..20_000u32)
        .map(|i| {
            let time_us = u64::from((i * 7_919) % 20_000) * 10;
            create(&did(i % 500), &format!("3k{i:08}"), &post(i % 300), time_us)
        })
        .collect();
    store.apply(&events).await.unwrap();

    let all = scan(&store, 0).await;
    assert_eq!(all.len(), 20_000);
    assert!(all.windows(2).all(|w| w[0].3 <= w[1].3), "time order");

    let since = scan(&store, 100_000).await;
    assert_eq!(since.len(), 10_000);
    assert_eq!(since[0].3, 100_000, "since_us is inclusive");
    assert_eq!(since[..], all[10_000..]);

    assert_eq!(scan(&store, u64::MAX).await, []);
}

#[tokio::test]
async fn equal_times_scan_by_did_then_rkey() {
    let (_dir, store) = open_temp();
    store
        .apply(&[
            create("did:plc:b", "k1", P1, 5),
            create("did:plc:a", "k2", P1, 5),
            create("did:plc:a", "k1", P1, 5),
        ])
        .await
        .unwrap();
    let keys: Vec<_> = scan(&store, 0)
        .await
        .into_iter()
        .map(|like| (like.0, like.1))
        .collect();
    assert_eq!(
        keys,
        [
            ("did:plc:a".into(), "k1".into()),
            ("did:plc:a".into(), "k2".into()),
            ("did:plc:b".into(), "k1".into())
        ]
    );
}

/// The same like seen through two Jetstream instances carries two
/// `time_us`; a deletion stamped between them loses to the newer one, and
/// no replay undoes that.
#[tokio::test]
async fn a_key_created_at_two_times_is_judged_by_the_newest() {
    let (_dir, store) = open_temp();
    let first_seen = [
        create("did:plc:alice", "k1", P1, 100),
        create("did:plc:alice", "k1", P1, 103),
    ];
    store.apply(&first_seen).await.unwrap();
    let stats = store
        .apply(&[account_deleted("did:plc:alice", 101)])
        .await
        .unwrap();
    assert_eq!(stats.likes_removed_by_account, 0);
    let stats = store
        .apply(&[delete("did:plc:alice", "k1", 102)])
        .await
        .unwrap();
    assert_eq!(stats.stale, 1);

    let kept = [("did:plc:alice".into(), "k1".into(), P1.into(), 100)];
    assert_eq!(scan(&store, 0).await, kept, "logged at its first create");
    store.apply(&first_seen).await.unwrap();
    assert_eq!(scan(&store, 0).await, kept);

    let stats = store
        .apply(&[delete("did:plc:alice", "k1", 103)])
        .await
        .unwrap();
    assert_eq!(stats.deleted, 1);
    store.apply(&first_seen).await.unwrap();
    assert_eq!(scan(&store, 0).await, []);
}

#[tokio::test]
async fn replaying_the_same_events_changes_nothing() {
    let (_dir, store) = open_temp();
    let events = vec![
        create("did:plc:alice", "k1", P1, 10),
        create("did:plc:alice", "k2", P2, 11),
        create("did:plc:bob", "k1", P1, 12),
        delete("did:plc:alice", "k1", 13),
        delete("did:plc:carol", "k9", 14),
        create("did:plc:alice", "k1", P1, 15),
        create("did:plc:dave", "k1", P2, 16),
        account_deleted("did:plc:bob", 17),
        create("did:plc:bob", "k2", P2, 18),
    ];
    let first = store.apply(&events).await.unwrap();
    let before = snapshot(&store).await;
    let second = store.apply(&events).await.unwrap();
    assert_eq!(snapshot(&store).await, before);
    assert_eq!(
        (second.created, second.deleted, second.accounts_deleted),
        (0, 0, 0),
        "{second:?}"
    );
    assert_eq!(
        second.duplicates + second.stale + second.missing_deletes,
        events.len() as u64
    );
    assert_eq!(first.created, 6);
}

#[tokio::test]
async fn data_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .apply(&[
                create("did:plc:alice", "k1", P1, 10),
                create("did:plc:bob", "k1", P2, 11),
                delete("did:plc:carol", "k1", 12),
            ])
            .await
            .unwrap();
        store.set_meta("cursor", b"12").await.unwrap();
        snapshot(&store).await
    };
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(snapshot(&store).await, before);
    assert_eq!(store.get_meta("cursor").await.unwrap().unwrap(), b"12");
    // The tombstone survived too.
    let stats = store
        .apply(&[create("did:plc:carol", "k1", P1, 11)])
        .await
        .unwrap();
    assert_eq!(stats.stale, 1);
}

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
            seen_by_sink.push(like.did.to_owned());
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
