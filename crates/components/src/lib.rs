//! The component kinds flows are made of, and the features they read:
//! one file per kind under its role's folder, one file per feature (its
//! model and its hydrator) under `features/`. Each registers itself
//! (`feedmixer_flow::register!`); a new file is all a new kind needs.
//!
//! Components compute and return; timing, counting, budgets and fail-open
//! are the executor's (feedmixer-flow), never a component's, and what a
//! component reads per request comes to it as a feature.

pub mod features;
mod langs;
pub mod predicates;
pub mod rankers;
pub mod sources;
pub mod transforms;

use feedmixer_flow::Registry;

/// Every kind and hydrator this build knows. (Calling it also links this
/// crate, whose kinds register themselves, into the program.)
pub fn registry() -> Registry {
    Registry::registered()
}

/// Hours as whole seconds, saturating: params speak hours, the graph
/// speaks seconds.
pub(crate) fn hours_to_secs(hours: f64) -> u32 {
    (hours * 3600.0).round().clamp(0.0, u32::MAX as f64) as u32
}

#[cfg(test)]
pub(crate) mod testing {
    //! A small graph and context for unit tests of components.
    use std::sync::Arc;

    use feedmixer_flow::{Candidate, RequestContext};
    use feedmixer_graph::{GraphBuilder, LikeGraph};

    pub const NOW: u32 = 1_800_000_000;

    pub fn post(author: &str, n: u32) -> String {
        format!("at://did:plc:{author}/app.bsky.feed.post/p{n}")
    }

    /// `likes`: (user, post uri, age in seconds).
    pub fn graph(likes: &[(&str, &str, u32)]) -> Arc<LikeGraph> {
        let mut b = GraphBuilder::new(NOW - 7 * 86_400);
        for (user, post, age) in likes {
            assert!(b.add_like(&format!("did:plc:{user}"), post, NOW - age));
        }
        Arc::new(b.build())
    }

    /// Waits, a bounded while (5 s), until `done` holds; panics naming
    /// `what` if it never does. For work a test started in the background.
    pub async fn eventually<F: Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
        for _ in 0..5_000 {
            if done().await {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        panic!("not within 5 s: {what}");
    }

    pub fn ctx(graph: &Arc<LikeGraph>, viewer: Option<&str>) -> RequestContext {
        let viewer = viewer.and_then(|v| graph.user_id(&format!("did:plc:{v}")));
        RequestContext::new(graph.clone(), viewer, NOW)
    }

    pub fn candidate(graph: &LikeGraph, uri: &str, scores: &[f32]) -> Candidate {
        let post = graph.post_id(uri).expect("post in graph");
        Candidate {
            post,
            author: graph.post_author(post),
            source_scores: scores.iter().copied().collect(),
            score: 0.0,
        }
    }

    /// A test post: (author, n, age in seconds, langs, reply, media).
    pub type TestPost<'a> = (&'a str, u32, u32, &'a [&'a str], bool, bool);

    /// A graph of posts (no likes), each indexed at `NOW - age`.
    pub fn post_graph(posts: &[TestPost<'_>]) -> Arc<LikeGraph> {
        use feedmixer_atproto::{Embed, Post, ReplyRefs};
        let mut b = GraphBuilder::new(NOW - 7 * 86_400);
        for &(author, n, age, langs, reply, media) in posts {
            let record = Post {
                langs: langs.iter().map(|l| l.to_string()).collect(),
                reply: reply.then(|| ReplyRefs {
                    root: post(author, 0),
                    parent: post(author, 0),
                }),
                embed: media.then_some(Embed::Images),
                ..Post::default()
            };
            let at_us = u64::from(NOW - age) * 1_000_000;
            assert!(b.add_post(&post(author, n), at_us, &record));
        }
        Arc::new(b.build())
    }

    pub fn uris(graph: &LikeGraph, candidates: &[Candidate]) -> Vec<String> {
        candidates.iter().map(|c| graph.post_uri(c.post)).collect()
    }
}
