//! `GET /.well-known/did.json`: the did:web document naming our feed
//! generator endpoint.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::AppState;
use crate::http::error::XrpcError;

pub async fn did_json(State(state): State<Arc<AppState>>) -> Result<Json<Value>, XrpcError> {
    let config = &state.config;
    if !config.service_did.starts_with("did:web:") {
        // A did:plc service publishes its document through the PLC directory.
        return Err(XrpcError::not_found());
    }
    Ok(Json(json!({
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": config.service_did,
        "service": [{
            "id": "#bsky_fg",
            "type": "BskyFeedGenerator",
            "serviceEndpoint": format!("https://{}", config.hostname),
        }],
    })))
}
