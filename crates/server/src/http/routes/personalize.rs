//! `POST /v1/personalize` (internal, admin token): a page of a feed for a
//! named viewer, with optional param overrides. This is how operators and
//! ranking engineers look at what a viewer would get.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::HeaderMap;
use feedmixer_atproto::is_did;
use feedmixer_flow::Overrides;
use serde::Deserialize;

use crate::AppState;
use crate::http::accept_language::accept_languages;
use crate::http::error::XrpcError;
use crate::serve_feed::Page;
use crate::serve_feed::{DEFAULT_LIMIT, MAX_LIMIT, PageRequest, mark_arm, page};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonalizeBody {
    user_did: String,
    /// The feed's rkey (`for-you`) or its full AT-URI.
    feed: String,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    cursor: Option<String>,
    /// `{"<component id>": {"<param>": value}}`; `flow` for flow params.
    #[serde(default)]
    params: serde_json::Map<String, serde_json::Value>,
    /// A preset other than the feed's.
    #[serde(default)]
    preset: Option<String>,
    /// Add an `explain` trace of the run to the answer.
    #[serde(default)]
    explain: bool,
}

pub async fn personalize(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<PersonalizeBody>, JsonRejection>,
) -> Result<Page, XrpcError> {
    let Json(body) = body?;
    let (limit, overrides) = body.check()?;
    let rkey = body
        .feed
        .rsplit_once("/app.bsky.feed.generator/")
        .map_or(body.feed.as_str(), |(_, rkey)| rkey);
    let request = PageRequest {
        feed: rkey,
        viewer: Some(&body.user_did),
        limit,
        cursor: body.cursor.as_deref().filter(|c| !c.is_empty()),
        preset: body.preset.as_deref(),
        overrides: &overrides,
        explain: body.explain,
        restart_on_foreign_cursor: false,
        accept_languages: accept_languages(&headers),
    };
    let mut served = page(&state, request).await?;
    mark_arm(&state, rkey, Some(&body.user_did), &mut served);
    Ok(served)
}

impl PersonalizeBody {
    /// The page size and the param overrides, once the viewer, the limit
    /// and the params are well formed (the flow checks the params' values).
    pub fn check(&self) -> Result<(usize, Overrides), XrpcError> {
        if !is_did(&self.user_did) {
            return Err(XrpcError::invalid_request("user_did: not a DID"));
        }
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(XrpcError::invalid_request(format!(
                "limit must be from 1 to {MAX_LIMIT}"
            )));
        }
        Ok((limit, overrides(&self.params)?))
    }
}

/// JSON overrides as the TOML tables components parse.
fn overrides(params: &serde_json::Map<String, serde_json::Value>) -> Result<Overrides, XrpcError> {
    params
        .iter()
        .map(|(id, value)| match toml::Value::try_from(value) {
            Ok(toml::Value::Table(table)) => Ok((id.clone(), table)),
            _ => Err(XrpcError::invalid_request(format!(
                "params.{id}: expected an object of param values"
            ))),
        })
        .collect()
}
