//! The version of what operators set per feed (pools, special posts): one
//! meta key, set to a fresh random value by every change, so each replica
//! sharing the store notices a change made through any other and reloads.

use crate::{Store, StoreError};

const KEY: &str = "feed_data_version";

pub(crate) async fn version<S: Store + ?Sized>(store: &S) -> Result<Option<Vec<u8>>, StoreError> {
    store.get_meta(KEY).await
}

pub(crate) async fn mark_changed<S: Store + ?Sized>(store: &S) -> Result<Vec<u8>, StoreError> {
    let version = rand::random::<u64>().to_le_bytes().to_vec();
    store.set_meta(KEY, &version).await?;
    Ok(version)
}
