//! What every handler shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use std::collections::BTreeMap;

use feedmixer_flow::placement::SpecialPosts;
use feedmixer_flow::{Catalog, Feedback, Pool, Registry};
use feedmixer_graph::{GraphBuilder, LikeGraph};
use feedmixer_identity::Verifier;
use feedmixer_ingest::IngestStatus;
use feedmixer_store::{Store, StoreError, StoreHealth};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;

use crate::config::ServiceConfig;
use crate::pager::{CursorKey, Sessions};

/// The store's meta key holding a feed's special posts (JSON).
fn special_posts_key(feed: &str) -> String {
    format!("feed_special_posts:{feed}")
}

/// The meta key that changes (to a random value) whenever an operator
/// changes a feed's pool or special posts, so every replica reloads them.
const FEED_DATA_VERSION_KEY: &str = "feed_data_version";

/// The `op` of the interaction-history read, as [`StoreHealth`] counts its
/// failures.
const READ_INTERACTIONS: &str = "read_interactions";

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
    /// Candidate pools by feed, mirrored from the store so no request reads it.
    pools: ArcSwap<BTreeMap<String, Arc<Pool>>>,
    /// Special posts by feed, mirrored from the store likewise.
    special: ArcSwap<BTreeMap<String, Arc<SpecialPosts>>>,
    ready: AtomicBool,
    /// The Jetstream ingester's progress (the last one this process ran)
    /// and this replica's part: `leader` ingests, `standby` waits for the
    /// lease.
    ingest: Mutex<Option<(watch::Receiver<IngestStatus>, &'static str)>>,
    /// Whether the store answers (set by the graph refresher's rounds).
    pub store_health: StoreHealth,
    /// The feed data version the pools and special posts were loaded at.
    feed_data_version: Mutex<Option<Vec<u8>>>,
}

impl AppState {
    /// A state that is not ready yet: its graph is empty until
    /// [`AppState::set_graph`].
    pub fn new(
        config: ServiceConfig,
        registry: Registry,
        catalog: Catalog,
        store: Arc<dyn Store>,
        verifier: Verifier,
        metrics: PrometheusHandle,
    ) -> Self {
        crate::metrics::set_ready(false);
        let store_health = StoreHealth::new();
        store_health.register_ops(&[READ_INTERACTIONS]);
        AppState {
            sessions: Sessions::new(
                &config.sessions,
                config
                    .cursor_secret
                    .as_deref()
                    .map_or_else(CursorKey::random, CursorKey::from_secret),
                Arc::clone(&store),
                store_health.clone(),
            ),
            config,
            registry,
            catalog: ArcSwap::from_pointee(catalog),
            graph: ArcSwap::from_pointee(GraphBuilder::new(0).build()),
            store,
            verifier,
            metrics,
            pools: ArcSwap::from_pointee(BTreeMap::new()),
            special: ArcSwap::from_pointee(BTreeMap::new()),
            ready: AtomicBool::new(false),
            ingest: Mutex::new(None),
            store_health,
            feed_data_version: Mutex::new(None),
        }
    }

    /// Installs a graph snapshot and starts serving feeds from it.
    pub fn set_graph(&self, graph: LikeGraph) {
        crate::metrics::graph_size(&graph);
        self.graph.store(Arc::new(graph));
        self.ready.store(true, Ordering::Release);
        crate::metrics::set_ready(true);
    }

    /// Loads what operators set per feed: candidate pools and the special
    /// posts of the configured feeds.
    pub async fn load_feed_data(&self) -> Result<(), StoreError> {
        let version = self.store.get_meta(FEED_DATA_VERSION_KEY).await?;
        self.load_pools().await?;
        let feeds: Vec<String> = self.catalog.load().feeds.keys().cloned().collect();
        let mut special = BTreeMap::new();
        for feed in feeds {
            if let Some(posts) = self.stored_special(&feed).await? {
                special.insert(feed, Arc::new(posts));
            }
        }
        self.special.store(Arc::new(special));
        *self
            .feed_data_version
            .lock()
            .expect("feed data version lock") = version;
        Ok(())
    }

    /// Reloads pools and special posts when an operator changed them
    /// through any replica since they were loaded here.
    pub async fn follow_feed_data(&self) -> Result<(), StoreError> {
        let version = self.store.get_meta(FEED_DATA_VERSION_KEY).await?;
        let current = self
            .feed_data_version
            .lock()
            .expect("feed data version lock")
            .clone();
        if version != current {
            tracing::info!("pools or special posts changed; reloading them");
            self.load_feed_data().await?;
        }
        Ok(())
    }

    /// Tells every replica that pools or special posts changed.
    async fn bump_feed_data_version(&self) -> Result<(), StoreError> {
        let version = rand::random::<u64>().to_le_bytes();
        self.store.set_meta(FEED_DATA_VERSION_KEY, &version).await?;
        *self
            .feed_data_version
            .lock()
            .expect("feed data version lock") = Some(version.to_vec());
        Ok(())
    }

    /// A feed's special posts as stored; unreadable JSON (never written by
    /// us) is reported and treated as none.
    async fn stored_special(&self, feed: &str) -> Result<Option<SpecialPosts>, StoreError> {
        let Some(bytes) = self.store.get_meta(&special_posts_key(feed)).await? else {
            return Ok(None);
        };
        match serde_json::from_slice(&bytes) {
            Ok(posts) => Ok(Some(posts)),
            Err(e) => {
                tracing::error!(feed, error = %e, "stored special posts are unreadable; ignoring them");
                Ok(None)
            }
        }
    }

    /// Stores a feed's special posts, then serves them.
    pub async fn set_special(&self, feed: &str, posts: SpecialPosts) -> Result<(), StoreError> {
        let json = serde_json::to_vec(&posts).expect("special posts serialize");
        self.store.set_meta(&special_posts_key(feed), &json).await?;
        self.bump_feed_data_version().await?;
        let mut all = BTreeMap::clone(&self.special.load());
        all.insert(feed.to_string(), Arc::new(posts));
        self.special.store(Arc::new(all));
        Ok(())
    }

    /// The feed's special posts, if any were set.
    pub fn special(&self, feed: &str) -> Option<Arc<SpecialPosts>> {
        self.special.load().get(feed).cloned()
    }

    /// Loads every feed's candidate pool from the store.
    async fn load_pools(&self) -> Result<(), StoreError> {
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
        self.bump_feed_data_version().await?;
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

    /// The viewer's interaction history resolved against `graph`; `None`
    /// without a history. A store failure is logged and personalizes
    /// without it: a page beats an error.
    pub async fn feedback(&self, graph: &LikeGraph, viewer: &str) -> Option<Arc<Feedback>> {
        let limits = self.config.interactions.limits();
        let since = crate::serve_feed::now_us().saturating_sub(limits.ttl_us);
        let history = self
            .store_health
            .call(READ_INTERACTIONS, self.store.interactions(viewer, since))
            .await?;
        (!history.is_empty()).then(|| Arc::new(Feedback::new(graph, &history)))
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
