//! What operators set per feed — candidate pools and special posts —
//! kept current on every replica. The data itself lives in the store and,
//! in process, in the hydrators that serve it to requests (`feed_pool`,
//! `feed_special_posts`); this follows the store's feed data version and
//! tells the hydrators to reload.
//!
//! The admin routes report every change here, which also moves the
//! store's feed data version; each replica's refresher reloads when that
//! version is not the one it loaded.

use std::sync::{Arc, Mutex};

use feedmixer_flow::{ComponentError, Hydrators, Reload};
use feedmixer_store::{Store, StoreError};

/// Why feed data could not be (re)loaded.
#[derive(Debug, thiserror::Error)]
pub enum FeedDataError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reloading what operators set per feed: {0}")]
    Reload(#[from] ComponentError),
}

/// Follows the feed data version for the process's hydrators.
pub struct FeedData {
    store: Arc<dyn Store>,
    hydrators: Hydrators,
    /// The feed data version the hydrators last loaded.
    version: Mutex<Option<Vec<u8>>>,
}

impl FeedData {
    /// Nothing loaded until [`FeedData::load`].
    pub fn new(store: Arc<dyn Store>, hydrators: Hydrators) -> Self {
        FeedData {
            store,
            hydrators,
            version: Mutex::new(None),
        }
    }

    /// Loads everything, for the configured `feeds`.
    pub async fn load(&self, feeds: &[String]) -> Result<(), FeedDataError> {
        let version = self.store.feed_data_version().await?;
        self.reload(Reload::All { feeds }).await?;
        *self.version.lock().expect("feed data version lock") = version;
        Ok(())
    }

    /// Loads everything again when an operator changed a pool or special
    /// posts through any replica since it was loaded here.
    pub async fn follow(&self, feeds: &[String]) -> Result<(), FeedDataError> {
        let version = self.store.feed_data_version().await?;
        let current = self.version.lock().expect("feed data version lock").clone();
        if version != current {
            tracing::info!("pools or special posts changed; reloading them");
            self.load(feeds).await?;
        }
        Ok(())
    }

    /// Notes that `feed`'s pool or special posts changed in the store:
    /// tells every replica, then reloads that feed's here.
    pub async fn changed(&self, feed: &str) -> Result<(), FeedDataError> {
        let version = self.store.mark_feed_data_changed().await?;
        *self.version.lock().expect("feed data version lock") = Some(version);
        self.reload(Reload::Feed(feed)).await
    }

    async fn reload(&self, scope: Reload<'_>) -> Result<(), FeedDataError> {
        Ok(self.hydrators.reload(scope).await?)
    }
}
