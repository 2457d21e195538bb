//! The numbered changes replicas follow the like log with.

mod common;

use common::*;
use feedmixer_store::{Changes, EmbeddedStore, LikeChange, Store};

fn change(seq: u64, did: &str, subject: &str, time_us: u64, added: bool) -> LikeChange {
    LikeChange {
        seq,
        did: did.into(),
        subject: subject.into(),
        time_us,
        added,
    }
}

async fn since(store: &dyn Store, after: u64) -> Vec<LikeChange> {
    match store.changes_since(after, 1000).await.unwrap() {
        Changes::Since(changes) => changes,
        Changes::Trimmed => panic!("trimmed after {after}"),
    }
}

#[tokio::test]
async fn every_like_added_or_removed_is_a_numbered_change() {
    let (_dir, store) = open_temp();
    assert_eq!(store.likes_version().await.unwrap(), 0);
    assert!(since(&store, 0).await.is_empty());
    let (a, b) = (did(1), did(2));
    store
        .apply(&[
            create(&a, "r1", &post(1), 10),
            create(&a, "r2", &post(2), 11),
            create(&b, "r1", &post(1), 12),
            // A duplicate and a stale delete change nothing.
            create(&a, "r1", &post(1), 10),
            delete(&b, "r1", 5),
        ])
        .await
        .unwrap();
    let version = store.likes_version().await.unwrap();
    assert_eq!(version, 3);
    let first = since(&store, 0).await;
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|c| c.added));
    assert_eq!(
        first.iter().map(|c| c.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );

    store.apply(&[delete(&a, "r2", 20)]).await.unwrap();
    store.apply(&[account_deleted(&b, 30)]).await.unwrap();
    assert_eq!(
        since(&store, version).await,
        vec![
            change(4, &a, &post(2), 11, false),
            change(5, &b, &post(1), 12, false),
        ]
    );
    assert_eq!(store.likes_version().await.unwrap(), 5);
    assert!(since(&store, 5).await.is_empty());
    // At most `max`, oldest first.
    match store.changes_since(0, 2).await.unwrap() {
        Changes::Since(changes) => {
            assert_eq!(
                changes.iter().map(|c| c.seq).collect::<Vec<_>>(),
                vec![1, 2]
            )
        }
        Changes::Trimmed => panic!("not trimmed"),
    }
}

#[tokio::test]
async fn a_follower_behind_the_kept_tail_is_told_to_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path())
        .unwrap()
        .with_changes_kept(3);
    let events: Vec<_> = (0..5)
        .map(|n| create(&did(n), "r", &post(n), 10 + u64::from(n)))
        .collect();
    store.apply(&events).await.unwrap();
    assert_eq!(store.likes_version().await.unwrap(), 5);
    assert_eq!(store.changes_since(0, 10).await.unwrap(), Changes::Trimmed);
    assert_eq!(store.changes_since(1, 10).await.unwrap(), Changes::Trimmed);
    assert_eq!(
        since(&store, 2)
            .await
            .iter()
            .map(|c| c.seq)
            .collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
}

#[tokio::test]
async fn changes_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .apply(&[create(&did(1), "r", &post(1), 10)])
            .await
            .unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(store.likes_version().await.unwrap(), 1);
    store
        .apply(&[create(&did(2), "r", &post(2), 11)])
        .await
        .unwrap();
    assert_eq!(
        since(&store, 1).await,
        vec![change(2, &did(2), &post(2), 11, true)]
    );
}
