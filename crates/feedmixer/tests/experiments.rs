//! Experiments end to end: a feed's viewers split into arms by a stable
//! hash, the arm in every item's feedContext, pages and interactions
//! counted per arm.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use feedmixer_identity::testkit::{Directory, TestKey, now};
use serde_json::{Value, json};
use support::{Server, VIEWER, feedmixer, metric, posts, shipped_config_with};

/// The shipped config, the for-you feed split 80/20 with a holdout on
/// the non-personalized trending flow.
fn config() -> (tempfile::TempDir, PathBuf) {
    shipped_config_with(
        "",
        r#"
[feeds.for-you.experiment]
name = "holdout-2026"
[[feeds.for-you.experiment.arms]]
name = "control"
percent = 80
preset = "default"
[[feeds.for-you.experiment.arms]]
name = "holdout"
percent = 20
flow = "trending"
"#,
    )
}

/// The arm every item of `page` names in its feedContext.
fn arm(page: &Value) -> String {
    let arms: Vec<&str> = page["feed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            item["feedContext"]
                .as_str()
                .unwrap()
                .rsplit_once(";arm=for-you/")
                .expect("an arm mark")
                .1
        })
        .collect();
    assert!(!arms.is_empty(), "{page}");
    assert!(
        arms.iter().all(|a| *a == arms[0]),
        "one arm a page: {arms:?}"
    );
    arms[0].to_string()
}

