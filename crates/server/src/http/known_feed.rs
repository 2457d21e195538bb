//! The `{feed}` of an admin route, as an extractor: a feed the catalog
//! serves, or the request is refused with `UnknownFeed` before the handler
//! runs.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::AppState;
use crate::http::error::XrpcError;

/// The rkey of a feed the running catalog has.
pub struct KnownFeed(pub String);

impl FromRequestParts<Arc<AppState>> for KnownFeed {
    type Rejection = XrpcError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let Path(feed) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| XrpcError::invalid_request(e.body_text()))?;
        if state.catalog.load().feed(&feed).is_some() {
            Ok(KnownFeed(feed))
        } else {
            Err(XrpcError::unknown_feed(&feed))
        }
    }
}
