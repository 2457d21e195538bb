//! Drives the real `feedmixer` binary: runs commands, starts servers on
//! free loopback ports and stops them.

#![allow(dead_code)]

pub mod scripted_jetstream;
pub mod workload;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use feedmixer_atproto::RepoEvent;
use futures::SinkExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

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

/// A copy of the shipped config in a temp dir, with `service` appended
/// to feedmixer.toml and `feeds` to feeds.toml (tables, usually). Returns
/// the dir and the path to pass as `--config`.
pub fn shipped_config_with(service: &str, feeds: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for (file, extra) in [
        ("feedmixer.toml", service),
        ("feeds.toml", feeds),
        ("presets.toml", ""),
    ] {
        let shipped = std::fs::read_to_string(root().join("config").join(file)).unwrap();
        std::fs::write(dir.path().join(file), format!("{shipped}\n{extra}")).unwrap();
    }
    let path = dir.path().join("feedmixer.toml");
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
    /// The admin listener's base URL, with `--admin-listen`.
    pub admin_base: Option<String>,
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
        Self::start_with_env(data_dir, extra, token, &[]).await
    }

    /// Starts the server with `env` set on top of the test defaults.
    pub async fn start_with_env(
        data_dir: &Path,
        extra: &[&str],
        token: Option<&str>,
        env: &[(&str, &str)],
    ) -> Server {
        let server = Self::spawn_with_env(data_dir, extra, token, env);
        server.wait_ready().await;
        server
    }

    /// Starts `serve` like [`Server::start`] but returns as soon as it
    /// listens, before it is ready: for tests that kill it at any point.
    pub fn spawn(data_dir: &Path, extra: &[&str]) -> Server {
        Self::spawn_with_env(data_dir, extra, Some(TOKEN), &[])
    }

    fn spawn_with_env(
        data_dir: &Path,
        extra: &[&str],
        token: Option<&str>,
        env: &[(&str, &str)],
    ) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_feedmixer"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .current_dir(root())
            .env("RUST_LOG", "info")
            .env_remove("FEEDMIXER_ADMIN_TOKEN")
            // The store is chosen by the test's args alone.
            .env_remove("REDIS_URL")
            .env_remove("REDIS_CLUSTER_NODES")
            // Cursors are signed with the key the store keeps, as on a
            // fresh install, unless a test sets one.
            .env_remove("FEEDMIXER_CURSOR_KEY")
            .env_remove("FEEDMIXER_CURSOR_KEY_PREVIOUS")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(token) = token {
            cmd.env("FEEDMIXER_ADMIN_TOKEN", token);
        }
        let mut child = cmd.spawn().expect("serve starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let addr = listening_addr(&mut child, Arc::clone(&log));
        let admin_base = extra
            .contains(&"--admin-listen")
            .then(|| format!("http://{}", admin_addr(&log)));
        Server {
            child,
            base: format!("http://{addr}"),
            admin_base,
            client: {
                feedmixer_identity::install_crypto_provider();
                // No idle connections kept: a test may count the server's.
                reqwest::Client::builder()
                    .pool_max_idle_per_host(0)
                    .build()
                    .unwrap()
            },
            log,
        }
    }

    /// Waits (5 minutes at most) until readiness answers 200.
    pub async fn wait_ready(&self) {
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

    /// Where the admin routes and `/metrics` are: the admin listener, or
    /// the one listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("{}{path}", self.admin_base.as_deref().unwrap_or(&self.base))
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
        self.admin(self.client.post(self.admin_url(path)).json(body))
            .await
    }

    /// An admin PUT with the test token.
    pub async fn admin_put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.admin(self.client.put(self.admin_url(path)).json(body))
            .await
    }

    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        self.admin(self.client.get(self.admin_url(path))).await
    }

    /// Sends `request` with the test token, returning status and JSON body.
    async fn admin(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let r = request.bearer_auth(TOKEN).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The text of /metrics.
    pub async fn metrics(&self) -> String {
        let r = self
            .client
            .get(self.admin_url("/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }

    /// Whether any line logged so far contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(text))
    }

    /// Kills the server with SIGKILL, as a crash would (nothing is
    /// flushed), and waits for it to exit.
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
/// The admin listener's address, from the line the server logs once it is
/// bound (right after the public one).
fn admin_addr(log: &Mutex<Vec<String>>) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = log.lock().unwrap().iter().find_map(|line| {
            let rest = line.split(" admin=").nth(1)?;
            Some(rest.split_whitespace().next()?.to_string())
        });
        if let Some(addr) = found {
            return addr;
        }
        assert!(Instant::now() < deadline, "the admin listener never bound");
        std::thread::sleep(Duration::from_millis(20));
    }
}

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

/// A Jetstream stand-in: every connection gets the events not yet sent,
/// `per_tick` of them every 50 ms.
pub async fn jetstream(events: Vec<String>, per_tick: usize) -> SocketAddr {
    let (addr, release) = jetstream_held(events, per_tick).await;
    release.send_replace(true);
    addr
}

/// Like [`jetstream`], but a connection sends nothing until the returned
/// sender is set to `true`: for tests that must read the server's state
/// before the events arrive.
pub async fn jetstream_held(
    events: Vec<String>,
    per_tick: usize,
) -> (SocketAddr, tokio::sync::watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let events = std::sync::Arc::new(tokio::sync::Mutex::new(events.into_iter()));
    let (release, released) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let events = events.clone();
            let mut released = released.clone();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                if released.wait_for(|r| *r).await.is_err() {
                    return;
                }
                loop {
                    let batch: Vec<String> = events.lock().await.by_ref().take(per_tick).collect();
                    for line in batch {
                        if ws.send(Message::text(line)).await.is_err() {
                            return;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
        }
    });
    (addr, release)
}

pub fn like(did: &str, rkey: u64, post: &str, time_us: u64) -> String {
    RepoEvent::LikeCreate {
        did: did.to_string(),
        rkey: format!("3lk{rkey:010}"),
        subject: post.to_string(),
        time_us,
    }
    .to_jetstream_json()
}

/// Whether `FEEDMIXER_SKIP_REDIS=1` says to run without Redis: the
/// Redis tests return early then, and only then.
pub fn redis_skipped() -> bool {
    std::env::var_os("FEEDMIXER_SKIP_REDIS").is_some_and(|v| v == "1")
}

/// The single Redis the test script started
/// (`scripts/redis-test-servers`), or `None` when `FEEDMIXER_SKIP_REDIS=1`
/// says to run without. Without either, the test fails: a test that
/// silently skips would look like a pass.
pub fn test_redis_url() -> Option<String> {
    if redis_skipped() {
        return None;
    }
    Some(std::env::var("FEEDMIXER_TEST_REDIS_URL").expect(
        "FEEDMIXER_TEST_REDIS_URL is not set: run the tests through \
         `scripts/redis-test-servers run -- cargo test` (or set FEEDMIXER_SKIP_REDIS=1)",
    ))
}

/// A key prefix no other test uses, so tests can share one Redis.
pub fn unique_prefix(test: &str) -> String {
    format!("e2e-{test}-{:x}", rand_suffix())
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
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

/// A Jetstream stand-in the test feeds as it goes: every line sent on the
/// returned channel goes to the open connection (one consumer at a time,
/// nothing lost across a reconnect).
pub async fn jetstream_live() -> (SocketAddr, tokio::sync::mpsc::UnboundedSender<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let rx = rx.clone();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let mut rx = rx.lock().await;
                while let Some(line) = rx.recv().await {
                    if ws.send(Message::text(line)).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, tx)
}

/// A post create in Jetstream's shape.
pub fn post_event(did: &str, rkey: &str, time_us: u64, post: feedmixer_atproto::Post) -> String {
    RepoEvent::PostCreate {
        did: did.to_string(),
        rkey: rkey.to_string(),
        time_us,
        post: Box::new(post),
    }
    .to_jetstream_json()
}

/// A post delete in Jetstream's shape.
pub fn post_delete_event(did: &str, rkey: &str, time_us: u64) -> String {
    RepoEvent::PostDelete {
        did: did.to_string(),
        rkey: rkey.to_string(),
        time_us,
    }
    .to_jetstream_json()
}

/// An account status change in Jetstream's shape, written out by hand:
/// `status` is the relay's reason (`takendown`, `suspended`, ...), `None`
/// for an active account.
pub fn account_status_event(did: &str, time_us: u64, status: Option<&str>) -> String {
    let account = match status {
        Some(status) => serde_json::json!({
            "active": false, "did": did, "seq": 1, "status": status,
            "time": "2026-12-01T12:00:00.000Z",
        }),
        None => serde_json::json!({
            "active": true, "did": did, "seq": 1, "time": "2026-12-01T12:00:00.000Z",
        }),
    };
    serde_json::json!({"did": did, "time_us": time_us, "kind": "account", "account": account})
        .to_string()
}

/// An account deletion in Jetstream's shape.
pub fn account_deleted_event(did: &str, time_us: u64) -> String {
    RepoEvent::AccountDeleted {
        did: did.to_string(),
        time_us,
    }
    .to_jetstream_json()
}

/// A redis-server of the test's own, with an append-only file synced on
/// every write, so a kill loses nothing acknowledged.
pub struct OwnRedis {
    child: Child,
    pub port: u16,
    /// Taken by `kill`, to start the server again on the same files.
    dir: Option<tempfile::TempDir>,
}

impl OwnRedis {
    /// Starts redis-server on `port` with its files in `dir`, and waits
    /// until it accepts connections.
    ///
    /// `appendonly yes` with `appendfsync always`: Redis writes and
    /// fsyncs the append-only file before it answers, so whatever it
    /// acknowledged is in the file when the SIGKILL comes, and a test can
    /// demand that nothing acknowledged is missing. With the default
    /// `everysec` the fsync lags up to a second, and while one is slow
    /// Redis puts off writing the file: a window in which an acknowledged
    /// write can be lost. Without the file a restart comes back empty.
    /// Redis replays the file at start; a transaction cut off at its end
    /// is dropped whole, never half applied.
    pub fn start(port: u16, dir: tempfile::TempDir) -> OwnRedis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (the test script installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis {
            child,
            port,
            dir: Some(dir),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILLs the server; returns its port and files to start it again.
    pub fn kill(mut self) -> (u16, tempfile::TempDir) {
        // Drop kills too; the files outlive it through the returned dir.
        let _ = self.child.kill();
        let _ = self.child.wait();
        (self.port, self.dir.take().expect("not killed yet"))
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
