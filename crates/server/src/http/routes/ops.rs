//! Open operational routes: readiness and metrics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::AppState;

/// 200 when feeds are served, 503 while the graph is loading. A store
/// that cannot be reached leaves the replica ready (it serves from its
/// graph and cached state) and says `degraded`: taking every replica out
/// of a load balancer because their shared store is down would turn a
/// degradation into an outage.
pub async fn ready(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    match (state.is_ready(), state.store_reachable()) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "loading\n"),
        (true, true) => (StatusCode::OK, "ready\n"),
        (true, false) => (StatusCode::OK, "degraded: the store is unreachable\n"),
    }
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
