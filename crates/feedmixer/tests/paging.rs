//! End to end: paging a personalized feed while Jetstream delivers likes.
//!
//! Lists expire after a second here, so every page after a pause is
//! recomputed on a newer graph (rebuilt every 100 ms while likes arrive)
//! and continues from what the paging already served.

mod support;

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use feedmixer_identity::testkit::{Directory, TestKey, now};
use serde_json::json;
use support::*;

const PAGES: usize = 10;
const LIMIT: usize = 10;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn fresh_did(kind: &str, n: usize) -> String {
    format!("did:plc:{kind}{n:0>width$}", width = 24 - kind.len())
}

fn fresh_post(author: usize, n: usize) -> String {
    format!(
        "at://{}/app.bsky.feed.post/3fresh{n:07}",
        fresh_did("freshauthor", author)
    )
}

/// A server on the small demo, ingesting from a stand-in streaming
/// `events`, with 1 s lists and a graph rebuilt every 100 ms.
async fn setup(events: Vec<String>) -> (Vec<tempfile::TempDir>, Server, Directory, String) {
    let directory = Directory::start().await;
    let key = TestKey::k256();
    directory.put_key(VIEWER, &key.public());
    let stream = jetstream(events, 20).await;
    let (config_dir, config) =
        config_with("[sessions]\nttl_secs = 1\n\n[graph]\nrefresh_interval_ms = 100\n");
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            "--demo",
            "--demo-size",
            "small",
            "--config",
            config.to_str().unwrap(),
            "--plc-url",
            &directory.plc_url(),
            "--jetstream-url",
            &format!("ws://{stream}"),
        ],
    )
    .await;
    let now = now();
    // Tokens live a minute: enough for the whole paging.
    let token = key.mint(&json!({
        "iss": VIEWER,
        "aud": "did:web:localhost",
        "iat": now,
        "exp": now + 120,
        "lxm": "app.bsky.feed.getFeedSkeleton",
    }));
    (vec![config_dir, data], server, directory, token)
}

/// Pages through for-you, pausing past the list's lifetime between pages.
async fn page_through(server: &Server, token: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    for page_no in 0..PAGES {
        if page_no > 0 {
            tokio::time::sleep(Duration::from_millis(1_200)).await;
        }
        let (status, page) = server
            .skeleton_as(token, "for-you", LIMIT, cursor.as_deref())
            .await;
        assert_eq!(status, 200, "page {page_no}: {page}");
        pages.push(posts(&page));
        cursor = Some(
            page["cursor"]
                .as_str()
                .unwrap_or_else(|| panic!("page {page_no} has a cursor: {page}"))
                .to_string(),
        );
    }
    pages
}

fn assert_no_repeats(pages: &[Vec<String>]) {
    let mut seen = HashSet::new();
    for (n, page) in pages.iter().enumerate() {
        assert_eq!(page.len(), LIMIT, "page {n} is full");
        for post in page {
            assert!(seen.insert(post), "page {n} repeats {post}");
        }
    }
}

async fn ingested(server: &Server) -> f64 {
    metric(
        &server.metrics().await,
        r#"feedmixer_ingest_events_total{result="created"}"#,
    )
}

#[tokio::test]
async fn pages_neither_repeat_nor_skip_while_likes_arrive() {
    // Likes three days old by new accounts on new posts: the graph changes
    // under every page, the viewer's list does not (outside trending's
    // window, nowhere near the viewer), so the pages must be exactly the
    // list computed once.
    let old = now_us() - 3 * 86_400_000_000;
    let events: Vec<String> = (0..6_000)
        .map(|n| {
            like(
                &fresh_did("bystander", n % 300),
                n as u64,
                &fresh_post(n % 50, n % 700),
                old + n as u64,
            )
        })
        .collect();
    let (_dirs, server, _directory, token) = setup(events).await;

    let (status, whole) = server
        .skeleton_as(&token, "for-you", PAGES * LIMIT, None)
        .await;
    assert_eq!(status, 200);
    let whole = posts(&whole);
    let before = ingested(&server).await;
    let pages = page_through(&server, &token).await;
    assert_no_repeats(&pages);
    assert_eq!(pages.concat(), whole, "the pages are the list, in order");

    let metrics = server.metrics().await;
    assert!(
        ingested(&server).await > before,
        "likes arrived while paging"
    );
    assert!(
        metric(
            &metrics,
            r#"feedmixer_graph_rebuilds_total{kind="update",result="ok"}"#
        ) >= 1.0
    );
    assert!(
        metric(
            &metrics,
            r#"feedmixer_session_lookups_total{result="continued"}"#
        ) >= (PAGES - 1) as f64,
        "every page after a pause continued from a recomputed list"
    );
}

#[tokio::test]
async fn new_likes_reach_later_pages_without_repeats() {
    // The viewer likes five new posts, and so do twenty new accounts, who
    // also like thirty other new posts: a fresh neighbourhood the walk
    // finds once the graph has it.
    let now = now_us();
    let mut events = Vec::new();
    for p in 0..5 {
        events.push(like(VIEWER, p, &fresh_post(0, p as usize), now + p));
    }
    for u in 0..20 {
        let did = fresh_did("neighbour", u);
        for p in 0..5 {
            events.push(like(
                &did,
                100 + p,
                &fresh_post(0, p as usize),
                now + 10 + u as u64,
            ));
        }
        for q in 0..30 {
            events.push(like(
                &did,
                200 + q,
                &fresh_post(1 + q as usize % 10, 100 + q as usize),
                now + 20 + u as u64,
            ));
        }
    }
    let (_dirs, server, _directory, token) = setup(events).await;
    let pages = page_through(&server, &token).await;
    assert_no_repeats(&pages);
    let fresh: Vec<&String> = pages
        .iter()
        .flatten()
        .filter(|post| post.contains("freshauthor"))
        .collect();
    assert!(
        !fresh.is_empty(),
        "posts liked by the viewer's new neighbours reach the pages"
    );
    assert!(ingested(&server).await >= 5.0 + 20.0 * 35.0);
    let (_, stats) = server.admin_get("/v1/stats").await;
    assert_eq!(stats["ingest"]["connected"], true, "{stats}");
    assert!(
        stats["ingest"]["created"].as_u64().unwrap() >= 705,
        "{stats}"
    );
}

