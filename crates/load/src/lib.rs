//! Open-loop HTTP load: request `i` is due at `start + i / rate`, whether
//! or not earlier ones have been answered, and its latency counts from
//! when it was due. A closed-loop tool (wrk) waits for an answer before
//! sending the next request, so a slow server lowers the load it is
//! offered and hides its queueing ("coordinated omission"); this cannot
//! measure "p99 at half the saturating rate" nor "3x the saturating load".
//!
//! `connections` keep-alive HTTP/1.1 connections share the schedule: a
//! free connection takes the next due request, waiting until it is due. A
//! request due while every connection is busy waits on the client, and
//! that wait is part of its latency, as it would be for a real caller.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// What to send, how fast and for how long.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `host:port` of the server (loopback in our benches).
    pub addr: SocketAddr,
    /// Path and query, e.g. `/v1/personalize`.
    pub path: String,
    pub method: Method,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// Requests per second offered.
    pub rate: f64,
    /// How long requests are measured, after the warm-up.
    pub duration: Duration,
    /// Requests due in this first stretch are sent but not counted.
    pub warmup: Duration,
    pub connections: usize,
    /// A request not answered within this counts as an error.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("rate must be a positive number of requests per second")]
    Rate,
    #[error("at least one connection is needed")]
    Connections,
}

impl Plan {
    fn check(&self) -> Result<(), PlanError> {
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err(PlanError::Rate);
        }
        if self.connections == 0 {
            return Err(PlanError::Connections);
        }
        Ok(())
    }

    /// When request `i` is due, from the start of the run.
    fn due(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }
}

/// One request's fate.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    /// HTTP status, or 0 for a transport error or timeout.
    status: u16,
    /// From when the request was due to when its whole body was read.
    latency_us: u64,
    /// From when it was sent: the server's share, without the client's
    /// own backlog.
    service_us: u64,
    /// When its answer was read, from the start of the run.
    done_us: u64,
    retry_after: bool,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `latencies_us` (sorted here).
    fn of(latencies_us: &mut [u64]) -> Percentiles {
        if latencies_us.is_empty() {
            return Percentiles::default();
        }
        latencies_us.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * latencies_us.len() as f64).ceil() as usize).max(1);
            latencies_us[rank - 1] as f64 / 1000.0
        };
        Percentiles {
            p50: at(0.50),
            p90: at(0.90),
            p95: at(0.95),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// What a run measured (requests due after the warm-up).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub offered_per_sec: f64,
    pub duration_s: f64,
    pub connections: usize,
    /// Requests due in the measured stretch.
    pub sent: u64,
    /// Answers by status (`"200"`, `"503"`, ...).
    pub status: std::collections::BTreeMap<String, u64>,
    /// Transport errors and timeouts.
    pub errors: u64,
    /// 503 answers that carried `Retry-After`.
    pub retry_after_503: u64,
    /// From the first request due in the measured stretch to the last
    /// answer: longer than `duration_s` when the server fell behind.
    pub wall_s: f64,
    /// 2xx answers per second of `wall_s`.
    pub ok_per_sec: f64,
    /// Latency of 2xx answers, from when each was due.
    pub ok_ms: Percentiles,
    /// Latency of 2xx answers from when each was sent: the same as
    /// `ok_ms` unless the client itself fell behind (every connection
    /// busy, or `late_wakeups`).
    pub ok_service_ms: Percentiles,
    /// Latency of every answer (shed ones included).
    pub all_ms: Percentiles,
    /// Requests sent more than 2 ms after they were due although a
    /// connection was free: the load generator was short of CPU. Many of
    /// these mean the offered rate was not what it says.
    pub late_wakeups: u64,
}

impl Report {
    fn new(plan: &Plan, outcomes: &[Outcome], late_wakeups: u64) -> Report {
        let mut status = std::collections::BTreeMap::new();
        let (mut errors, mut retry_after_503) = (0, 0);
        let (mut ok, mut ok_service) = (Vec::new(), Vec::new());
        let mut all = Vec::with_capacity(outcomes.len());
        let mut last_done_us = 0;
        for o in outcomes {
            last_done_us = last_done_us.max(o.done_us);
            if o.status == 0 {
                errors += 1;
                continue;
            }
            *status.entry(o.status.to_string()).or_insert(0) += 1;
            if o.status == 503 && o.retry_after {
                retry_after_503 += 1;
            }
            if (200..300).contains(&o.status) {
                ok.push(o.latency_us);
                ok_service.push(o.service_us);
            }
            all.push(o.latency_us);
        }
        let seconds = plan.duration.as_secs_f64();
        let wall_s = (last_done_us as f64 / 1e6 - plan.warmup.as_secs_f64()).max(seconds);
        Report {
            offered_per_sec: plan.rate,
            duration_s: seconds,
            connections: plan.connections,
            sent: outcomes.len() as u64,
            status,
            errors,
            retry_after_503,
            wall_s,
            ok_per_sec: ok.len() as f64 / wall_s,
            ok_ms: Percentiles::of(&mut ok),
            ok_service_ms: Percentiles::of(&mut ok_service),
            all_ms: Percentiles::of(&mut all),
            late_wakeups,
        }
    }
}

