//! Viewers' interaction histories and the likes version, through the
//! `Store` trait.

mod common;

use common::*;
use feedmixer_atproto::InteractionEvent;
use feedmixer_store::{EmbeddedStore, Interaction, InteractionLimits, Store, StoreError};

const VIEWER: &str = "did:plc:viewer";

fn event(item: &str, event: InteractionEvent, time_us: u64) -> Interaction {
    Interaction {
        item: item.into(),
        event,
        time_us,
    }
}

const LIMITS: InteractionLimits = InteractionLimits {
    max_per_viewer: 4,
    ttl_us: 1_000,
};

#[tokio::test]
async fn histories_are_per_viewer_newest_first_and_deduplicated() {
    let (_dir, store) = open_temp();
    let batch = [
        event("at://a", InteractionEvent::Seen, 100),
        event("at://b", InteractionEvent::Seen, 110),
        event("at://a", InteractionEvent::RequestLess, 120),
        event("at://a", InteractionEvent::Seen, 130),
    ];
    store
        .add_interactions(VIEWER, &batch, LIMITS, 200)
        .await
        .unwrap();
    assert_eq!(
        store.interactions(VIEWER, 0).await.unwrap(),
        vec![
            event("at://a", InteractionEvent::Seen, 130),
            event("at://a", InteractionEvent::RequestLess, 120),
            event("at://b", InteractionEvent::Seen, 110),
        ]
    );
    assert_eq!(store.interactions(VIEWER, 115).await.unwrap().len(), 2);
    assert!(
        store
            .interactions("did:plc:other", 0)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn histories_are_bounded_and_expire() {
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

#[tokio::test]
async fn bad_interactions_are_refused_and_change_nothing() {
    let (_dir, store) = open_temp();
    let good = event("at://a", InteractionEvent::Seen, 100);
    let err = store
        .add_interactions("", std::slice::from_ref(&good), LIMITS, 100)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInteraction(_)), "{err}");
    let err = store
        .add_interactions(
            VIEWER,
            &[good.clone(), event("", InteractionEvent::Seen, 100)],
            LIMITS,
            100,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInteraction(_)), "{err}");
    assert!(store.interactions(VIEWER, 0).await.unwrap().is_empty());
}

#[tokio::test]
async fn histories_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_000_000;
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .add_interactions(
                VIEWER,
                &[event("at://a", InteractionEvent::RequestMore, now)],
                InteractionLimits::default(),
                now,
            )
            .await
            .unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(
        store.interactions(VIEWER, 0).await.unwrap(),
        vec![event("at://a", InteractionEvent::RequestMore, now)]
    );
}

#[tokio::test]
async fn the_likes_version_moves_only_when_likes_change() {
    let (_dir, store) = open_temp();
    let v0 = store.likes_version().await.unwrap();
    store
        .apply(&[create(&did(1), "r1", &post(1), 10)])
        .await
        .unwrap();
    let v1 = store.likes_version().await.unwrap();
    assert_ne!(v0, v1);
    // A duplicate changes nothing.
    store
        .apply(&[create(&did(1), "r1", &post(1), 10)])
        .await
        .unwrap();
    assert_eq!(store.likes_version().await.unwrap(), v1);
    store.apply(&[delete(&did(1), "r1", 20)]).await.unwrap();
    assert_ne!(store.likes_version().await.unwrap(), v1);
}
