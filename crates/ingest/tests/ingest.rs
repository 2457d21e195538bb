//! The ingester against a local Jetstream stand-in and an embedded store.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use common::*;
use feedmixer_ingest::metrics::ALL;
use feedmixer_ingest::{CURSOR_KEY, IngestConfig, IngestError, Ingester};
use feedmixer_store::{RepoEvent, Store};

#[tokio::test]
async fn first_start_tails_live_and_stores_likes_and_cursor() {
    let events = creates(10);
    let server = FakeJetstream::serving(&events).await;
    let (_dir, store) = open_store();
    let mut ingester = Running::start(config(&server.url), store.clone());

    let last = events.last().unwrap().time_us();
    let status = ingester.wait_cursor(last).await;
    assert!(status.connected);
    assert_eq!(status.events_applied, 10);
    assert_eq!(status.applied.created, 10);

    let requests = server.requests();
    assert_eq!(
        requests,
        ["/subscribe?wantedCollections=app.bsky.feed.like&wantedCollections=app.bsky.feed.post"],
        "no stored cursor: live tail"
    );
    assert_eq!(likes(store.as_ref()).await, expected(&events));
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.likes, 10);
    assert_eq!(stored_cursor(store.as_ref()).await, Some(last));

    ingester.stop().await.unwrap();
}

#[tokio::test]
async fn a_dropped_connection_resumes_with_overlap_and_no_double_likes() {
    let events = creates(40);
    let server = FakeJetstream::cut_after(&events, 20, &[Step::Drop]).await;
    let (_dir, store) = open_store();
    let mut ingester = Running::start(config(&server.url), store.clone());

    let status = ingester.wait_cursor(events[39].time_us()).await;
    let resumed = events[19].time_us() - MARGIN_US;
    assert_eq!(server.cursor(1), Some(resumed));
    let overlap = events.iter().filter(|e| e.time_us() >= resumed).count() as u64 - 20;
    assert_eq!(overlap, 11);
    assert_eq!(status.connections, 2);
    assert_eq!(status.applied.created, 40);
    assert_eq!(status.applied.duplicates, overlap);
    assert_eq!(status.events_applied, 40 + overlap);
    assert_eq!(likes(store.as_ref()).await, expected(&events));
    assert_eq!(store.counts().await.unwrap().likes, 40);

    ingester.stop().await.unwrap();
}

#[tokio::test]
async fn a_close_frame_reconnects() {
    let events = creates(6);
    let server = FakeJetstream::cut_after(&events, 3, &[Step::Close]).await;
    let (_dir, store) = open_store();
    let mut ingester = Running::start(config(&server.url), store.clone());

    let status = ingester.wait_cursor(events[5].time_us()).await;
    assert_eq!(status.connections, 2);
    assert_eq!(server.cursor(1), Some(events[2].time_us() - MARGIN_US));
    assert_eq!(likes(store.as_ref()).await, expected(&events));
    ingester.stop().await.unwrap();
}

#[tokio::test]
async fn malformed_and_foreign_messages_are_skipped_and_counted() {
    let a = create(1, 1, T0);
    let b = create(2, 2, T0 + 10);
    let post = format!(
        r#"{{"did":"did:plc:user0003","time_us":{},"kind":"commit","commit":{{"rev":"3l3qo2vuowo2b","operation":"create","collection":"app.bsky.feed.post","rkey":"3l3qo2vutsw2b","record":{{"text":"hi"}},"cid":"bafyreigroo6vhxt62ufcndhaxzas6btq4jmniuvmjkdkm76hgwxjw3rj6e"}}}}"#,
        T0 + 20
    );
    let identity = format!(
        r#"{{"did":"did:plc:user0004","time_us":{},"kind":"identity","identity":{{"did":"did:plc:user0004","handle":"x.bsky.social","seq":1,"time":"2024-09-05T06:11:04.870Z"}}}}"#,
        T0 + 30
    );
    let steps = vec![
        send(&a),
        Step::Send("not json at all".into()),
        Step::Send(r#"{"did":"did:plc:user0001","kind":"commit"}"#.into()),
        Step::Binary(vec![0x28, 0xb5, 0x2f, 0xfd]),
        send(&b),
        Step::Send(post),
        Step::Send(identity),
    ];
    let server = FakeJetstream::start(move |_, _| steps.clone()).await;
    let (_dir, store) = open_store();
    let mut ingester = Running::start(config(&server.url), store.clone());

    // The cursor moves over the valid events that carry no like; the post
    // goes to the post index.
    let status = ingester.wait_cursor(T0 + 30).await;
    assert_eq!(status.invalid, 3);
    assert_eq!(status.ignored, 1);
    assert_eq!(status.applied.created, 2);
    assert_eq!(status.applied.posts_created, 1);
    assert_eq!(status.connections, 1, "bad input never drops the stream");
    assert_eq!(likes(store.as_ref()).await, expected(&[a, b]));
    assert_eq!(stored_cursor(store.as_ref()).await, Some(T0 + 30));
    ingester.stop().await.unwrap();
}

#[tokio::test]
async fn deletes_and_account_deletions_remove_likes() {
    let mut events: Vec<RepoEvent> = (0..5).map(|i| create(0, i, T0 + i)).collect();
    events.extend((0..3).map(|i| create(1, 10 + i, T0 + 10 + i)));
    events.extend([
        delete(0, 1, T0 + 20),
        delete(0, 99, T0 + 21),
        account_deleted(1, T0 + 22),
    ]);
    let server = FakeJetstream::serving(&events).await;
    let (_dir, store) = open_store();
    let mut ingester = Running::start(config(&server.url), store.clone());

    let status = ingester.wait_cursor(T0 + 22).await;
    assert_eq!(status.applied.created, 8);
    assert_eq!(status.applied.deleted, 1);
    assert_eq!(status.applied.missing_deletes, 1);
    assert_eq!(status.applied.accounts_deleted, 1);
    let live: Vec<String> = likes(store.as_ref())
        .await
        .into_iter()
        .map(|(d, r, _)| format!("{d}/{r}"))
        .collect();
    let want: Vec<String> = [0, 2, 3, 4]
        .map(|i| format!("{}/{}", did(0), rkey(i)))
        .into();
    assert_eq!(live, want);
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.likes, 4);
    ingester.stop().await.unwrap();
}

