//! `POST /v1/sync` (admin): queues a candidate sync of a feed's pool
//! (`[feeds.NAME.sync]`), done within a second by whichever replica takes
//! the feed's lease. Requests closer to the last sync than the feed's
//! `min_interval_secs` answer 429 with the time left, unless `force`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use feedmixer_atproto::clock::now_us;
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::http::error::XrpcError;
use crate::runtime::sync;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncBody {
    pub feed: String,
    #[serde(default)]
    pub force: bool,
}

pub async fn sync(
    State(state): State<Arc<AppState>>,
    body: Result<Json<SyncBody>, JsonRejection>,
) -> Result<Response, XrpcError> {
    let Json(body) = body?;
    let catalog = state.catalog.load();
    let feed = catalog
        .feed(&body.feed)
        .ok_or_else(|| XrpcError::unknown_feed(&body.feed))?;
    let Some(spec) = &feed.sync else {
        return Err(XrpcError::invalid_request(format!(
            "feed {:?} has no candidate sync ([feeds.{}.sync] in the feeds file)",
            body.feed, body.feed
        )));
    };
    if !body.force {
        let last = sync::record(state.store.as_ref(), &body.feed).await?;
        let next_allowed = last.last_attempt_us.map_or(0, |t| {
            t.saturating_add(spec.min_interval.as_micros() as u64)
        });
        let now = now_us();
        if now < next_allowed {
            let left_secs = (next_allowed - now).div_ceil(1_000_000);
            sync::note_refused(state.store.as_ref(), &body.feed).await?;
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({
                    "error": "RateLimited",
                    "message": format!(
                        "feed {:?} synced less than {} s ago; try again in {left_secs} s, or \
                         send \"force\": true",
                        body.feed,
                        spec.min_interval.as_secs()
                    ),
                    "retry_after_secs": left_secs,
                })),
            )
                .into_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&left_secs.to_string()).expect("digits"),
            );
            return Ok(response);
        }
    }
    sync::request(state.store.as_ref(), &body.feed, body.force).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"feed": body.feed, "queued": true, "force": body.force})),
    )
        .into_response())
}
