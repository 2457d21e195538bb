//! The Redis backend of [`feedmixer_store::Store`], for a single Redis or a
//! Redis Cluster shared by several serving replicas.
//!
//! [`RedisStore::connect`] opens an auto-reconnecting connection (a
//! connection manager on a single Redis, the cluster client's async
//! connection on a cluster) and checks the schema version stored under the
//! key prefix. Every operation keeps the semantics the `Store` trait
//! documents, with the differences Redis imposes listed under
//! *Atomicity*, *Durability* and *Consistency of scans* below.
//!
#![doc = include_str!("../KEYS.md")]

mod apply;
mod cache;
mod changes;
mod conn;
mod error;
mod interactions;
mod keys;
mod lease;
mod like_chunks;
mod migrate;
mod pool;
mod prune;
mod scan;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use feedmixer_atproto::clock;
use feedmixer_store::{
    ApplyStats, Changes, Interaction, InteractionLimits, LikeSink, MigrationProgress, PoolStats,
    PoolUpdate, PostSink, PruneStats, RemovedSink, RepoEvent, Store, StoreCounts, StoreError,
    checks,
};
use redis::AsyncCommands;

pub use apply::APPLY_CHUNK_EVENTS;
pub use changes::{CHANGES_PER_READ, DEFAULT_CHANGES_KEPT};
pub use error::RedisStoreError;
pub use prune::PRUNE_CHUNK;
pub use scan::SCAN_CHUNK_LIKES;

use conn::Conn;
use error::backend;
use keys::Keys;

/// The key prefix when none is configured.
pub const DEFAULT_PREFIX: &str = "fm";

/// The schema version this store writes; a newer one is refused, an
/// older one converted (see `migrate`).
const SCHEMA_VERSION: u64 = 2;
/// Meta keys under this prefix belong to the store.
const RESERVED_META_PREFIX: &str = "store.";
/// How long connecting to a node may take.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one command may take, the biggest being a chunk's apply
/// script or scan read.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the Redis is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One Redis, by URL (`redis://host:port/db`).
    Single(String),
    /// A Redis Cluster, by the URLs of some of its nodes; the client finds
    /// the others.
    Cluster(Vec<String>),
}

/// The like log, the post index, pools, meta, interaction histories,
/// cached values and leases in Redis, under one key prefix (see the crate
/// docs for the keys).
pub struct RedisStore {
    conn: Conn,
    keys: Keys,
    /// Changes kept for [`Store::changes_since`].
    changes_kept: u64,
}

impl RedisStore {
    /// Connects to `target` and opens the store under `prefix` (usually
    /// [`DEFAULT_PREFIX`]), stamping its schema version on first use.
    ///
    /// Fails when the prefix is empty or holds a brace, when Redis cannot
    /// be reached, and when a newer feedmixer wrote the store.
    pub async fn connect(target: RedisTarget, prefix: &str) -> Result<Self, StoreError> {
        Self::connect_with_progress(target, prefix, &mut |_| {}).await
    }

    /// [`RedisStore::connect`], converting a store an older release wrote
    /// first and telling `progress` how far it got.
    pub async fn connect_with_progress(
        target: RedisTarget,
        prefix: &str,
        progress: &mut (dyn FnMut(MigrationProgress) + Send),
    ) -> Result<Self, StoreError> {
        let started = Instant::now();
        let keys = Keys::new(prefix).map_err(backend)?;
        let cluster = matches!(target, RedisTarget::Cluster(_));
        let mut conn = Conn::connect(target, CONNECTION_TIMEOUT, RESPONSE_TIMEOUT)
            .await
            .map_err(backend)?;
        let mut found = check_schema(&mut conn, &keys).await.map_err(backend)?;
        if found < SCHEMA_VERSION {
            migrate::begin(&mut conn, &keys).await.map_err(backend)?;
            found = SCHEMA_VERSION;
        }
        if migrate::under_way(&mut conn, &keys)
            .await
            .map_err(backend)?
        {
            migrate::run(&mut conn, &keys, progress)
                .await
                .map_err(backend)?;
        }
        tracing::info!(
            prefix,
            cluster,
            schema_version = found,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "opened redis store"
        );
        Ok(RedisStore {
            conn,
            keys,
            changes_kept: DEFAULT_CHANGES_KEPT,
        })
    }

