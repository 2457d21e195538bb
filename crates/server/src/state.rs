//! What every handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use std::collections::BTreeMap;

use feedmixer_flow::{Catalog, Pool, Registry};
use feedmixer_graph::{GraphBuilder, LikeGraph};
use feedmixer_store::{Store, StoreError};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::ServiceConfig;
use crate::pager::Sessions;

/// Shared server state. The graph and the catalog are swapped whole, so a
/// request sees one consistent snapshot of each.
pub struct AppState {
    pub config: ServiceConfig,
    pub registry: Registry,
    pub catalog: ArcSwap<Catalog>,
    pub graph: ArcSwap<LikeGraph>,
    pub store: Arc<dyn Store>,
    pub sessions: Sessions,
    pub metrics: PrometheusHandle,
    /// Candidate pools by feed, mirrored from the store so no request reads it.
    pools: ArcSwap<BTreeMap<String, Arc<Pool>>>,
    ready: AtomicBool,
}

impl AppState {
    /// A state that is not ready yet: its graph is empty until
    /// [`AppState::set_graph`].
    pub fn new(
        config: ServiceConfig,
        registry: Registry,
        catalog: Catalog,
        store: Arc<dyn Store>,
        metrics: PrometheusHandle,
    ) -> Self {
        crate::metrics::set_ready(false);
        AppState {
            sessions: Sessions::new(&config.sessions),
            config,
            registry,
            catalog: ArcSwap::from_pointee(catalog),
            graph: ArcSwap::from_pointee(GraphBuilder::new(0).build()),
            store,
            metrics,
            pools: ArcSwap::from_pointee(BTreeMap::new()),
            ready: AtomicBool::new(false),
        }
    }

    /// Installs a graph snapshot and starts serving feeds from it.
    pub fn set_graph(&self, graph: LikeGraph) {
        crate::metrics::graph_size(&graph);
        self.graph.store(Arc::new(graph));
        self.ready.store(true, Ordering::Release);
        crate::metrics::set_ready(true);
    }

    /// Loads every feed's candidate pool from the store.
    pub async fn load_pools(&self) -> Result<(), StoreError> {
        let mut pools = BTreeMap::new();
        for feed in self.store.pool_feeds().await? {
            let posts = self.store.pool(&feed).await?;
            pools.insert(feed, Arc::new(Pool::new(posts)));
        }
        self.pools.store(Arc::new(pools));
        Ok(())
    }

    /// Re-reads one feed's pool from the store after a change.
    pub async fn reload_pool(&self, feed: &str) -> Result<(), StoreError> {
        let posts = self.store.pool(feed).await?;
        let mut pools = BTreeMap::clone(&self.pools.load());
        if posts.is_empty() {
            pools.remove(feed);
        } else {
            pools.insert(feed.to_string(), Arc::new(Pool::new(posts)));
        }
        self.pools.store(Arc::new(pools));
        Ok(())
    }

    /// The feed's candidate pool, if it has one.
    pub fn pool(&self, feed: &str) -> Option<Arc<Pool>> {
        self.pools.load().get(feed).cloned()
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}
