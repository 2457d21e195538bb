//! `feed_special_posts`: the feed's pinned, rotating and sponsored posts,
//! as its operator set them (`PUT /v1/feeds/{feed}/special-posts`; the
//! record and its storage are the store's, [`SpecialPosts`]). Read by the
//! `special_posts` source, which places them.
//!
//! Loaded in process like pools: every replica keeps every configured
//! feed's special posts in memory, reloaded at start, on a change through
//! this replica, when the store's feed data version moves, and when the
//! configured feeds change.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use feedmixer_flow::{
    ComponentError, Cost, Feature, FeatureKey, FeatureMap, Hydrator, HydratorKind, Registration,
    Reload, RequestContext, register,
};
use feedmixer_store::{SpecialPosts, Store};

use super::feed_mirror::FeedMirror;

/// The feed's special posts; absent when none were set.
pub struct FeedSpecialPosts;

impl Feature for FeedSpecialPosts {
    type Value = SpecialPosts;
    const NAME: &'static str = "feed_special_posts";
}

register!(Registration::Hydrator(HydratorKind {
    name: "feed_special_posts",
    description: "The feed's pinned, rotating and sponsored posts, kept in process",
    provides: &[FeatureKey::of::<FeedSpecialPosts>()],
    cost: Cost::InProcess,
    budget: Duration::from_millis(50),
    build: |resources| {
        Ok(Arc::new(SpecialPostsHydrator::new(
            resources.get::<dyn Store>()?,
        )))
    },
}));

/// Every configured feed's special posts, mirrored from the store.
pub struct SpecialPostsHydrator {
    store: Arc<dyn Store>,
    special: FeedMirror<SpecialPosts>,
}

impl SpecialPostsHydrator {
    pub fn new(store: Arc<dyn Store>) -> Self {
        SpecialPostsHydrator {
            store,
            special: FeedMirror::default(),
        }
    }

    async fn stored(&self, feed: &str) -> Result<Option<SpecialPosts>, ComponentError> {
        self.store
            .special_posts(feed)
            .await
            .map_err(|e| ComponentError(e.to_string()))
    }
}

#[async_trait]
impl Hydrator for SpecialPostsHydrator {
    async fn hydrate(&self, ctx: &RequestContext) -> Result<FeatureMap, ComponentError> {
        let mut features = FeatureMap::new();
        if let Some(posts) = self.special.get(ctx.feed.as_deref()) {
            features.insert::<FeedSpecialPosts>(posts);
        }
        Ok(features)
    }

    async fn reload(&self, scope: Reload<'_>) -> Result<(), ComponentError> {
        match scope {
            Reload::All { feeds } => {
                let mut special = BTreeMap::new();
                for feed in feeds {
                    if let Some(posts) = self.stored(feed).await? {
                        special.insert(feed.clone(), Arc::new(posts));
                    }
                }
                self.special.replace(special);
            }
            Reload::Feed(feed) => self.special.set(feed, self.stored(feed).await?),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NOW, graph, post};

    #[tokio::test]
    async fn serves_the_special_posts_of_the_configured_feeds() {
        let (_dir, store) = feedmixer_store::testkit::open_temp();
        let store: Arc<dyn Store> = Arc::new(store);
        let posts = SpecialPosts {
            pinned: vec![post("p", 1)],
            ..Default::default()
        };
        store.set_special_posts("for-you", &posts).await.unwrap();
        let hydrator = SpecialPostsHydrator::new(store.clone());
        let ctx = RequestContext::new(graph(&[]), None, NOW).for_feed("for-you");
        let pinned = |features: FeatureMap| {
            features
                .get::<FeedSpecialPosts>()
                .map(|s| s.pinned.clone())
        };

        hydrator
            .reload(Reload::All {
                feeds: &["trending".to_string()],
            })
            .await
            .unwrap();
        assert_eq!(pinned(hydrator.hydrate(&ctx).await.unwrap()), None, "not configured");
        let feeds = ["for-you".to_string(), "trending".to_string()];
        hydrator.reload(Reload::All { feeds: &feeds }).await.unwrap();
        assert_eq!(
            pinned(hydrator.hydrate(&ctx).await.unwrap()),
            Some(vec![post("p", 1)])
        );

        let changed = SpecialPosts {
            pinned: vec![post("p", 2)],
            ..Default::default()
        };
        store.set_special_posts("for-you", &changed).await.unwrap();
        hydrator.reload(Reload::Feed("for-you")).await.unwrap();
        assert_eq!(
            pinned(hydrator.hydrate(&ctx).await.unwrap()),
            Some(vec![post("p", 2)])
        );
    }
}
