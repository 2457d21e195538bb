//! Feed rules at ingest, for the three paths that ingest: the live
//! ingester routes through the running catalog ([`AppState`], so a
//! reloaded rule applies to the next batch) and reloads the pools it
//! filled; the replay and the demo loader, which run before any feed
//! data is mirrored, route through the catalog they loaded
//! ([`CatalogRouting`]).

use std::sync::Arc;

use feedmixer_flow::Catalog;
use feedmixer_store::{PostRouter, RepoEvent};

use crate::AppState;

/// Routes through one loaded catalog.
pub struct CatalogRouting(pub Arc<Catalog>);

impl PostRouter for CatalogRouting {
    fn route(&self, events: &[RepoEvent]) -> Vec<(String, Vec<String>)> {
        self.0.route(events)
    }
}

#[async_trait::async_trait]
impl PostRouter for AppState {
    fn route(&self, events: &[RepoEvent]) -> Vec<(String, Vec<String>)> {
        self.catalog.load().route(events)
    }

    /// Every replica reloads those pools (this one at once).
    async fn pools_changed(&self, feeds: &[String]) {
        for feed in feeds {
            if let Err(error) = self.feed_data_changed(feed).await {
                tracing::warn!(feed, %error, "could not reload a pool that took new posts");
            }
        }
    }
}
