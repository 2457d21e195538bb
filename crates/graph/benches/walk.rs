//! Graph build throughput and walk / recent-likes latency on the demo
//! dataset (`DemoSpec::full`: 100k users, 1M likes over 7 days).
//!
//! `cargo bench -p feedmixer-graph` prints the graph's size and the
//! viewers' degrees first, then criterion's numbers.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feedmixer_atproto::RepoEvent;
use feedmixer_demo::{DEMO_VIEWER, DemoSpec, generate};
use feedmixer_graph::GraphChange;
use feedmixer_graph::{
    GraphBuilder, LikeGraph, UserId, WalkParams, WalkScratch, recent_like_scores, walk,
};

/// A fixed "now" so runs are comparable.
const NOW_SECS: u32 = 1_750_000_000;
const DAY: u32 = 86_400;

struct Like {
    did: String,
    subject: String,
    ts: u32,
}

/// `DemoSpec::full`, or that many times bigger with
/// `FEEDMIXER_BENCH_SCALE=N` (10 gives the 10M-like graph production
/// replicas are sized for, where the walk's random reads miss the cache).
fn demo_likes() -> Vec<Like> {
    let scale: usize = std::env::var("FEEDMIXER_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let spec = DemoSpec::scaled(u64::from(NOW_SECS) * 1_000_000, scale);
    let mut likes = Vec::with_capacity(spec.likes);
    generate(&spec, |event| {
        if let RepoEvent::LikeCreate {
            did,
            subject,
            time_us,
            ..
        } = event
        {
            let ts = (time_us / 1_000_000) as u32;
            likes.push(Like { did, subject, ts });
        }
    });
    likes
}

fn build(likes: &[Like]) -> LikeGraph {
    let mut builder = GraphBuilder::with_capacity(NOW_SECS - 8 * DAY, likes.len());
    for like in likes {
        builder.add_like(&like.did, &like.subject, like.ts);
    }
    builder.build()
}

/// The demo viewer, a light user (the first with ~10 likes) and the
/// heaviest liker.
fn viewers(graph: &LikeGraph) -> [(&'static str, UserId); 3] {
    let users = 0..graph.num_users() as UserId;
    let degree = |u: UserId| graph.likes_of(u).len();
    let light = users
        .clone()
        .min_by_key(|&u| degree(u).abs_diff(10))
        .expect("users");
    let heavy = users.max_by_key(|&u| degree(u)).expect("users");
    let demo = graph.user_id(DEMO_VIEWER).expect("demo viewer in graph");
    [("demo", demo), ("light", light), ("heavy", heavy)]
}

/// Edges a walk reads in step 2 and step 3, and the co-likers it keeps,
/// for ns-per-edge figures.
fn edges_read(graph: &LikeGraph, viewer: UserId, p: &WalkParams) -> (usize, usize, usize) {
    let newest = |n: usize, cap: usize| n.min(cap);
    let likes = graph.likes_of(viewer);
    let mut seen = std::collections::HashSet::new();
    let mut colikers = Vec::new();
    let mut step2 = 0;
    for j in likes.iter().rev().take(p.max_likes) {
        let likers = graph.likers_of(j.id);
        let tail = &likers[likers.len() - newest(likers.len(), p.max_likers_per_post)..];
        step2 += tail.len();
        for s in tail.iter().rev() {
            if s.id != viewer && colikers.len() < p.max_colikers && seen.insert(s.id) {
                colikers.push(s.id);
            }
        }
    }
    let step3 = colikers
        .iter()
        .map(|&s| newest(graph.likes_of(s).len(), p.max_likes_per_coliker))
        .sum();
    (step2, colikers.len(), step3)
}

/// Per-call latency percentiles over `n` walks, printed next to
/// criterion's means: the tail is what a request budget sees, and the
/// minimum is what survives a noisy (shared) machine.
fn latency(n: usize, mut f: impl FnMut()) -> String {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    let at = |q: f64| times[((n - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    format!(
        "min {:.0} us, p50 {:.0} us, p99 {:.0} us",
        at(0.0),
        at(0.5),
        at(0.99)
    )
}

fn benches(c: &mut Criterion) {
    let likes = demo_likes();
    let graph = build(&likes);
    println!(
        "demo graph: {} users ({} likers), {} posts, {} likes, memory_bytes {} ({:.1} B/like)",
        graph.num_users(),
        graph.num_likers(),
        graph.num_posts(),
        graph.num_likes(),
        graph.memory_bytes(),
        graph.memory_bytes() as f64 / graph.num_likes() as f64,
    );

    let mut group = c.benchmark_group("build");
    group.sample_size(10);
    group.throughput(Throughput::Elements(likes.len() as u64));
    group.bench_function("demo_full", |b| b.iter(|| build(black_box(&likes))));
    group.finish();

    // Following the log: 1,000 new likes (new users on existing posts and
    // existing users on new posts) and 100 removals applied to the graph.
    let extra: Vec<(String, String)> = (0..1_000)
        .map(|n| {
            let post = graph
                .post_uri((n * 37 % graph.num_posts()) as u32)
                .to_string();
            if n % 2 == 0 {
                (format!("did:plc:follower{n:016}"), post)
            } else {
                let user = graph
                    .user_did((n * 53 % graph.num_users()) as u32)
                    .to_string();
                (
                    user,
                    format!("at://did:plc:newauthor{n:014}/app.bsky.feed.post/3new{n}"),
                )
            }
        })
        .collect();
    let mut changes: Vec<GraphChange<'_>> = extra
        .iter()
        .map(|(user, post)| GraphChange::Added {
            user,
            post,
            ts: NOW_SECS - 60,
        })
        .collect();
    for like in likes.iter().step_by(likes.len() / 100).take(100) {
        changes.push(GraphChange::Removed {
            user: &like.did,
            post: &like.subject,
            ts: like.ts,
        });
    }
    let mut group = c.benchmark_group("update");
    group.sample_size(10);
    group.bench_function("demo_1100_changes", |b| {
        b.iter(|| graph.with_changes(graph.window_start(), black_box(&changes)))
    });
    group.finish();

    let caps = [
        ("default", WalkParams::default()),
        ("fast", WalkParams::fast()),
    ];
    let mut scratch = WalkScratch::new();
    let mut group = c.benchmark_group("walk");
    for (name, viewer) in viewers(&graph) {
        for (caps_name, params) in &caps {
            let results = walk(&graph, viewer, params, NOW_SECS, &mut scratch).len();
            let (step2, colikers, step3) = edges_read(&graph, viewer, params);
            let times = latency(1_000, || {
                black_box(walk(&graph, viewer, params, NOW_SECS, &mut scratch));
            });
            println!(
                "walk {name}/{caps_name}: viewer likes {}, step-2 edges {step2}, \
                 co-likers {colikers}, step-3 edges {step3}, results {results}; {times}",
                graph.likes_of(viewer).len()
            );
            group.bench_function(format!("{name}/{caps_name}"), |b| {
                b.iter(|| walk(&graph, black_box(viewer), params, NOW_SECS, &mut scratch))
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("recent_like_scores");
    group.bench_function("6h_window", |b| {
        b.iter(|| recent_like_scores(&graph, black_box(NOW_SECS), 6 * 3_600, 3 * 3_600, 500))
    });
    group.finish();
}

criterion_group!(walk_benches, benches);
criterion_main!(walk_benches);
