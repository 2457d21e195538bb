//! `viewer_feedback`: what the viewer told feeds through sendInteractions
//! (seen, show less, show more), resolved against the request's graph
//! snapshot. Read by `not_seen`, `not_requested_less` and
//! `interaction_feedback`.
//!
//! One store read per request that needs it: the verified viewer's
//! history, newest first, no older than the kept window; bounded, and
//! skipped while the store is down (`StoreHealth`), so the page is served
//! without it. Anonymous requests read nothing.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use feedmixer_atproto::{AtUri, InteractionEvent, clock};
use feedmixer_flow::{
    ComponentError, Cost, Feature, FeatureKey, FeatureMap, Hydrator, HydratorKind, Registration,
    RequestContext, register,
};
use feedmixer_graph::{LikeGraph, PostId, UserId};
use feedmixer_store::{Interaction, InteractionLimits, Store, StoreHealth};
use rustc_hash::{FxHashMap, FxHashSet};

/// The viewer's feedback; absent for anonymous viewers and viewers with
/// no history.
pub struct ViewerFeedback;

impl Feature for ViewerFeedback {
    type Value = Feedback;
    const NAME: &'static str = "viewer_feedback";
}

/// What the viewer told feeds, in graph ids. Posts and authors the graph
/// does not know cannot be candidates, so they are left out.
#[derive(Debug, Default)]
pub struct Feedback {
    /// Posts the viewer has seen in a feed.
    pub seen: FxHashSet<PostId>,
    /// Posts the viewer asked to see less of.
    pub less_posts: FxHashSet<PostId>,
    /// Authors of those posts, with how many times.
    pub less_authors: FxHashMap<UserId, u32>,
    /// Posts the viewer asked to see more of, newest first.
    pub more_posts: Vec<PostId>,
    /// Authors of those posts, with how many times.
    pub more_authors: FxHashMap<UserId, u32>,
    /// How many interactions this was built from (for explain and stats).
    pub interactions: usize,
}

impl Feedback {
    /// Resolves `history` (newest first) against `graph`.
    pub fn new(graph: &LikeGraph, history: &[Interaction]) -> Self {
        let mut feedback = Feedback {
            interactions: history.len(),
            ..Feedback::default()
        };
        for interaction in history {
            let post = graph.post_id(&interaction.item);
            match interaction.event {
                InteractionEvent::Seen => feedback.seen.extend(post),
                InteractionEvent::RequestLess => {
                    feedback.less_posts.extend(post);
                    if let Some(author) = author(graph, post, &interaction.item) {
                        *feedback.less_authors.entry(author).or_default() += 1;
                    }
                }
                InteractionEvent::RequestMore => {
                    feedback.more_posts.extend(post);
                    if let Some(author) = author(graph, post, &interaction.item) {
                        *feedback.more_authors.entry(author).or_default() += 1;
                    }
                }
                _ => {}
            }
        }
        feedback
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
            && self.less_posts.is_empty()
            && self.more_posts.is_empty()
            && self.less_authors.is_empty()
            && self.more_authors.is_empty()
    }
}

/// The author of a post: from the graph when it has the post, else from
/// the URI (an author whose posts nobody liked yet may still be known).
fn author(graph: &LikeGraph, post: Option<PostId>, uri: &str) -> Option<UserId> {
    match post {
        Some(post) => Some(graph.post_author(post)),
        None => graph.user_id(AtUri::parse(uri).ok()?.did),
    }
}

/// The `op` of the history read, as [`StoreHealth`] counts its failures.
const READ_INTERACTIONS: &str = "read_interactions";

register!(Registration::Hydrator(HydratorKind {
    name: "viewer_feedback",
    description: "The verified viewer's interaction history, resolved against the graph",
    provides: &[FeatureKey::of::<ViewerFeedback>()],
    cost: Cost::StoreRead,
    // Past the store call's own bound, so a slow store is counted by it.
    budget: Duration::from_millis(300),
    build: |resources| {
        let health = resources.get::<StoreHealth>()?;
        health.register_ops(&[READ_INTERACTIONS]);
        Ok(Arc::new(FeedbackHydrator {
            store: resources.get::<dyn Store>()?,
            health,
            limits: *resources.get::<InteractionLimits>()?,
        }))
    },
}));

