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
use crate::http::listener;
use crate::http::routes::{
    describe, did, experiment, interactions, ops, personalize, pool, skeleton, special, stats,
    status, sync,
};

/// The AppView waits 10 s for a skeleton; answering later is useless.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest bodies are admin pool updates (10,000 URIs).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Every route on one listener: the default.
pub fn app(state: Arc<AppState>) -> Router {
    with_layers(public_routes(&state).merge(admin_routes(&state)), state)
}

/// What the network may reach: the feed generator's XRPC routes, did.json
/// and readiness. With an admin listener (`--admin-listen`) this is all
/// the public listener serves; `/v1/*` and `/metrics` answer 404 there.
pub fn public_app(state: Arc<AppState>) -> Router {
    with_layers(public_routes(&state), state)
}

/// What only operators may reach: `/v1/*` (behind the admin token),
/// `/metrics`, and readiness (for probes on this port).
pub fn admin_app(state: Arc<AppState>) -> Router {
    with_layers(
        admin_routes(&state).route("/internal/ready", get(ops::ready)),
        state,
    )
}

fn public_routes(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    let writable =
        middleware::from_fn_with_state(state.clone(), crate::http::auth::require_writable);
    // Turns for the routes that rank: one shedder (in the state), whichever
    // listener.
    let shed = middleware::from_fn_with_state(state.clone(), crate::http::shed::shed);
    Router::new()
        .route("/.well-known/did.json", get(did::did_json))
        .route(
            "/xrpc/app.bsky.feed.describeFeedGenerator",
            get(describe::describe),
        )
        .route(
            "/xrpc/app.bsky.feed.getFeedSkeleton",
            get(skeleton::get_feed_skeleton.layer(shed.clone())),
        )
        .route(
            "/xrpc/app.bsky.feed.sendInteractions",
            post(interactions::send_interactions.layer(writable)),
        )
        .route("/internal/ready", get(ops::ready))
}

fn admin_routes(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    let writable =
        middleware::from_fn_with_state(state.clone(), crate::http::auth::require_writable);
    let shed = middleware::from_fn_with_state(state.clone(), crate::http::shed::shed);
    Router::new()
        .route(
            "/v1/personalize",
            post(personalize::personalize.layer(shed)),
        )
        .route("/v1/stats", get(stats::stats))
        .route(
            "/v1/feeds/{feed}/pool",
            get(pool::get_pool).post(pool::update_pool.layer(writable.clone())),
        )
        .route("/v1/feeds/{feed}/status", get(status::status))
        .route("/v1/feeds/{feed}/experiment", get(experiment::report))
        .route("/v1/sync", post(sync::sync.layer(writable.clone())))
        .route(
            "/v1/feeds/{feed}/special-posts",
            get(special::get_special).put(special::put_special.layer(writable)),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::http::auth::require_admin,
        ))
        .route("/metrics", get(ops::metrics))
}

/// The layers every listener's routes get, in one place.
fn with_layers(routes: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    routes
        .fallback(|| async { XrpcError::not_found() })
        .layer(middleware::from_fn_with_state(state.clone(), limit_query))
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

/// Answers 414 for a query string longer than `[http] max_query_bytes`:
/// no route takes more than a few hundred bytes of it.
async fn limit_query(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let length = request.uri().query().map_or(0, str::len);
    if length > state.config.http.max_query_bytes {
        return XrpcError::uri_too_long(state.config.http.max_query_bytes).into_response();
    }
    next.run(request).await
}

/// Serves on `listener` until `shutdown` completes: every route, or with
/// an `admin` listener the public routes there and the admin ones on it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    admin: Option<tokio::net::TcpListener>,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.config.http.clone();
    let Some(admin) = admin else {
        return listener::serve(listener, app(state), &limits, shutdown).await;
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|&stop| stop).await;
    };
    let public = listener::serve(
        listener,
        public_app(state.clone()),
        &limits,
        wait(stopped.clone()),
    );
    let admin = listener::serve(admin, admin_app(state), &limits, wait(stopped));
    let signal = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let (public, admin, ()) = tokio::join!(public, admin, signal);
    public.and(admin)
}
