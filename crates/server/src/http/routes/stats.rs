//! `GET /v1/stats` (admin): the size of the live graph, the paging state
//! kept in this process and, when this process ingests, how far ingest
//! got.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use feedmixer_atproto::clock::now_us;
use serde_json::{Value, json};

use crate::AppState;

pub async fn stats(State(state): State<Arc<AppState>>) -> Json<Value> {
    let graph = state.graph.load();
    let ingest = state.ingest_status().map(|(s, role)| {
        let now_us = now_us();
        json!({
            "role": role,
            "connected": s.connected,
            "connections": s.connections,
            "cursor_time_us": s.last_time_us,
            "lag_secs": s.last_time_us.map(|t| now_us.saturating_sub(t) as f64 / 1e6),
            "events_applied": s.events_applied,
            "events_per_sec": s.events_per_sec,
            "created": s.applied.created,
            "deleted": s.applied.deleted,
            "duplicates": s.applied.duplicates,
            "stale": s.applied.stale,
            "posts_created": s.applied.posts_created,
            "posts_deleted": s.applied.posts_deleted,
            "accounts_deleted": s.applied.accounts_deleted,
            "accounts_hidden": s.applied.accounts_hidden,
            "accounts_revealed": s.applied.accounts_revealed,
            "batches": s.batches,
            "ignored": s.ignored,
            "invalid": s.invalid,
            "bot": s.bot,
            "store_errors": s.store_errors,
        })
    });
    Json(json!({
        "ingest": ingest,
        "ready": state.is_ready(),
        "users": graph.num_users(),
        "likers": graph.num_likers(),
        "posts": graph.num_posts(),
        "indexed_posts": graph.num_indexed_posts(),
        "likes": graph.num_likes(),
        "hidden_accounts": graph.num_hidden_accounts(),
        "withheld_likes": graph.num_withheld_likes(),
        "memory_bytes": graph.memory_bytes(),
        "window_start": graph.window_start(),
        "sessions": state.sessions.usage(),
    }))
}
