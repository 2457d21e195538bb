//! Posts end to end: a Jetstream stand-in streams posts and likes in
//! several languages, with replies, media, deletes and an account
//! deletion, into the real binary; the feeds built from posts answer over
//! HTTP.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use feedmixer_atproto::clock::now_us;
use feedmixer_atproto::{Embed, Post, ReplyRefs, post_uri};
use serde_json::{Value, json};
use support::*;

/// Authors, each writing in one language.
const NB: &str = "did:plc:nbauthor2222222222222222";
const NN: &str = "did:plc:nnauthor2222222222222222";
const SE: &str = "did:plc:seauthor2222222222222222";
const EN: &str = "did:plc:enauthor2222222222222222";
const GONE: &str = "did:plc:goneauthor22222222222222";

fn record(langs: &[&str], text: &str) -> Post {
    Post {
        langs: langs.iter().map(|l| l.to_string()).collect(),
        text: text.into(),
        ..Post::default()
    }
}

/// The `n`th post of a test's stream: who, in what, with replies and
/// media mixed in.
fn nth_post(n: usize) -> (&'static str, Post) {
    let (author, langs): (&str, &[&str]) = match n % 5 {
        0 => (NB, &["nb-NO"]),
        1 => (EN, &["en"]),
        2 => (NN, &["nn", "en"]),
        3 => (SE, &["se"]),
        _ => (EN, &["ja"]),
    };
    let mut post = record(langs, &format!("post {n}"));
    if n.is_multiple_of(3) {
        post.reply = Some(ReplyRefs {
            root: post_uri(EN, "root"),
            parent: post_uri(EN, "root"),
        });
    }
    if n.is_multiple_of(4) {
        post.embed = Some(Embed::Images);
    }
    (author, post)
}

fn is_norsk(n: usize) -> bool {
    matches!(n % 5, 0 | 2 | 3)
}

/// Starts the server on an empty store, ingesting from a live stand-in,
/// with the shipped config (a graph refresh every 0.5 s).
async fn server() -> (
    Server,
    tokio::sync::mpsc::UnboundedSender<String>,
    tempfile::TempDir,
    tempfile::TempDir,
) {
    let (addr, stream) = jetstream_live().await;
    let (config_dir, config) = config_with("");
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--jetstream-url",
            &format!("ws://{addr}"),
        ],
    )
    .await;
    (server, stream, data, config_dir)
}

/// Waits until the graph holds `n` servable indexed posts.
async fn wait_indexed(server: &Server, n: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, stats) = server.admin_get("/v1/stats").await;
        if stats["indexed_posts"].as_u64() == Some(n) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the graph never held {n} indexed posts: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn page(server: &Server, feed: &str, limit: usize, cursor: Option<&str>) -> Value {
    let (status, page) = server.skeleton(feed, limit, cursor).await;
    assert_eq!(status, 200, "{feed}: {page}");
    page
}