    /// Keeps only the newest `kept` changes for [`Store::changes_since`]
    /// (default [`DEFAULT_CHANGES_KEPT`]); replicas further behind rebuild
    /// from the log. Stores sharing a prefix should keep the same number:
    /// each apply trims to its own.
    pub fn with_changes_kept(mut self, kept: u64) -> Self {
        self.changes_kept = kept.max(1);
        self
    }

    /// The key prefix the store lives under.
    pub fn prefix(&self) -> &str {
        self.keys.prefix()
    }

    /// A handle on the shared connection: cheap, and each call gets its
    /// own so that `&self` methods can run concurrently.
    fn conn(&self) -> Conn {
        self.conn.clone()
    }
}

/// Stamps [`SCHEMA_VERSION`] on a new store and refuses a newer one.
async fn check_schema(conn: &mut Conn, keys: &Keys) -> Result<u64, RedisStoreError> {
    let _: bool = conn
        .hset_nx(&keys.state, keys::SCHEMA_VERSION_FIELD, SCHEMA_VERSION)
        .await?;
    let found: Option<String> = conn.hget(&keys.state, keys::SCHEMA_VERSION_FIELD).await?;
    let found = found
        .as_deref()
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| RedisStoreError::Reply(format!("schema version {found:?}")))?;
    if found > SCHEMA_VERSION {
        return Err(RedisStoreError::NewerSchema {
            prefix: keys.prefix().to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

#[async_trait::async_trait]
impl Store for RedisStore {
    async fn apply(&self, events: &[RepoEvent]) -> Result<ApplyStats, StoreError> {
        if events.is_empty() {
            return Ok(ApplyStats::default());
        }
        let started = Instant::now();
        let stats = apply::apply(&mut self.conn(), &self.keys, events, self.changes_kept)
            .await
            .map_err(backend)?;
        tracing::debug!(
            events = events.len(),
            %stats,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "applied like events"
        );
        Ok(stats)
    }

    async fn scan_likes(&self, since_us: u64, sink: &mut LikeSink<'_>) -> Result<u64, StoreError> {
        scan::scan(&self.conn, &self.keys, since_us, sink).await
    }

    async fn counts(&self) -> Result<StoreCounts, StoreError> {
        let (likes, posts): (Option<u64>, u64) = redis::pipe()
            .hget(&self.keys.state, keys::LIKE_COUNT_FIELD)
            .zcard(&self.keys.posts)
            .query_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(StoreCounts {
            likes: likes.unwrap_or(0),
            posts,
        })
    }

    async fn scan_posts(&self, since_us: u64, sink: &mut PostSink<'_>) -> Result<u64, StoreError> {
        scan::scan_posts(&self.conn, &self.keys, since_us, sink).await
    }

    async fn scan_removed_posts(&self, sink: &mut RemovedSink<'_>) -> Result<u64, StoreError> {
        scan::scan_removed(&self.conn, &self.keys, sink).await
    }

    async fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn()
            .hget(&self.keys.meta, key)
            .await
            .map_err(backend)
    }

    async fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if key.starts_with(RESERVED_META_PREFIX) {
            return Err(StoreError::ReservedMetaKey(key.to_owned()));
        }
        let _: () = self
            .conn()
            .hset(&self.keys.meta, key, value)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn set_meta_if_absent(&self, key: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        if key.starts_with(RESERVED_META_PREFIX) {
            return Err(StoreError::ReservedMetaKey(key.to_owned()));
        }
        // HSETNX then HGET in one transaction: the winner's value either way.
        let (_, held): (bool, Vec<u8>) = redis::pipe()
            .atomic()
            .hset_nx(&self.keys.meta, key, value)
            .hget(&self.keys.meta, key)
            .query_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(held)
    }

    async fn update_pool(
        &self,
        feed: &str,
        add: &[String],
        remove: &[String],
        replace: bool,
    ) -> Result<PoolStats, StoreError> {
        let Some(update) = PoolUpdate::new(feed, add, remove, replace)? else {
            let size = pool::size(&mut self.conn(), &self.keys, feed)
                .await
                .map_err(backend)?;
            return Ok(PoolStats {
                size,
                ..PoolStats::default()
            });
        };
        let stats = pool::update(&mut self.conn(), &self.keys, &update, clock::now_us())
            .await
            .map_err(backend)?;
        update.log(&stats);
        Ok(stats)
    }

    async fn pool(&self, feed: &str) -> Result<Vec<String>, StoreError> {
        checks::pool_update(feed, &[], &[])?;
        pool::read(&mut self.conn(), &self.keys, feed)
            .await
            .map_err(backend)
    }

    async fn pool_feeds(&self) -> Result<Vec<String>, StoreError> {
        pool::feeds(&self.conn, &self.keys).await.map_err(backend)
    }

    async fn add_interactions(
        &self,
        viewer: &str,
        items: &[Interaction],
        limits: InteractionLimits,
        now_us: u64,
    ) -> Result<(), StoreError> {
        checks::interactions(viewer, items)?;
        if items.is_empty() {
            return Ok(());
        }
        interactions::add(&mut self.conn(), &self.keys, viewer, items, limits, now_us)
            .await
            .map_err(backend)
    }

    async fn interactions(
        &self,
        viewer: &str,
        since_us: u64,
    ) -> Result<Vec<Interaction>, StoreError> {
        interactions::read(&mut self.conn(), &self.keys, viewer, since_us).await
    }

    async fn likes_version(&self) -> Result<u64, StoreError> {
        let version: Option<u64> = self
            .conn()
            .hget(&self.keys.state, keys::LIKES_VERSION_FIELD)
            .await
            .map_err(backend)?;
        Ok(version.unwrap_or(0))
    }

    async fn changes_since(&self, after: u64, max: usize) -> Result<Changes, StoreError> {
        changes::since(&mut self.conn(), &self.keys, after, max).await
    }

    async fn add_counts(&self, group: &str, counts: &[(String, u64)]) -> Result<(), StoreError> {
        checks::counts(group, counts)?;
        if counts.is_empty() {
            return Ok(());
        }
        let key = self.keys.counters(group);
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (field, by) in counts {
            pipe.hincr(&key, field, *by).ignore();
        }
        pipe.query_async::<()>(&mut self.conn())
            .await
            .map_err(backend)
    }

    async fn counts_in(&self, group: &str) -> Result<BTreeMap<String, u64>, StoreError> {
        checks::counts(group, &[])?;
        self.conn()
            .hgetall(self.keys.counters(group))
            .await
            .map_err(backend)
    }

    async fn cache_set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        cache::set(&mut self.conn(), &self.keys, key, value, ttl)
            .await
            .map_err(backend)
    }

    async fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        cache::get(&mut self.conn(), &self.keys, key)
            .await
            .map_err(backend)
    }

    async fn prune(&self, before_us: u64, max_likes: usize) -> Result<PruneStats, StoreError> {
        let started = Instant::now();
        let stats = prune::prune(&mut self.conn(), &self.keys, before_us, max_likes)
            .await
            .map_err(backend)?;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        if stats.removed() > 0 {
            tracing::info!(before_us, %stats, elapsed_ms, "pruned the like log");
        } else {
            tracing::debug!(before_us, %stats, elapsed_ms, "pruned the like log");
        }
        Ok(stats)
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        checks::lease(name, holder)?;
        lease::acquire(&mut self.conn(), &self.keys, name, holder, ttl)
            .await
            .map_err(backend)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        checks::lease(name, holder)?;
        lease::release(&mut self.conn(), &self.keys, name, holder)
            .await
            .map_err(backend)
    }
}
