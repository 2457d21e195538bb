//! The embedded store's [`Store::cache_set`](crate::Store::cache_set)
//! values: in memory, each with its own time to live, bounded in bytes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;

pub(super) const DEFAULT_BYTES: u64 = 320 << 20;

#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
    ttl: Duration,
}

/// Each entry lives for the TTL it was set with.
struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _now: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        _now: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

pub(super) struct MemoryCache(Cache<String, Entry>);

impl MemoryCache {
    pub(super) fn new(max_bytes: u64) -> Self {
        MemoryCache(
            Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|key: &String, entry: &Entry| {
                    (key.len() + entry.value.len() + 64).min(u32::MAX as usize) as u32
                })
                .expire_after(PerEntryTtl)
                .build(),
        )
    }

    pub(super) fn set(&self, key: &str, value: &[u8], ttl: Duration) {
        self.0.insert(
            key.to_owned(),
            Entry {
                value: value.into(),
                ttl,
            },
        );
    }

    pub(super) fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.0.get(key).map(|entry| entry.value.to_vec())
    }
}
