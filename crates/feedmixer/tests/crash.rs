//! Crash safety of the real binary: `feedmixer replay` and `serve
//! --jetstream-url` are killed with SIGKILL at seeded random points and
//! started again, and Redis is killed under a live ingest; each time the
//! store must end with exactly the likes and posts of the input — nothing
//! lost, nothing doubled — and live ingest must resume from the cursor it
//! stored.
//!
//! The store is read directly once the process that held it is gone (the
//! embedded store locks its data dir while open): its counts are what was
//! acknowledged, the graph only mirrors them.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use feedmixer_atproto::clock::now_us;
use feedmixer_ingest::IngestConfig;
use feedmixer_store::{EmbeddedStore, Store};
use feedmixer_store_redis::{RedisStore, RedisTarget};
use serde_json::Value;
use support::scripted_jetstream::ScriptedJetstream;
use support::workload::{Content, SplitMix, Workload};
use support::*;

/// The seeds of the kill points: a fixed set, so a failure names its seed.
const SEEDS: [u64; 3] = [11, 23, 37];

/// How far before its stored cursor a restarted ingester resumes.
fn margin_us() -> u64 {
    IngestConfig::default().replay_margin.as_micros() as u64
}

async fn open_embedded(dir: &Path) -> EmbeddedStore {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || EmbeddedStore::open(&dir))
        .await
        .unwrap()
        .expect("the store opens after a kill")
}

/// The content of the embedded store in `dir`, which no process holds.
async fn embedded_content(dir: &Path) -> Content {
    Content::read(&open_embedded(dir).await).await
}

/// Every feed's pool, sorted.
async fn pools(store: &dyn Store) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for feed in store.pool_feeds().await.unwrap() {
        let mut pool = store.pool(&feed).await.unwrap();
        pool.sort();
        out.push((feed, pool));
    }
    out.sort();
    out
}

