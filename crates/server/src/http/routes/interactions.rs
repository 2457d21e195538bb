//! `POST /xrpc/app.bsky.feed.sendInteractions`: what the viewer did with
//! the posts we served (seen, show less, show more, ...), kept per viewer
//! for the flows' feedback components.
//!
//! Only a verified viewer can write their own signals: no token or a bad
//! one is 401, and a batch with anything malformed is refused whole.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::HeaderMap;
use feedmixer_atproto::{AtUri, InteractionEvent, clock};
use feedmixer_store::Interaction;
use metrics::counter;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::http::error::XrpcError;
use crate::http::viewer::{Viewer, authenticate};
use crate::metrics::{EXPERIMENT_INTERACTIONS, INTERACTIONS};
use crate::serve_feed::arm_of;

pub const METHOD: &str = "app.bsky.feed.sendInteractions";
/// The most interactions one call may carry (the app sends a few dozen
/// every ~10 s).
pub const MAX_PER_CALL: usize = 1_000;
/// The longest item URI kept (AT-URIs of posts are under 200 bytes).
pub const MAX_ITEM_BYTES: usize = 2_048;

#[derive(Debug, Deserialize)]
pub struct SendInteractions {
    #[serde(default)]
    pub feed: Option<String>,
    pub interactions: Vec<InteractionItem>,
}

#[derive(Debug, Deserialize)]
pub struct InteractionItem {
    #[serde(default)]
    pub item: Option<String>,
    #[serde(default)]
    pub event: Option<String>,
    #[serde(default, rename = "feedContext")]
    feed_context: Option<String>,
    #[serde(default, rename = "reqId")]
    _req_id: Option<String>,
}

pub async fn send_interactions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<SendInteractions>, JsonRejection>,
) -> Result<Json<Value>, XrpcError> {
    let viewer = match authenticate(&state, &headers, METHOD).await? {
        Viewer::Verified(did) => did,
        Viewer::Anonymous => {
            return Err(XrpcError::unauthorized(
                "sendInteractions needs the viewer's service JWT",
            ));
        }
        Viewer::Unverifiable => return Err(XrpcError::identity_unavailable()),
    };
    let Json(body) = body?;
    let now_us = clock::now_us();
    let (items, unknown) = parse(&body, now_us)?;

    state
        .store
        .add_interactions(&viewer, &items, state.config.interactions.limits(), now_us)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot store interactions");
            XrpcError::store_unavailable()
        })?;
    for item in &items {
        counter!(INTERACTIONS, "event" => item.event.name()).increment(1);
    }
    counter!(INTERACTIONS, "event" => "unknown").increment(unknown as u64);
    count_arms(&state, &body).await;
    Ok(Json(json!({})))
}

/// Counts the interactions on posts an experiment's arm served, by the
/// arm their feedContext names (one the running catalog has: the labels
/// stay bounded), in metrics and in the store, where every replica's add
/// up for `feedmixer experiments report`. Fail-open: the interactions are
/// kept whether the tally is or not.
async fn count_arms(state: &AppState, body: &SendInteractions) {
    let catalog = state.catalog.load();
    let mut tallies: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for interaction in &body.interactions {
        let Some((feed, arm)) = interaction.feed_context.as_deref().and_then(arm_of) else {
            continue;
        };
        let Some(event) = interaction
            .event
            .as_deref()
            .and_then(InteractionEvent::from_token)
        else {
            continue;
        };
        let Some(experiment) = catalog
            .feed(feed)
            .and_then(|f| f.experiment.as_ref())
            .filter(|e| e.arm(arm).is_some())
        else {
            continue;
        };
        counter!(
            EXPERIMENT_INTERACTIONS,
            "feed" => feed.to_string(),
            "arm" => arm.to_string(),
            "event" => event.name()
        )
        .increment(1);
        *tallies
            .entry(experiment_group(feed, &experiment.name))
            .or_default()
            .entry(format!("{arm}:{}", event.name()))
            .or_default() += 1;
    }
    for (group, counts) in tallies {
        let counts: Vec<(String, u64)> = counts.into_iter().collect();
        if let Err(e) = state.store.add_counts(&group, &counts).await {
            tracing::warn!(error = %e, group, "cannot tally experiment interactions");
        }
    }
}

