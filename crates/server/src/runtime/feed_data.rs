//! What operators set per feed — candidate pools and special posts —
//! mirrored in process so no feed request reads the store for them.
//!
//! The admin routes tell the mirror of the replica they reach about every
//! change, which also sets the store's `feed_data_version` to a new random
//! value; each replica's refresher reloads its mirror when that version is
//! not the one it loaded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use feedmixer_flow::Pool;
use feedmixer_flow::placement::SpecialPosts;
use feedmixer_store::{Store, StoreError};

/// The meta key that changes (to a random value) whenever an operator
/// changes a feed's pool or special posts, so every replica reloads them.
const FEED_DATA_VERSION_KEY: &str = "feed_data_version";

/// The store's meta key holding a feed's special posts (JSON).
fn special_posts_key(feed: &str) -> String {
    format!("feed_special_posts:{feed}")
}

/// The per-feed data requests read: each map is swapped whole, so a
/// request sees one consistent version of it.
pub struct FeedData {
    store: Arc<dyn Store>,
    /// Candidate pools by feed.
    pools: ArcSwap<BTreeMap<String, Arc<Pool>>>,
    /// Special posts by feed.
    special: ArcSwap<BTreeMap<String, Arc<SpecialPosts>>>,
    /// The feed data version the maps were loaded at.
    version: Mutex<Option<Vec<u8>>>,
}

impl FeedData {
    /// An empty mirror of `store`'s feed data, until [`FeedData::load`].
    pub fn new(store: Arc<dyn Store>) -> Self {
        FeedData {
            store,
            pools: ArcSwap::from_pointee(BTreeMap::new()),
            special: ArcSwap::from_pointee(BTreeMap::new()),
            version: Mutex::new(None),
        }
    }

    /// Loads every feed's candidate pool and the special posts of `feeds`
    /// (the configured ones).
    pub async fn load(&self, feeds: &[String]) -> Result<(), StoreError> {
        let version = self.store.get_meta(FEED_DATA_VERSION_KEY).await?;
        self.load_pools().await?;
        let mut special = BTreeMap::new();
        for feed in feeds {
            if let Some(posts) = self.stored_special(feed).await? {
                special.insert(feed.clone(), Arc::new(posts));
            }
        }
        self.special.store(Arc::new(special));
        *self.version.lock().expect("feed data version lock") = version;
        Ok(())
    }

    /// Loads everything again when an operator changed a pool or special
    /// posts through any replica since it was loaded here.
    pub async fn follow(&self, feeds: &[String]) -> Result<(), StoreError> {
        let version = self.store.get_meta(FEED_DATA_VERSION_KEY).await?;
        let current = self.version.lock().expect("feed data version lock").clone();
        if version != current {
            tracing::info!("pools or special posts changed; reloading them");
            self.load(feeds).await?;
        }
        Ok(())
    }

    /// Notes that `feed`'s pool changed in the store: tells every replica,
    /// then re-reads it here.
    pub async fn pool_changed(&self, feed: &str) -> Result<(), StoreError> {
        self.bump_version().await?;
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

    /// Stores a feed's special posts, tells every replica, then serves
    /// them here.
    pub async fn set_special(&self, feed: &str, posts: SpecialPosts) -> Result<(), StoreError> {
        let json = serde_json::to_vec(&posts).expect("special posts serialize");
        self.store.set_meta(&special_posts_key(feed), &json).await?;
        self.bump_version().await?;
        let mut all = BTreeMap::clone(&self.special.load());
        all.insert(feed.to_string(), Arc::new(posts));
        self.special.store(Arc::new(all));
        Ok(())
    }

    /// The feed's candidate pool, if it has one.
    pub fn pool(&self, feed: &str) -> Option<Arc<Pool>> {
        self.pools.load().get(feed).cloned()
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

    /// Tells every replica that pools or special posts changed.
    async fn bump_version(&self) -> Result<(), StoreError> {
        let version = rand::random::<u64>().to_le_bytes();
        self.store.set_meta(FEED_DATA_VERSION_KEY, &version).await?;
        *self.version.lock().expect("feed data version lock") = Some(version.to_vec());
        Ok(())
    }
}
