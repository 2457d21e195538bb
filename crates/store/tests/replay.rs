//! Replaying Jetstream captures into the embedded store.

mod common;

use std::io::{BufRead, BufReader, Cursor, Read};

use common::*;
use feedmixer_store::replay::MAX_REPORTED_ERRORS;
use feedmixer_store::{ApplyStats, NoRouting, Store, StoreError, replay};

const P1: &str = "at://did:plc:bob/app.bsky.feed.post/3p1";
const P2: &str = "at://did:plc:bob/app.bsky.feed.post/3p2";

/// A few lines of the real firehose: an identity event (ignored) and a
/// post (indexed).
const IDENTITY: &str = r#"{"did":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","time_us":1725516665234703,"kind":"identity","identity":{"did":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","handle":"alice.bsky.social","seq":1409752997,"time":"2024-09-05T06:11:04.870Z"}}"#;
const POST: &str = r#"{"did":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","time_us":1725911162329308,"kind":"commit","commit":{"rev":"3l3qo2vuowo2b","operation":"create","collection":"app.bsky.feed.post","rkey":"3l3qo2vutsw2b","record":{"$type":"app.bsky.feed.post","createdAt":"2024-09-09T19:46:02.102Z","langs":["en"],"text":"hello"},"cid":"bafyreigroo6vhxt62ufcndhaxzas6btq4jmniuvmjkdkm76hgwxjw3rj6e"}}"#;

fn capture(lines: &[String]) -> Vec<u8> {
    let mut text = lines.join("\n");
    text.push('\n');
    text.into_bytes()
}

