//! The load generator against a local server whose speed we set.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use feedmixer_load::{Plan, run};
use hyper::Method;

/// `/fast` answers at once; `/slow` takes 20 ms, one request at a time
/// (50 per second at most); `/shed` answers 503 with Retry-After.
async fn server() -> SocketAddr {
    let one_at_a_time = Arc::new(tokio::sync::Mutex::new(()));
    let app = Router::new()
        .route("/fast", get(|| async { "ok" }))
        .route(
            "/slow",
            get(move || {
                let lock = one_at_a_time.clone();
                async move {
                    let _turn = lock.lock().await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    "slow"
                }
            }),
        )
        .route(
            "/shed",
            get(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", "1")],
                    "busy",
                )
                    .into_response()
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn plan(addr: SocketAddr, path: &str, rate: f64, connections: usize) -> Plan {
    Plan {
        addr,
        path: path.into(),
        method: Method::GET,
        headers: vec![],
        body: Bytes::new(),
        rate,
        duration: Duration::from_secs(1),
        warmup: Duration::from_millis(200),
        connections,
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn sends_every_request_due_in_the_measured_stretch() {
    let addr = server().await;
    let report = run(plan(addr, "/fast", 300.0, 4)).await.unwrap();
    assert_eq!(report.sent, 300, "rate x duration, the warm-up left out");
    assert_eq!(report.status.get("200"), Some(&300));
    assert_eq!(report.errors, 0);
    assert!(
        report.ok_per_sec > 250.0 && report.ok_per_sec <= 300.0,
        "{report:?}"
    );
}

#[tokio::test]
async fn a_server_slower_than_the_rate_shows_its_queue() {
    let addr = server().await;
    // 100/s offered to a server that does 50/s: by the end of the second
    // the backlog is about half a second deep. A closed loop would report
    // 20 ms for every request.
    let report = run(plan(addr, "/slow", 100.0, 1)).await.unwrap();
    assert_eq!(report.sent, 100);
    assert!(report.ok_ms.p50 > 100.0, "{report:?}");
    assert!(report.ok_ms.max > 400.0, "{report:?}");
    // Each answer itself took the server's 20 ms; the rest was the queue.
    assert!(report.ok_service_ms.p99 < 100.0, "{report:?}");
    // The backlog is served after the measured second: 2xx/s counts the
    // time it took.
    assert!(report.wall_s > 1.5, "{report:?}");
    assert!(report.ok_per_sec < 70.0, "{report:?}");
}

#[tokio::test]
async fn counts_shed_answers_and_transport_errors() {
    let addr = server().await;
    let report = run(plan(addr, "/shed", 100.0, 2)).await.unwrap();
    assert_eq!(report.status.get("503"), Some(&100));
    assert_eq!(report.retry_after_503, 100);
    assert_eq!(report.ok_per_sec, 0.0);

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let report = run(plan(closed, "/", 50.0, 1)).await.unwrap();
    assert_eq!(report.errors, 50, "{report:?}");
    assert!(report.status.is_empty());
}

#[tokio::test]
async fn refuses_a_plan_it_cannot_run() {
    let addr = server().await;
    assert!(run(plan(addr, "/fast", 0.0, 1)).await.is_err());
    assert!(run(plan(addr, "/fast", 10.0, 0)).await.is_err());
}
