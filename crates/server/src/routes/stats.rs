//! `GET /v1/stats` (admin): the size of the live graph.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::state::AppState;

pub async fn stats(State(state): State<Arc<AppState>>) -> Json<Value> {
    let graph = state.graph.load();
    Json(json!({
        "ready": state.is_ready(),
        "users": graph.num_users(),
        "likers": graph.num_likers(),
        "posts": graph.num_posts(),
        "likes": graph.num_likes(),
        "memory_bytes": graph.memory_bytes(),
        "window_start": graph.window_start(),
    }))
}