/// Polls `/v1/stats` until `check` holds (a minute at most).
async fn wait_stats(server: &Server, label: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = server
            .client
            .get(server.url("/v1/stats"))
            .bearer_auth(TOKEN)
            .send()
            .await
            && let Ok(s) = r.json::<Value>().await
            && check(&s)
        {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {label}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn replay_command(capture: &Path, data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_feedmixer"));
    cmd.arg("replay")
        .arg(capture)
        .arg("--data-dir")
        .arg(data)
        .current_dir(root())
        .env_remove("REDIS_URL")
        .env_remove("REDIS_CLUSTER_NODES")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn replay_to_the_end(capture: &Path, data: &Path) {
    let status = replay_command(capture, data).status().unwrap();
    assert!(status.success(), "replay failed: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_killed_at_random_points_ends_exact_when_run_again() {
    // An hour ago, 1 ms apart: well inside the retention window.
    let work = Workload::new(1, 60_000, now_us() - 3_600_000_000, 1_000);
    let files = tempfile::tempdir().unwrap();
    let capture = files.path().join("capture.jsonl");
    let mut text = String::new();
    for (i, line) in work.lines.iter().enumerate() {
        text.push_str(line);
        text.push('\n');
        // A capture is data from outside: bad lines are skipped.
        if i % 10_000 == 5_000 {
            text.push_str("{not json\n\n");
        }
    }
    std::fs::write(&capture, text).unwrap();
    // Replay writes no ingest cursor.
    let expected = Content {
        cursor: None,
        ..work.expected.clone()
    };

    // A whole run: what the kills are compared with, and how long a run
    // takes, to spread the kills over it.
    let reference = tempfile::tempdir().unwrap();
    let started = Instant::now();
    replay_to_the_end(&capture, reference.path());
    let whole = started.elapsed();
    let reference_pools = {
        let store = open_embedded(reference.path()).await;
        assert_eq!(Content::read(&store).await, expected);
        pools(&store).await
    };
    assert!(
        reference_pools.iter().any(|(_, pool)| !pool.is_empty()),
        "the shipped feeds' rules route some posts: {reference_pools:?}"
    );
    eprintln!("a whole replay takes {whole:?}");

    let mut partial_kills = 0;
    for seed in SEEDS {
        let mut rng = SplitMix::new(seed);
        let data = tempfile::tempdir().unwrap();
        for _ in 0..2 {
            let mut child = replay_command(&capture, data.path()).spawn().unwrap();
            let delay = whole.mul_f64(rng.fraction(0.1, 0.9));
            tokio::time::sleep(delay).await;
            child.kill().unwrap();
            child.wait().unwrap();
            let left = embedded_content(data.path()).await;
            if left.counts != expected.counts {
                partial_kills += 1;
            }
            eprintln!(
                "seed {seed}: killed after {delay:?}, {} of {} likes in the store",
                left.counts.likes, expected.counts.likes
            );
        }
        // Run again, whole: the batches applied before the kills come
        // again, and change nothing.
        replay_to_the_end(&capture, data.path());
        let store = open_embedded(data.path()).await;
        assert_eq!(Content::read(&store).await, expected, "seed {seed}");
        assert_eq!(pools(&store).await, reference_pools, "seed {seed}");
    }
    assert!(
        partial_kills > 0,
        "no kill landed before the replay was done: nothing was tested"
    );

    // And a replay of the same file over a finished one changes nothing.
    replay_to_the_end(&capture, reference.path());
    let store = open_embedded(reference.path()).await;
    assert_eq!(Content::read(&store).await, expected);
    assert_eq!(pools(&store).await, reference_pools);
}

/// 3,000 events 5 ms apart (15 s of event time, three times the replay
/// margin), ten minutes old, streamed at 3,000 a second.
fn live_workload(seed: u64) -> Workload {
    Workload::new(seed, 3_000, now_us() - 600_000_000, 5_000)
}

const LIVE_PER_TICK: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_ingest_killed_at_random_points_resumes_from_its_cursor_and_ends_exact() {
    for seed in SEEDS {
        let work = live_workload(seed);
        let n = work.lines.len();
        let jetstream = ScriptedJetstream::serving(work.lines.clone(), LIVE_PER_TICK).await;
        let data = tempfile::tempdir().unwrap();
        let args = ["--jetstream-url", jetstream.url.as_str()];
        let mut rng = SplitMix::new(seed);

        // Two kills, each at a random point of what the current
        // connection will send, once the process stored a cursor (before
        // that a restart would start at the live tail: Jetstream's
        // first-start contract).
        let mut server = Server::spawn(data.path(), &args);
        for connection in 0..2 {
            wait_stats(&server, "a stored cursor", |s| {
                s["ingest"]["cursor_time_us"].is_u64()
            })
            .await;
            jetstream
                .wait_for("the connection", |c| c.len() > connection)
                .await;
            let from = jetstream.connections()[connection]
                .cursor
                .map_or(0, |c| work.first_at(c));
            let at = rng.range(((n - from) / 10) as u64, ((n - from) * 9 / 10) as u64) as usize;
            jetstream
                .wait_for("the kill point", |c| c[connection].sent >= at)
                .await;
            server.stop();

            let stored = embedded_content(data.path())
                .await
                .cursor
                .expect("a cursor was stored before the kill");
            eprintln!(
                "seed {seed}: killed after {at} events of connection {connection}, \
                 cursor at event {}",
                work.first_at(stored)
            );
            // The restart resumes from the stored cursor, less the margin.
            server = Server::spawn(data.path(), &args);
            jetstream
                .wait_for("the reconnect", |c| c.len() > connection + 1)
                .await;
            let resumed = jetstream.connections()[connection + 1].cursor;
            assert_eq!(resumed, Some(stored - margin_us()), "seed {seed}");
            assert!(resumed.is_some_and(|c| c > 0 && c <= stored));
        }
        let end = wait_stats(&server, "every event", |s| {
            s["ingest"]["cursor_time_us"] == *work.times.last().unwrap()
                && s["likes"] == work.graph_likes
        })
        .await;
        assert_eq!(end["ingest"]["invalid"], 0);
        server.stop();
        // Killed once more, with everything acknowledged: all of it is in
        // the store, once.
        assert_eq!(
            embedded_content(data.path()).await,
            work.expected,
            "seed {seed}"
        );
        assert_eq!(jetstream.connections().len(), 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_ingest_rides_out_redis_killed_mid_batch_and_ends_exact() {
    if redis_skipped() {
        return;
    }
    // Its own redis-server, with `appendfsync always` (see `OwnRedis`):
    // every write it acknowledged survives the kill, so the store must
    // end exact, not merely close.
    let dir = tempfile::tempdir().unwrap();
    let mut redis = OwnRedis::start(free_port(), dir);
    let url = redis.url();
    let prefix = unique_prefix("crash");
    // A lease renewed every second: an ingester that lost it to the
    // outage is back a second after Redis is.
    let (_config_dir, config) = config_with("[ingest]\nlease_ttl_secs = 3\n");
    // Outages by seed, in ms: short ones the store client's reconnects
    // ride out (the batch in flight fails once, and its retry waits for
    // Redis), and one longer than those reconnects keep trying (a few
    // seconds): then the lease renewal fails, ingest stops, and a new
    // ingester resumes from the stored cursor once Redis is back.
    let outages = [
        (SEEDS[0], 200, 1_000),
        (SEEDS[1], 1_000, 3_000),
        (SEEDS[2], 6_000, 7_000),
    ];
    for (seed, down_min_ms, down_max_ms) in outages {
        let work = live_workload(seed);
        let n = work.lines.len();
        let jetstream = ScriptedJetstream::serving(work.lines.clone(), LIVE_PER_TICK).await;
        let prefix = format!("{prefix}-{seed}");
        let data = tempfile::tempdir().unwrap();
        let server = Server::spawn(
            data.path(),
            &[
                "--redis-url",
                &url,
                "--redis-prefix",
                &prefix,
                "--config",
                config.to_str().unwrap(),
                "--jetstream-url",
                &jetstream.url,
            ],
        );
        let mut rng = SplitMix::new(seed);
        wait_stats(&server, "a stored cursor", |s| {
            s["ingest"]["cursor_time_us"].is_u64()
        })
        .await;
        // Killed while events stream in, so the batches after it fail
        // (at 3,000 events a second one is applied every ~50 ms).
        let at = rng.range(n as u64 / 10, n as u64 * 9 / 10) as usize;
        jetstream
            .wait_for("the kill point", |c| {
                c.iter().map(|c| c.sent).sum::<usize>() >= at
            })
            .await;
        let (port, dir) = redis.kill();
        // What ingest had acknowledged when Redis died: the rest of the
        // stream can only reach the store through the restarted Redis.
        let acknowledged =
            wait_stats(&server, "the stats", |_| true).await["ingest"]["cursor_time_us"]
                .as_u64()
                .unwrap();
        assert!(
            acknowledged < *work.times.last().unwrap(),
            "killed mid-stream"
        );
        let down = Duration::from_millis(rng.range(down_min_ms, down_max_ms));
        tokio::time::sleep(down).await;
        redis = OwnRedis::start(port, dir);
        eprintln!("seed {seed}: Redis killed after {at} events, down for {down:?}");

        wait_stats(&server, "every event", |s| {
            s["ingest"]["cursor_time_us"] == *work.times.last().unwrap()
                && s["likes"] == work.graph_likes
        })
        .await;
        // The batch in flight at the kill fails and is retried, unless
        // the client noticed the dead connection first and held it.
        let store_errors = metric(
            &server.metrics().await,
            "feedmixer_ingest_store_errors_total",
        );
        server.stop();
        let store = RedisStore::connect(RedisTarget::Single(url.clone()), &prefix)
            .await
            .unwrap();
        assert_eq!(Content::read(&store).await, work.expected, "seed {seed}");
        let cursors: Vec<Option<u64>> = jetstream.connections().iter().map(|c| c.cursor).collect();
        eprintln!(
            "seed {seed}: {store_errors} failed store calls, connections' cursors {cursors:?}"
        );
        let last = *work.times.last().unwrap();
        assert!(
            cursors[1..]
                .iter()
                .all(|c| c.is_some_and(|c| c > 0 && c <= last)),
            "every reconnect resumed from a cursor: {cursors:?}"
        );
    }
}