/// The store counter group of an experiment's interactions: fields are
/// `ARM:EVENT`.
pub fn experiment_group(feed: &str, experiment: &str) -> String {
    format!("experiment:{feed}:{experiment}")
}

/// The interactions to keep and how many were skipped; any malformed part
/// refuses the whole call.
pub fn parse(body: &SendInteractions, now_us: u64) -> Result<(Vec<Interaction>, usize), XrpcError> {
    if let Some(feed) = &body.feed {
        AtUri::parse(feed).map_err(|e| XrpcError::invalid_request(format!("feed: {e}")))?;
    }
    if body.interactions.len() > MAX_PER_CALL {
        return Err(XrpcError::invalid_request(format!(
            "at most {MAX_PER_CALL} interactions per call, got {}",
            body.interactions.len()
        )));
    }
    let mut items = Vec::with_capacity(body.interactions.len());
    let mut unknown = 0;
    for (i, interaction) in body.interactions.iter().enumerate() {
        if let Some(item) = &interaction.item {
            if item.len() > MAX_ITEM_BYTES {
                return Err(XrpcError::invalid_request(format!(
                    "interactions[{i}].item: longer than {MAX_ITEM_BYTES} bytes"
                )));
            }
            AtUri::parse(item)
                .map_err(|e| XrpcError::invalid_request(format!("interactions[{i}].item: {e}")))?;
        }
        let event = interaction
            .event
            .as_deref()
            .and_then(InteractionEvent::from_token);
        match (&interaction.item, event) {
            (Some(item), Some(event)) => items.push(Interaction {
                item: item.clone(),
                event,
                time_us: now_us,
            }),
            // The lexicon leaves both optional and its event set open.
            _ => unknown += 1,
        }
    }
    Ok((items, unknown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: Value) -> SendInteractions {
        serde_json::from_value(json).unwrap()
    }

    const POST: &str = "at://did:plc:a/app.bsky.feed.post/3k";

    #[test]
    fn keeps_known_events_and_skips_the_rest() {
        let (items, unknown) = parse(
            &body(json!({"interactions": [
                {"item": POST, "event": "app.bsky.feed.defs#requestLess", "feedContext": "walk"},
                {"item": POST, "event": "app.bsky.feed.defs#somethingNew"},
                {"event": "app.bsky.feed.defs#interactionSeen"},
                {"item": POST},
            ]})),
            7,
        )
        .unwrap();
        assert_eq!(
            items,
            vec![Interaction {
                item: POST.into(),
                event: InteractionEvent::RequestLess,
                time_us: 7
            }]
        );
        assert_eq!(unknown, 3);
    }

    #[test]
    fn malformed_parts_refuse_the_call() {
        let bad_item = body(json!({"interactions": [
            {"item": POST, "event": "app.bsky.feed.defs#interactionSeen"},
            {"item": "https://example.com", "event": "app.bsky.feed.defs#interactionSeen"},
        ]}));
        let err = parse(&bad_item, 0).unwrap_err();
        assert_eq!(err.error, "InvalidRequest");
        assert!(
            err.message.contains("interactions[1].item"),
            "{}",
            err.message
        );

        let bad_feed = body(json!({"feed": "nope", "interactions": []}));
        assert!(parse(&bad_feed, 0).is_err());

        let long = format!(
            "at://did:plc:a/app.bsky.feed.post/{}",
            "x".repeat(MAX_ITEM_BYTES)
        );
        let too_long = body(
            json!({"interactions": [{"item": long, "event": "app.bsky.feed.defs#interactionSeen"}]}),
        );
        assert!(parse(&too_long, 0).is_err());

        let too_many = body(json!({
            "interactions": vec![json!({"item": POST}); MAX_PER_CALL + 1]
        }));
        assert!(parse(&too_many, 0).is_err());
    }
}