/// Reads the viewer's history from the store.
pub struct FeedbackHydrator {
    store: Arc<dyn Store>,
    health: Arc<StoreHealth>,
    limits: InteractionLimits,
}

#[async_trait]
impl Hydrator for FeedbackHydrator {
    async fn hydrate(&self, ctx: &RequestContext) -> Result<FeatureMap, ComponentError> {
        let mut features = FeatureMap::new();
        let Some(viewer) = ctx.viewer_did.as_deref() else {
            return Ok(features);
        };
        let since = clock::now_us().saturating_sub(self.limits.ttl_us);
        let history = self
            .health
            .call(READ_INTERACTIONS, self.store.interactions(viewer, since))
            .await
            .ok_or_else(|| {
                ComponentError("the store did not give the viewer's history".to_string())
            })?;
        if !history.is_empty() {
            features.insert::<ViewerFeedback>(Arc::new(Feedback::new(&ctx.graph, &history)));
        }
        Ok(features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedmixer_graph::GraphBuilder;

    fn at(time_us: u64, event: InteractionEvent, item: &str) -> Interaction {
        Interaction {
            item: item.into(),
            event,
            time_us,
        }
    }

    #[test]
    fn resolves_posts_and_authors_the_graph_knows() {
        let a1 = "at://did:plc:a/app.bsky.feed.post/1";
        let a2 = "at://did:plc:a/app.bsky.feed.post/2";
        let b1 = "at://did:plc:b/app.bsky.feed.post/1";
        let unknown = "at://did:plc:nobody/app.bsky.feed.post/1";
        let mut builder = GraphBuilder::new(0);
        for post in [a1, a2, b1] {
            builder.add_like("did:plc:u", post, 10);
        }
        let graph = builder.build();
        let history = [
            at(5, InteractionEvent::Seen, a1),
            at(4, InteractionEvent::RequestLess, a2),
            at(3, InteractionEvent::RequestMore, b1),
            at(2, InteractionEvent::RequestLess, unknown),
            at(1, InteractionEvent::Like, a1),
        ];
        let feedback = Feedback::new(&graph, &history);
        let id = |uri| graph.post_id(uri).unwrap();
        assert_eq!(feedback.seen, [id(a1)].into_iter().collect());
        assert_eq!(feedback.less_posts, [id(a2)].into_iter().collect());
        assert_eq!(feedback.less_authors.len(), 1);
        assert_eq!(feedback.less_authors[&graph.post_author(id(a2))], 1);
        assert_eq!(feedback.more_posts, vec![id(b1)]);
        assert_eq!(feedback.more_authors[&graph.post_author(id(b1))], 1);
        assert_eq!(feedback.interactions, 5);
    }

    #[tokio::test]
    async fn reads_the_verified_viewers_history_only() {
        let (_dir, store) = feedmixer_store::testkit::open_temp();
        let store: Arc<dyn Store> = Arc::new(store);
        let post = "at://did:plc:a/app.bsky.feed.post/1";
        let mut builder = GraphBuilder::new(0);
        builder.add_like("did:plc:u", post, 10);
        let graph = Arc::new(builder.build());
        let now = clock::now_us();
        let limits = InteractionLimits::default();
        store
            .add_interactions(
                "did:plc:v",
                &[at(now, InteractionEvent::Seen, post)],
                limits,
                now,
            )
            .await
            .unwrap();
        let hydrator = FeedbackHydrator {
            store,
            health: Arc::new(StoreHealth::new()),
            limits,
        };
        let ctx = RequestContext::new(graph, None, 0);
        let anonymous = hydrator.hydrate(&ctx).await.unwrap();
        assert!(anonymous.is_empty(), "anonymous: nothing read");
        let viewer = ctx.clone().with_viewer_did(Some("did:plc:v"));
        let features = hydrator.hydrate(&viewer).await.unwrap();
        assert_eq!(
            features.get::<ViewerFeedback>().map(|f| f.seen.len()),
            Some(1)
        );
        let stranger = ctx.with_viewer_did(Some("did:plc:nobody"));
        let features = hydrator.hydrate(&stranger).await.unwrap();
        assert!(features.is_empty(), "no history: absent");
    }
}