#[tokio::test]
async fn a_corrupt_ingest_cursor_stops_serve_with_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    {
        use feedmixer_store::Store;
        let store = feedmixer_store::EmbeddedStore::open(data.path()).unwrap();
        store.set_meta("ingest_cursor", b"yesterday").await.unwrap();
    }
    let stream = jetstream(Vec::new(), 1).await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_feedmixer"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .args(["--jetstream-url", &format!("ws://{stream}")])
        .current_dir(root())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve kept running with a corrupt ingest cursor");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!status.success());
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("ingest") && log.contains("yesterday"), "{log}");
}

/// The first page of trending, and its cursor.
async fn first_page(server: &Server) -> (Vec<String>, String) {
    let (status, page) = server.skeleton("trending", 10, None).await;
    assert_eq!(status, 200, "{page}");
    (posts(&page), page["cursor"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn cursors_survive_a_restart_and_a_key_change_restarts_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    // Loads the demo into the empty store on the first start only.
    let demo = ["--demo", "--demo-size", "small"];

    // No key set: the store keeps one, so a restart continues the cursor
    // (at its offset: the list itself was in the old process's memory).
    let server = Server::start(data, &demo).await;
    let (_, cursor) = first_page(&server).await;
    server.stop();
    let server = Server::start(data, &demo).await;
    let (status, page2) = server.skeleton("trending", 10, Some(&cursor)).await;
    assert_eq!(status, 200, "{page2}");
    assert_eq!(posts(&page2).len(), 10);
    assert_eq!(
        metric(&server.metrics().await, "feedmixer_cursor_restarts_total"),
        0.0
    );
    // A forged one is still refused.
    let mut forged = cursor.clone().into_bytes();
    forged[20] = if forged[20] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let (status, _) = server.skeleton("trending", 10, Some(&forged)).await;
    assert_eq!(status, 400);
    server.stop();

    // An operator's key: the stored key's cursors still read.
    let k1 = [("FEEDMIXER_CURSOR_KEY", "first-operator-secret")];
    let server = Server::start_with_env(data, &demo, Some(TOKEN), &k1).await;
    let (status, _) = server.skeleton("trending", 10, Some(&cursor)).await;
    assert_eq!(status, 200);
    let (_, k1_cursor) = first_page(&server).await;
    server.stop();

    // Rotated with the previous key kept: continues.
    let rotating = [
        ("FEEDMIXER_CURSOR_KEY", "second-operator-secret"),
        ("FEEDMIXER_CURSOR_KEY_PREVIOUS", "first-operator-secret"),
    ];
    let server = Server::start_with_env(data, &demo, Some(TOKEN), &rotating).await;
    let (status, page) = server.skeleton("trending", 10, Some(&k1_cursor)).await;
    assert_eq!(status, 200, "{page}");
    assert_ne!(
        posts(&page),
        first_page(&server).await.0,
        "continued, not restarted"
    );
    assert_eq!(
        metric(&server.metrics().await, "feedmixer_cursor_restarts_total"),
        0.0
    );
    server.stop();

    // The previous key dropped: its cursors start the feed over, counted.
    let rotated = [("FEEDMIXER_CURSOR_KEY", "second-operator-secret")];
    let server = Server::start_with_env(data, &demo, Some(TOKEN), &rotated).await;
    let (status, page) = server.skeleton("trending", 10, Some(&k1_cursor)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        posts(&page),
        first_page(&server).await.0,
        "the first page again"
    );
    assert_eq!(
        metric(&server.metrics().await, "feedmixer_cursor_restarts_total"),
        1.0
    );
    server.stop();
}

#[tokio::test]
async fn the_apps_limit_1_poll_keeps_nothing_and_its_cursor_still_pages() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--demo", "--demo-size", "small"]).await;
    let sessions = |stats: &serde_json::Value| {
        let s = &stats["sessions"];
        (s["lists"].as_u64(), s["served"]["count"].as_u64())
    };
    let mut cursor = None;
    for _ in 0..20 {
        let (status, page) = server.skeleton("trending", 1, None).await;
        assert_eq!((status, posts(&page).len()), (200, 1), "{page}");
        cursor = page["cursor"].as_str().map(str::to_string);
    }
    let (_, stats) = server.admin_get("/v1/stats").await;
    assert_eq!(sessions(&stats), (Some(0), Some(0)), "{stats}");

    // A real first page remembers what it served.
    let (_, top) = server.skeleton("trending", 30, None).await;
    let (_, stats) = server.admin_get("/v1/stats").await;
    assert_eq!(sessions(&stats), (Some(0), Some(1)), "{stats}");

    // A poll's cursor, should it come back, continues after its post.
    let (status, next) = server.skeleton("trending", 1, cursor.as_deref()).await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(posts(&next), posts(&top)[1..2]);
}
