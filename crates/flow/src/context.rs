//! What a component may know about the request.

use std::sync::Arc;

use feedmixer_graph::{LikeGraph, UserId};

use crate::feature::{Feature, FeatureMap};

/// The page size a context assumes when the request names none.
pub const DEFAULT_PAGE_SIZE: usize = 30;

/// Read-only request state handed to every component.
#[derive(Clone)]
pub struct RequestContext {
    /// The graph snapshot this request runs on; ids in candidates refer to it.
    pub graph: Arc<LikeGraph>,
    /// The viewer, when known to the graph. `None` for anonymous requests
    /// and for viewers with no likes in the window.
    pub viewer: Option<UserId>,
    /// The viewer whose service JWT verified, known to the graph or not
    /// (hydrators load their history by it). `None` when anonymous.
    pub viewer_did: Option<Arc<str>>,
    /// The feed (record key) being served, when there is one.
    pub feed: Option<Arc<str>>,
    /// The request's clock, unix seconds: every component sees the same now.
    pub now_secs: u32,
    /// Quality factor in (0, 1]: components scale their effort by it.
    pub quality_factor: f64,
    /// Keep what an explain trace needs (dropped posts, final scores).
    pub explain: bool,
    /// What the flow's hydrators loaded: components read it by key.
    pub features: FeatureMap,
    /// Where a chronological feed's page starts: its sources propose only
    /// posts older than this position (`None`: the first page).
    pub after: Option<Position>,
    /// The languages of the request's `Accept-Language`, primary subtags,
    /// most preferred first (empty when it sent none).
    pub accept_languages: Arc<[String]>,
    /// How many posts the request's page shows.
    pub page_size: usize,
}

/// A post's place in the chronological order every replica shares: its
/// indexed time, ties broken by URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub indexed_us: u64,
    pub uri: String,
}

impl RequestContext {
    pub fn new(graph: Arc<LikeGraph>, viewer: Option<UserId>, now_secs: u32) -> Self {
        RequestContext {
            graph,
            viewer,
            viewer_did: None,
            feed: None,
            now_secs,
            quality_factor: 1.0,
            explain: false,
            features: FeatureMap::new(),
            after: None,
            accept_languages: Arc::from([]),
            page_size: DEFAULT_PAGE_SIZE,
        }
    }

    /// The context for feed `feed`.
    pub fn for_feed(mut self, feed: &str) -> Self {
        self.feed = Some(feed.into());
        self
    }

    /// The context of a verified viewer.
    pub fn with_viewer_did(mut self, did: Option<&str>) -> Self {
        self.viewer_did = did.map(Arc::from);
        self
    }

    /// Feature `F`, when the flow's hydrators loaded it.
    pub fn feature<F: Feature>(&self) -> Option<&F::Value> {
        self.features.get::<F>()
    }

    /// How many posts the viewer liked in the window (0 when anonymous).
    pub fn viewer_like_count(&self) -> usize {
        self.viewer
            .map_or(0, |viewer| self.graph.likes_of(viewer).len())
    }
}
