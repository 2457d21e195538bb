//! Candidate sync end to end: a feed's pool fetched from a local HTTP
//! source on schedule and on request, rate-limited requests refused, and
//! a failing source keeping the old pool and showing in the status.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Server, config_with, feedmixer_ok};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the stand-in source answers: a status and a body.
type Answer = Arc<Mutex<(u16, String)>>;

/// A candidate source on a loopback port answering whatever `answer`
/// holds, to any request.
async fn candidate_source(answer: Answer) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let (status, body) = answer.lock().unwrap().clone();
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/candidates")
}

fn uris(range: std::ops::Range<u32>) -> Vec<String> {
    range
        .map(|n| format!("at://did:plc:source{n:04}/app.bsky.feed.post/3kpost{n:07}"))
        .collect()
}

async fn pool(server: &Server) -> Vec<String> {
    let (_, pool) = server.admin_get("/v1/feeds/curated/pool").await;
    let mut posts: Vec<String> = pool["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    posts.sort();
    posts
}

/// Waits until the curated pool is `want`, or panics after `within`.
async fn pool_becomes(server: &Server, want: &[String], within: Duration) {
    let started = Instant::now();
    loop {
        let now = pool(server).await;
        if now == want {
            return;
        }
        assert!(
            started.elapsed() < within,
            "pool {now:?} never became {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn status(server: &Server) -> Value {
    let (code, status) = server.admin_get("/v1/feeds/curated/status").await;
    assert_eq!(code, 200, "{status}");
    status
}

#[tokio::test]
async fn a_feed_pool_follows_its_source_on_schedule_and_on_request() {
    let answer: Answer = Arc::new(Mutex::new((200, uris(0..3).join("\n"))));
    let url = candidate_source(answer.clone()).await;
    let (config_dir, config) = config_with("");
    let feeds = config_dir.path().join("feeds.toml");
    let mut text = std::fs::read_to_string(&feeds).unwrap();
    text += &format!(
        "\n[feeds.curated.sync]\nurl = \"{url}\"\ninterval_secs = 10\nmin_interval_secs = 300\n"
    );
    std::fs::write(&feeds, &text).unwrap();
    feedmixer_ok(&["check", config.to_str().unwrap()]);
    // A bad sync table is named with its file and line.
    let bad = text.replace("interval_secs = 10", "interval_secs = 1");
    std::fs::write(&feeds, &bad).unwrap();
    let out = support::feedmixer(&["check", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    let line = bad
        .lines()
        .position(|l| l == "[feeds.curated.sync]")
        .unwrap()
        + 1;
    assert!(
        said.contains(&format!(
            "feeds.toml:{line}: feed \"curated\": sync.interval_secs"
        )),
        "{said}"
    );
    std::fs::write(&feeds, &text).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    )
    .await;

    // The first sync runs at start: never synced is due.
    pool_becomes(&server, &uris(0..3), Duration::from_secs(10)).await;
    let first = status(&server).await;
    assert_eq!(first["pool"]["last_sync"]["ok"], true, "{first}");
    assert_eq!(first["pool"]["last_sync"]["size"], 3);
    assert_eq!(first["pool"]["last_sync"]["url"], url.as_str());
    assert_eq!(first["diagnosis"], json!([]), "{first}");
    let (_, page) = server.skeleton("curated", 30, None).await;
    assert!(
        support::posts(&page).iter().all(|p| uris(0..3).contains(p)),
        "the feed serves the synced pool only: {page}"
    );

    // Asked again right away: rate-limited, with the time left.
    *answer.lock().unwrap() = (200, json!({ "posts": uris(10..15) }).to_string());
    let (code, reply) = server
        .admin_post("/v1/sync", &json!({"feed": "curated"}))
        .await;
    assert_eq!(code, 429, "{reply}");
    assert_eq!(reply["error"], "RateLimited");
    let left = reply["retry_after_secs"].as_u64().unwrap();
    assert!((250..=300).contains(&left), "{left}");
    let report = status(&server).await;
    assert!(
        report["diagnosis"][0]
            .as_str()
            .is_some_and(|f| f.starts_with("sync rate-limited")),
        "{report}"
    );
    // Forced: runs at once (within the next tick).
    let (code, reply) = server
        .admin_post("/v1/sync", &json!({"feed": "curated", "force": true}))
        .await;
    assert_eq!(code, 202, "{reply}");
    pool_becomes(&server, &uris(10..15), Duration::from_secs(5)).await;
    // The sync ran since the refusal: no finding left.
    assert_eq!(status(&server).await["diagnosis"], json!([]));

    // On schedule: the source changes and the pool follows within the
    // interval, unasked.
    *answer.lock().unwrap() = (200, json!(uris(20..22)).to_string());
    pool_becomes(&server, &uris(20..22), Duration::from_secs(15)).await;

    // A failing source keeps the pool, and the status says so.
    for bad in [
        (500, "oops".to_string()),
        (200, "not a uri\n".to_string()),
        (200, String::new()),
    ] {
        *answer.lock().unwrap() = bad.clone();
        let before = status(&server).await["pool"]["last_sync"]["at_us"].clone();
        let (code, _) = server
            .admin_post("/v1/sync", &json!({"feed": "curated", "force": true}))
            .await;
        assert_eq!(code, 202);
        let started = Instant::now();
        let report = loop {
            let report = status(&server).await;
            if report["pool"]["last_sync"]["at_us"] != before {
                break report;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "no sync ran");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(
            report["pool"]["last_sync"]["ok"], false,
            "{bad:?}: {report}"
        );
        assert_eq!(pool(&server).await, uris(20..22), "{bad:?}: the pool stays");
        let diagnosis = report["diagnosis"][0].as_str().unwrap_or_default();
        assert!(diagnosis.starts_with("sync failing"), "{bad:?}: {report}");
        assert!(diagnosis.contains(&url), "{diagnosis}");
    }

    // Bad requests change nothing.
    for (body, code, error) in [
        (json!({"feed": "nope"}), 400, "UnknownFeed"),
        (json!({"feed": "trending"}), 400, "InvalidRequest"),
        (
            json!({"feed": "curated", "force": "yes"}),
            400,
            "InvalidRequest",
        ),
        (
            json!({"feed": "curated", "extra": 1}),
            400,
            "InvalidRequest",
        ),
    ] {
        let (got, reply) = server.admin_post("/v1/sync", &body).await;
        assert_eq!(
            (got, reply["error"].as_str()),
            (code, Some(error)),
            "{body}"
        );
    }
    assert_eq!(pool(&server).await, uris(20..22));
    server.stop();

    // Read-only: refused.
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap(), "--read-only"],
    )
    .await;
    let (code, reply) = server
        .admin_post("/v1/sync", &json!({"feed": "curated", "force": true}))
        .await;
    assert_eq!((code, reply["error"].as_str()), (503, Some("ReadOnly")));
}
