//! What the post index costs a replica: memory per post and build speed,
//! at 10M posts (about a week of Bluesky posts at a third of the network).
//!
//! `cargo bench -p feedmixer-graph --bench post_index [-- POSTS]`
//!
//! Builds a graph of posts only (no likes) from synthetic records shaped
//! like the firehose's (did:plc authors, TID record keys, one to three
//! languages, a fifth replies, a quarter with media) and prints:
//! posts/s added and built, and the graph's bytes per post, split into the
//! index itself (`PostInfo`, the chronological order) and the interned
//! URIs and authors every graph post has. Then what a refresh costs on
//! that graph: an update with a thousand new posts, with no inactive
//! account and with 10,000 (taken down, deactivated) hidden.

use std::hint::black_box;
use std::time::Instant;

use feedmixer_atproto::{Embed, Post, ReplyRefs};
use feedmixer_graph::{GraphBuilder, GraphChange};

const DEFAULT_POSTS: usize = 10_000_000;
const AUTHORS: u64 = 1_000_000;
const LANGS: [&str; 8] = ["en", "ja", "pt-BR", "de", "nb-NO", "es", "ko", "fr"];

fn base32(mut n: u64, len: usize) -> String {
    const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
    (0..len)
        .map(|_| {
            let c = ALPHABET[(n % 32) as usize] as char;
            n /= 32;
            c
        })
        .collect()
}

fn main() {
    let posts: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(DEFAULT_POSTS);
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let start_us = 1_725_000_000_000_000_u64;
    let reply_to = ReplyRefs {
        root: "at://did:plc:root/app.bsky.feed.post/3root".into(),
        parent: "at://did:plc:root/app.bsky.feed.post/3root".into(),
    };
    println!("generating {posts} posts");
    let did = |author: u64| {
        format!(
            "did:plc:{}",
            base32(author.wrapping_mul(0x9e37_79b9_7f4a_7c15), 24)
        )
    };
    let records: Vec<(String, u64, Post)> = (0..posts as u64 + 1_000)
        .map(|i| {
            let author = (next() % AUTHORS).pow(2) / AUTHORS;
            let time_us = start_us + i * 60 + next() % 60;
            let uri = format!(
                "at://{}/app.bsky.feed.post/{}",
                did(author),
                base32(time_us << 10, 13)
            );
            let roll = next() % 100;
            let mut langs = vec![LANGS[(next() % 8) as usize].to_string()];
            if roll < 10 {
                langs.push("en".into());
            }
            let post = Post {
                langs,
                reply: (roll % 5 == 0).then(|| reply_to.clone()),
                embed: (roll < 25).then_some(Embed::Images),
                ..Post::default()
            };
            (uri, time_us, post)
        })
        .collect();

    let empty = GraphBuilder::new(0).build().memory_bytes();
    let started = Instant::now();
    let (records, later) = records.split_at(posts);
    let mut builder = GraphBuilder::with_capacity(0, 0);
    for (uri, time_us, post) in records {
        builder.add_post(uri, *time_us, post);
    }
    let added = started.elapsed();
    let graph = builder.build();
    let built = started.elapsed();
    black_box(&graph);
    let total = graph.memory_bytes() - empty;
    let index = graph.num_posts() * size_of::<feedmixer_graph::PostInfo>()
        + std::mem::size_of_val(graph.chronological());
    let per = |bytes: usize| bytes as f64 / posts as f64;
    println!(
        "posts {}: added in {:.2} s ({:.0} posts/s), built in {:.2} s ({:.0} posts/s)",
        graph.num_indexed_posts(),
        added.as_secs_f64(),
        posts as f64 / added.as_secs_f64(),
        built.as_secs_f64(),
        posts as f64 / built.as_secs_f64()
    );
    println!(
        "memory: {:.1} bytes/post in all ({:.0} MB): the index {:.1} bytes/post (PostInfo and \
         the chronological order), interned URIs and authors {:.1} bytes/post",
        per(total),
        total as f64 / 1e6,
        per(index),
        per(total - index)
    );

    let new_posts: Vec<GraphChange<'_>> = later
        .iter()
        .map(|(uri, time_us, post)| GraphChange::PostAdded {
            post: uri,
            indexed_us: *time_us,
            info: post,
        })
        .collect();
    // The best of three: the first also pays for the pages of the copy.
    let best_update = |graph: &feedmixer_graph::LikeGraph| {
        (0..3)
            .map(|_| {
                let started = Instant::now();
                black_box(graph.with_changes(0, &new_posts));
                started.elapsed()
            })
            .min()
            .expect("three runs")
    };
    let plain = best_update(&graph);
    let inactive: Vec<String> = (0..10_000).map(|n| did(n * 97)).collect();
    let hide: Vec<GraphChange<'_>> = inactive
        .iter()
        .map(|user| GraphChange::AccountHidden { user })
        .collect();
    let hidden = graph.with_changes(0, &hide);
    drop(graph);
    let with_hidden = best_update(&hidden);
    let updated = hidden.with_changes(0, &new_posts);
    println!(
        "update with {} new posts (best of 3): {:.0} ms; with {} inactive accounts ({} posts \
         hidden): {:.0} ms",
        new_posts.len(),
        plain.as_secs_f64() * 1e3,
        updated.num_hidden_accounts(),
        posts + new_posts.len() - updated.num_indexed_posts(),
        with_hidden.as_secs_f64() * 1e3
    );
}
