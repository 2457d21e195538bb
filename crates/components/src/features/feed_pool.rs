//! `feed_pool`: the feed's candidate pool, the posts its operator admitted
//! (`POST /v1/feeds/{feed}/pool`). Read by the `pool` source, the `in_pool`
//! predicate and every source with `in_pool = true`.
//!
//! Loaded in process: every replica keeps every feed's pool in memory, so
//! a request only looks its feed's up. The copy is reloaded at start, when
//! an operator changes a pool through this replica, and when the store's
//! feed data version shows a change made through another.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use feedmixer_flow::{
    ComponentError, Cost, Feature, FeatureKey, FeatureMap, Hydrator, HydratorKind, Registration,
    Reload, RequestContext, register,
};
use feedmixer_graph::{LikeGraph, PostId};
use feedmixer_store::Store;
use rustc_hash::FxHashSet;

use super::feed_mirror::FeedMirror;

/// The feed's pool; absent when the feed has none (nothing is restricted).
pub struct FeedPool;

impl Feature for FeedPool {
    type Value = Pool;
    const NAME: &'static str = "feed_pool";
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
        graph.with_post_uri(post, |uri| self.posts.contains(uri))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.posts.iter().map(|p| &**p)
    }
}

register!(Registration::Hydrator(HydratorKind {
    name: "feed_pool",
    description: "The feed's candidate pool, from every pool kept in process",
    provides: &[FeatureKey::of::<FeedPool>()],
    cost: Cost::InProcess,
    budget: Duration::from_millis(50),
    build: |resources| Ok(Arc::new(PoolHydrator::new(resources.get::<dyn Store>()?))),
}));

/// Every feed's pool, mirrored from the store.
pub struct PoolHydrator {
    store: Arc<dyn Store>,
    pools: FeedMirror<Pool>,
}

impl PoolHydrator {
    pub fn new(store: Arc<dyn Store>) -> Self {
        PoolHydrator {
            store,
            pools: FeedMirror::default(),
        }
    }
}

#[async_trait]
impl Hydrator for PoolHydrator {
    async fn hydrate(&self, ctx: &RequestContext) -> Result<FeatureMap, ComponentError> {
        let mut features = FeatureMap::new();
        if let Some(pool) = self.pools.get(ctx.feed.as_deref()) {
            features.insert::<FeedPool>(pool);
        }
        Ok(features)
    }

    async fn reload(&self, scope: Reload<'_>) -> Result<(), ComponentError> {
        let failed = |e: feedmixer_store::StoreError| ComponentError(e.to_string());
        match scope {
            Reload::All { .. } => {
                let mut pools = BTreeMap::new();
                for feed in self.store.pool_feeds().await.map_err(failed)? {
                    let posts = self.store.pool(&feed).await.map_err(failed)?;
                    pools.insert(feed, Arc::new(Pool::new(posts)));
                }
                self.pools.replace(pools);
            }
            Reload::Feed(feed) => {
                let posts = self.store.pool(feed).await.map_err(failed)?;
                self.pools
                    .set(feed, (!posts.is_empty()).then(|| Pool::new(posts)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NOW, graph, post};

    #[tokio::test]
    async fn serves_the_feeds_pool_as_the_store_holds_it() {
        let (_dir, store) = feedmixer_store::testkit::open_temp();
        let store: Arc<dyn Store> = Arc::new(store);
        let (a, b) = (post("x", 1), post("x", 2));
        store
            .update_pool("curated", &[a.clone(), b.clone()], &[], false)
            .await
            .unwrap();
        let hydrator = PoolHydrator::new(store.clone());
        let g = graph(&[("u", &a, 60)]);
        let ctx = RequestContext::new(g, None, NOW).for_feed("curated");
        let pool = |features: FeatureMap| features.get::<FeedPool>().map(Pool::len);
        assert_eq!(pool(hydrator.hydrate(&ctx).await.unwrap()), None, "not loaded yet");

        hydrator.reload(Reload::All { feeds: &[] }).await.unwrap();
        assert_eq!(pool(hydrator.hydrate(&ctx).await.unwrap()), Some(2));
        let other = RequestContext::new(ctx.graph.clone(), None, NOW).for_feed("trending");
        assert_eq!(pool(hydrator.hydrate(&other).await.unwrap()), None, "no pool");

        store.update_pool("curated", &[], &[a], false).await.unwrap();
        hydrator.reload(Reload::Feed("curated")).await.unwrap();
        assert_eq!(pool(hydrator.hydrate(&ctx).await.unwrap()), Some(1));
        store.update_pool("curated", &[], &[b], false).await.unwrap();
        hydrator.reload(Reload::Feed("curated")).await.unwrap();
        assert_eq!(pool(hydrator.hydrate(&ctx).await.unwrap()), None, "emptied");
    }
}
