//! `GET` / `PUT /v1/feeds/{feed}/special-posts` (admin): a feed's pinned,
//! rotating and sponsored posts, placed by a `special_posts` source.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use feedmixer_store::SpecialPosts;

use crate::AppState;
use crate::http::error::XrpcError;
use crate::http::known_feed::KnownFeed;

pub async fn get_special(
    State(state): State<Arc<AppState>>,
    KnownFeed(feed): KnownFeed,
) -> Result<Json<SpecialPosts>, XrpcError> {
    let posts = state.store.special_posts(&feed).await?;
    Ok(Json(posts.unwrap_or_default()))
}

pub async fn put_special(
    State(state): State<Arc<AppState>>,
    KnownFeed(feed): KnownFeed,
    body: Result<Json<SpecialPosts>, JsonRejection>,
) -> Result<Json<SpecialPosts>, XrpcError> {
    let Json(posts) = body?;
    posts.validate().map_err(XrpcError::invalid_request)?;
    state.store.set_special_posts(&feed, &posts).await?;
    state.feed_data_changed(&feed).await?;
    Ok(Json(posts))
}