#[tokio::test]
async fn a_restart_resumes_from_the_stored_cursor() {
    let events = creates(10);
    let server = FakeJetstream::cut_after(&events, 5, &[]).await;
    let (_dir, store) = open_store();

    let mut first = Running::start(config(&server.url), store.clone());
    first.wait_cursor(events[4].time_us()).await;
    first.stop().await.unwrap();
    assert_eq!(
        stored_cursor(store.as_ref()).await,
        Some(events[4].time_us())
    );

    let mut second = Running::start(config(&server.url), store.clone());
    assert_eq!(
        second.status.borrow().last_time_us,
        None,
        "a new ingester starts with an empty status"
    );
    let status = second.wait_cursor(events[9].time_us()).await;
    assert_eq!(server.cursor(0), None);
    assert_eq!(server.cursor(1), Some(events[4].time_us() - MARGIN_US));
    assert_eq!(status.applied.created, 5);
    assert_eq!(likes(store.as_ref()).await, expected(&events));
    second.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_flushes_the_pending_batch() {
    let events = creates(5);
    let mut steps = from_cursor(&events, None);
    steps.push(Step::Sync);
    let mut server = FakeJetstream::start(move |_, _| steps.clone()).await;
    let (_dir, store) = open_store();
    let ingester = Running::start(
        IngestConfig {
            batch_linger: Duration::from_secs(3600),
            ..config(&server.url)
        },
        store.clone(),
    );

    server.synced().await; // the ingester has read all five events
    assert_eq!(
        ingester.status.borrow().events_applied,
        0,
        "still lingering"
    );
    assert!(likes(store.as_ref()).await.is_empty());

    let status = ingester.status.clone();
    ingester.stop().await.unwrap();
    assert_eq!(likes(store.as_ref()).await, expected(&events));
    assert_eq!(
        stored_cursor(store.as_ref()).await,
        Some(events[4].time_us())
    );
    let last = status.borrow().clone();
    assert!(!last.connected);
    assert_eq!(last.events_applied, 5);
    assert_eq!(last.last_time_us, Some(events[4].time_us()));
}

#[tokio::test]
async fn a_full_batch_is_applied_without_waiting_for_the_linger() {
    let events = creates(25);
    let server = FakeJetstream::serving(&events).await;
    let (_dir, store) = open_store();
    let mut ingester = Running::start(
        IngestConfig {
            batch_max: 10,
            batch_linger: Duration::from_secs(3600),
            ..config(&server.url)
        },
        store.clone(),
    );

    let status = ingester.wait_cursor(events[19].time_us()).await;
    assert_eq!(status.batches, 2);
    assert_eq!(status.last_time_us, Some(events[19].time_us()));
    ingester.stop().await.unwrap();
    assert_eq!(likes(store.as_ref()).await, expected(&events));
}

#[tokio::test]
async fn the_bot_filter_drops_a_flood_but_not_deletes() {
    let mut events: Vec<RepoEvent> = (0..30).map(|i| create(666, i, T0 + i * 10_000)).collect();
    events.extend((0..3).map(|i| create(1, 100 + i, T0 + 400_000 + i)));
    events.push(delete(666, 0, T0 + 500_000));
    let server = FakeJetstream::serving(&events).await;
    let (_dir, store) = open_store();
    let mut ingester = Running::start(
        IngestConfig {
            max_likes_per_did_per_minute: Some(10),
            ..config(&server.url)
        },
        store.clone(),
    );

    let status = ingester.wait_cursor(T0 + 500_000).await;
    assert_eq!(status.bot, 20);
    assert_eq!(status.applied.created, 13);
    assert_eq!(status.applied.deleted, 1);
    let by_did = |d: &str, live: &[(String, String, u64)]| live.iter().filter(|l| l.0 == d).count();
    let live = likes(store.as_ref()).await;
    assert_eq!(by_did(&did(666), &live), 9);
    assert_eq!(by_did(&did(1), &live), 3);
    ingester.stop().await.unwrap();
}

#[tokio::test]
async fn a_failing_store_keeps_the_batch_and_retries() {
    let events = creates(10);
    let server = FakeJetstream::serving(&events).await;
    let (_dir, inner) = open_store();
    let store = Arc::new(FlakyStore {
        inner: inner.clone(),
        fail_applies: AtomicU32::new(2),
    });
    let mut ingester = Running::start(config(&server.url), store);

    let status = ingester.wait_cursor(events[9].time_us()).await;
    assert_eq!(status.store_errors, 2);
    assert_eq!(status.connections, 1, "a short outage keeps the connection");
    assert_eq!(status.applied.created, 10);
    assert_eq!(likes(inner.as_ref()).await, expected(&events));
    ingester.stop().await.unwrap();
}

#[tokio::test]
async fn a_persistently_failing_store_resumes_from_the_first_event_seen() {
    let events = creates(10);
    let script_events = events.clone();
    let server = FakeJetstream::start(move |_, cursor| from_cursor(&script_events, cursor)).await;
    let (_dir, inner) = open_store();
    let store = Arc::new(FlakyStore {
        inner: inner.clone(),
        fail_applies: AtomicU32::new(5),
    });
    let mut ingester = Running::start(config(&server.url), store);

    let status = ingester.wait_cursor(events[9].time_us()).await;
    assert_eq!(status.store_errors, 5);
    assert_eq!(status.connections, 2);
    // No cursor was ever stored, yet the dropped events are not lost.
    assert_eq!(server.cursor(0), None);
    assert_eq!(server.cursor(1), Some(events[0].time_us() - MARGIN_US));
    assert_eq!(likes(inner.as_ref()).await, expected(&events));
    ingester.stop().await.unwrap();
}

#[tokio::test]
async fn a_silent_connection_is_replaced() {
    let events = creates(3);
    let server = FakeJetstream::cut_after(&events, 1, &[]).await;
    let (_dir, store) = open_store();
    let mut ingester = Running::start(
        IngestConfig {
            idle_timeout: Duration::from_millis(300),
            ..config(&server.url)
        },
        store.clone(),
    );

    ingester.wait_cursor(events[2].time_us()).await;
    assert_eq!(server.cursor(1), Some(events[0].time_us() - MARGIN_US));
    assert_eq!(likes(store.as_ref()).await, expected(&events));
    ingester.stop().await.unwrap();
}

#[tokio::test]
async fn a_corrupt_stored_cursor_stops_ingest_before_connecting() {
    let server = FakeJetstream::start(|_, _| Vec::new()).await;
    let (_dir, store) = open_store();
    store.set_meta(CURSOR_KEY, b"yesterday").await.unwrap();
    let ingester = Ingester::new(config(&server.url)).unwrap();
    let status = ingester.status();
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        ingester.run(
            store.clone(),
            Arc::new(feedmixer_store::NoRouting),
            std::future::pending(),
        ),
    )
    .await
    .expect("a corrupt cursor ends the run")
    .unwrap_err();
    assert!(
        matches!(err, IngestError::BadCursor(ref v) if v == "yesterday"),
        "{err}"
    );
    assert!(server.requests().is_empty());
    assert_eq!(status.borrow().connections, 0);
    assert_eq!(
        store.get_meta(CURSOR_KEY).await.unwrap().as_deref(),
        Some(&b"yesterday"[..]),
        "the bad value is left for the operator"
    );
}

#[test]
fn bad_configs_are_refused() {
    let ok = config("ws://127.0.0.1:1");
    assert!(Ingester::new(ok.clone()).is_ok());
    let bad = [
        IngestConfig {
            url: "http://jetstream.example".into(),
            ..ok.clone()
        },
        IngestConfig {
            batch_max: 0,
            ..ok.clone()
        },
        IngestConfig {
            backoff_min: Duration::from_secs(60),
            ..ok.clone()
        },
        IngestConfig {
            idle_timeout: Duration::ZERO,
            ..ok.clone()
        },
        IngestConfig {
            max_likes_per_did_per_minute: Some(0),
            ..ok.clone()
        },
    ];
    for config in bad {
        assert!(Ingester::new(config.clone()).is_err(), "{config:?}");
    }
    assert!(IngestConfig::default().validate().is_ok());
}

#[test]
fn metric_names_are_unique_and_prefixed() {
    let names: HashSet<&str> = ALL.iter().copied().collect();
    assert_eq!(names.len(), ALL.len());
    for name in ALL {
        assert!(name.starts_with("feedmixer_ingest_"), "{name}");
    }
}
