//! `GET` / `POST /v1/feeds/{feed}/pool` (admin): a feed's candidate pool,
//! the posts it may show. Writes go to the store first, then the in-process
//! copy requests read is refreshed.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use feedmixer_atproto::AtUri;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::http::error::XrpcError;
use crate::http::known_feed::KnownFeed;

/// Posts one update may name, added and removed together.
pub const MAX_POSTS_PER_UPDATE: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolUpdate {
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
    /// The pool becomes exactly `add` (then `remove` applies).
    #[serde(default)]
    pub replace: bool,
}

impl PoolUpdate {
    /// Refuses an update naming too many posts or anything but post AT-URIs.
    pub fn check(&self) -> Result<(), XrpcError> {
        if self.add.len() + self.remove.len() > MAX_POSTS_PER_UPDATE {
            return Err(XrpcError::invalid_request(format!(
                "at most {MAX_POSTS_PER_UPDATE} posts per update; send several"
            )));
        }
        for (field, posts) in [("add", &self.add), ("remove", &self.remove)] {
            if let Some((i, bad)) = posts
                .iter()
                .enumerate()
                .find(|(_, p)| !AtUri::parse(p).is_ok_and(|u| u.is_post()))
            {
                return Err(XrpcError::invalid_request(format!(
                    "{field}[{i}]: {bad:?} is not a post AT-URI (at://DID/app.bsky.feed.post/RKEY)"
                )));
            }
        }
        Ok(())
    }
}

pub async fn get_pool(
    State(state): State<Arc<AppState>>,
    KnownFeed(feed): KnownFeed,
) -> Result<Json<Value>, XrpcError> {
    let posts = state.store.pool(&feed).await?;
    Ok(Json(
        json!({ "feed": feed, "size": posts.len(), "posts": posts }),
    ))
}

pub async fn update_pool(
    State(state): State<Arc<AppState>>,
    KnownFeed(feed): KnownFeed,
    body: Result<Json<PoolUpdate>, JsonRejection>,
) -> Result<Json<Value>, XrpcError> {
    let Json(update) = body?;
    update.check()?;
    let stats = state
        .store
        .update_pool(&feed, &update.add, &update.remove, update.replace)
        .await?;
    state.feed_data_changed(&feed).await?;
    Ok(Json(json!({
        "feed": feed,
        "added": stats.added,
        "removed": stats.removed,
        "size": stats.size,
    })))
}