#[tokio::test]
async fn norsk_serves_norwegian_newest_first_and_pages_never_repeat_or_skip_while_posts_arrive() {
    let (server, stream, _data, _config) = server().await;
    let start = now_us() - 3_600_000_000;
    let mut uris = Vec::new();
    for n in 0..40 {
        let (author, post) = nth_post(n);
        let rkey = format!("3p{n:011}");
        stream
            .send(post_event(
                author,
                &rkey,
                start + n as u64 * 1_000_000,
                post,
            ))
            .unwrap();
        uris.push(post_uri(author, &rkey));
    }
    wait_indexed(&server, 40).await;
    // Newest first, only Norwegian and Sámi, replies included.
    let expected: Vec<String> = (0..40)
        .rev()
        .filter(|&n| is_norsk(n))
        .map(|n| uris[n].clone())
        .collect();
    assert_eq!(expected.len(), 24);

    let first = page(&server, "norsk", 2, None).await;
    let (status, headers) = {
        let r = server
            .client
            .get(server.url(&format!(
                "/xrpc/app.bsky.feed.getFeedSkeleton?feed={}&limit=1",
                feed_uri("norsk")
            )))
            .send()
            .await
            .unwrap();
        (r.status(), r.headers().clone())
    };
    assert_eq!(status, 200);
    assert_eq!(headers["content-language"], "nb, nn, no, se");

    let mut served = posts(&first);
    let mut cursor = first["cursor"].as_str().map(String::from);
    let mut next_n = 40;
    for _ in 0..9 {
        // Newer posts keep arriving between pages.
        for _ in 0..3 {
            let (author, post) = nth_post(next_n);
            let rkey = format!("3p{next_n:011}");
            stream
                .send(post_event(
                    author,
                    &rkey,
                    start + next_n as u64 * 1_000_000,
                    post,
                ))
                .unwrap();
            next_n += 1;
        }
        wait_indexed(&server, next_n as u64).await;
        let next = page(&server, "norsk", 2, cursor.as_deref()).await;
        served.extend(posts(&next));
        cursor = next["cursor"].as_str().map(String::from);
        assert!(cursor.is_some(), "more posts wait");
    }
    assert_eq!(
        served,
        expected[..20],
        "ten pages: no repeat, no skip, newest first"
    );
    // Paging on reaches the end of the window: the last page has no cursor.
    let mut pages = 0;
    while let Some(c) = cursor {
        let next = page(&server, "norsk", 2, Some(&c)).await;
        served.extend(posts(&next));
        cursor = next["cursor"].as_str().map(String::from);
        pages += 1;
        assert!(pages < 10, "paging ends");
    }
    assert_eq!(served, expected);
    // A session cursor is not a position.
    let (status, _) = server
        .skeleton("norsk", 2, Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA"))
        .await;
    assert_eq!(status, 400);
    server.stop();
}

/// Every post the feeds serve someone.
async fn every_feed(server: &Server, feeds: &[&str]) -> HashSet<String> {
    let mut seen = HashSet::new();
    for feed in feeds {
        let (status, page) = server
            .post_as(
                Some(TOKEN),
                "/v1/personalize",
                &json!({"user_did": "did:plc:someviewer22222222222222", "feed": feed, "limit": 50}),
            )
            .await;
        assert_eq!(status, 200, "{feed}: {page}");
        seen.extend(posts(&page));
    }
    seen
}

/// Streams a Norwegian post about Rust by each of `authors` (record keys
/// `PREFIX` + number), each liked by the same six likers; their URIs.
fn rust_posts_liked_by_six(
    stream: &tokio::sync::mpsc::UnboundedSender<String>,
    authors: &[&str],
    prefix: &str,
    start: u64,
) -> Vec<String> {
    let mut uris = Vec::new();
    for (n, author) in authors.iter().enumerate() {
        let rkey = format!("{prefix}{n:011}");
        let post = record(&["nb"], &format!("learning rust, part {n}"));
        stream
            .send(post_event(author, &rkey, start + n as u64, post))
            .unwrap();
        uris.push(post_uri(author, &rkey));
    }
    let mut likes = 0u64;
    for uri in &uris {
        for liker in 0..6 {
            likes += 1;
            stream
                .send(like(
                    &format!("did:plc:liker{liker:020}"),
                    likes,
                    uri,
                    start + 1_000_000 + likes,
                ))
                .unwrap();
        }
    }
    uris
}

#[tokio::test]
async fn deleted_posts_and_deleted_accounts_leave_every_feed() {
    let (server, stream, _data, _config) = server().await;
    let now = now_us();
    let start = now - 3_600_000_000;
    // Five Norwegian posts about Rust, two by an account that goes, each
    // liked by many.
    let authors = [NB, NB, NN, GONE, GONE];
    let uris = rust_posts_liked_by_six(&stream, &authors, "3d", start);
    wait_indexed(&server, 5).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while every_feed(&server, &["trending", "norsk", "rust"])
        .await
        .len()
        < 5
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the likes never showed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The author deletes one post; the other account goes altogether.
    let deleted_at = std::time::Instant::now();
    stream
        .send(post_delete_event(NB, "3d00000000000", now))
        .unwrap();
    stream.send(account_deleted_event(GONE, now)).unwrap();
    let gone: HashSet<String> = [&uris[0], &uris[3], &uris[4]]
        .into_iter()
        .cloned()
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let seen = every_feed(&server, &["trending", "norsk", "rust"]).await;
        if seen.is_disjoint(&gone) {
            assert!(seen.contains(&uris[1]) && seen.contains(&uris[2]));
            // Reported, not asserted: a loaded machine is slower.
            eprintln!(
                "deleted posts left every feed {} ms after their deletes were sent",
                deleted_at.elapsed().as_millis()
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "deleted posts stayed: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The store agrees, and its deleted-post likes no longer count.
    let (_, stats) = server.admin_get("/v1/stats").await;
    assert_eq!(stats["indexed_posts"], 2, "{stats}");
    assert_eq!(
        stats["likes"], 12,
        "likes of removed posts do not count: {stats}"
    );
    server.stop();
}

/// Polls `every_feed` until `done` holds of what they serve.
async fn until_feeds(server: &Server, what: &str, done: impl Fn(&HashSet<String>) -> bool) {
    let started = std::time::Instant::now();
    loop {
        let seen = every_feed(server, &["trending", "norsk", "rust"]).await;
        if done(&seen) {
            // Reported, not asserted: a loaded machine is slower.
            eprintln!("{what} after {} ms", started.elapsed().as_millis());
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} never happened: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn taken_down_accounts_leave_every_feed_and_return_when_reinstated() {
    let (server, stream, data, _config) = server().await;
    let now = now_us();
    let start = now - 3_600_000_000;
    const TAKEN: &str = "did:plc:takenauthor2222222222222";
    const SUSPENDED: &str = "did:plc:suspendedliker22222222222";
    let authors = [NB, NN, TAKEN, TAKEN];
    let uris = rust_posts_liked_by_six(&stream, &authors, "3t", start);
    // A liker that gets suspended: its likes stop counting too.
    stream
        .send(like(SUSPENDED, 99, &uris[0], start + 2_000_000))
        .unwrap();
    wait_indexed(&server, 4).await;
    until_feeds(&server, "the likes showed", |seen| seen.len() == 4).await;
    let (_, stats) = server.admin_get("/v1/stats").await;
    assert_eq!(stats["likes"], 25, "{stats}");

    let taken: HashSet<String> = uris[2..].iter().cloned().collect();
    stream
        .send(account_status_event(TAKEN, now, Some("takendown")))
        .unwrap();
    stream
        .send(account_status_event(SUSPENDED, now, Some("suspended")))
        .unwrap();
    until_feeds(&server, "taken-down posts left every feed", |seen| {
        seen.is_disjoint(&taken)
    })
    .await;
    let (_, stats) = server.admin_get("/v1/stats").await;
    assert_eq!(stats["indexed_posts"], 2, "{stats}");
    assert_eq!(stats["hidden_accounts"], 2, "{stats}");
    assert_eq!(
        (stats["likes"].as_u64(), stats["withheld_likes"].as_u64()),
        (Some(12), Some(13)),
        "likes by and of inactive accounts are held back: {stats}"
    );
    assert_eq!(stats["ingest"]["accounts_hidden"], 2, "{stats}");
    let served = every_feed(&server, &["trending", "norsk", "rust"]).await;
    assert!(served.contains(&uris[0]) && served.contains(&uris[1]));

    // Reinstated: everything comes back, nothing was lost.
    stream
        .send(account_status_event(TAKEN, now + 1, None))
        .unwrap();
    stream
        .send(account_status_event(SUSPENDED, now + 1, None))
        .unwrap();
    until_feeds(&server, "reinstated posts returned", |seen| {
        taken.is_subset(seen)
    })
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, stats) = server.admin_get("/v1/stats").await;
        if stats["likes"] == 25 {
            assert_eq!(stats["indexed_posts"], 4, "{stats}");
            assert_eq!(stats["hidden_accounts"], 0, "{stats}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A restart rebuilds from the store: hidden stays hidden.
    stream
        .send(account_status_event(TAKEN, now + 2, Some("deactivated")))
        .unwrap();
    until_feeds(&server, "deactivated posts left", |seen| {
        seen.is_disjoint(&taken)
    })
    .await;
    server.stop();
    let (_config_dir, config) = config_with("");
    let server = Server::start(data.path(), &["--config", config.to_str().unwrap()]).await;
    let (_, stats) = server.admin_get("/v1/stats").await;
    assert_eq!(
        (
            stats["hidden_accounts"].as_u64(),
            stats["indexed_posts"].as_u64()
        ),
        (Some(1), Some(2)),
        "{stats}"
    );
    assert!(
        every_feed(&server, &["trending", "norsk", "rust"])
            .await
            .is_disjoint(&taken)
    );
    server.stop();
}

#[tokio::test]
async fn a_keyword_feeds_pool_fills_from_the_stream_and_viewers_never_see_their_own_posts() {
    let (server, stream, _data, _config) = server().await;
    let start = now_us() - 600_000_000;
    let cases: [(&str, Post, bool); 6] = [
        (EN, record(&["en"], "Rust 2026 is out"), true),
        (EN, record(&["en"], "trusty old bike"), false),
        (
            NB,
            Post {
                tags: vec!["Rust".into()],
                ..record(&["nb"], "nytt prosjekt")
            },
            true,
        ),
        (EN, record(&["en"], "what about #RustLang?"), true),
        (
            EN,
            Post {
                reply: Some(ReplyRefs {
                    root: post_uri(NB, "root"),
                    parent: post_uri(NB, "root"),
                }),
                ..record(&["en"], "rust replies stay out")
            },
            false,
        ),
        (SE, record(&["se"], "rusty"), false),
    ];
    let mut expected = Vec::new();
    for (n, (author, post, joins)) in cases.into_iter().enumerate() {
        let rkey = format!("3k{n:011}");
        stream
            .send(post_event(author, &rkey, start + n as u64, post))
            .unwrap();
        if joins {
            expected.push(post_uri(author, &rkey));
        }
    }
    wait_indexed(&server, 6).await;
    expected.sort();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, pool) = server.admin_get("/v1/feeds/rust/pool").await;
        assert_eq!(status, 200);
        let mut got: Vec<String> = serde_json::from_value(pool["posts"].clone()).unwrap();
        got.sort();
        if got == expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pool {got:?}, want {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The feed serves its pool, as soon as the mirror reloaded it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, page) = server
            .post_as(
                Some(TOKEN),
                "/v1/personalize",
                &json!({"user_did": "did:plc:someviewer22222222222222", "feed": "rust", "limit": 10}),
            )
            .await;
        let mut served = posts(&page);
        served.sort();
        if served == expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "rust served {served:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Their author is not shown their own posts.
    let (_, page) = server
        .post_as(
            Some(TOKEN),
            "/v1/personalize",
            &json!({"user_did": EN, "feed": "rust", "limit": 10}),
        )
        .await;
    assert_eq!(posts(&page), vec![post_uri(NB, "3k00000000002")]);
    server.stop();
}
