//! The router: every route and, in one place, the layers around them.

use std::sync::Arc;
use std::time::Duration;

use axum::handler::Handler;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Router, middleware};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::AppState;
use crate::http::error::XrpcError;
use crate::http::routes::{
    describe, did, interactions, ops, personalize, pool, skeleton, special, stats,
};

/// The AppView waits 10 s for a skeleton; answering later is useless.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest bodies are admin pool updates (10,000 URIs).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

pub fn app(state: Arc<AppState>) -> Router {
    let writable =
        middleware::from_fn_with_state(state.clone(), crate::http::auth::require_writable);
    let writable_xrpc = writable.clone();
    let admin = Router::new()
        .route("/v1/personalize", post(personalize::personalize))
        .route("/v1/stats", get(stats::stats))
        .route(
            "/v1/feeds/{feed}/pool",
            get(pool::get_pool).post(pool::update_pool.layer(writable.clone())),
        )
        .route(
            "/v1/feeds/{feed}/special-posts",
            get(special::get_special).put(special::put_special.layer(writable)),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::http::auth::require_admin,
        ));

    Router::new()
        .route("/.well-known/did.json", get(did::did_json))
        .route(
            "/xrpc/app.bsky.feed.describeFeedGenerator",
            get(describe::describe),
        )
        .route(
            "/xrpc/app.bsky.feed.getFeedSkeleton",
            get(skeleton::get_feed_skeleton),
        )
        .route(
            "/xrpc/app.bsky.feed.sendInteractions",
            post(interactions::send_interactions.layer(writable_xrpc)),
        )
        .route("/internal/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .merge(admin)
        .fallback(|| async { XrpcError::not_found() })
        .layer(middleware::from_fn(crate::http::track::track))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        // Client errors and 503s while loading are answers, not failures:
        // per-request lines stay at debug, handlers log what is ours to fix.
        .layer(
            TraceLayer::new_for_http()
                .on_response(DefaultOnResponse::new().level(Level::DEBUG))
                .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
        )
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