async fn run(store: &dyn Store, capture: &[u8], batch: usize) -> feedmixer_store::ReplayReport {
    replay(
        store,
        &NoRouting,
        Cursor::new(capture.to_vec()),
        batch,
        &mut |_| {},
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn duplicates_deletes_and_account_deletions_are_applied() {
    let (_dir, store) = open_temp();
    let lines = [
        create("did:plc:alice", "k1", P1, 10).to_jetstream_json(),
        create("did:plc:alice", "k1", P1, 10).to_jetstream_json(),
        create("did:plc:alice", "k2", P2, 11).to_jetstream_json(),
        IDENTITY.to_owned(),
        create("did:plc:carol", "k1", P1, 12).to_jetstream_json(),
        String::new(),
        delete("did:plc:alice", "k2", 13).to_jetstream_json(),
        POST.to_owned(),
        create("did:plc:dave", "k1", P2, 14).to_jetstream_json(),
        create("did:plc:dave", "k2", P1, 15).to_jetstream_json(),
        account_deleted("did:plc:dave", 16).to_jetstream_json(),
        create("did:plc:dave", "k3", P1, 14).to_jetstream_json(),
    ];
    let report = run(&store, &capture(&lines), 3).await;
    assert_eq!(report.lines, 12);
    assert_eq!(report.events, 10);
    assert_eq!(report.ignored, 2);
    assert_eq!(report.malformed, 0);
    assert_eq!(
        report.stats,
        ApplyStats {
            created: 5,
            duplicates: 1,
            deleted: 1,
            missing_deletes: 0,
            stale: 1,
            accounts_deleted: 1,
            likes_removed_by_account: 2,
            posts_created: 1,
            ..ApplyStats::default()
        }
    );
    assert_eq!(
        scan(&store, 0).await,
        [
            ("did:plc:alice".into(), "k1".into(), P1.into(), 10),
            ("did:plc:carol".into(), "k1".into(), P1.into(), 12)
        ]
    );
}

#[tokio::test]
async fn malformed_lines_are_counted_with_their_line_numbers_and_skipped() {
    let (_dir, store) = open_temp();
    let good = create("did:plc:alice", "k1", P1, 10).to_jetstream_json();
    let lines = [
        good.clone(),
        "not json at all".to_owned(),
        good[..good.len() / 2].to_owned(),
        r#"{"did":"did:plc:alice","time_us":"yesterday","kind":"commit"}"#.to_owned(),
        r#"{"did":"did:plc:alice","kind":"identity"}"#.to_owned(),
        good.replace(r#""rkey":"k1""#, r#""rkey":"""#),
        good.replace(P1, "").replace(r#","uri":"""#, ""),
        "   ".to_owned(),
        create("did:plc:carol", "k1", P2, 11).to_jetstream_json(),
    ];
    let report = run(&store, &capture(&lines), 100).await;
    assert_eq!((report.lines, report.events, report.ignored), (9, 2, 1));
    assert_eq!(report.malformed, 6);
    let numbers: Vec<u64> = report.first_errors.iter().map(|(line, _)| *line).collect();
    assert_eq!(numbers, [2, 3, 4, 5, 6, 7]);
    let reasons: Vec<&str> = report
        .first_errors
        .iter()
        .map(|(_, why)| why.as_str())
        .collect();
    assert!(reasons[0].starts_with("not a JSON object"), "{reasons:?}");
    assert!(reasons[1].starts_with("not a JSON object"), "{reasons:?}");
    assert!(
        reasons[2].starts_with("unexpected event shape"),
        "{reasons:?}"
    );
    assert_eq!(reasons[3], "missing or invalid field `time_us`");
    assert_eq!(reasons[4], "missing or invalid field `commit.rkey`");
    assert_eq!(
        reasons[5],
        "missing or invalid field `commit.record.subject.uri`"
    );
    assert_eq!(report.stats.created, 2, "the good lines around them count");
}

#[tokio::test]
async fn invalid_utf8_is_a_malformed_line_not_a_failure() {
    let (_dir, store) = open_temp();
    let mut bytes = b"\xff\xfe garbage\n".to_vec();
    bytes.extend(capture(&[
        create("did:plc:alice", "k1", P1, 10).to_jetstream_json()
    ]));
    let report = run(&store, &bytes, 10).await;
    assert_eq!(report.malformed, 1);
    assert_eq!(report.first_errors[0].0, 1);
    assert!(report.first_errors[0].1.starts_with("not UTF-8"));
    assert_eq!(report.events, 1);
}

#[tokio::test]
async fn only_the_first_errors_are_described() {
    let (_dir, store) = open_temp();
    let lines: Vec<String> = (0..25).map(|i| format!("broken {i}")).collect();
    let report = run(&store, &capture(&lines), 10).await;
    assert_eq!(report.malformed, 25);
    assert_eq!(report.first_errors.len(), MAX_REPORTED_ERRORS);
    assert_eq!(
        report.first_errors.last().unwrap().0,
        MAX_REPORTED_ERRORS as u64
    );
}

#[tokio::test]
async fn replaying_a_capture_twice_changes_nothing() {
    let (_dir, store) = open_temp();
    let mut lines = Vec::new();
    for i in 0..3_000u32 {
        let time_us = u64::from(i) * 10;
        lines.push(
            create(&did(i % 97), &format!("3k{i:06}"), &post(i % 211), time_us).to_jetstream_json(),
        );
        if i % 5 == 0 {
            lines.push(
                delete(&did(i % 97), &format!("3k{:06}", i / 2), time_us + 1).to_jetstream_json(),
            );
        }
        if i % 400 == 0 {
            lines.push(account_deleted(&did(i % 13), time_us + 2).to_jetstream_json());
        }
        if i % 7 == 0 {
            lines.push(POST.to_owned());
        }
    }
    let bytes = capture(&lines);

    let first = run(&store, &bytes, 500).await;
    let before = snapshot(&store).await;
    assert!(before.1.likes > 1_000, "{:?}", before.1);
    let second = run(&store, &bytes, 777).await;
    assert_eq!(snapshot(&store).await, before);
    assert_eq!(
        (
            second.stats.created,
            second.stats.deleted,
            second.stats.accounts_deleted
        ),
        (0, 0, 0)
    );
    assert_eq!((second.lines, second.events), (first.lines, first.events));
}

#[tokio::test]
async fn progress_reports_bytes_after_every_batch() {
    let (_dir, store) = open_temp();
    let lines: Vec<String> = (0..10u32)
        .map(|i| create(&did(i), "k", P1, u64::from(i)).to_jetstream_json())
        .collect();
    let bytes = capture(&lines);
    let mut calls = Vec::new();
    replay(
        &store,
        &NoRouting,
        Cursor::new(bytes.clone()),
        4,
        &mut |read| calls.push(read),
    )
    .await
    .unwrap();
    // Batches of 4, 4 and the last 2.
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(calls.windows(2).all(|w| w[0] < w[1]), "{calls:?}");
    assert_eq!(*calls.last().unwrap(), bytes.len() as u64);
}

#[tokio::test]
async fn a_zero_batch_is_a_batch_of_one() {
    let (_dir, store) = open_temp();
    let lines = [
        create("did:plc:alice", "k1", P1, 10).to_jetstream_json(),
        create("did:plc:bob", "k1", P1, 10).to_jetstream_json(),
    ];
    let report = run(&store, &capture(&lines), 0).await;
    assert_eq!(report.stats.created, 2);
}

/// A reader that fails after its data, like a file on a failing disk.
struct FailingReader(Cursor<Vec<u8>>);

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(std::io::Error::other("disk on fire")),
            n => Ok(n),
        }
    }
}

#[tokio::test]
async fn a_read_failure_ends_the_replay_and_keeps_applied_batches() {
    let (_dir, store) = open_temp();
    let lines: Vec<String> = (0..5u32)
        .map(|i| create(&did(i), "k", P1, u64::from(i)).to_jetstream_json())
        .collect();
    let reader: Box<dyn BufRead + Send> =
        Box::new(BufReader::new(FailingReader(Cursor::new(capture(&lines)))));
    let err = replay(&store, &NoRouting, reader, 2, &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Capture(_)), "{err}");
    assert_eq!(store.counts().await.unwrap().likes, 4, "two full batches");
}
