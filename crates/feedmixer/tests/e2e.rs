//! End to end: the real binary over HTTP, on the small demo dataset.

mod support;

use std::collections::HashSet;
use std::path::Path;

use serde_json::{Value, json};
use support::{Server, TOKEN, VIEWER, feed_uri, feedmixer, feedmixer_ok, posts};

/// Writes the small demo capture and replays it into `data_dir`; returns
/// the capture's lines.
fn replay_small_demo(dir: &Path) -> Vec<Value> {
    let capture = dir.join("demo.jsonl");
    feedmixer_ok(&["demo-capture", "--size", "small", capture.to_str().unwrap()]);
    let data = dir.join("data");
    feedmixer_ok(&[
        "replay",
        capture.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    std::fs::read_to_string(&capture)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Posts `did` liked according to a capture.
fn liked_by(events: &[Value], did: &str) -> HashSet<String> {
    events
        .iter()
        .filter(|e| e["did"] == did)
        .filter_map(|e| {
            e["commit"]["record"]["subject"]["uri"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

async fn personalize(server: &Server, body: Value) -> (u16, Value) {
    server.admin_post("/v1/personalize", &body).await
}

#[tokio::test]
async fn every_shipped_feed_answers_and_personalization_is_visible() {
    let dir = tempfile::tempdir().unwrap();
    let events = replay_small_demo(dir.path());
    let server = Server::start(&dir.path().join("data"), &[]).await;

    let (status, described) = server
        .get("/xrpc/app.bsky.feed.describeFeedGenerator")
        .await;
    assert_eq!(status, 200);
    assert_eq!(described["did"], "did:web:localhost");
    let feeds: Vec<&str> = described["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["uri"].as_str().unwrap())
        .collect();
    for rkey in [
        "for-you",
        "trending",
        "trending-day",
        "discover",
        "norsk",
        "rust",
        "for-you-norsk",
    ] {
        // (curated has its own test: its pool comes from --demo, not a replay)
        assert!(feeds.contains(&feed_uri(rkey).as_str()), "{rkey} described");
        let (status, page) = server.skeleton(rkey, 30, None).await;
        assert_eq!(status, 200, "{rkey}: {page}");
        assert_eq!(posts(&page).len(), 30, "{rkey} fills a page");
    }

    let (status, page) = personalize(
        &server,
        json!({"user_did": VIEWER, "feed": "for-you", "limit": 50}),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let personal = posts(&page);
    assert_eq!(personal.len(), 50);
    let liked = liked_by(&events, VIEWER);
    assert!(liked.len() >= 100, "the demo viewer has a like history");
    assert!(
        personal.iter().all(|p| !liked.contains(p)),
        "never a post the viewer liked"
    );

    let (_, trending) = server.skeleton("trending", 50, None).await;
    let trending: HashSet<String> = posts(&trending).into_iter().collect();
    let overlap = personal.iter().filter(|p| trending.contains(*p)).count();
    assert!(
        overlap < 25,
        "personalized differs from trending ({overlap} of 50 shared)"
    );

    // An anonymous for-you page is the non-personalized path.
    let (_, anonymous) = server.skeleton("for-you", 50, None).await;
    assert_ne!(posts(&anonymous), personal);

    let (status, stats) = server.admin_get("/v1/stats").await;
    assert_eq!(status, 200);
    let count = |collection: &str| {
        events
            .iter()
            .filter(|e| e["commit"]["collection"] == collection)
            .count()
    };
    assert_eq!(
        stats["likes"].as_u64().unwrap() as usize,
        count("app.bsky.feed.like")
    );
    assert_eq!(
        stats["indexed_posts"].as_u64().unwrap() as usize,
        count("app.bsky.feed.post")
    );
    assert!(stats["users"].as_u64().unwrap() > 1_000);
    assert!(stats["posts"].as_u64().unwrap() > 500);

    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "feedmixer_stage_duration_seconds_bucket{flow=\"for-you\",stage=\"source\",component=\"walk\"",
        "feedmixer_stage_candidates_out_total{flow=\"for-you\",stage=\"predicate\",component=\"not-liked\"}",
        "feedmixer_predicate_dropped_total{flow=\"for-you\",stage=\"predicate\",component=\"not-liked\"}",
        "feedmixer_http_requests_total{route=\"/xrpc/app.bsky.feed.getFeedSkeleton\",status=\"200\"}",
        "feedmixer_graph_likes",
    ] {
        assert!(metrics.contains(name), "metrics lack {name}");
    }
}

#[tokio::test]
async fn client_mistakes_get_xrpc_errors() {
    let dir = tempfile::tempdir().unwrap();
    replay_small_demo(dir.path());
    let server = Server::start(&dir.path().join("data"), &[]).await;
    let skeleton = "/xrpc/app.bsky.feed.getFeedSkeleton";
    let cases = [
        (
            format!("{skeleton}?feed={}", feed_uri("nope")),
            400,
            "UnknownFeed",
        ),
        (
            format!("{skeleton}?feed=at://did:plc:someoneelse/app.bsky.feed.generator/for-you"),
            400,
            "UnknownFeed",
        ),
        (format!("{skeleton}?feed=not-a-uri"), 400, "InvalidRequest"),
        (skeleton.to_string(), 400, "InvalidRequest"),
        (
            format!("{skeleton}?feed={}&limit=0", feed_uri("for-you")),
            400,
            "InvalidRequest",
        ),
        (
            format!("{skeleton}?feed={}&limit=101", feed_uri("for-you")),
            400,
            "InvalidRequest",
        ),
        (
            format!("{skeleton}?feed={}&limit=ten", feed_uri("for-you")),
            400,
            "InvalidRequest",
        ),
        (
            format!("{skeleton}?feed={}&cursor=garbage", feed_uri("for-you")),
            400,
            "InvalidRequest",
        ),
        (
            "/xrpc/app.bsky.feed.nothing".to_string(),
            404,
            "MethodNotImplemented",
        ),
    ];
    for (path, status, error) in cases {
        let (got, body) = server.get(&path).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{path}: {body}"
        );
        assert!(body["message"].is_string());
    }

    // Admin routes: no token, wrong token -> 401.
    let (status, _) = server.get("/v1/stats").await;
    assert_eq!(status, 401);
    let r = server
        .client
        .get(server.url("/v1/stats"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Bad personalize bodies -> 400, never 500.
    for body in [
        json!({"feed": "for-you"}),
        json!({"user_did": "nobody", "feed": "for-you"}),
        json!({"user_did": VIEWER, "feed": "for-you", "limit": 0}),
        json!({"user_did": VIEWER, "feed": "for-you", "params": {"walk": {"max_likes": "many"}}}),
        json!({"user_did": VIEWER, "feed": "for-you", "params": {"nope": {"x": 1}}}),
        json!({"user_did": VIEWER, "feed": "for-you", "params": {"walk": 3}}),
        json!({"user_did": VIEWER, "feed": "for-you", "surprise": true}),
    ] {
        let (status, reply) = personalize(&server, body.clone()).await;
        assert_eq!(
            (status, reply["error"].as_str()),
            (400, Some("InvalidRequest")),
            "{body}: {reply}"
        );
    }
    let (status, reply) = personalize(&server, json!({"user_did": VIEWER, "feed": "nope"})).await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (400, Some("UnknownFeed"))
    );
    let r = server
        .client
        .post(server.url("/v1/personalize"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Overrides that parse change the result.
    let (status, deep) = personalize(&server, json!({"user_did": VIEWER, "feed": "for-you", "params": {"trending": {"weight": 0.0}, "walk": {"max_likes": 5}}})).await;
    assert_eq!(status, 200, "{deep}");
}

#[tokio::test]
async fn admin_routes_are_closed_without_a_configured_token() {
    let dir = tempfile::tempdir().unwrap();
    replay_small_demo(dir.path());
    let server = Server::start_with_token(&dir.path().join("data"), &[], None).await;
    let r = server
        .client
        .get(server.url("/v1/stats"))
        .bearer_auth("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (status, _) = server.admin_get("/v1/stats").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn an_admin_listener_keeps_admin_routes_and_metrics_off_the_public_port() {
    let dir = tempfile::tempdir().unwrap();
    replay_small_demo(dir.path());
    let server = Server::start(&dir.path().join("data"), &["--admin-listen", "127.0.0.1:0"]).await;
    let admin = server.admin_base.clone().expect("an admin listener");
    assert_ne!(admin, server.base);
    let get = |url: String, token: Option<&'static str>| {
        let mut request = server.client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    // Public: the feed generator, did.json, readiness; nothing else, even
    // with the right token.
    let skeleton = format!(
        "/xrpc/app.bsky.feed.getFeedSkeleton?feed={}&limit=3",
        feed_uri("trending")
    );
    assert_eq!(get(server.url(&skeleton), None).await, 200);
    assert_eq!(get(server.url("/.well-known/did.json"), None).await, 200);
    assert_eq!(get(server.url("/internal/ready"), None).await, 200);
    for path in ["/v1/stats", "/v1/feeds/curated/pool", "/metrics"] {
        assert_eq!(get(server.url(path), Some(TOKEN)).await, 404, "{path}");
    }
    // Admin: the admin routes (token still required), metrics, readiness;
    // not the public API.
    assert_eq!(get(format!("{admin}/v1/stats"), Some(TOKEN)).await, 200);
    assert_eq!(get(format!("{admin}/v1/stats"), None).await, 401);
    assert_eq!(get(format!("{admin}/metrics"), None).await, 200);
    assert_eq!(get(format!("{admin}/internal/ready"), None).await, 200);
    assert_eq!(get(format!("{admin}{skeleton}"), None).await, 404);
    let (status, _) = server
        .admin_post(
            "/v1/personalize",
            &json!({"user_did": VIEWER, "feed": "for-you", "limit": 3}),
        )
        .await;
    assert_eq!(status, 200);
    // What the public port served is in the admin port's metrics.
    assert!(server.metrics().await.contains(
        r#"feedmixer_http_requests_total{route="/xrpc/app.bsky.feed.getFeedSkeleton",status="200"}"#
    ));
}

#[test]
fn a_short_admin_token_is_refused_at_start_and_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedmixer"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .current_dir(support::root())
        .env("FEEDMIXER_ADMIN_TOKEN", "hunter2-short")
        .env_remove("REDIS_URL")
        .env_remove("REDIS_CLUSTER_NODES")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FEEDMIXER_ADMIN_TOKEN"), "{stderr}");
    assert!(stderr.contains("at least 16"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the token is never printed: {stderr}"
    );
}

#[tokio::test]
async fn paging_never_repeats_a_post() {
    let dir = tempfile::tempdir().unwrap();
    replay_small_demo(dir.path());
    let server = Server::start(&dir.path().join("data"), &[]).await;

    // Anonymous trending pages.
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let (status, page) = server.skeleton("trending", 7, cursor.as_deref()).await;
        assert_eq!(status, 200, "{page}");
        for p in posts(&page) {
            assert!(seen.insert(p.clone()), "page {pages} repeats {p}");
        }
        pages += 1;
        match page["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 200, "paging ends");
    }
    assert!(pages > 3, "several pages ({pages})");

    // Personalized pages through the internal route.
    let mut seen = HashSet::new();
    let mut cursor = Value::Null;
    for page_no in 0..10 {
        let (status, page) = personalize(
            &server,
            json!({"user_did": VIEWER, "feed": "for-you", "limit": 25, "cursor": cursor}),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        let got = posts(&page);
        assert_eq!(got.len(), 25, "page {page_no} is full");
        for p in got {
            assert!(seen.insert(p.clone()), "page {page_no} repeats {p}");
        }
        cursor = page["cursor"].clone();
    }

    // A cursor altered by the client is refused.
    let (_, page) = server.skeleton("trending", 5, None).await;
    let good = page["cursor"].as_str().unwrap().to_string();
    assert!(good.len() < 100);
    let mut forged = good.clone().into_bytes();
    forged[10] = if forged[10] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let (status, body) = server.skeleton("trending", 5, Some(&forged)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("InvalidRequest"))
    );

    // A cursor is bound to its feed and viewer.
    let (_, page) = server.skeleton("trending", 5, None).await;
    let c = page["cursor"].as_str().unwrap();
    let (status, body) = server.skeleton("for-you", 5, Some(c)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("InvalidRequest"))
    );
}

#[tokio::test]
async fn a_restart_serves_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--demo", "--demo-size", "small"]).await;
    let (_, before) = server.admin_get("/v1/stats").await;
    let (_, page) = personalize(
        &server,
        json!({"user_did": VIEWER, "feed": "for-you", "limit": 20}),
    )
    .await;
    let first = posts(&page);
    assert_eq!(first.len(), 20);
    server.stop();

    // --demo again: the store is not empty, so nothing is added.
    let server = Server::start(&data, &["--demo", "--demo-size", "small"]).await;
    let (_, after) = server.admin_get("/v1/stats").await;
    for key in ["users", "posts", "likes", "likers"] {
        assert_eq!(before[key], after[key], "{key} after restart");
    }
    let (_, page) = personalize(
        &server,
        json!({"user_did": VIEWER, "feed": "for-you", "limit": 20}),
    )
    .await;
    let again: HashSet<String> = posts(&page).into_iter().collect();
    let same = first.iter().filter(|p| again.contains(*p)).count();
    assert!(same >= 18, "the same data ranks the same ({same} of 20)");
}

#[test]
fn check_accepts_the_shipped_files_and_reports_problems_by_line() {
    let out = feedmixer(&["check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[sources]]\nkind = \"walk\"\nmax_likes = 0\n\n[[sources]]\nkind = \"sparkle\"\n\n[ranker]\nkind = \"weighted_sum\"\n",
    )
    .unwrap();
    let out = feedmixer(&["check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let file = bad.display().to_string();
    assert!(
        stdout.contains(&format!(
            "{file}:3: source \"walk\": max_likes: 0 is out of bounds"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{file}:6: unknown source kind \"sparkle\"")),
        "{stdout}"
    );
}

#[test]
fn replay_skips_malformed_lines_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("mixed.jsonl");
    let like = |did: &str, rkey: &str, post: &str| {
        json!({"did": did, "time_us": 1_900_000_000_000_000u64, "kind": "commit", "commit": {
            "rev": "3l", "operation": "create", "collection": "app.bsky.feed.like", "rkey": rkey,
            "record": {"$type": "app.bsky.feed.like", "createdAt": "2030-03-17T17:46:40Z",
                       "subject": {"uri": format!("at://did:plc:author/app.bsky.feed.post/{post}"), "cid": "bafy"}}}})
        .to_string()
    };
    let lines = [
        like("did:plc:alice", "l1", "p1"),
        like("did:plc:alice", "l1", "p1"),
        "{not json".to_string(),
        like("did:plc:bob", "l2", "p1"),
        r#"{"did": "did:plc:bob", "kind": "commit"}"#.to_string(),
        String::new(),
    ];
    std::fs::write(&capture, lines.join("\n")).unwrap();
    let data = dir.path().join("data");
    for _ in 0..2 {
        let out = feedmixer_ok(&[
            "replay",
            capture.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("2 malformed"), "{stdout}");
        assert!(
            stdout.contains(":3:") && stdout.contains(":5:"),
            "line numbers: {stdout}"
        );
    }
}

#[tokio::test]
async fn explain_traces_the_run_and_presets_apply_per_request() {
    let dir = tempfile::tempdir().unwrap();
    replay_small_demo(dir.path());
    let server = Server::start(&dir.path().join("data"), &[]).await;

    let (status, page) = personalize(
        &server,
        json!({"user_did": VIEWER, "feed": "for-you", "limit": 10, "explain": true}),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let explain = &page["explain"];
    assert_eq!(explain["flow"], "for-you");
    assert_eq!(explain["preset"], "default");
    assert_eq!(explain["eligible"], true);
    assert!(explain["quality_factor"].as_f64().unwrap() > 0.0);
    let stages = explain["stages"].as_array().unwrap();
    let stage = |component: &str| {
        stages
            .iter()
            .find(|s| s["component"] == component)
            .unwrap_or_else(|| panic!("{component} in {stages:?}"))
    };
    assert!(stage("walk")["candidates_out"].as_u64().unwrap() > 0);
    assert_eq!(
        stage("trending-cold-start")["skipped"],
        true,
        "the viewer is past cold start"
    );
    assert_eq!(stage("not-liked")["stage"], "predicate");
    let scores = explain["scores"].as_array().unwrap();
    assert_eq!(scores.len(), 10, "scores of every post on the page");
    assert!(
        scores[0]["sources"]
            .as_object()
            .unwrap()
            .contains_key("walk")
    );
    let posts_on_page = posts(&page);
    assert!(
        scores
            .iter()
            .all(|s| posts_on_page.contains(&s["post"].as_str().unwrap().to_string()))
    );

    // Without explain, no trace.
    let (_, plain) = personalize(
        &server,
        json!({"user_did": VIEWER, "feed": "for-you", "limit": 10}),
    )
    .await;
    assert!(plain.get("explain").is_none());

    // A preset for one request; an unknown one is a client error.
    let (status, fast) = personalize(
        &server,
        json!({"user_did": VIEWER, "feed": "for-you", "limit": 10, "preset": "fast", "explain": true}),
    )
    .await;
    assert_eq!(status, 200, "{fast}");
    assert_eq!(fast["explain"]["preset"], "fast");
    let (status, body) = personalize(
        &server,
        json!({"user_did": VIEWER, "feed": "for-you", "preset": "nope"}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("InvalidRequest"))
    );

    // A cold-start viewer (no likes) is served by the gated trending source.
    let (_, cold) = personalize(
        &server,
        json!({"user_did": "did:plc:nobodyhere", "feed": "for-you", "limit": 5, "explain": true}),
    )
    .await;
    let stages = cold["explain"]["stages"].as_array().unwrap();
    let walk = stages.iter().find(|s| s["component"] == "walk").unwrap();
    assert_eq!(walk["skipped"], true);
    assert_eq!(posts(&cold).len(), 5);
}

#[tokio::test]
async fn a_flow_runs_the_hydrators_its_components_read_and_accounts_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--demo", "--demo-size", "small"],
    )
    .await;
    let pinned = "at://did:plc:feedmixerdemopublisher222/app.bsky.feed.post/3pin000000000";
    let (status, _) = server
        .admin_put(
            "/v1/feeds/for-you/special-posts",
            &json!({ "pinned": [pinned] }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, page) = personalize(
        &server,
        json!({"user_did": VIEWER, "feed": "for-you", "limit": 5, "explain": true}),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let stages = page["explain"]["stages"].as_array().unwrap();
    let hydrators: Vec<&str> = stages
        .iter()
        .filter(|s| s["stage"] == "hydrator")
        .map(|s| s["component"].as_str().unwrap())
        .collect();
    // for-you reads the pinned posts and the viewer's feedback, not a pool.
    assert_eq!(hydrators, vec!["feed_special_posts", "viewer_feedback"]);
    let special = stages
        .iter()
        .find(|s| s["component"] == "feed_special_posts")
        .unwrap();
    assert_eq!(special["features"], json!(["feed_special_posts"]));
    let placing = stages.iter().find(|s| s["component"] == "special").unwrap();
    assert_eq!(placing["placed"], 1, "placements are reported: {placing}");
    assert_eq!(posts(&page)[0], pinned);

    // trending reads no feature: no hydrator runs for it.
    let (_, trending) = personalize(
        &server,
        json!({"user_did": VIEWER, "feed": "trending", "limit": 5, "explain": true}),
    )
    .await;
    let stages = trending["explain"]["stages"].as_array().unwrap();
    assert!(
        stages.iter().all(|s| s["stage"] != "hydrator"),
        "{stages:?}"
    );

    let metrics = server.metrics().await;
    assert!(
        metrics.contains(
            "feedmixer_stage_duration_seconds_count{flow=\"for-you\",stage=\"hydrator\",component=\"viewer_feedback\"}"
        ),
        "hydrators are timed like components"
    );
}

#[test]
fn flows_prints_the_resolved_flow_of_a_feed() {
    let out = feedmixer_ok(&["flows", "for-you", "--preset", "fast"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("preset \"fast\""), "{text}");
    assert!(
        text.contains("max_likers_per_post = 25"),
        "the preset's value: {text}"
    );
    assert!(text.contains("gate = \"viewer_likes > 0\""), "{text}");
    let out = feedmixer(&["flows", "nope"]);
    assert!(!out.status.success());
}

#[test]
fn kinds_lists_kinds_and_hydrators_and_shows_a_kinds_params() {
    let out = feedmixer_ok(&["kinds"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "source     walk",
        "predicate  in_pool",
        "hydrator   viewer_feedback",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    let out = feedmixer_ok(&["kinds", "walk"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("  max_likes = 500 in 1..=10000  # Viewer likes sampled"),
        "{text}"
    );
    let out = feedmixer_ok(&["kinds", "not_seen"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("reads feature viewer_feedback (hydrator viewer_feedback)"),
        "{text}"
    );
    let out = feedmixer(&["kinds", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown kind \"nope\""));
}

#[tokio::test]
async fn a_curated_feed_shows_only_its_pool_and_operators_change_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--demo", "--demo-size", "small"],
    )
    .await;

    let (status, pool) = server.admin_get("/v1/feeds/curated/pool").await;
    assert_eq!(status, 200, "{pool}");
    let members: HashSet<String> = pool["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert!(
        members.len() > 50,
        "the demo fills the curated pool ({})",
        members.len()
    );
    assert_eq!(pool["size"].as_u64().unwrap() as usize, members.len());

    let (status, page) = server.skeleton("curated", 50, None).await;
    assert_eq!(status, 200, "{page}");
    let shown = posts(&page);
    assert!(!shown.is_empty());
    assert!(shown.iter().all(|p| members.contains(p)), "only pool posts");
    let (_, page) = personalize(
        &server,
        json!({"user_did": VIEWER, "feed": "curated", "limit": 50}),
    )
    .await;
    assert!(
        posts(&page).iter().all(|p| members.contains(p)),
        "personalized, still only pool posts"
    );

    // Replace the pool with three posts: the feed follows at once.
    let three: Vec<String> = shown.iter().take(3).cloned().collect();
    let (status, stats) = server
        .admin_post(
            "/v1/feeds/curated/pool",
            &json!({"add": three, "replace": true}),
        )
        .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["size"], 3);
    let (_, page) = server.skeleton("curated", 50, None).await;
    let mut now_shown = posts(&page);
    now_shown.sort();
    let mut expected = three.clone();
    expected.sort();
    assert_eq!(now_shown, expected);

    // Bad updates change nothing.
    for (body, error) in [
        (json!({"add": ["https://example.com/x"]}), "InvalidRequest"),
        (
            json!({"add": ["at://did:plc:x/app.bsky.feed.like/3k"]}),
            "InvalidRequest",
        ),
        (json!({"remove": "everything"}), "InvalidRequest"),
        (json!({"nuke": true}), "InvalidRequest"),
    ] {
        let (status, reply) = server.admin_post("/v1/feeds/curated/pool", &body).await;
        assert_eq!(
            (status, reply["error"].as_str()),
            (400, Some(error)),
            "{body}: {reply}"
        );
    }
    let (status, reply) = server
        .admin_post("/v1/feeds/nope/pool", &json!({"add": []}))
        .await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (400, Some("UnknownFeed"))
    );
    let (_, pool) = server.admin_get("/v1/feeds/curated/pool").await;
    assert_eq!(pool["size"], 3, "bad updates changed nothing");
    let r = server
        .client
        .get(server.url("/v1/feeds/curated/pool"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn special_posts_are_pinned_rotated_and_sponsored() {
    let dir = tempfile::tempdir().unwrap();
    replay_small_demo(dir.path());
    let server = Server::start(&dir.path().join("data"), &[]).await;
    let (status, none) = server.admin_get("/v1/feeds/for-you/special-posts").await;
    assert_eq!(status, 200);
    assert_eq!(none["pinned"], json!([]));

    let (_, plain) = server.skeleton("for-you", 10, None).await;
    let plain = posts(&plain);
    let pinned = "at://did:plc:feedmixerdemopublisher222/app.bsky.feed.post/3lannouncement";
    let sponsored = plain[6].clone(); // a ranked post, moved to slot 3
    let special = json!({
        "pinned": [pinned],
        "rotating": ["at://did:plc:feedmixerdemopublisher222/app.bsky.feed.post/3lrotating222"],
        "rotate_every_minutes": 60,
        "sponsored": [{"slot": 4, "post": sponsored}],
    });
    let r = server
        .client
        .put(server.url("/v1/feeds/for-you/special-posts"))
        .bearer_auth(TOKEN)
        .json(&special)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let (status, page) = server.skeleton("for-you", 10, None).await;
    assert_eq!(status, 200, "{page}");
    let items = page["feed"].as_array().unwrap();
    assert_eq!(
        items[0]["post"], pinned,
        "pinned first, though nobody liked it"
    );
    assert_eq!(
        items[0]["reason"]["$type"],
        "app.bsky.feed.defs#skeletonReasonPin"
    );
    assert!(
        items[1]["post"]
            .as_str()
            .unwrap()
            .ends_with("3lrotating222")
    );
    assert!(items[1].get("reason").is_none());
    assert_eq!(items[3]["post"], sponsored.as_str(), "sponsored at slot 4");
    let shown = posts(&page);
    let unique: HashSet<&String> = shown.iter().collect();
    assert_eq!(
        unique.len(),
        shown.len(),
        "a sponsored post is not repeated"
    );

    // Bad settings change nothing.
    for bad in [
        json!({"pinned": ["https://example.com"]}),
        json!({"sponsored": [{"slot": 0, "post": pinned}]}),
        json!({"sponsored": [{"slot": 2, "post": pinned}, {"slot": 2, "post": sponsored}]}),
        json!({"pinned": [], "surprise": 1}),
    ] {
        let r = server
            .client
            .put(server.url("/v1/feeds/for-you/special-posts"))
            .bearer_auth(TOKEN)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    let (_, kept) = server.admin_get("/v1/feeds/for-you/special-posts").await;
    assert_eq!(kept["pinned"], json!([pinned]));
    let r = server
        .client
        .put(server.url("/v1/feeds/for-you/special-posts"))
        .json(&special)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Special posts survive a restart.
    server.stop();
    let server = Server::start(&dir.path().join("data"), &[]).await;
    let (_, page) = server.skeleton("for-you", 3, None).await;
    assert_eq!(posts(&page)[0], pinned);
}

#[tokio::test]
async fn read_only_mode_refuses_changes_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--demo", "--demo-size", "small", "--read-only"],
    )
    .await;
    let (status, body) = server
        .admin_post(
            "/v1/feeds/curated/pool",
            &json!({"add": [], "replace": true}),
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (503, Some("ReadOnly")));
    let r = server
        .client
        .put(server.url("/v1/feeds/for-you/special-posts"))
        .bearer_auth(TOKEN)
        .json(&json!({"pinned": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let (_, pool) = server.admin_get("/v1/feeds/curated/pool").await;
    assert!(pool["size"].as_u64().unwrap() > 0, "the pool is untouched");
    let (status, page) = server.skeleton("curated", 5, None).await;
    assert_eq!(status, 200);
    // reqId and feedContext within the lexicon's limits.
    let req_id = page["reqId"].as_str().unwrap();
    assert!(!req_id.is_empty() && req_id.len() <= 100);
    for item in page["feed"].as_array().unwrap() {
        let context = item["feedContext"].as_str().unwrap();
        assert!(!context.is_empty() && context.len() <= 2000, "{item}");
    }
    let (_, personal) = personalize(
        &server,
        json!({"user_did": VIEWER, "feed": "for-you", "limit": 5}),
    )
    .await;
    assert!(
        personal["feed"][0]["feedContext"]
            .as_str()
            .unwrap()
            .contains("walk"),
        "{personal}"
    );
}

/// A feed whose flow keeps only its pool serves nothing while the pool is
/// empty, and its status says so and what to do; a healthy feed's
/// diagnosis is empty. `feedmixer status` prints the same.
#[tokio::test]
async fn a_feed_with_an_empty_pool_serves_nothing_and_its_status_says_why() {
    let dir = tempfile::tempdir().unwrap();
    // `replay` fills no curated pool (the demo loader would).
    replay_small_demo(dir.path());
    let server = Server::start(&dir.path().join("data"), &[]).await;

    let (status, page) = server.skeleton("curated", 30, None).await;
    assert_eq!(status, 200, "{page}");
    assert!(posts(&page).is_empty(), "nothing outside the pool: {page}");

    let (status, report) = server.admin_get("/v1/feeds/curated/status").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["feed"], "curated");
    assert_eq!(report["flow"], "curated");
    assert_eq!(report["pool"]["size"], 0);
    assert_eq!(report["pool"]["restricted_to_pool"], true);
    assert_eq!(report["pool"]["last_sync"], Value::Null);
    assert_eq!(report["tranches"], json!([]));
    assert_eq!(report["store"]["up"], true);
    assert!(report["quality_factor"].as_f64().unwrap() > 0.0);
    assert!(report["ingest"].get("connected").is_some());
    assert!(report["ingest"].get("lag_seconds").is_some());
    let diagnosis: Vec<&str> = report["diagnosis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(diagnosis.len(), 1, "{diagnosis:?}");
    assert!(diagnosis[0].starts_with("pool empty"), "{diagnosis:?}");
    assert!(diagnosis[0].contains("serves nothing"), "{diagnosis:?}");
    assert!(
        diagnosis[0].contains("POST /v1/feeds/curated/pool"),
        "{diagnosis:?}"
    );

    // A feed that does not read a pool is healthy.
    let (_, trending) = server.admin_get("/v1/feeds/trending/status").await;
    assert_eq!(trending["diagnosis"], json!([]), "{trending}");
    // Unknown feeds and missing tokens are refused.
    let (status, reply) = server.admin_get("/v1/feeds/nope/status").await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (400, Some("UnknownFeed"))
    );
    let r = server
        .client
        .get(server.url("/v1/feeds/curated/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Posts admitted: the feed serves them and the finding goes.
    let (_, trending_page) = server.skeleton("trending", 5, None).await;
    let admitted = posts(&trending_page);
    assert!(!admitted.is_empty());
    let (status, _) = server
        .admin_post("/v1/feeds/curated/pool", &json!({"add": admitted}))
        .await;
    assert_eq!(status, 200);
    let (_, report) = server.admin_get("/v1/feeds/curated/status").await;
    assert_eq!(report["pool"]["size"].as_u64(), Some(admitted.len() as u64));
    assert_eq!(report["diagnosis"], json!([]), "{report}");

    // The terminal form: every feed, or one.
    let out = feedmixer_ok(&["status", "--url", &server.base, "--admin-token", TOKEN]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("feed curated — flow curated"), "{text}");
    assert!(text.contains("feed trending — flow trending"), "{text}");
    assert!(text.contains("diagnosis    healthy"), "{text}");
    let out = feedmixer(&[
        "status",
        "nope",
        "--url",
        &server.base,
        "--admin-token",
        TOKEN,
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("UnknownFeed")
            || String::from_utf8_lossy(&out.stderr).contains("400")
    );
}
