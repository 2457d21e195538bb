//! The backends the store tests run against, and helpers to drive them.
//!
//! Redis URLs come from the environment that `scripts/redis-test-servers`
//! sets up; without them the Redis tests fail (they are never skipped
//! silently) unless `FEEDMIXER_SKIP_REDIS=1`.

#![allow(dead_code)] // each test binary uses its own subset

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use feedmixer_store_redis::{RedisStore, RedisTarget};

pub const SINGLE_ENV: &str = "FEEDMIXER_TEST_REDIS_URL";
pub const CLUSTER_ENV: &str = "FEEDMIXER_TEST_REDIS_CLUSTER";
pub const SKIP_ENV: &str = "FEEDMIXER_SKIP_REDIS";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Single,
    Cluster,
}

/// Where the test Redis of `backend` is, or `None` when the Redis tests
/// are skipped on purpose. Panics when it is not configured.
pub fn target(backend: Backend) -> Option<RedisTarget> {
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
        eprintln!("{SKIP_ENV}=1: skipping the {backend:?} Redis test");
        return None;
    }
    let var = match backend {
        Backend::Single => SINGLE_ENV,
        Backend::Cluster => CLUSTER_ENV,
    };
    let value = std::env::var(var).unwrap_or_default();
    if value.trim().is_empty() {
        panic!(
            "{var} is not set, so the Redis store cannot be tested. Run the tests through \
             the test servers:\n\n    scripts/redis-test-servers run -- cargo test -p \
             feedmixer-store-redis\n\n(or `scripts/redis-test-servers start DIR`, then \
             `set -a; . DIR/env; set +a`). Set {SKIP_ENV}=1 to skip the Redis tests."
        );
    }
    Some(match backend {
        Backend::Single => RedisTarget::Single(value.trim().to_owned()),
        Backend::Cluster => RedisTarget::Cluster(
            value
                .split(',')
                .map(|url| url.trim().to_owned())
                .filter(|url| !url.is_empty())
                .collect(),
        ),
    })
}

/// A key prefix no other test (of this run or an earlier one) uses.
pub fn fresh_prefix(test: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("test:{nanos:x}:{}:{n}:{test}", std::process::id())
}

/// A Redis store on a fresh prefix, or `None` when Redis tests are
/// skipped.
pub async fn redis(backend: Backend, test: &str) -> Option<RedisStore> {
    let target = target(backend)?;
    Some(
        RedisStore::connect(target, &fresh_prefix(test))
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "cannot connect to the {backend:?} test Redis ({err}); is \
                     scripts/redis-test-servers running?"
                )
            }),
    )
}

/// What a scenario observed, line by line, to compare a backend with the
/// embedded reference.
#[derive(Debug, Default)]
pub struct Transcript(Vec<String>);

impl Transcript {
    pub fn note(&mut self, what: &str, value: impl Debug) {
        self.0.push(format!("{what}: {value:?}"));
    }

    /// Panics at the first line where `got` differs from `self`.
    pub fn assert_matches(&self, got: &Transcript, backend: Backend) {
        for (i, (want, got)) in self.0.iter().zip(&got.0).enumerate() {
            assert!(
                want == got,
                "{backend:?} differs from the embedded store at step {i}:\n  embedded: {}\n  \
                 {backend:?}: {}",
                clip(want),
                clip(got),
            );
        }
        assert_eq!(
            self.0.len(),
            got.0.len(),
            "{backend:?} took a different number of steps"
        );
    }
}

fn clip(line: &str) -> &str {
    match line.char_indices().nth(2_000) {
        Some((end, _)) => &line[..end],
        None => line,
    }
}

#[allow(unused_imports)] // each test binary uses its own subset
pub use feedmixer_store::testkit::{
    INACTIVE, Like, PostRow, account_deleted, account_status, all_changes, changes, create, delete,
    did, open_temp, post, post_create, post_delete, post_record, scan, scan_posts, scan_removed,
    snapshot,
};

/// A small deterministic generator (xorshift64*), so scenarios can draw
/// "random" events that every backend sees identically.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}
