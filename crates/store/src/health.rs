//! Whether the store answers, shared by everything that calls it on the
//! request path: while it does not, those calls are skipped rather than
//! left to time out one by one, and the page is served without them.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use metrics::{counter, gauge};

use crate::StoreError;
use crate::metrics::{OUTCOMES, STORE_ERRORS, STORE_UP};

/// The longest a request waits on one store call.
pub const REQUEST_STORE_TIMEOUT: Duration = Duration::from_millis(250);

/// The store's reachability as last observed (up until told otherwise),
/// exported as `feedmixer_store_up`. Clones share one state.
#[derive(Clone)]
pub struct StoreHealth(Arc<AtomicBool>);

impl StoreHealth {
    pub fn new() -> Self {
        record_up(true);
        StoreHealth(Arc::new(AtomicBool::new(true)))
    }

    /// Exports the error series of `ops` at zero, so the first failure of
    /// each is an increase a rate can see.
    pub fn register_ops(&self, ops: &[&'static str]) {
        for &op in ops {
            for outcome in OUTCOMES {
                counter!(STORE_ERRORS, "op" => op, "outcome" => outcome).increment(0);
            }
        }
    }

    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Sets the state; returns the previous one.
    pub fn set(&self, up: bool) -> bool {
        let was = self.0.swap(up, Ordering::AcqRel);
        record_up(up);
        was
    }

    /// Runs a store call on the request path: skipped while the store is
    /// down, bounded by [`REQUEST_STORE_TIMEOUT`]; a failure is logged and
    /// is `None`, and the caller carries on without the value.
    pub async fn call<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Option<T> {
        if !self.is_up() {
            record_error(op, "skipped");
            return None;
        }
        match tokio::time::timeout(REQUEST_STORE_TIMEOUT, call).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                record_error(op, "error");
                tracing::warn!(op, error = %e, "store call failed; going on without it");
                None
            }
            Err(_) => {
                record_error(op, "timeout");
                tracing::warn!(op, "store call timed out; going on without it");
                None
            }
        }
    }
}

impl Default for StoreHealth {
    fn default() -> Self {
        StoreHealth::new()
    }
}

fn record_up(up: bool) {
    gauge!(STORE_UP).set(if up { 1.0 } else { 0.0 });
}

fn record_error(op: &'static str, outcome: &'static str) {
    counter!(STORE_ERRORS, "op" => op, "outcome" => outcome).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_are_skipped_while_the_store_is_down() {
        let health = StoreHealth::new();
        let other = health.clone();
        assert!(health.is_up());
        assert_eq!(health.call("op", async { Ok(7) }).await, Some(7));
        assert!(other.set(false), "was up");
        assert!(!health.is_up(), "clones share the state");
        let called = std::sync::atomic::AtomicBool::new(false);
        let skipped = health
            .call("op", async {
                called.store(true, Ordering::Relaxed);
                Ok(7)
            })
            .await;
        assert_eq!(skipped, None);
        assert!(!called.load(Ordering::Relaxed));
        assert!(!health.set(true), "was down");
        let failed: Option<u8> = health
            .call("op", async { Err(StoreError::Backend("down".into())) })
            .await;
        assert_eq!(failed, None);
    }
}
