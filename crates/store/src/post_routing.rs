//! Posts joining feeds' candidate pools as they are ingested: the ingester,
//! the capture replay and the demo loader apply events through
//! [`apply_routed`], which after the store took them adds every new post
//! the feeds' rules take to those feeds' pools. Both happen before the
//! caller records its progress (the ingest cursor), so a crash in between
//! replays the batch, and both steps are idempotent.

use crate::{ApplyStats, RepoEvent, Store, StoreError};

/// Which feeds' pools new posts join (the feeds' rules, judged at ingest).
#[async_trait::async_trait]
pub trait PostRouter: Send + Sync {
    /// For each feed, the AT-URIs of the posts created in `events` that
    /// its rules take.
    fn route(&self, events: &[RepoEvent]) -> Vec<(String, Vec<String>)>;

    /// Told after the pools of `feeds` took posts, so what mirrors them
    /// can reload.
    async fn pools_changed(&self, _feeds: &[String]) {}
}

/// Routes nothing: for stores filled without feed rules.
pub struct NoRouting;

impl PostRouter for NoRouting {
    fn route(&self, _events: &[RepoEvent]) -> Vec<(String, Vec<String>)> {
        Vec::new()
    }
}

/// Applies `events` to `store`, then adds the posts `router` routes to
/// their feeds' pools. An error leaves the batch to be applied again.
pub async fn apply_routed(
    store: &dyn Store,
    events: &[RepoEvent],
    router: &dyn PostRouter,
) -> Result<ApplyStats, StoreError> {
    let stats = store.apply(events).await?;
    let routed = router.route(events);
    let mut changed = Vec::new();
    for (feed, posts) in routed {
        let pool = store.update_pool(&feed, &posts, &[], false).await?;
        if pool.added > 0 {
            changed.push(feed);
        }
    }
    if !changed.is_empty() {
        router.pools_changed(&changed).await;
    }
    Ok(stats)
}
