//! The one error type of the HTTP layer, answered in XRPC's JSON shape.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use feedmixer_store::StoreError;
use serde_json::json;

use crate::runtime::feed_data::FeedDataError;

/// Seconds a 503's `Retry-After` asks for.
const RETRY_AFTER_SECS: &str = "1";

/// An error answer: `{"error": NAME, "message": TEXT}` with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XrpcError {
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
}

impl XrpcError {
    /// The client asked for something malformed.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        XrpcError {
            status: StatusCode::BAD_REQUEST,
            error: "InvalidRequest",
            message: message.into(),
        }
    }

    /// The feed is not one this service serves (the lexicon's own error).
    pub fn unknown_feed(feed: &str) -> Self {
        XrpcError {
            status: StatusCode::BAD_REQUEST,
            error: "UnknownFeed",
            message: format!("unknown feed: {feed}"),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        XrpcError {
            status: StatusCode::UNAUTHORIZED,
            error: "AuthenticationRequired",
            message: message.into(),
        }
    }

    /// A service JWT that failed verification.
    pub fn bad_token(message: impl Into<String>) -> Self {
        XrpcError {
            status: StatusCode::UNAUTHORIZED,
            error: "BadJwt",
            message: message.into(),
        }
    }

    /// The viewer's identity cannot be checked right now (DID resolution
    /// unavailable): retry later.
    pub fn identity_unavailable() -> Self {
        XrpcError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "IdentityUnavailable",
            message: "cannot verify the viewer's identity right now; try again shortly".into(),
        }
    }

    /// A write the store could not take (unreachable, failing): nothing
    /// was kept; try again later.
    pub fn store_unavailable() -> Self {
        XrpcError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "StoreUnavailable",
            message: "the store cannot take this right now; nothing was kept, try again shortly"
                .into(),
        }
    }

    /// Still loading the graph: try again shortly.
    /// More feed pages are waiting than the service will queue.
    pub fn overloaded() -> Self {
        XrpcError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "Overloaded",
            message: "feedmixer is ranking as many pages as it can; try again shortly".into(),
        }
    }

    pub fn not_ready() -> Self {
        XrpcError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "NotReady",
            message: "feedmixer is loading its graph; try again shortly".into(),
        }
    }

    /// A write while the service is read-only.
    pub fn read_only() -> Self {
        XrpcError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "ReadOnly",
            message: "feedmixer is read-only: changes are refused until it is writable again"
                .into(),
        }
    }

    /// The query string is longer than any route takes.
    pub fn uri_too_long(max: usize) -> Self {
        XrpcError {
            status: StatusCode::URI_TOO_LONG,
            error: "InvalidRequest",
            message: format!("the query string is longer than {max} bytes"),
        }
    }

    pub fn not_found() -> Self {
        XrpcError {
            status: StatusCode::NOT_FOUND,
            error: "MethodNotImplemented",
            message: "no such route".into(),
        }
    }

    /// Our fault, not the client's; the detail goes to the log.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        XrpcError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "InternalServerError",
            message: "internal error".into(),
        }
    }
}

/// A body that is not the JSON the route takes is the client's mistake,
/// told in axum's words.
impl From<JsonRejection> for XrpcError {
    fn from(rejection: JsonRejection) -> Self {
        XrpcError::invalid_request(rejection.body_text())
    }
}

/// Likewise a query string the route cannot parse.
impl From<QueryRejection> for XrpcError {
    fn from(rejection: QueryRejection) -> Self {
        XrpcError::invalid_request(rejection.body_text())
    }
}

/// A store call of an admin route that failed: the caller's mistake when
/// the store refused what it was given (400), ours otherwise (500, the
/// detail logged).
impl From<StoreError> for XrpcError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::EmptyFeedName
            | StoreError::EmptyPostUri
            | StoreError::InvalidSpecialPosts(_)
            | StoreError::InvalidInteraction(_)
            | StoreError::InvalidLease(_)
            | StoreError::ReservedMetaKey(_) => XrpcError::invalid_request(err.to_string()),
            other => XrpcError::internal(other),
        }
    }
}

/// Feed data that could not be reloaded after a change: ours.
impl From<FeedDataError> for XrpcError {
    fn from(err: FeedDataError) -> Self {
        match err {
            FeedDataError::Store(e) => e.into(),
            FeedDataError::Reload(_) => XrpcError::internal(err),
        }
    }
}

impl IntoResponse for XrpcError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.error, "message": self.message }));
        let mut response = (self.status, body).into_response();
        // Every 503 is a moment's trouble (loading, overload, a store or
        // directory down): say when to come back.
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use axum::extract::rejection::MissingJsonContentType;

    use super::*;

    #[test]
    fn a_rejected_body_is_an_invalid_request_in_axums_words() {
        let rejection = JsonRejection::from(MissingJsonContentType::default());
        let text = rejection.body_text();
        let error = XrpcError::from(rejection);
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.error, "InvalidRequest");
        assert_eq!(error.message, text);
    }

    #[test]
    fn store_refusals_are_the_callers_and_failures_ours() {
        let refused = XrpcError::from(StoreError::InvalidSpecialPosts("pinned[0]: bad".into()));
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(refused.message.contains("pinned[0]"), "{}", refused.message);
        let failed = XrpcError::from(StoreError::Backend("disk full".into()));
        assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(failed.message, "internal error", "details stay in the log");
    }
}
