//! `GET /xrpc/app.bsky.feed.describeFeedGenerator`: the feeds we serve.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::AppState;

pub async fn describe(State(state): State<Arc<AppState>>) -> Json<Value> {
    let catalog = state.catalog.load();
    let feeds: Vec<Value> = catalog
        .feeds
        .keys()
        .map(|rkey| json!({ "uri": state.config.feed_uri(rkey) }))
        .collect();
    Json(json!({ "did": state.config.service_did, "feeds": feeds }))
}
