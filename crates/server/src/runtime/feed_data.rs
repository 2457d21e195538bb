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
    /// The feed data version the hydrators last loaded.
    version: Mutex<Option<Vec<u8>>>,
}

impl FeedData {
    /// Nothing loaded until [`FeedData::load`].
    pub fn new(store: Arc<dyn Store>) -> Self {
        FeedData {
            store,
            version: Mutex::new(None),
        }
    }

    /// Loads everything into `hydrators`, for the configured `feeds`.
    pub async fn load(&self, hydrators: &Hydrators, feeds: &[String]) -> Result<(), FeedDataError> {
        let version = self.store.feed_data_version().await?;
        hydrators.reload(Reload::All { feeds }).await?;
        *self.version.lock().expect("feed data version lock") = version;
        Ok(())
    }

    /// Loads everything again when an operator changed a pool or special
    /// posts through any replica since it was loaded here.
    pub async fn follow(
        &self,
        hydrators: &Hydrators,
        feeds: &[String],
    ) -> Result<(), FeedDataError> {
        let version = self.store.feed_data_version().await?;
        let current = self.version.lock().expect("feed data version lock").clone();
        if version != current {
            tracing::info!("pools or special posts changed; reloading them");
            self.load(hydrators, feeds).await?;
        }
        Ok(())
    }

    /// Notes that `feed`'s pool or special posts changed in the store:
    /// tells every replica, then reloads that feed's into `hydrators`.
    pub async fn changed(&self, hydrators: &Hydrators, feed: &str) -> Result<(), FeedDataError> {
        let version = self.store.mark_feed_data_changed().await?;
        *self.version.lock().expect("feed data version lock") = Some(version);
        Ok(hydrators.reload(Reload::Feed(feed)).await?)
    }
}
