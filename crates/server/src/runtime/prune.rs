//! Keeps the store to the retention window: hourly, one replica (the one
//! that takes the store lease `prune`) drops what the window left behind,
//! in bounded steps so writers never wait long.

use std::sync::Arc;
use std::time::Duration;

use feedmixer_atproto::clock::now_us;
use feedmixer_store::PruneStats;
use metrics::counter;

use crate::AppState;
use crate::metrics::PRUNED;

const EVERY: Duration = Duration::from_secs(3600);
/// Likes removed per store call.
const STEP: usize = 20_000;
/// Held for most of a round's period, so one replica prunes per round.
const LEASE_TTL: Duration = Duration::from_secs(50 * 60);

/// The `what` label of each kind [`PruneStats`] counts, and its count.
fn kinds(stats: &PruneStats) -> [(&'static str, u64); 6] {
    [
        ("likes", stats.likes),
        ("tombstones", stats.tombstones),
        ("accounts", stats.accounts),
        ("posts", stats.posts),
        ("post_tombstones", stats.post_tombstones),
        ("account_statuses", stats.account_statuses),
    ]
}

/// Prunes every hour until the task is dropped, the first time a minute
/// after start (the graph is built by then).
pub async fn keep_store_pruned(state: Arc<AppState>, holder: String) {
    for (what, _) in kinds(&PruneStats::default()) {
        counter!(PRUNED, "what" => what).increment(0);
    }
    tokio::time::sleep(Duration::from_secs(60)).await;
    loop {
        match state.store.acquire_lease("prune", &holder, LEASE_TTL).await {
            Ok(true) => prune_once(&state).await,
            Ok(false) => tracing::debug!("another replica prunes this round"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the prune lease; skipping this round")
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

async fn prune_once(state: &AppState) {
    let retention_us = u64::from(state.config.retention_days) * 86_400 * 1_000_000;
    let before_us = now_us().saturating_sub(retention_us);
    let mut total = PruneStats::default();
    loop {
        match state.store.prune(before_us, STEP).await {
            Ok(stats) => {
                total.add(&stats);
                for (what, count) in kinds(&stats) {
                    counter!(PRUNED, "what" => what).increment(count);
                }
                if !stats.more {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "pruning stopped; the next round goes on");
                break;
            }
        }
    }
    tracing::info!(%total, "pruned what the retention window left behind");
}
