//! What every handler shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use feedmixer_atproto::clock::now_secs;
use feedmixer_flow::{BuildError, Catalog, Hydrators, Registry, Resources};
use feedmixer_graph::{GraphBuilder, LikeGraph};
use feedmixer_identity::Verifier;
use feedmixer_ingest::IngestStatus;
use feedmixer_store::{Store, StoreHealth};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;

use crate::config::ServiceConfig;
use crate::http::shed::Shedder;
use crate::pager::{CursorKeys, Sessions};
use crate::runtime::feed_data::{FeedData, FeedDataError};

/// Shared server state. The graph and the catalog are swapped whole, so a
/// request sees one consistent snapshot of each.
pub struct AppState {
    pub config: ServiceConfig,
    pub registry: Registry,
    pub catalog: ArcSwap<Catalog>,
    pub graph: ArcSwap<LikeGraph>,
    pub store: Arc<dyn Store>,
    pub sessions: Sessions,
    /// Checks viewers' service JWTs.
    pub verifier: Verifier,
    pub metrics: PrometheusHandle,
    /// Every hydrator, built once: flows run the ones they need.
    pub hydrators: Hydrators,
    /// Keeps what operators set per feed current in the hydrators.
    feed_data: FeedData,
    ready: AtomicBool,
    /// The Jetstream ingester's progress (the last one this process ran)
    /// and this replica's part: `leader` ingests, `standby` waits for the
    /// lease.
    ingest: Mutex<Option<(watch::Receiver<IngestStatus>, &'static str)>>,
    /// Whether the store answers (set by the graph refresher's rounds).
    pub store_health: StoreHealth,
    /// Turns of the routes that rank.
    pub shedder: Shedder,
    /// Where served pages are logged (`[impressions]`); off until
    /// [`AppState::start_impression_log`].
    pub impressions: crate::impressions::ImpressionLog,
}

/// Every registered hydrator, built from what the runtime provides: the
/// store, its health and the interaction limits. The server builds them
/// once; so does `feedmixer eval`, to rank as the server does.
pub fn build_hydrators(
    registry: &Registry,
    config: &ServiceConfig,
    store: &Arc<dyn Store>,
    store_health: &StoreHealth,
) -> Result<Hydrators, BuildError> {
    let resources = Resources::new()
        .with::<dyn Store>(Arc::clone(store))
        .with(Arc::new(store_health.clone()))
        .with(Arc::new(config.interactions.limits()));
    Hydrators::build(registry, &resources)
}

impl AppState {
    /// A state that is not ready yet: its graph is empty until
    /// [`AppState::set_graph`]. Fails when a hydrator cannot be built from
    /// what the runtime provides (the store, its health, the interaction
    /// limits).
    pub fn new(
        config: ServiceConfig,
        registry: Registry,
        catalog: Catalog,
        store: Arc<dyn Store>,
        verifier: Verifier,
        cursor_keys: CursorKeys,
        metrics: PrometheusHandle,
    ) -> Result<Self, BuildError> {
        crate::metrics::set_ready(false);
        crate::metrics::rare_counters_init();
        crate::metrics::experiments_init(&catalog);
        let store_health = StoreHealth::new();
        let hydrators = build_hydrators(&registry, &config, &store, &store_health)?;
        Ok(AppState {
            shedder: Shedder::new(&config.http),
            impressions: crate::impressions::ImpressionLog::off(),
            sessions: Sessions::new(
                &config.sessions,
                cursor_keys,
                Arc::clone(&store),
                store_health.clone(),
            ),
            config,
            registry,
            catalog: ArcSwap::from_pointee(catalog),
            graph: ArcSwap::from_pointee(GraphBuilder::new(0).build()),
            feed_data: FeedData::new(Arc::clone(&store)),
            hydrators,
            store,
            verifier,
            metrics,
            ready: AtomicBool::new(false),
            ingest: Mutex::new(None),
            store_health,
        })
    }

    /// Installs a graph snapshot and starts serving feeds from it. For a
    /// graph built anew (a new lineage, whose ids the lists made so far do
    /// not share) the lists every viewer shares are made first, on the
    /// blocking pool, so no request waits for them.
    pub async fn set_graph(&self, graph: LikeGraph) {
        let graph = if graph.lineage() == self.graph.load().lineage() {
            graph
        } else {
            tokio::task::spawn_blocking(move || {
                feedmixer_components::sources::warm_shared_lists(&graph, now_secs());
                graph
            })
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
        };
        crate::metrics::graph_size(&graph);
        self.graph.store(Arc::new(graph));
        self.ready.store(true, Ordering::Release);
        crate::metrics::set_ready(true);
    }

    /// Loads what operators set per feed: candidate pools and the special
    /// posts of the configured feeds.
    pub async fn load_feed_data(&self) -> Result<(), FeedDataError> {
        self.feed_data
            .load(&self.hydrators, &self.feed_names())
            .await
    }

    /// Reloads pools and special posts when an operator changed them
    /// through any replica since they were loaded here.
    pub async fn follow_feed_data(&self) -> Result<(), FeedDataError> {
        self.feed_data
            .follow(&self.hydrators, &self.feed_names())
            .await
    }

    /// Notes that an operator changed `feed`'s pool or special posts
    /// through this replica: every replica reloads it.
    pub async fn feed_data_changed(&self, feed: &str) -> Result<(), FeedDataError> {
        self.feed_data.changed(&self.hydrators, feed).await
    }

    /// The rkeys of the feeds the running catalog serves.
    pub fn feed_names(&self) -> Vec<String> {
        self.catalog.load().feeds.keys().cloned().collect()
    }

    /// Records whether the store answered (the refresher asks it every
    /// interval), for readiness and `feedmixer_store_up`.
    pub fn set_store_reachable(&self, reachable: bool) {
        let was = self.store_health.set(reachable);
        if was != reachable {
            if reachable {
                tracing::info!("the store answers again");
            } else {
                tracing::warn!("the store is unreachable; serving from the graph and cached state");
            }
        }
    }

    pub fn store_reachable(&self) -> bool {
        self.store_health.is_up()
    }

    /// Reports this ingester's progress in /v1/stats from now on.
    pub fn watch_ingest(&self, status: watch::Receiver<IngestStatus>) {
        let mut ingest = self.ingest.lock().expect("ingest status lock");
        *ingest = Some((status, "leader"));
    }

    /// Records whether this replica ingests (`leader`) or waits for the
    /// lease (`standby`).
    pub fn set_ingest_role(&self, role: &'static str) {
        let mut ingest = self.ingest.lock().expect("ingest status lock");
        match ingest.as_mut() {
            Some((_, current)) => *current = role,
            None => *ingest = Some((watch::channel(IngestStatus::default()).1, role)),
        }
    }

    /// The last ingester's progress and this replica's role, when it was
    /// given a Jetstream to ingest.
    /// Starts the impression log when the config names a directory (on a
    /// runtime: its writer is a blocking task).
    pub fn start_impression_log(&mut self) -> std::io::Result<()> {
        self.impressions = crate::impressions::ImpressionLog::start(&self.config.impressions)?;
        Ok(())
    }

    pub fn ingest_status(&self) -> Option<(IngestStatus, &'static str)> {
        let ingest = self.ingest.lock().expect("ingest status lock");
        ingest
            .as_ref()
            .map(|(status, role)| (status.borrow().clone(), *role))
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}
