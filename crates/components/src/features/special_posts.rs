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

use arc_swap::ArcSwap;
use async_trait::async_trait;
use feedmixer_flow::{
    ComponentError, Cost, Feature, FeatureKey, FeatureMap, Hydrator, HydratorKind, Registration,
    Reload, RequestContext, register,
};
use feedmixer_store::{SpecialPosts, Store};

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
    special: ArcSwap<BTreeMap<String, Arc<SpecialPosts>>>,
}

impl SpecialPostsHydrator {
    pub fn new(store: Arc<dyn Store>) -> Self {
        SpecialPostsHydrator {
            store,
            special: ArcSwap::from_pointee(BTreeMap::new()),
        }
    }
}

#[async_trait]
impl Hydrator for SpecialPostsHydrator {
    async fn hydrate(&self, ctx: &RequestContext) -> Result<FeatureMap, ComponentError> {
        let mut features = FeatureMap::new();
        if let Some(posts) = ctx
            .feed
            .as_deref()
            .and_then(|feed| self.special.load().get(feed).cloned())
        {
            features.insert::<FeedSpecialPosts>(posts);
        }
        Ok(features)
    }

    async fn reload(&self, scope: Reload<'_>) -> Result<(), ComponentError> {
        let (mut special, feeds) = match scope {
            Reload::All { feeds } => (BTreeMap::new(), feeds.to_vec()),
            Reload::Feed(feed) => (BTreeMap::clone(&self.special.load()), vec![feed.to_string()]),
        };
        for feed in feeds {
            let stored = self
                .store
                .special_posts(&feed)
                .await
                .map_err(|e| ComponentError(e.to_string()))?;
            match stored {
                Some(posts) => special.insert(feed, Arc::new(posts)),
                None => special.remove(&feed),
            };
        }
        self.special.store(Arc::new(special));
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
