//! End to end on Redis: two `serve` replicas sharing one Redis converge on
//! the likes one of them ingests and continue each other's pagings; a
//! replica rides out a Redis outage and reconnects on its own.
//!
//! Needs the Redis the test script starts (`scripts/redis-test-servers run
//! -- cargo test`); the outage test starts and kills its own redis-server.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::*;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

async fn stats(server: &Server) -> Value {
    let (status, stats) = server.admin_get("/v1/stats").await;
    assert_eq!(status, 200, "{stats}");
    stats
}

/// Waits until `check` holds for the server's stats, or fails after
/// `limit`; returns how long it took.
async fn wait_for(server: &Server, limit: Duration, check: impl Fn(&Value) -> bool) -> Duration {
    let started = Instant::now();
    loop {
        let s = stats(server).await;
        if check(&s) {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "not within {limit:?}: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn personalize(server: &Server, body: Value) -> Value {
    let (status, page) = server.admin_post("/v1/personalize", &body).await;
    assert_eq!(status, 200, "{page}");
    page
}

#[tokio::test]
async fn two_replicas_converge_and_continue_each_others_pages() {
    let Some(url) = test_redis_url() else { return };
    let prefix = unique_prefix("replicas");
    let data = tempfile::tempdir().unwrap();
    let fresh = "at://did:plc:replicaauthor22222222222/app.bsky.feed.post/3fresh";
    let events: Vec<String> = (0..50u64)
        .map(|n| {
            like(
                &format!("did:plc:replicafan{n:0>15}"),
                n,
                fresh,
                now_us() + n,
            )
        })
        .collect();
    let stream = jetstream(events, 50).await;
    let redis = [
        "--redis-url",
        url.as_str(),
        "--redis-prefix",
        prefix.as_str(),
    ];

    // A loads the demo into the empty Redis, then ingests.
    let a = Server::start(
        data.path(),
        &[&redis[..], &["--demo", "--demo-size", "small"]].concat(),
    )
    .await;
    let b = Server::start(data.path(), &redis).await;
    let a_stats = stats(&a).await;
    assert!(a_stats["likes"].as_u64().unwrap() > 10_000, "{a_stats}");

    // The stand-in starts streaming only when a replica connects: start A's
    // ingest by restarting it with the stream.
    drop(a);
    let a = Server::start(
        data.path(),
        &[&redis[..], &["--jetstream-url", &format!("ws://{stream}")]].concat(),
    )
    .await;
    let target = a_stats["likes"].as_u64().unwrap() + 50;
    let on_a = wait_for(&a, Duration::from_secs(20), |s| s["likes"] == json!(target)).await;
    let on_b = wait_for(&b, Duration::from_secs(20), |s| s["likes"] == json!(target)).await;
    eprintln!("50 likes ingested by A: in A's graph after {on_a:?}, in B's after {on_b:?}");

    // Page 1 from A, pages 2 and 3 from B with A's cursors: one list.
    let (_, whole) = a
        .admin_post(
            "/v1/personalize",
            &json!({"user_did": VIEWER, "feed": "for-you", "limit": 30}),
        )
        .await;
    let whole = posts(&whole);
    let mut seen = Vec::new();
    let mut cursor = Value::Null;
    for (n, server) in [&a, &b, &b].into_iter().enumerate() {
        let page = personalize(
            server,
            json!({"user_did": VIEWER, "feed": "for-you", "limit": 10, "cursor": cursor}),
        )
        .await;
        seen.extend(posts(&page));
        cursor = page["cursor"].clone();
        assert!(cursor.is_string(), "page {n} has a cursor");
    }
    assert_eq!(seen.len(), 30);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 30, "no repeats");
    assert_eq!(seen, whole, "B continued A's list");
    assert!(
        metric(
            &b.metrics().await,
            r#"feedmixer_session_lookups_total{result="hit"}"#
        ) >= 1.0,
        "page 3 found the list page 2 kept in Redis"
    );
}

async fn ready_text(server: &Server) -> (u16, String) {
    let r = server
        .client
        .get(server.url("/internal/ready"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_redis_outage_degrades_serving_and_heals_by_itself() {
    if test_redis_url().is_none() {
        return;
    }
    let redis = OwnRedis::start(free_port(), tempfile::tempdir().unwrap());
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let data = tempfile::tempdir().unwrap();
    let fresh = "at://did:plc:outageauthor222222222222/app.bsky.feed.post/3fresh";
    let events: Vec<String> = (0..40u64)
        .map(|n| {
            like(
                &format!("did:plc:outagefan{n:0>16}"),
                n,
                fresh,
                now_us() + n,
            )
        })
        .collect();
    // Held until the graph's size is read: likes that reached the store
    // before the graph was built would already be in `before`.
    let (stream, release) = jetstream_held(events, 40).await;
    let a = Server::start(
        data.path(),
        &[
            "--redis-url",
            &url,
            "--demo",
            "--demo-size",
            "small",
            "--jetstream-url",
            &format!("ws://{stream}"),
        ],
    )
    .await;
    let before = stats(&a).await;
    release.send_replace(true);
    let ingested = wait_for(&a, Duration::from_secs(20), |s| {
        s["ingest"]["created"].as_u64() == Some(40)
    })
    .await;
    eprintln!("40 likes ingested and acknowledged in {ingested:?}");
    let likes = wait_for(&a, Duration::from_secs(20), |s| {
        s["likes"].as_u64() == Some(before["likes"].as_u64().unwrap() + 40)
    })
    .await;
    eprintln!("... and in the graph after {likes:?}");
    let likes = stats(&a).await["likes"].clone();

    // Redis dies: feeds keep answering from the graph, readiness says so.
    let (port, dir) = redis.kill();
    let (status, page) = a.skeleton("for-you", 10, None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(posts(&page).len(), 10);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, text) = ready_text(&a).await;
        assert_eq!(status, 200, "a degraded replica stays in the load balancer");
        if text.contains("degraded") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readiness never reported the outage"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = a.metrics().await;
    assert_eq!(metric(&metrics, "feedmixer_store_up"), 0.0);
    // Every op's series is exported from the start, at 0: one has counted.
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("feedmixer_store_request_errors_total{") && !l.ends_with(" 0")),
        "requests that went on without the store are counted"
    );
    let (status, _) = a.skeleton("trending", 10, None).await;
    assert_eq!(status, 200);

    // Redis returns with what it acknowledged: the replica reconnects.
    let _redis = OwnRedis::start(port, dir);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, text) = ready_text(&a).await;
        if text == "ready\n" {
            break;
        }
        assert!(Instant::now() < deadline, "never recovered: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(metric(&a.metrics().await, "feedmixer_store_up"), 1.0);
    // A replica started now builds the same graph from Redis: nothing the
    // store acknowledged was lost.
    let b = Server::start(tempfile::tempdir().unwrap().path(), &["--redis-url", &url]).await;
    assert_eq!(stats(&b).await["likes"], likes);
    let (status, _) = a.skeleton("for-you", 10, None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn one_replica_ingests_and_a_standby_takes_over() {
    let Some(url) = test_redis_url() else { return };
    let prefix = unique_prefix("lease");
    let data = tempfile::tempdir().unwrap();
    let (_config_dir, config) = config_with("[ingest]\nlease_ttl_secs = 2\n");
    let fresh = "at://did:plc:leaseauthor2222222222222/app.bsky.feed.post/3fresh";
    // A steady stream: 10 likes every 50 ms for a while.
    let events: Vec<String> = (0..4_000u64)
        .map(|n| like(&format!("did:plc:leasefan{n:0>17}"), n, fresh, now_us() + n))
        .collect();
    let stream = jetstream(events, 10).await;
    let args = [
        "--redis-url",
        url.as_str(),
        "--redis-prefix",
        prefix.as_str(),
        "--config",
        config.to_str().unwrap(),
        "--jetstream-url",
    ];
    let stream_url = format!("ws://{stream}");
    let a = Server::start(data.path(), &[&args[..], &[stream_url.as_str()]].concat()).await;
    // A takes the lease first; B, started after, stands by.
    wait_for(&a, Duration::from_secs(10), |s| {
        s["ingest"]["role"] == "leader"
    })
    .await;
    let b = Server::start(data.path(), &[&args[..], &[stream_url.as_str()]].concat()).await;
    wait_for(&b, Duration::from_secs(10), |s| {
        s["ingest"]["role"] == "standby"
    })
    .await;
    wait_for(&a, Duration::from_secs(10), |s| {
        s["ingest"]["created"].as_u64() > Some(0)
    })
    .await;
    assert_eq!(
        stats(&b).await["ingest"]["created"],
        json!(0),
        "B does not ingest"
    );

    // A dies without giving the lease up: B takes over once it lapses and
    // resumes from the cursor A stored.
    a.stop();
    let took = wait_for(&b, Duration::from_secs(20), |s| {
        s["ingest"]["role"] == "leader" && s["ingest"]["created"].as_u64() > Some(0)
    })
    .await;
    eprintln!("standby ingesting {took:?} after the leader died (lease 2 s)");
}

#[tokio::test]
async fn serves_from_a_redis_cluster() {
    if test_redis_url().is_none() {
        return;
    }
    let nodes = std::env::var("FEEDMIXER_TEST_REDIS_CLUSTER")
        .expect("FEEDMIXER_TEST_REDIS_CLUSTER is set by scripts/redis-test-servers");
    let prefix = unique_prefix("cluster");
    let data = tempfile::tempdir().unwrap();
    let args = [
        "--redis-cluster-nodes",
        nodes.as_str(),
        "--redis-prefix",
        prefix.as_str(),
    ];
    let a = Server::start(
        data.path(),
        &[&args[..], &["--demo", "--demo-size", "small"]].concat(),
    )
    .await;
    let b = Server::start(data.path(), &args).await;
    assert_eq!(stats(&a).await["likes"], stats(&b).await["likes"]);
    let first = personalize(
        &a,
        json!({"user_did": VIEWER, "feed": "for-you", "limit": 10}),
    )
    .await;
    let second = personalize(
        &b,
        json!({"user_did": VIEWER, "feed": "for-you", "limit": 10, "cursor": first["cursor"]}),
    )
    .await;
    let (one, two) = (posts(&first), posts(&second));
    assert_eq!((one.len(), two.len()), (10, 10));
    assert!(
        one.iter().all(|p| !two.contains(p)),
        "no repeats across replicas"
    );
    // A pinned post set through A is served by B without a restart.
    let pinned = "at://did:plc:feedmixerdemopublisher222/app.bsky.feed.post/3lclusterpin";
    let r = a
        .client
        .put(a.url("/v1/feeds/for-you/special-posts"))
        .bearer_auth(TOKEN)
        .json(&json!({"pinned": [pinned]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, page) = b.skeleton("for-you", 5, None).await;
        if posts(&page).first().map(String::as_str) == Some(pinned) {
            break;
        }
        assert!(Instant::now() < deadline, "B never pinned A's post: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
