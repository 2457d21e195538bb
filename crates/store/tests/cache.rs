//! Derived values with a time to live (`cache_set` / `cache_get`).

mod common;

use std::time::Duration;

use common::*;
use feedmixer_store::{EmbeddedStore, Store};

#[tokio::test]
async fn values_live_for_their_ttl() {
    let (_dir, store) = open_temp();
    store
        .cache_set("a", b"one", Duration::from_secs(60))
        .await
        .unwrap();
    store
        .cache_set("b", b"two", Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(
        store.cache_get("a").await.unwrap().as_deref(),
        Some(&b"one"[..])
    );
    assert_eq!(
        store.cache_get("b").await.unwrap().as_deref(),
        Some(&b"two"[..])
    );
    assert_eq!(store.cache_get("c").await.unwrap(), None);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.cache_get("b").await.unwrap(), None);
    // Setting again replaces the value and its lifetime.
    store
        .cache_set("a", b"uno", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        store.cache_get("a").await.unwrap().as_deref(),
        Some(&b"uno"[..])
    );
}

#[tokio::test]
async fn the_memory_bound_evicts() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path())
        .unwrap()
        .with_cache_bytes(10_000);
    for n in 0..1_000 {
        store
            .cache_set(&format!("k{n}"), &[0u8; 1_000], Duration::from_secs(60))
            .await
            .unwrap();
    }
    let mut kept = 0;
    for n in 0..1_000 {
        kept += usize::from(store.cache_get(&format!("k{n}")).await.unwrap().is_some());
    }
    assert!(kept < 1_000, "{kept} of 1000 kept under a 10 kB bound");
}