/// Runs `plan` and reports on the requests due after its warm-up.
pub async fn run(plan: Plan) -> Result<Report, PlanError> {
    plan.check()?;
    let plan = Arc::new(plan);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..plan.connections)
        .map(|_| tokio::spawn(connection(plan.clone(), next.clone(), start)))
        .collect();
    let (mut outcomes, mut late_wakeups) = (Vec::new(), 0);
    for task in tasks {
        let measured = task.await.expect("a connection task panicked");
        outcomes.extend(measured.outcomes);
        late_wakeups += measured.late_wakeups;
    }
    Ok(Report::new(&plan, &outcomes, late_wakeups))
}

/// A timer firing later than this after a request was due means the client
/// itself is short of CPU: the offered rate was not met.
const LATE_WAKEUP: Duration = Duration::from_millis(2);

/// What one connection measured.
struct Measured {
    outcomes: Vec<Outcome>,
    late_wakeups: u64,
}

/// One keep-alive connection taking due requests until the run ends;
/// reconnects after a transport error.
async fn connection(plan: Arc<Plan>, next: Arc<AtomicU64>, start: Instant) -> Measured {
    let end = plan.warmup + plan.duration;
    let mut outcomes = Vec::new();
    let mut late_wakeups = 0;
    let mut sender = None;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let due_at = plan.due(i);
        if due_at >= end {
            return Measured {
                outcomes,
                late_wakeups,
            };
        }
        let due = start + due_at;
        // Taken late (every connection was busy): the wait counts. Taken
        // early: the timer wakes up to a millisecond late, which is the
        // client's doing, so latency counts from the wake-up.
        let from = if due > Instant::now() {
            tokio::time::sleep_until(due).await;
            let woke = Instant::now();
            if woke - due > LATE_WAKEUP && due_at >= plan.warmup {
                late_wakeups += 1;
            }
            woke
        } else {
            due
        };
        let sent = Instant::now();
        let answer = tokio::time::timeout(plan.timeout, send(&plan, &mut sender)).await;
        let (status, retry_after) = match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) | Err(_) => {
                sender = None;
                (0, false)
            }
        };
        let done = Instant::now();
        let outcome = Outcome {
            status,
            latency_us: (done - from).as_micros() as u64,
            service_us: (done - sent).as_micros() as u64,
            done_us: (done - start).as_micros() as u64,
            retry_after,
        };
        if due_at >= plan.warmup {
            outcomes.push(outcome);
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("connect: {0}")]
    Connect(#[from] std::io::Error),
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    #[error("request: {0}")]
    Request(#[from] hyper::http::Error),
}

/// Sends one request on `sender` (connecting first when there is none)
/// and reads the whole answer: its status and whether it had Retry-After.
async fn send(
    plan: &Plan,
    sender: &mut Option<http1::SendRequest<Full<Bytes>>>,
) -> Result<(u16, bool), SendError> {
    if sender.as_ref().is_none_or(|s| s.is_closed()) {
        let stream = TcpStream::connect(plan.addr).await?;
        stream.set_nodelay(true)?;
        let (send, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        *sender = Some(send);
    }
    let send = sender.as_mut().expect("connected above");
    send.ready().await?;
    let mut request = Request::builder()
        .method(plan.method.clone())
        .uri(&plan.path)
        .header(hyper::header::HOST, plan.addr.to_string());
    for (name, value) in &plan.headers {
        request = request.header(name, value);
    }
    let response = send
        .send_request(request.body(Full::new(plan.body.clone()))?)
        .await?;
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key(hyper::header::RETRY_AFTER);
    response.into_body().collect().await?;
    Ok((status, retry_after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut latencies: Vec<u64> = (1..=100).map(|ms| ms * 1000).collect();
        let p = Percentiles::of(&mut latencies);
        assert_eq!(
            (p.p50, p.p90, p.p95, p.p99, p.max),
            (50.0, 90.0, 95.0, 99.0, 100.0)
        );
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
        assert_eq!(Percentiles::of(&mut [7_000]).p50, 7.0);
    }

    #[test]
    fn requests_are_due_at_the_rate() {
        let plan = Plan {
            addr: "127.0.0.1:1".parse().unwrap(),
            path: "/".into(),
            method: Method::GET,
            headers: vec![],
            body: Bytes::new(),
            rate: 400.0,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            connections: 1,
            timeout: Duration::from_secs(1),
        };
        assert_eq!(plan.due(0), Duration::ZERO);
        assert_eq!(plan.due(400), Duration::from_secs(1));
        assert_eq!(plan.due(1), Duration::from_micros(2_500));
        assert!(
            Plan {
                rate: 0.0,
                ..plan.clone()
            }
            .check()
            .is_err()
        );
        assert!(
            Plan {
                connections: 0,
                ..plan
            }
            .check()
            .is_err()
        );
    }
}
