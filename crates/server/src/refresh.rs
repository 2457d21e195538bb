//! Keeps the served graph current with the store's like log.
//!
//! The graph is immutable (compact CSR arrays a walk reads without locks),
//! so new likes reach it by rebuilding it from the log off the request
//! path and swapping the snapshot; requests in flight finish on the one
//! they started with. A rebuild runs when the store's likes version moved,
//! and at least hourly so the retention window slides. Between rebuilds the
//! refresher waits at least twice as long as the last rebuild took, so
//! rebuilding never takes more than a third of a core.

use std::sync::Arc;
use std::time::{Duration, Instant};

use feedmixer_graph::LikeGraph;
use feedmixer_store::StoreError;
use metrics::{counter, histogram};

use crate::bootstrap::load_graph;
use crate::serve_feed::now_secs;
use crate::state::AppState;

/// Graph rebuilds by `result` (`ok`, `error`).
pub const GRAPH_REBUILDS: &str = "feedmixer_graph_rebuilds_total";
/// Time to rebuild the graph from the store, seconds.
pub const GRAPH_REBUILD_DURATION: &str = "feedmixer_graph_rebuild_duration_seconds";

/// A rebuild even without new likes after this long: the window slides.
const MAX_AGE: Duration = Duration::from_secs(3600);

/// Rebuilds the graph whenever the log changed, checking every
/// `interval`; `version` is the likes version the current graph was built
/// from. Runs until the task is dropped.
pub async fn keep_graph_current(state: Arc<AppState>, interval: Duration, mut version: u64) {
    let mut built_at = Instant::now();
    let mut pause = interval;
    counter!(GRAPH_REBUILDS, "result" => "ok").increment(0);
    counter!(GRAPH_REBUILDS, "result" => "error").increment(0);
    loop {
        tokio::time::sleep(pause).await;
        let current = match state.store.likes_version().await {
            Ok(current) => current,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the likes version; graph not refreshed");
                continue;
            }
        };
        if current == version && built_at.elapsed() < MAX_AGE {
            continue;
        }
        let started = Instant::now();
        match rebuild(&state).await {
            Ok(graph) => {
                let took = started.elapsed();
                counter!(GRAPH_REBUILDS, "result" => "ok").increment(1);
                histogram!(GRAPH_REBUILD_DURATION).record(took.as_secs_f64());
                tracing::debug!(
                    likes = graph.num_likes(),
                    ms = took.as_millis() as u64,
                    "graph rebuilt"
                );
                state.set_graph(graph);
                // Changes during the rebuild may be missing: the version
                // read before it makes the next round catch them.
                version = current;
                built_at = Instant::now();
                pause = interval.max(took * 2);
            }
            Err(e) => {
                counter!(GRAPH_REBUILDS, "result" => "error").increment(1);
                tracing::error!(error = %e, "graph rebuild failed; serving the previous graph");
                pause = interval.max(Duration::from_secs(5));
            }
        }
    }
}

/// Builds a new graph on a blocking thread: the build is CPU work that
/// would otherwise stall a runtime worker serving requests.
async fn rebuild(state: &Arc<AppState>) -> Result<LikeGraph, StoreError> {
    let state = Arc::clone(state);
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        handle.block_on(load_graph(
            state.store.as_ref(),
            state.config.retention_days,
            now_secs(),
            &mut |_| {},
        ))
    })
    .await?
}
