//! The admin bearer token guarding every `/v1/*` route.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::http::error::XrpcError;

/// Lets a request through only with `Authorization: Bearer <admin token>`.
/// With no token configured, nothing gets through.
pub async fn require_admin(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.config.admin_token.as_ref().map(|t| t.expose()) else {
        return XrpcError::unauthorized(
            "admin routes are disabled: no FEEDMIXER_ADMIN_TOKEN is set",
        )
        .into_response();
    };
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => {
            next.run(request).await
        }
        _ => XrpcError::unauthorized("a valid admin bearer token is required").into_response(),
    }
}

/// Turns a mutating route into 503 while the service is read-only
/// (`--read-only` / `FEEDMIXER_READ_ONLY`), e.g. during a migration.
pub async fn require_writable(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if state.config.read_only {
        XrpcError::read_only().into_response()
    } else {
        next.run(request).await
    }
}

/// Compares without an early exit, so timing does not reveal how much of a
/// guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_tokens() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
