//! What every handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use feedmixer_flow::{Catalog, Registry};
use feedmixer_graph::{GraphBuilder, LikeGraph};
use feedmixer_store::Store;
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

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}
