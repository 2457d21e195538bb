//! What a component may know about the request.

use std::sync::Arc;

use feedmixer_graph::{LikeGraph, UserId};

/// Read-only request state handed to every component.
#[derive(Clone)]
pub struct RequestContext {
    /// The graph snapshot this request runs on; ids in candidates refer to it.
    pub graph: Arc<LikeGraph>,
    /// The viewer, when known to the graph. `None` for anonymous requests
    /// and for viewers with no likes in the window.
    pub viewer: Option<UserId>,
    /// The request's clock, unix seconds: every component sees the same now.
    pub now_secs: u32,
    /// Quality factor in (0, 1]: components scale their effort by it.
    pub quality_factor: f64,
    /// Keep what an explain trace needs (dropped posts, final scores).
    pub explain: bool,
}

impl RequestContext {
    pub fn new(graph: Arc<LikeGraph>, viewer: Option<UserId>, now_secs: u32) -> Self {
        RequestContext {
            graph,
            viewer,
            now_secs,
            quality_factor: 1.0,
            explain: false,
        }
    }

    /// How many posts the viewer liked in the window (0 when anonymous).
    pub fn viewer_like_count(&self) -> usize {
        self.viewer
            .map_or(0, |viewer| self.graph.likes_of(viewer).len())
    }
}
