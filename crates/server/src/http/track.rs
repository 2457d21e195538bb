//! The middleware that counts and times every request by matched route.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, histogram};

use crate::metrics::{HTTP_DURATION, HTTP_REQUESTS};

/// Counts and times every request under its matched route (the pattern,
/// never the raw path: labels stay bounded).
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    histogram!(HTTP_DURATION, "route" => route.clone()).record(started.elapsed().as_secs_f64());
    counter!(HTTP_REQUESTS, "route" => route, "status" => status).increment(1);
    response
}
