//! One module per route.

pub mod describe;
pub mod did;
pub mod ops;
pub mod personalize;
pub mod pool;
pub mod skeleton;
pub mod special;
pub mod stats;

use feedmixer_flow::placement::PlacementKind;
use serde::Serialize;

/// A feed page as the lexicon shapes it (`app.bsky.feed.getFeedSkeleton`).
#[derive(Debug, Serialize)]
pub struct SkeletonPage {
    pub feed: Vec<SkeletonItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
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
}

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
                })
                .collect(),
            cursor: page.cursor,
            explain: page.explain,
        }
    }
}
