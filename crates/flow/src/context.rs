//! What a component may know about the request.

use std::sync::Arc;

use feedmixer_graph::{LikeGraph, PostId, UserId};
use rustc_hash::FxHashSet;

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
    /// The feed's candidate pool, when it has one: the posts it may show.
    pub pool: Option<Arc<Pool>>,
    /// The feed's special posts (pinned, rotating, sponsored), if any.
    pub special: Option<Arc<crate::placement::SpecialPosts>>,
    /// What the viewer told feeds through sendInteractions (verified
    /// viewers with a history only).
    pub feedback: Option<Arc<crate::Feedback>>,
}

/// A feed's candidate pool: post AT-URIs, looked up by string so posts
/// join the pool before anyone likes them.
#[derive(Debug, Default)]
pub struct Pool {
    posts: FxHashSet<Box<str>>,
}

impl Pool {
    pub fn new(posts: impl IntoIterator<Item = String>) -> Self {
        Pool {
            posts: posts.into_iter().map(String::into_boxed_str).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.posts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.posts.is_empty()
    }

    pub fn contains(&self, uri: &str) -> bool {
        self.posts.contains(uri)
    }

    /// Whether graph post `post` is in the pool.
    pub fn has(&self, graph: &LikeGraph, post: PostId) -> bool {
        self.posts.contains(graph.post_uri(post))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.posts.iter().map(|p| &**p)
    }
}

impl RequestContext {
    pub fn new(graph: Arc<LikeGraph>, viewer: Option<UserId>, now_secs: u32) -> Self {
        RequestContext {
            graph,
            viewer,
            now_secs,
            quality_factor: 1.0,
            explain: false,
            pool: None,
            special: None,
            feedback: None,
        }
    }

    /// How many posts the viewer liked in the window (0 when anonymous).
    pub fn viewer_like_count(&self) -> usize {
        self.viewer
            .map_or(0, |viewer| self.graph.likes_of(viewer).len())
    }
}
