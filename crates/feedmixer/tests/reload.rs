//! Hot reload end to end: the real binary serving a copy of `flows/` and
//! `config/`, edited while it runs. An edit is live within 2 s; an invalid
//! one is counted, logged, and the last good version keeps serving.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Server, copy_dir, feed_uri, metric, posts, root};

/// The promise: an edit is picked up within this.
const PICKUP: Duration = Duration::from_secs(2);
const OK: &str = r#"feedmixer_config_reloads_total{result="ok"}"#;
const ERROR: &str = r#"feedmixer_config_reloads_total{result="error"}"#;

/// A server over its own copy of the shipped flows and config (stopped
/// before the copy is removed).
struct Setup {
    server: Server,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn start() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&root().join("flows"), &dir.path().join("flows"));
        copy_dir(&root().join("config"), &dir.path().join("config"));
        let flows = dir.path().join("flows");
        let config = dir.path().join("config/feedmixer.toml");
        let server = Server::start(
            &dir.path().join("data"),
            &[
                "--demo",
                "--demo-size",
                "small",
                "--flows",
                flows.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
            ],
        )
        .await;
        Setup { server, dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    async fn counter(&self, series: &str) -> f64 {
        metric(&self.server.metrics().await, series)
    }

    /// Waits until the reload counter `series` reaches `at_least`.
    async fn reloads(&self, series: &str, at_least: f64, what: &str) {
        within(PICKUP, what, async || {
            (self.counter(series).await >= at_least).then_some(())
        })
        .await;
    }

    async fn described(&self) -> Vec<String> {
        let (status, body) = self
            .server
            .get("/xrpc/app.bsky.feed.describeFeedGenerator")
            .await;
        assert_eq!(status, 200, "{body}");
        body["feeds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["uri"].as_str().unwrap().to_string())
            .collect()
    }

    /// Every shipped feed answers with a full page.
    async fn shipped_feeds_answer(&self, when: &str) {
        for rkey in ["for-you", "trending", "trending-day"] {
            let (status, page) = self.server.skeleton(rkey, 30, None).await;
            assert_eq!(status, 200, "{rkey} {when}: {page}");
            assert_eq!(posts(&page).len(), 30, "{rkey} fills a page {when}");
        }
    }
}

/// Polls `probe` every 50 ms until it gives a value; fails after `limit`.
async fn within<T>(limit: Duration, what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Saves as editors do: a temporary file beside the target, renamed over it.
fn save_by_rename(path: &Path, text: &str) {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().unwrap().to_str().unwrap()
    ));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn append(path: &Path, text: &str) {
    let old = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, old + text).unwrap();
}

/// The most posts one author has on a page (the author is the DID of the
/// post's AT-URI).
fn most_per_author(page: &Value) -> usize {
    let mut authors: HashMap<String, usize> = HashMap::new();
    for uri in posts(page) {
        let did = uri
            .strip_prefix("at://")
            .and_then(|rest| rest.split('/').next())
            .expect("a post AT-URI")
            .to_string();
        *authors.entry(did).or_default() += 1;
    }
    authors.into_values().max().unwrap_or(0)
}

const WEEK_FEED: &str = r#"
[feeds.trending-week]
flow = "trending"
display_name = "Trending this week"
[feeds.trending-week.params.trending]
window_hours = 168.0
"#;

#[tokio::test]
async fn a_new_feed_is_served_within_two_seconds() {
    let s = Setup::start().await;
    let uri = feed_uri("trending-week");
    assert!(!s.described().await.contains(&uri));
    let (status, _) = s.server.skeleton("trending-week", 10, None).await;
    assert_eq!(status, 400, "not a feed yet");
    let ok = s.counter(OK).await;

    append(&s.path("config/feeds.toml"), WEEK_FEED);
    within(PICKUP, "the new feed described", async || {
        s.described().await.contains(&uri).then_some(())
    })
    .await;
    let (status, page) = s.server.skeleton("trending-week", 10, None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(posts(&page).len(), 10);
    assert_eq!(s.counter(OK).await, ok + 1.0);
    assert_eq!(s.counter(ERROR).await, 0.0);
    assert!(s.server.logged("flows and feeds reloaded"));
}

#[tokio::test]
async fn a_changed_flow_param_applies_to_the_next_page() {
    let s = Setup::start().await;
    let (status, page) = s.server.skeleton("trending", 100, None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        most_per_author(&page),
        2,
        "the shipped trending flow keeps 2 posts per author, and the demo has such authors"
    );

    let file = s.path("flows/trending.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = text.replace("max_per_author = 2", "max_per_author = 1");
    assert_ne!(text, edited);
    save_by_rename(&file, &edited);
    within(PICKUP, "one post per author", async || {
        let (status, page) = s.server.skeleton("trending", 100, None).await;
        assert_eq!(status, 200, "{page}");
        (most_per_author(&page) == 1).then_some(())
    })
    .await;
    assert_eq!(s.counter(ERROR).await, 0.0);
}

#[tokio::test]
async fn an_invalid_edit_is_rejected_and_the_last_good_version_keeps_serving() {
    let s = Setup::start().await;
    let ok = s.counter(OK).await;
    let errors = s.counter(ERROR).await;
    assert_eq!(errors, 0.0, "the error series is exported from the start");

    let broken = s.path("flows/broken.toml");
    std::fs::write(&broken, "[[sources]]\nkind = \"no-such-kind\"\n").unwrap();
    s.reloads(ERROR, errors + 1.0, "a broken flow rejected")
        .await;
    assert!(
        s.server.logged(&format!("{}:2:", broken.display())),
        "the problem is logged as FILE:LINE: reason"
    );
    s.shipped_feeds_answer("after a rejected reload").await;

    // Still rejected while the broken flow is there: all or nothing.
    append(&s.path("config/feeds.toml"), WEEK_FEED);
    s.reloads(ERROR, errors + 2.0, "still rejected").await;
    let week = feed_uri("trending-week");
    assert!(!s.described().await.contains(&week));
    assert_eq!(s.counter(OK).await, ok);

    // Fixed: the catalog with the new feed goes live.
    std::fs::write(
        &broken,
        "[[sources]]\nkind = \"trending\"\n\n[ranker]\nkind = \"weighted_sum\"\n",
    )
    .unwrap();
    s.reloads(OK, ok + 1.0, "the fixed flow accepted").await;
    assert!(s.described().await.contains(&week));
    let (status, page) = s.server.skeleton("trending-week", 10, None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(s.counter(ERROR).await, errors + 2.0);
    s.shipped_feeds_answer("after the fix").await;
}

#[tokio::test]
async fn a_flows_directory_that_disappears_does_not_stop_the_server() {
    let s = Setup::start().await;
    let ok = s.counter(OK).await;
    let errors = s.counter(ERROR).await;

    std::fs::rename(s.path("flows"), s.path("flows.away")).unwrap();
    s.reloads(ERROR, errors + 1.0, "a missing flows directory rejected")
        .await;
    s.shipped_feeds_answer("without a flows directory").await;

    std::fs::rename(s.path("flows.away"), s.path("flows")).unwrap();
    s.reloads(OK, ok + 1.0, "the flows directory back").await;
    // The directory put back is watched.
    let file = s.path("flows/trending.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("max_per_author = 2", "max_per_author = 1"),
    )
    .unwrap();
    s.reloads(OK, ok + 2.0, "an edit in the directory put back")
        .await;
    let (status, page) = s.server.skeleton("trending", 100, None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(most_per_author(&page), 1);
}
