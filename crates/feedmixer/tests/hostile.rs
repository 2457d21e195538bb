//! End to end: what a slow or hostile client can hold of the real binary:
//! a request head trickled in, an oversized head, a huge query, more
//! connections than the cap.

mod support;

use std::time::{Duration, Instant};

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn server_with(http: &str) -> (Server, tempfile::TempDir, tempfile::TempDir) {
    let (config_dir, config) = config_with(&format!("[http]\n{http}"));
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--config", config.to_str().unwrap()]).await;
    (server, data, config_dir)
}

async fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection (or 30 s pass); what it
/// sent before closing.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server never closed the connection");
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn a_trickled_request_head_is_cut_off() {
    let (server, _data, _config) = server_with("header_read_timeout_ms = 300").await;
    let mut slow = connect(&server).await;
    let started = Instant::now();
    // A head that never ends: the blank line never comes.
    slow.write_all(b"GET /internal/ready HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut slow).await;
    eprintln!(
        "closed after {} ms: {answer:?}",
        started.elapsed().as_millis()
    );
    assert!(!answer.contains("200 OK"), "{answer}");
    // Meanwhile everyone else is served.
    let (status, _) = server.get("/internal/ready").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_oversized_head_or_query_is_refused() {
    let (server, _data, _config) =
        server_with("max_header_bytes = 16384\nmax_query_bytes = 1024").await;
    let mut big = connect(&server).await;
    let head = format!(
        "GET /internal/ready HTTP/1.1\r\nHost: x\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    // The server may close before taking it all.
    let _ = big.write_all(head.as_bytes()).await;
    let answer = read_to_close(&mut big).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");

    let long = format!(
        "/xrpc/app.bsky.feed.getFeedSkeleton?feed={}&limit=5&cursor={}",
        feed_uri("trending"),
        "x".repeat(2_000)
    );
    let (status, body) = server.get(&long).await;
    assert_eq!(status, 414, "{body}");
    assert_eq!(body["error"], "InvalidRequest");
    // Just under the cap is a normal request (here: a bad cursor).
    let fits = format!(
        "/xrpc/app.bsky.feed.getFeedSkeleton?feed={}&cursor={}",
        feed_uri("trending"),
        "x".repeat(500)
    );
    assert_eq!(server.get(&fits).await.0, 400);
}

/// Sends one request on a kept-alive connection and reads its answer's
/// status line: proves the server accepted the connection.
async fn ask(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /internal/ready HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
        .await
        .expect("answered")
        .unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn connections_past_the_cap_wait_for_a_free_one() {
    let (server, _data, _config) = server_with("max_connections = 2").await;
    // Two kept-alive connections take both places.
    let mut first = connect(&server).await;
    let mut second = connect(&server).await;
    assert_eq!(ask(&mut first).await, "HTTP/1.1 200 OK");
    assert_eq!(ask(&mut second).await, "HTTP/1.1 200 OK");
    let mut third = connect(&server).await;
    let waiting = tokio::spawn(async move { ask(&mut third).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "served past the connection cap");
    // One goes: the waiting one is served.
    drop(first);
    let status = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("served once a place was free")
        .unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    drop(second);
}
