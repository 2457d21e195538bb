//! One module per route.

pub mod describe;
pub mod did;
pub mod experiment;
pub mod interactions;
pub mod ops;
pub mod personalize;
pub mod pool;
pub mod skeleton;
pub mod special;
pub mod stats;
pub mod status;
pub mod sync;

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use feedmixer_flow::placement::PlacementKind;
use serde::Serialize;

use crate::serve_feed::Page;

/// A page answers as its JSON, with `Content-Language` when the feed keeps
/// certain languages.
impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let languages = HeaderValue::from_str(&self.languages.join(", ")).ok();
        let mut response = Json(SkeletonPage::from(self)).into_response();
        if let Some(languages) = languages.filter(|v| !v.is_empty()) {
            response
                .headers_mut()
                .insert(header::CONTENT_LANGUAGE, languages);
        }
        response
    }
}

/// A feed page as the lexicon shapes it (`app.bsky.feed.getFeedSkeleton`).
#[derive(Debug, Serialize)]
pub struct SkeletonPage {
    pub feed: Vec<SkeletonItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Identifies this answer; clients echo it with interactions.
    #[serde(rename = "reqId")]
    pub req_id: String,
    /// Only on internal routes asked to explain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct SkeletonItem {
    pub post: String,
    /// `skeletonReasonPin` for pinned posts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<serde_json::Value>,
    /// Echoed back by clients with interactions (lexicon: at most 2000).
    #[serde(rename = "feedContext", skip_serializing_if = "String::is_empty")]
    pub feed_context: String,
}

/// The lexicon's bounds on `feedContext` and `reqId`.
const MAX_FEED_CONTEXT: usize = 2000;

impl From<crate::serve_feed::Page> for SkeletonPage {
    fn from(page: crate::serve_feed::Page) -> Self {
        SkeletonPage {
            feed: page
                .posts
                .into_iter()
                .map(|item| SkeletonItem {
                    reason: (item.placed == Some(PlacementKind::Pinned)).then(
                        || serde_json::json!({ "$type": "app.bsky.feed.defs#skeletonReasonPin" }),
                    ),
                    post: item.post,
                    feed_context: truncate(item.context, MAX_FEED_CONTEXT),
                })
                .collect(),
            cursor: page.cursor,
            req_id: page.req_id,
            explain: page.explain,
        }
    }
}

/// At most `max` bytes, cut at a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
