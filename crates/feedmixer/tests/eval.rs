//! `feedmixer eval` end to end on the small demo capture: the rows and
//! fields tools rely on, values in range, the same seed giving the same
//! metrics, and clear refusals of bad input. Correctness only: no timing.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::*;

/// The fields every row has (the stable interface) and the metrics among
/// them that are shares.
const FIELDS: [&str; 9] = [
    "feed",
    "preset",
    "users",
    "recall@10",
    "recall@30",
    "recall@100",
    "ndcg@30",
    "coverage",
    "p50_ms",
];
const SHARES: [&str; 8] = [
    "recall@10",
    "recall@30",
    "recall@100",
    "ndcg@10",
    "ndcg@30",
    "ndcg@100",
    "coverage",
    "mean_list",
];

/// The small demo capture in a temp dir.
fn capture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.jsonl");
    feedmixer_ok(&["demo-capture", file.to_str().unwrap(), "--size", "small"]);
    (dir, file)
}

/// `feedmixer eval --capture FILE --json ARGS`: its rows.
fn rows(file: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["eval", "--capture", file.to_str().unwrap(), "--json"];
    all.extend_from_slice(args);
    let out = feedmixer_ok(&all);
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn names(rows: &[Value]) -> Vec<(String, String)> {
    rows.iter()
        .map(|r| {
            (
                r["feed"].as_str().unwrap().to_string(),
                r["preset"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The rows without what depends on the machine (latency).
fn metrics(rows: &[Value]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            let mut r = r.clone();
            for timing in ["p50_ms", "p99_ms", "mean_ms"] {
                r.as_object_mut().unwrap().remove(timing);
            }
            r
        })
        .collect()
}

#[test]
fn every_feed_beside_the_baseline_as_json() {
    let (_dir, file) = capture();
    let rows = rows(&file, &["--users", "50"]);
    let shipped = [
        "curated",
        "discover",
        "for-you",
        "for-you-norsk",
        "norsk",
        "rust",
        "trending",
        "trending-day",
    ];
    let mut expected: Vec<(String, String)> = shipped
        .iter()
        .map(|f| (f.to_string(), "default".to_string()))
        .collect();
    expected.push(("popularity".into(), "-".into()));
    assert_eq!(names(&rows), expected);
    let users = rows[0]["users"].as_u64().unwrap();
    assert!((1..=50).contains(&users), "{users} users");
    for row in &rows {
        for field in FIELDS {
            assert!(row.get(field).is_some(), "{field} missing: {row}");
        }
        assert_eq!(row["users"].as_u64(), Some(users), "{row}");
        for share in SHARES {
            let value = row[share].as_f64().unwrap();
            let bound = if share == "mean_list" { 100.0 } else { 1.0 };
            assert!((0.0..=bound).contains(&value), "{share} = {value}: {row}");
        }
        assert!(row["p50_ms"].as_f64().unwrap() >= 0.0);
        for (source, share) in row["sources"].as_object().unwrap() {
            let share = share.as_f64().unwrap();
            assert!(share > 0.0 && share <= 1.0, "{source} {share}: {row}");
        }
    }
    let for_you = &rows[2];
    assert!(
        for_you["sources"].get("walk").is_some(),
        "for-you's walk serves: {for_you}"
    );
    assert_eq!(rows[8]["sources"]["popularity"], 1.0);
}

#[test]
fn named_feeds_and_presets_side_by_side_the_same_for_a_seed() {
    let (_dir, file) = capture();
    let args = [
        "--users",
        "50",
        "--holdout",
        "5",
        "--feeds",
        "for-you,trending",
        "--presets",
        "default,fast",
        "--seed",
        "3",
    ];
    let first = rows(&file, &args);
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(f, p)| (f.to_string(), p.to_string()))
            .collect()
    };
    assert_eq!(
        names(&first),
        pairs(&[
            ("for-you", "default"),
            ("for-you", "fast"),
            ("trending", "default"),
            ("trending", "fast"),
            ("popularity", "-"),
        ])
    );
    let second = rows(&file, &args);
    assert_eq!(
        metrics(&first),
        metrics(&second),
        "the same seed, the same metrics"
    );
    let other_seed = rows(&file, &[&args[..8], &["--seed", "4"]].concat());
    assert_eq!(names(&other_seed), names(&first));

    // The same rows as a table for people, with what the split was.
    let out = feedmixer_ok(
        &[
            &["eval", "--capture", file.to_str().unwrap()][..],
            &args[..],
        ]
        .concat(),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("split at "), "{text}");
    let table: Vec<&str> = text.lines().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(table.len(), 6, "a header and five rows: {text}");
    assert!(table[2].starts_with("| for-you | fast | "), "{text}");
    assert!(table[5].starts_with("| popularity | - | "), "{text}");
}

#[test]
fn bad_input_is_refused_clearly() {
    let (dir, file) = capture();
    let fail = |args: &[&str], expect: &str| {
        let out = feedmixer(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(
            out.stdout.is_empty() || !args.contains(&"--json"),
            "no rows"
        );
    };
    let path = file.to_str().unwrap();
    let missing = dir.path().join("missing.jsonl");
    fail(
        &["eval", "--capture", missing.to_str().unwrap(), "--json"],
        "no such file",
    );
    fail(
        &[
            "eval",
            "--capture",
            path,
            "--feeds",
            "for-you,nope",
            "--json",
        ],
        "unknown feed \"nope\" (feeds: curated, discover, for-you",
    );
    fail(
        &[
            "eval",
            "--capture",
            path,
            "--presets",
            "fast,nope",
            "--json",
        ],
        "unknown preset \"nope\" (presets: deep, default, discovery, fast, stable)",
    );
    fail(
        &[
            "eval",
            "--capture",
            path,
            "--split-quantile",
            "1.5",
            "--json",
        ],
        "between 0 and 1",
    );
    fail(
        &[
            "eval",
            "--capture",
            path,
            "--holdout",
            "100000",
            "--min-holdout",
            "100000",
            "--json",
        ],
        "no user has 100000 held-out likes after the split",
    );
    fail(
        &["eval", "--capture", path, "--min-holdout", "11", "--json"],
        "--min-holdout at most --holdout",
    );
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    fail(
        &["eval", "--capture", empty.to_str().unwrap(), "--json"],
        "holds no likes",
    );
    let nowhere = dir.path().join("no-store");
    fail(
        &["eval", "--data-dir", nowhere.to_str().unwrap(), "--json"],
        "no store in",
    );
    assert!(!nowhere.exists(), "nothing created");

    // Garbage lines are skipped and counted, as `replay` does.
    let text = std::fs::read_to_string(&file).unwrap();
    let garbled = dir.path().join("garbled.jsonl");
    std::fs::write(&garbled, format!("not json\n{text}{{\"kind\": 7}}\n")).unwrap();
    let out = feedmixer_ok(&[
        "eval",
        "--capture",
        garbled.to_str().unwrap(),
        "--feeds",
        "trending",
        "--users",
        "20",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 malformed (skipped)"), "{stderr}");
    assert!(stderr.contains("garbled.jsonl:1: "), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
}
