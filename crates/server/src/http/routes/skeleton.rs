//! `GET /xrpc/app.bsky.feed.getFeedSkeleton`: a page of a feed,
//! personalized for the viewer whose service JWT verifies (see
//! [`crate::http::viewer`]).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use feedmixer_atproto::AtUri;
use feedmixer_flow::Overrides;
use serde::Deserialize;

use crate::AppState;
use crate::http::accept_language::accept_languages;
use crate::http::error::XrpcError;
use crate::http::viewer::{Viewer, authenticate};
use crate::serve_feed::Page;
use crate::serve_feed::{PageRequest, mark_arm, page, parse_limit};

pub const METHOD: &str = "app.bsky.feed.getFeedSkeleton";

/// Collection NSID of feed generator records.
const GENERATOR_COLLECTION: &str = "app.bsky.feed.generator";

#[derive(Debug, Deserialize)]
pub struct SkeletonQuery {
    feed: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn get_feed_skeleton(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<SkeletonQuery>, QueryRejection>,
) -> Result<Page, XrpcError> {
    let Query(query) = query?;
    let feed = query
        .feed
        .as_deref()
        .ok_or_else(|| XrpcError::invalid_request("the feed parameter is required"))?;
    let rkey = feed_rkey(&state, feed)?;
    let limit = parse_limit(query.limit.as_deref())?;
    let viewer = authenticate(&state, &headers, METHOD).await?;
    let request = PageRequest {
        feed: rkey,
        viewer: viewer.did(),
        limit,
        cursor: query.cursor.as_deref().filter(|c| !c.is_empty()),
        preset: None,
        overrides: &Overrides::new(),
        explain: false,
        restart_on_foreign_cursor: viewer == Viewer::Unverifiable,
        accept_languages: accept_languages(&headers),
    };
    let mut served = page(&state, request).await?;
    let arm = mark_arm(&state, rkey, viewer.did(), &mut served);
    state
        .impressions
        .record(rkey, viewer.did(), arm.as_deref(), &served);
    Ok(served)
}

/// The rkey of a feed AT-URI published by our publisher; anything else is
/// a feed we do not serve.
fn feed_rkey<'a>(state: &AppState, feed: &'a str) -> Result<&'a str, XrpcError> {
    let uri = AtUri::parse(feed).map_err(|e| XrpcError::invalid_request(format!("feed: {e}")))?;
    if uri.collection != GENERATOR_COLLECTION || uri.did != state.config.publisher_did {
        return Err(XrpcError::unknown_feed(feed));
    }
    Ok(uri.rkey)
}
