//! The impression log end to end: each served page is one JSON line with
//! its reqId and items as the AppView got them, viewers hashed; admin
//! previews are not logged.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Server, VIEWER, posts, shipped_config_with};

#[tokio::test]
async fn served_pages_are_logged_as_json_lines() {
    let log_dir = tempfile::tempdir().unwrap();
    let (_config, config_file) = shipped_config_with(
        &format!(
            "[impressions]\ndir = {:?}\nsalt = \"a salt of sixteen+\"\n",
            log_dir.path().display().to_string()
        ),
        "",
    );

    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            "--config",
            config_file.to_str().unwrap(),
            "--demo",
            "--demo-size",
            "small",
        ],
    )
    .await;
    let (status, first) = server.skeleton("trending", 5, None).await;
    assert_eq!(status, 200);
    let cursor = first["cursor"].as_str().unwrap().to_owned();
    let (_, second) = server.skeleton("trending", 5, Some(&cursor)).await;
    // An admin preview is no impression.
    let (status, _) = server
        .admin_post(
            "/v1/personalize",
            &json!({"user_did": VIEWER, "feed": "for-you", "limit": 5}),
        )
        .await;
    assert_eq!(status, 200);

    let started = Instant::now();
    let lines: Vec<Value> = loop {
        let files = std::fs::read_dir(log_dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect::<Vec<_>>();
        let lines: Vec<Value> = files
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect();
        if lines.len() >= 2 || started.elapsed() > Duration::from_secs(10) {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (line, page) in lines.iter().zip([&first, &second]) {
        assert_eq!(line["feed"], "trending");
        assert_eq!(line["req_id"], page["reqId"]);
        assert_eq!(line["viewer"], Value::Null, "anonymous");
        let logged: Vec<&str> = line["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["post"].as_str().unwrap())
            .collect();
        assert_eq!(logged, posts(page));
        let contexts: Vec<&Value> = page["feed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["feedContext"])
            .collect();
        let logged_contexts: Vec<&Value> = line["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["context"])
            .collect();
        assert_eq!(logged_contexts, contexts);
    }
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("feedmixer_impressions_total{outcome=\"written\"} 2"),
        "{metrics}"
    );
}
