//! Jetstream ingest on one replica at a time: every replica given
//! `--jetstream-url` competes for the store lease `ingest`; the holder
//! ingests and renews it, the others stand by and take over when it lapses
//! (a replica stopped, crashed or cut off from the store). Ingest is
//! idempotent, so an overlap while a lease changes hands costs only
//! duplicates.

use std::sync::Arc;
use std::time::Duration;

use feedmixer_ingest::{IngestConfig, IngestError, Ingester};
use feedmixer_server::AppState;
use feedmixer_store::{PostRouter, Store};
use tokio::sync::{mpsc, watch};

/// The lease's name in the store.
const LEASE: &str = "ingest";

/// How long a lease lasts unless renewed (`[ingest] lease_ttl_secs`): a
/// standby takes over this long after the holder went silent. The holder
/// renews, and a standby asks, every third of it.
#[derive(Clone, Copy)]
struct Timing {
    ttl: Duration,
    renew_every: Duration,
}

impl Timing {
    fn new(state: &AppState) -> Self {
        let ttl = Duration::from_secs(state.config.ingest.lease_ttl_secs);
        Timing {
            ttl,
            renew_every: ttl / 3,
        }
    }
}

/// Competes for the lease and ingests while holding it, until `stop` is
/// set. A stored cursor that cannot be read needs an operator: it is sent
/// to `fatal` and ingest ends.
pub async fn run(
    config: IngestConfig,
    holder: String,
    store: Arc<dyn Store>,
    state: Arc<AppState>,
    stop: watch::Receiver<bool>,
    fatal: mpsc::Sender<anyhow::Error>,
) {
    let timing = Timing::new(&state);
    tracing::info!(holder, "competing for the ingest lease");
    let mut standby_logged = false;
    while !*stop.borrow() {
        match store.acquire_lease(LEASE, &holder, timing.ttl).await {
            Ok(true) => {
                standby_logged = false;
                tracing::info!(holder, "holding the ingest lease: ingesting");
                state.set_ingest_role("leader");
                let held =
                    ingest_while_held(&config, &store, &state, &holder, timing, stop.clone());
                match held.await {
                    Err(e @ IngestError::BadCursor(_)) => {
                        let _ = fatal.send(anyhow::anyhow!("ingest stopped: {e}")).await;
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "ingest stopped; competing again"),
                    Ok(()) => {}
                }
                state.set_ingest_role("standby");
            }
            Ok(false) => {
                if !standby_logged {
                    tracing::info!(holder, "another replica ingests; standing by");
                    standby_logged = true;
                }
                state.set_ingest_role("standby");
            }
            Err(e) => tracing::warn!(error = %e, "cannot reach the store for the ingest lease"),
        }
        wait_or_stop(timing.renew_every, stop.clone()).await;
    }
    let _ = store.release_lease(LEASE, &holder).await;
}

/// Runs one ingester until `stop`, or until the lease cannot be renewed.
async fn ingest_while_held(
    config: &IngestConfig,
    store: &Arc<dyn Store>,
    state: &Arc<AppState>,
    holder: &str,
    timing: Timing,
    stop: watch::Receiver<bool>,
) -> Result<(), IngestError> {
    let ingester = Ingester::new(config.clone())?;
    state.watch_ingest(ingester.status());
    let (lost_tx, mut lost_rx) = watch::channel(false);
    let renew = {
        let (store, holder, stop) = (Arc::clone(store), holder.to_string(), stop.clone());
        tokio::spawn(async move {
            while !*stop.borrow() {
                wait_or_stop(timing.renew_every, stop.clone()).await;
                if *stop.borrow() {
                    break;
                }
                match store.acquire_lease(LEASE, &holder, timing.ttl).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(
                            "the ingest lease passed to another replica; stopping ingest"
                        );
                        let _ = lost_tx.send(true);
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot renew the ingest lease; stopping ingest");
                        let _ = lost_tx.send(true);
                        break;
                    }
                }
            }
        })
    };
    let mut stop_rx = stop.clone();
    let shutdown = async move {
        tokio::select! {
            _ = stop_rx.wait_for(|s| *s) => {}
            _ = lost_rx.wait_for(|lost| *lost) => {}
        }
    };
    let router: Arc<dyn PostRouter> = state.clone();
    let result = ingester.run(Arc::clone(store), router, shutdown).await;
    renew.abort();
    result
}

async fn wait_or_stop(pause: Duration, mut stop: watch::Receiver<bool>) {
    let _ = tokio::time::timeout(pause, stop.wait_for(|s| *s)).await;
}

/// Names this process in the store's leases: the pod or host name and a
/// random suffix, so two processes on one host differ.
pub fn holder_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "feedmixer".to_string());
    format!("{host}-{:08x}", rand::random::<u32>())
}
