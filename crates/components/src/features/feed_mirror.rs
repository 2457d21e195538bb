//! What operators set per feed, kept in process by the hydrators that
//! serve it (pools, special posts): one value per feed, read lock-free by
//! requests and replaced whole or one feed at a time by reloads.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

/// One value per feed.
pub struct FeedMirror<T> {
    by_feed: ArcSwap<BTreeMap<String, Arc<T>>>,
}

impl<T> Default for FeedMirror<T> {
    fn default() -> Self {
        FeedMirror {
            by_feed: ArcSwap::from_pointee(BTreeMap::new()),
        }
    }
}

impl<T> FeedMirror<T> {
    /// Feed `feed`'s value, if it has one.
    pub fn get(&self, feed: Option<&str>) -> Option<Arc<T>> {
        self.by_feed.load().get(feed?).cloned()
    }

    /// Replaces every feed's value.
    pub fn replace(&self, by_feed: BTreeMap<String, Arc<T>>) {
        self.by_feed.store(Arc::new(by_feed));
    }

    /// Sets (or, with `None`, removes) one feed's value.
    pub fn set(&self, feed: &str, value: Option<T>) {
        let mut by_feed = BTreeMap::clone(&self.by_feed.load());
        match value {
            Some(value) => by_feed.insert(feed.to_string(), Arc::new(value)),
            None => by_feed.remove(feed),
        };
        self.by_feed.store(Arc::new(by_feed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_by_feed() {
        let mirror = FeedMirror::default();
        assert_eq!(mirror.get(Some("a")), None);
        mirror.replace([("a".to_string(), Arc::new(1))].into());
        mirror.set("b", Some(2));
        assert_eq!((mirror.get(Some("a")), mirror.get(Some("b"))), (Some(Arc::new(1)), Some(Arc::new(2))));
        mirror.set("a", None);
        assert_eq!(mirror.get(Some("a")), None);
        assert_eq!(mirror.get(None), None, "no feed, no value");
    }
}
