//! Drives the real `feedmixer` binary: runs commands, starts servers on
//! free loopback ports and stops them.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const TOKEN: &str = "test-admin-token";
pub const PUBLISHER: &str = "did:plc:feedmixerdemopublisher222";
pub const VIEWER: &str = "did:plc:demoviewer22222222222222";

/// The workspace root, where `flows/` and `config/` live.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn feed_uri(rkey: &str) -> String {
    format!("at://{PUBLISHER}/app.bsky.feed.generator/{rkey}")
}

/// A copy of the shipped config in a temp dir whose feedmixer.toml keeps
/// the shipped top-level keys and has `extra` (TOML tables) instead of the
/// shipped tables. Returns the dir and the path to pass as `--config`.
pub fn config_with(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for file in ["feeds.toml", "presets.toml"] {
        std::fs::copy(root().join("config").join(file), dir.path().join(file)).unwrap();
    }
    let shipped = std::fs::read_to_string(root().join("config/feedmixer.toml")).unwrap();
    let base: String = shipped
        .lines()
        .take_while(|line| !line.starts_with('['))
        .map(|line| format!("{line}\n"))
        .collect();
    let path = dir.path().join("feedmixer.toml");
    std::fs::write(&path, format!("{base}\n{extra}\n")).unwrap();
    (dir, path)
}

/// Runs `feedmixer ARGS` from the workspace root to completion.
pub fn feedmixer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_feedmixer"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the binary runs")
}

/// Runs `feedmixer ARGS` and requires it to succeed.
pub fn feedmixer_ok(args: &[&str]) -> Output {
    let out = feedmixer(args);
    assert!(
        out.status.success(),
        "feedmixer {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A running `feedmixer serve`, killed on drop.
pub struct Server {
    child: Child,
    pub base: String,
    pub client: reqwest::Client,
    /// Every line the server logged so far.
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `serve` on a free port with `data_dir` and extra args, and
    /// waits until it is ready.
    pub async fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Self::start_with_token(data_dir, extra, Some(TOKEN)).await
    }

    pub async fn start_with_token(data_dir: &Path, extra: &[&str], token: Option<&str>) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_feedmixer"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .current_dir(root())
            .env("RUST_LOG", "info")
            .env_remove("FEEDMIXER_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(token) = token {
            cmd.env("FEEDMIXER_ADMIN_TOKEN", token);
        }
        let mut child = cmd.spawn().expect("serve starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let addr = listening_addr(&mut child, Arc::clone(&log));
        let server = Server {
            child,
            base: format!("http://{addr}"),
            client: {
                feedmixer_identity::install_crypto_provider();
                reqwest::Client::new()
            },
            log,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Ok(r) = self.client.get(self.url("/internal/ready")).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "server not ready in time");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET, returning status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A getFeedSkeleton page.
    pub async fn skeleton(&self, rkey: &str, limit: usize, cursor: Option<&str>) -> (u16, Value) {
        let mut path = format!(
            "/xrpc/app.bsky.feed.getFeedSkeleton?feed={}&limit={limit}",
            feed_uri(rkey)
        );
        if let Some(c) = cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        self.get(&path).await
    }

    /// A getFeedSkeleton page with `Authorization: Bearer TOKEN`.
    pub async fn skeleton_as(
        &self,
        token: &str,
        rkey: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> (u16, Value) {
        let mut path = format!(
            "/xrpc/app.bsky.feed.getFeedSkeleton?feed={}&limit={limit}",
            feed_uri(rkey)
        );
        if let Some(c) = cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = self
            .client
            .get(self.url(&path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A POST of `body` with an optional bearer token.
    pub async fn post_as(&self, token: Option<&str>, path: &str, body: &Value) -> (u16, Value) {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// An admin POST with the test token.
    pub async fn admin_post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The text of /metrics.
    pub async fn metrics(&self) -> String {
        let r = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }

    /// Whether any line logged so far contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(text))
    }

    /// Stops the server and waits for it to exit.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the server's log until it names the address it listens on; keeps
/// draining the log afterwards so the pipe never fills.
fn listening_addr(child: &mut Child, log: Arc<Mutex<Vec<String>>>) -> String {
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            log.lock().unwrap().push(line.clone());
            if let Some(rest) = line.split("addr=").nth(1)
                && line.contains("listening")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            if std::env::var_os("FEEDMIXER_TEST_LOG").is_some() {
                eprintln!("[server] {line}");
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the server logs its address")
}

/// The post URIs of a skeleton page.
pub fn posts(page: &Value) -> Vec<String> {
    page["feed"]
        .as_array()
        .expect("a feed array")
        .iter()
        .map(|item| item["post"].as_str().expect("a post URI").to_string())
        .collect()
}

/// The value of one series (name and labels exactly as exported) in a
/// /metrics text; 0 when it is not there.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().expect("a sample value"))
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
