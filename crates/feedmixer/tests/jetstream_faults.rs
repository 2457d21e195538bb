//! `serve --jetstream-url` against a Jetstream that misbehaves: garbage
//! and oversized frames, a cut and a stall mid-frame, a silent open
//! connection (with `[ingest] idle_timeout_secs = 1`, so a stall costs a
//! second, not a minute), a replay from an older cursor than asked for.
//! The bad messages are counted in `/v1/stats` and the metrics, every
//! broken connection is replaced from the stored cursor, and the store
//! ends exact.

mod support;

use std::time::{Duration, Instant};

use feedmixer_atproto::clock::now_us;
use feedmixer_ingest::{IngestConfig, MAX_MESSAGE_BYTES};
use feedmixer_store::EmbeddedStore;
use serde_json::Value;
use support::scripted_jetstream::{ScriptedJetstream, Step};
use support::workload::{Content, Workload};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_jetstream_is_counted_survived_and_ends_exact() {
    // 20 ms apart: the 5 s replay margin is 250 events, so where each
    // connection resumed shows.
    let work = Workload::new(5, 1_000, now_us() - 600_000_000, 20_000);
    let n = work.lines.len();
    // Where each faulty connection stops sending events.
    let until = [300, 450, 600, 750];
    let lines = work.lines.clone();
    let script = move |index: usize| -> Vec<Step> {
        let line = |i: usize| lines[i].clone();
        match index {
            0 => vec![
                Step::Events { until: 150 },
                Step::Text("not json at all".into()),
                Step::Binary(vec![0x28, 0xb5, 0x2f, 0xfd, 0x00]),
                // Big, within the limit, and no event.
                Step::Text(format!("{{\"junk\":\"{}\"}}", "x".repeat(1 << 20))),
                Step::Events { until: until[0] },
                Step::CutMidFrame(line(until[0])),
            ],
            1 => vec![
                Step::Events { until: until[1] },
                Step::Oversized(MAX_MESSAGE_BYTES as u64 + 1),
            ],
            2 => vec![Step::EventsFromStart { until: until[2] }, Step::Stall],
            3 => vec![
                Step::Events { until: until[3] },
                Step::StallMidFrame(line(until[3])),
            ],
            _ => vec![Step::Events { until: n }],
        }
    };
    let jetstream = ScriptedJetstream::start(work.lines.clone(), 50, script).await;
    let (_config_dir, config) = config_with("[ingest]\nidle_timeout_secs = 1\n");
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--jetstream-url",
            &jetstream.url,
        ],
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(60);
    let stats = loop {
        let (status, stats) = server.admin_get("/v1/stats").await;
        assert_eq!(status, 200, "{stats}");
        if stats["ingest"]["cursor_time_us"] == *work.times.last().unwrap()
            && stats["likes"] == work.graph_likes
        {
            break stats;
        }
        assert!(
            Instant::now() < deadline,
            "never caught up to {} likes: {stats}",
            work.graph_likes
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ingest: &Value = &stats["ingest"];
    // Not JSON, binary, the 1 MiB line, oversized; a half frame never
    // arrives, so it is no message.
    assert_eq!(ingest["invalid"], 4, "{ingest}");
    assert_eq!(ingest["connections"], 5, "{ingest}");
    let metrics = server.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"feedmixer_ingest_events_total{result="invalid"}"#
        ),
        4.0
    );
    assert_eq!(metric(&metrics, "feedmixer_ingest_reconnects_total"), 4.0);

    // Each connection resumed from the last event the one before it
    // delivered whole, less the margin.
    let margin = IngestConfig::default().replay_margin.as_micros() as u64;
    let connections = jetstream.connections();
    let cursors: Vec<Option<u64>> = connections.iter().map(|c| c.cursor).collect();
    let mut want = vec![None];
    want.extend(until.iter().map(|&u| Some(work.times[u - 1] - margin)));
    assert_eq!(cursors, want);
    assert!(
        connections[2].sent > until[2] - work.first_at(want[2].unwrap()),
        "connection 2 replayed from before its cursor"
    );
    server.stop();

    let dir = data.path().to_path_buf();
    let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(&dir))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Content::read(&store).await, work.expected);
}
