//! `viewer_author_affinity`: how much the viewer likes each author, from
//! the viewer's likes in the graph window: affinity(a) = the viewer's likes
//! of a's posts / the viewer's likes of their most liked author's posts,
//! in (0, 1]. Read by the `author_affinity` transform.
//!
//! In process: one pass over the viewer's likes in the request's graph
//! snapshot (a few thousand at most, microseconds). Absent for anonymous
//! viewers and viewers without likes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use feedmixer_flow::{
    ComponentError, Cost, Feature, FeatureKey, FeatureMap, Hydrator, HydratorKind, Registration,
    RequestContext, register,
};
use feedmixer_graph::{LikeGraph, UserId};
use rustc_hash::FxHashMap;

/// The viewer's affinity with each author they liked.
pub struct ViewerAuthorAffinity;

impl Feature for ViewerAuthorAffinity {
    type Value = AuthorAffinity;
    const NAME: &'static str = "viewer_author_affinity";
}

/// Affinity by author, in (0, 1]; authors the viewer never liked are not
/// in it.
#[derive(Debug, Default)]
pub struct AuthorAffinity {
    by_author: FxHashMap<UserId, f32>,
}

impl AuthorAffinity {
    /// Counts `viewer`'s likes per author in `graph`.
    pub fn of(graph: &LikeGraph, viewer: UserId) -> Self {
        let mut likes: FxHashMap<UserId, u32> = FxHashMap::default();
        for like in graph.likes_of(viewer) {
            *likes.entry(graph.post_author(like.id)).or_default() += 1;
        }
        let most = likes.values().copied().max().unwrap_or(1) as f32;
        AuthorAffinity {
            by_author: likes
                .into_iter()
                .map(|(author, n)| (author, n as f32 / most))
                .collect(),
        }
    }

    /// The viewer's affinity with `author` (0 when they liked none of
    /// their posts).
    pub fn get(&self, author: UserId) -> f32 {
        self.by_author.get(&author).copied().unwrap_or(0.0)
    }

    pub fn is_empty(&self) -> bool {
        self.by_author.is_empty()
    }
}

register!(Registration::Hydrator(HydratorKind {
    name: "viewer_author_affinity",
    description: "The viewer's likes per author, from the graph snapshot",
    provides: &[FeatureKey::of::<ViewerAuthorAffinity>()],
    cost: Cost::InProcess,
    budget: Duration::from_millis(50),
    build: |_| Ok(Arc::new(AffinityHydrator)),
}));

pub struct AffinityHydrator;

#[async_trait]
impl Hydrator for AffinityHydrator {
    async fn hydrate(&self, ctx: &RequestContext) -> Result<FeatureMap, ComponentError> {
        let mut features = FeatureMap::new();
        if let Some(viewer) = ctx.viewer {
            let affinity = AuthorAffinity::of(&ctx.graph, viewer);
            if !affinity.is_empty() {
                features.insert::<ViewerAuthorAffinity>(Arc::new(affinity));
            }
        }
        Ok(features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ctx, graph, post};

    #[tokio::test]
    async fn counts_the_viewers_likes_per_author() {
        let g = graph(&[
            ("me", &post("a", 1), 60),
            ("me", &post("a", 2), 60),
            ("me", &post("b", 1), 60),
            ("other", &post("c", 1), 60),
        ]);
        let author = |name: &str| g.user_id(&format!("did:plc:{name}")).unwrap();
        let features = AffinityHydrator
            .hydrate(&ctx(&g, Some("me")))
            .await
            .unwrap();
        let affinity = features.get::<ViewerAuthorAffinity>().unwrap();
        assert_eq!(affinity.get(author("a")), 1.0);
        assert_eq!(affinity.get(author("b")), 0.5);
        assert_eq!(affinity.get(author("c")), 0.0);
        let anonymous = AffinityHydrator.hydrate(&ctx(&g, None)).await.unwrap();
        assert!(anonymous.is_empty());
    }
}
