//! End to end: `/metrics` exposes exactly the names in
//! `feedmixer_server::metrics::ALL`, the list dashboards and alert rules
//! are checked against. A name the code exports but does not list, or a
//! listed one nothing exports, fails.
//!
//! The server runs everything that records: the small demo, a local PLC
//! directory (a real viewer token: DID resolution and viewer auth), a
//! local Jetstream (ingest), and every route once.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use feedmixer_atproto::clock::now_us;
use feedmixer_identity::testkit::{Directory, TestKey, now};
use feedmixer_server::metrics::ALL;
use serde_json::json;
use support::*;

/// The shipped config's service DID: tokens must be addressed to it.
const SERVICE: &str = "did:web:localhost";
const POST: &str = "at://did:plc:feedmixerdemopublisher222/app.bsky.feed.post/3lmetrics222";

/// A token of the demo viewer for a call of `method`.
fn token(key: &TestKey, method: &str) -> String {
    let now = now();
    key.mint(&json!({"iss": VIEWER, "aud": SERVICE, "exp": now + 60, "iat": now, "lxm": method}))
}

/// The `feedmixer_` metric names in a /metrics text, a histogram's
/// `_bucket`, `_sum` and `_count` series under the histogram's name.
fn exposed(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| line.starts_with("feedmixer_"))
        .map(|line| {
            let name = line.split(['{', ' ']).next().unwrap_or(line);
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name)
                .to_string()
        })
        .collect()
}

/// Calls every route once, each as it answers when it works.
async fn drive_every_route(server: &Server, key: &TestKey) {
    let (status, _) = server.get("/.well-known/did.json").await;
    assert_eq!(status, 200, "did.json");
    let (status, _) = server
        .get("/xrpc/app.bsky.feed.describeFeedGenerator")
        .await;
    assert_eq!(status, 200, "describeFeedGenerator");

    let (status, first) = server.skeleton("for-you", 10, None).await;
    assert_eq!(status, 200, "{first}");
    let cursor = first["cursor"].as_str().expect("a cursor");
    let (status, page) = server.skeleton("for-you", 10, Some(cursor)).await;
    assert_eq!(status, 200, "the next page: {page}");
    let skeleton = token(key, "app.bsky.feed.getFeedSkeleton");
    let (status, page) = server.skeleton_as(&skeleton, "for-you", 10, None).await;
    assert_eq!(status, 200, "a verified viewer: {page}");

    let interactions = json!({"interactions": [
        {"item": posts(&page)[0], "event": "app.bsky.feed.defs#interactionSeen"},
    ]});
    let send = token(key, "app.bsky.feed.sendInteractions");
    let (status, body) = server
        .post_as(
            Some(&send),
            "/xrpc/app.bsky.feed.sendInteractions",
            &interactions,
        )
        .await;
    assert_eq!(status, 200, "sendInteractions: {body}");

    let (status, body) = server
        .admin_post(
            "/v1/personalize",
            &json!({"user_did": VIEWER, "feed": "for-you", "limit": 5, "explain": true}),
        )
        .await;
    assert_eq!(status, 200, "personalize: {body}");
    let (status, _) = server.admin_get("/v1/stats").await;
    assert_eq!(status, 200, "stats");
    let (status, _) = server.admin_get("/v1/feeds/curated/pool").await;
    assert_eq!(status, 200, "pool");
    let (status, body) = server
        .admin_post("/v1/feeds/curated/pool", &json!({"add": [POST]}))
        .await;
    assert_eq!(status, 200, "pool update: {body}");
    let (status, _) = server.admin_get("/v1/feeds/for-you/special-posts").await;
    assert_eq!(status, 200, "special posts");
    let (status, body) = server
        .admin_put(
            "/v1/feeds/for-you/special-posts",
            &json!({"pinned": [POST]}),
        )
        .await;
    assert_eq!(status, 200, "special posts update: {body}");

    let (status, body) = server
        .admin_post("/v1/sync", &json!({"feed": "curated", "force": true}))
        .await;
    assert_eq!(status, 202, "sync request: {body}");
    let (status, body) = server.admin_get("/v1/feeds/curated/status").await;
    assert_eq!(status, 200, "status: {body}");

    let (status, _) = server.get("/internal/ready").await;
    assert_eq!(status, 200, "ready");
    let (status, _) = server.get("/no/such/route").await;
    assert_eq!(status, 404, "the fallback");
}

#[tokio::test]
async fn metrics_exports_exactly_the_listed_names() {
    let directory = Directory::start().await;
    let key = TestKey::k256();
    directory.put_key(VIEWER, &key.public());
    let now = now_us();
    let events: Vec<String> = (0..20)
        .map(|n| like(&format!("did:plc:metricsliker{n:012}"), n, POST, now + n))
        .collect();
    let stream = jetstream(events, 20).await;
    let data = tempfile::tempdir().unwrap();
    // The shipped config with an impression log, a candidate sync for
    // curated (its source refuses connections: the sync fails, and is
    // counted) and an experiment on trending.
    let impressions = tempfile::tempdir().unwrap();
    let (_config, config_file) = shipped_config_with(
        &format!(
            "[impressions]\ndir = {:?}\nsalt = \"a salt of sixteen+\"\n",
            impressions.path().display().to_string()
        ),
        concat!(
            "[feeds.curated.sync]\nurl = \"http://127.0.0.1:9/candidates\"\ntimeout_secs = 1\n",
            "\n[feeds.trending.experiment]\nname = \"m\"\n",
            "[[feeds.trending.experiment.arms]]\nname = \"a\"\npercent = 50\npreset = \"default\"\n",
            "[[feeds.trending.experiment.arms]]\nname = \"b\"\npercent = 50\nflow = \"discover\"\n",
        ),
    );
    let server = Server::start(
        data.path(),
        &[
            "--config",
            config_file.to_str().unwrap(),
            "--demo",
            "--demo-size",
            "small",
            "--plc-url",
            &directory.plc_url(),
            "--jetstream-url",
            &format!("ws://{stream}"),
        ],
    )
    .await;
    drive_every_route(&server, &key).await;
    // The verified viewer's pages name a salted hash, never the DID.
    let deadline = Instant::now() + Duration::from_secs(10);
    let viewers: Vec<String> = loop {
        let viewers: Vec<String> = std::fs::read_dir(impressions.path())
            .unwrap()
            .flat_map(|f| {
                let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
                text.lines()
                    .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                    .filter_map(|v| v["viewer"].as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .collect();
        if !viewers.is_empty() || Instant::now() > deadline {
            break viewers;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!viewers.is_empty(), "a verified page was logged");
    assert!(
        viewers
            .iter()
            .all(|v| v.len() == 64 && v.chars().all(|c| c.is_ascii_hexdigit())),
        "{viewers:?}"
    );

    // Background tasks (ingest, the refresher, the pruner) register their
    // series once they run: wait for the list, then compare both ways.
    let listed: BTreeSet<String> = ALL.iter().map(|name| name.to_string()).collect();
    assert_eq!(listed.len(), ALL.len(), "ALL names each metric once");
    let deadline = Instant::now() + Duration::from_secs(30);
    let names = loop {
        let names = exposed(&server.metrics().await);
        if listed.is_subset(&names) || Instant::now() > deadline {
            break names;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let unlisted: Vec<&String> = names.difference(&listed).collect();
    let missing: Vec<&String> = listed.difference(&names).collect();
    assert!(
        unlisted.is_empty() && missing.is_empty(),
        "exposed but not in metrics::ALL: {unlisted:?}; in metrics::ALL but never exposed: {missing:?}"
    );
}
