//! Bulk load and start-up scan of the embedded store at demo scale.
//!
//! `cargo bench -p feedmixer-store --bench bulk_load`
//!
//! - `bulk_load/apply_1m_in_50k_batches`: a fresh store takes one million
//!   like creates through `Store::apply` in batches of 50,000, as the demo
//!   dataset is loaded at first start (every batch a durable commit).
//! - `scan/scan_1m`: `Store::scan_likes` over those likes, as every replica
//!   does at start-up to build its graph.
//! - `bulk_load/apply_1m_posts_in_50k_batches`: one million post creates
//!   (languages, a fifth replies, a quarter with media) the same way: what
//!   the post index costs ingest.
//!
//! Throughput is reported in likes (or posts) per second.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feedmixer_atproto::Tid;
use feedmixer_store::{EmbeddedStore, Post, RepoEvent, Store};

const LIKES: usize = 1_000_000;
const BATCH: usize = 50_000;
const LIKERS: u64 = 100_000;
const POSTS: u64 = 200_000;

/// Likes shaped like the firehose's: `did:plc` DIDs, TID record keys,
/// post URIs of about 70 bytes, time-ordered, from a few hot and many
/// occasional likers.
fn likes() -> Vec<RepoEvent> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let base32 = |mut n: u64, len: usize| -> String {
        const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
        (0..len)
            .map(|_| {
                let c = ALPHABET[(n % 32) as usize] as char;
                n /= 32;
                c
            })
            .collect()
    };
    let did = |n: u64| {
        format!(
            "did:plc:{}",
            base32(n.wrapping_mul(0x9e37_79b9_7f4a_7c15), 24)
        )
    };
    let start_us = 1_725_000_000_000_000_u64;
    (0..LIKES as u64)
        .map(|i| {
            // Squaring skews toward low ids: a few likers and posts are hot.
            let liker = (next() % LIKERS).pow(2) / LIKERS;
            let post = (next() % POSTS).pow(2) / POSTS;
            let time_us = start_us + i * 1_000 + next() % 1_000;
            RepoEvent::LikeCreate {
                did: did(liker),
                rkey: Tid::new(time_us, (i % 1_024) as u16).to_string(),
                subject: format!(
                    "at://{}/app.bsky.feed.post/{}",
                    did(post % 30_000 + LIKERS),
                    Tid::new(start_us - post * 1_000_000, 0)
                ),
                time_us,
            }
        })
        .collect()
}

/// Post creates turned from the like shapes: the liker writes, the like's
/// record key and time are the post's.
fn posts() -> Vec<RepoEvent> {
    let langs = ["en", "ja", "pt-BR", "de", "nb-NO"];
    likes()
        .into_iter()
        .enumerate()
        .map(|(i, like)| {
            let RepoEvent::LikeCreate {
                did,
                rkey,
                time_us,
                subject,
            } = like
            else {
                unreachable!("likes() makes like creates")
            };
            let post = Post {
                created_at_us: time_us,
                langs: vec![langs[i % langs.len()].to_string()],
                reply: (i % 5 == 0).then(|| feedmixer_atproto::ReplyRefs {
                    root: subject.clone(),
                    parent: subject,
                }),
                embed: (i % 4 == 0).then_some(feedmixer_atproto::Embed::Images),
                text: "a post of about the usual length, which the store does not keep".into(),
                ..Post::default()
            };
            RepoEvent::PostCreate {
                did,
                rkey,
                time_us,
                post: Box::new(post),
            }
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn load(store: &EmbeddedStore, likes: &[RepoEvent]) {
    for batch in likes.chunks(BATCH) {
        black_box(store.apply(batch).await.unwrap());
    }
}

fn bulk_load(c: &mut Criterion) {
    let rt = runtime();
    let likes = likes();
    let mut group = c.benchmark_group("bulk_load");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Elements(LIKES as u64));
    let posts = posts();
    for (name, events) in [
        ("apply_1m_in_50k_batches", &likes),
        ("apply_1m_posts_in_50k_batches", &posts),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().unwrap();
                    let store = EmbeddedStore::open(dir.path()).unwrap();
                    let started = Instant::now();
                    rt.block_on(load(&store, events));
                    total += started.elapsed();
                }
                total
            });
        });
    }
    group.finish();
}

fn scan(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    rt.block_on(load(&store, &likes()));
    let mut group = c.benchmark_group("scan");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(LIKES as u64));
    group.bench_function("scan_1m", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            let n = rt
                .block_on(store.scan_likes(0, &mut |like| {
                    sum = sum.wrapping_add(like.time_us);
                }))
                .unwrap();
            black_box((n, sum))
        });
    });
    group.finish();
}

criterion_group!(benches, bulk_load, scan);
criterion_main!(benches);
