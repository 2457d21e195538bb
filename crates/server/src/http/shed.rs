//! Load shedding for the routes that rank (getFeedSkeleton, personalize):
//! at most `[http] max_in_flight` of them run at once and
//! `max_queued` wait for a turn; one beyond both is answered 503 with
//! `Retry-After` at once. The queue never grows past its bound, so under
//! any offered load a ranked request waits at most a bounded time, and the
//! quality factor keeps each ranking within the flow's target.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::counter;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::AppState;
use crate::config::HttpConfig;
use crate::http::error::XrpcError;
use crate::metrics::SHED;

/// The turns of the ranking routes.
pub struct Shedder {
    /// `None`: shedding is off (`max_in_flight = 0`).
    running: Option<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl Shedder {
    pub fn new(limits: &HttpConfig) -> Self {
        let in_flight = limits.in_flight();
        Shedder {
            running: (in_flight > 0).then(|| Semaphore::new(in_flight)),
            waiting: AtomicUsize::new(0),
            max_waiting: limits.queued(),
        }
    }

    /// A turn, at once or after waiting in the bounded queue; `None` when
    /// the queue is full. A permitless `Some` when shedding is off.
    async fn turn(&self) -> Option<Option<SemaphorePermit<'_>>> {
        let Some(running) = &self.running else {
            return Some(None);
        };
        if let Ok(permit) = running.try_acquire() {
            return Some(Some(permit));
        }
        let waiting = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _leave = Leave(&self.waiting);
        if waiting >= self.max_waiting {
            return None;
        }
        running.acquire().await.ok().map(Some)
    }
}

/// Leaves the queue when the wait ends, however it ends (a dropped request
/// future included).
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The middleware: runs the request in its turn, or answers 503.
pub async fn shed(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    match state.shedder.turn().await {
        Some(_turn) => next.run(request).await,
        None => {
            counter!(SHED).increment(1);
            XrpcError::overloaded().into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shedder(max_in_flight: usize, max_queued: usize) -> Arc<Shedder> {
        Arc::new(Shedder::new(&HttpConfig {
            max_in_flight: Some(max_in_flight),
            max_queued: Some(max_queued),
            ..HttpConfig::default()
        }))
    }

    #[tokio::test]
    async fn past_the_running_and_the_queued_requests_are_refused_at_once() {
        let s = shedder(1, 1);
        let first = s.turn().await.unwrap();
        let queued = {
            let s = s.clone();
            tokio::spawn(async move { s.turn().await.is_some() })
        };
        while s.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(s.turn().await.is_none(), "the queue is full");
        drop(first);
        assert!(queued.await.unwrap(), "the queued one got its turn");
        assert_eq!(s.waiting.load(Ordering::Acquire), 0);
        assert!(s.turn().await.is_some());
    }

    #[tokio::test]
    async fn a_request_dropped_while_queued_leaves_the_queue() {
        let s = shedder(1, 1);
        let _first = s.turn().await.unwrap();
        let waiting = {
            let s = s.clone();
            tokio::spawn(async move {
                let _ = s.turn().await;
            })
        };
        while s.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        waiting.abort();
        let _ = waiting.await;
        assert_eq!(s.waiting.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn zero_in_flight_turns_shedding_off() {
        let s = shedder(0, 0);
        let mut turns = Vec::new();
        for _ in 0..100 {
            turns.push(s.turn().await.expect("never refused"));
        }
    }
}