#[tokio::test]
async fn viewers_split_into_stable_arms_and_interactions_count_per_arm() {
    let directory = Directory::start().await;
    let key = TestKey::k256();
    directory.put_key(VIEWER, &key.public());
    let (_config_dir, config) = config();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--demo",
            "--demo-size",
            "small",
            "--plc-url",
            &directory.plc_url(),
        ],
    )
    .await;

    // 2,000 synthetic viewers: about a fifth in the holdout.
    let mut arms: BTreeMap<String, String> = BTreeMap::new();
    for n in 0..2_000 {
        let viewer = format!("did:plc:experiment{n:016}");
        let (status, page) = server
            .admin_post(
                "/v1/personalize",
                &json!({"user_did": viewer, "feed": "for-you", "limit": 3}),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        arms.insert(viewer, arm(&page));
    }
    let holdout = arms.values().filter(|a| *a == "holdout").count();
    assert!(
        (340..=460).contains(&holdout),
        "{holdout} of 2000 in the 20% holdout"
    );
    assert_eq!(
        arms.values().filter(|a| *a == "control").count(),
        2_000 - holdout
    );
    // Always the same ones.
    for (viewer, first) in arms.iter().take(200) {
        let (_, page) = server
            .admin_post(
                "/v1/personalize",
                &json!({"user_did": viewer, "feed": "for-you", "limit": 3}),
            )
            .await;
        assert_eq!(&arm(&page), first, "{viewer}");
    }
    // The holdout gets the trending flow: the same list for everyone.
    let in_holdout: Vec<&String> = arms
        .iter()
        .filter(|(_, a)| *a == "holdout")
        .map(|(v, _)| v)
        .take(2)
        .collect();
    let pages: Vec<Vec<String>> = {
        let mut pages = Vec::new();
        for viewer in &in_holdout {
            let (_, page) = server
                .admin_post(
                    "/v1/personalize",
                    &json!({"user_did": viewer, "feed": "for-you", "limit": 10}),
                )
                .await;
            pages.push(posts(&page));
        }
        pages
    };
    assert_eq!(pages[0], pages[1], "trending is the same for every viewer");

    // The status names the experiment.
    let (_, status) = server.admin_get("/v1/feeds/for-you/status").await;
    assert_eq!(status["experiment"]["name"], "holdout-2026");
    assert_eq!(status["experiment"]["arms"][1]["flow"], "trending");

    // A verified viewer's page and interactions, counted under its arm;
    // an arm nobody runs is not counted.
    let now = now();
    let mint = |method: &str| {
        key.mint(&json!({"iss": VIEWER, "aud": "did:web:localhost", "exp": now + 60, "iat": now, "lxm": method}))
    };
    let (status, page) = server
        .skeleton_as(&mint("app.bsky.feed.getFeedSkeleton"), "for-you", 5, None)
        .await;
    assert_eq!(status, 200, "{page}");
    let viewer_arm = arm(&page);
    let item = &page["feed"][0];
    let (status, body) = server
        .post_as(
            Some(&mint("app.bsky.feed.sendInteractions")),
            "/xrpc/app.bsky.feed.sendInteractions",
            &json!({"interactions": [
                {"item": item["post"], "event": "app.bsky.feed.defs#interactionLike", "feedContext": item["feedContext"]},
                {"item": item["post"], "event": "app.bsky.feed.defs#interactionSeen", "feedContext": item["feedContext"]},
                {"item": item["post"], "event": "app.bsky.feed.defs#interactionLike", "feedContext": "walk;arm=for-you/nobody"},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let metrics = server.metrics().await;
    let series = |arm: &str, event: &str| {
        metric(
            &metrics,
            &format!(
                "feedmixer_experiment_interactions_total{{feed=\"for-you\",arm=\"{arm}\",event=\"{event}\"}}"
            ),
        )
    };
    assert_eq!(series(&viewer_arm, "interactionLike"), 1.0, "{metrics}");
    assert_eq!(series(&viewer_arm, "interactionSeen"), 1.0);
    assert!(!metrics.contains("arm=\"nobody\""));
    let pages = |arm: &str| {
        metric(
            &metrics,
            &format!("feedmixer_experiment_pages_total{{feed=\"for-you\",arm=\"{arm}\"}}"),
        )
    };
    assert!(pages("holdout") >= holdout as f64);
    assert!(pages("control") >= (2_000 - holdout) as f64);

    // The report adds up what every replica tallied in the store.
    let (status, report) = server.admin_get("/v1/feeds/for-you/experiment").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["experiment"], "holdout-2026");
    let arm_report = report["arms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == viewer_arm.as_str())
        .unwrap();
    assert_eq!(arm_report["counts"]["interactionLike"], 1, "{report}");
    assert_eq!(arm_report["counts"]["interactionSeen"], 1);
    assert_eq!(arm_report["rates"]["interactionLike"]["rate"], 1.0);
    let (status, reply) = server.admin_get("/v1/feeds/trending/experiment").await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (400, Some("InvalidRequest"))
    );
    let out = support::feedmixer_ok(&[
        "experiments",
        "report",
        "for-you",
        "--url",
        &server.base,
        "--admin-token",
        support::TOKEN,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("experiment holdout-2026"), "{text}");
    assert!(
        text.contains("holdout") && text.contains("control"),
        "{text}"
    );
}

/// Bad experiments are refused by `check` with their file and line.
#[test]
fn bad_experiments_are_named_by_check() {
    let (dir, config) = config();
    let feeds = dir.path().join("feeds.toml");
    let good = std::fs::read_to_string(&feeds).unwrap();
    let line = good
        .lines()
        .position(|l| l == "[feeds.for-you.experiment]")
        .unwrap()
        + 1;
    for (from, to, says) in [
        (
            "percent = 20",
            "percent = 10",
            "the percents add up to 90, not 100",
        ),
        (
            "flow = \"trending\"",
            "flow = \"nope\"",
            "flow \"nope\" is not among the flows",
        ),
        ("name = \"holdout\"", "name = \"control\"", "named twice"),
        (
            "preset = \"default\"",
            "preset = \"nope\"",
            "preset \"nope\" is not among the presets",
        ),
    ] {
        std::fs::write(&feeds, good.replace(from, to)).unwrap();
        let out = feedmixer(&["check", config.to_str().unwrap()]);
        assert!(!out.status.success(), "{to}");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains(&format!("feeds.toml:{line}: feed \"for-you\": ")) && said.contains(says),
            "{to}: {said}"
        );
    }
}
