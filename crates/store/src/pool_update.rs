//! A [`Store::update_pool`](crate::Store::update_pool) call as every
//! backend takes it: checked, normalized and logged the same way, so the
//! backends differ only in how they write it.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::{PoolStats, StoreError, checks};

/// A checked pool update that changes something.
#[derive(Debug)]
pub struct PoolUpdate {
    pub feed: String,
    pub replace: bool,
    /// The posts to add, each once and none that is also removed, in URI
    /// order.
    pub add: BTreeSet<String>,
    /// The posts to remove, each once, in URI order.
    pub remove: BTreeSet<String>,
    /// The lengths of `add` and `remove` as called, for the log line.
    requested: (usize, usize),
    started: Instant,
}

impl PoolUpdate {
    /// Checks the call ([`checks::pool_update`]) and normalizes it. `None`
    /// when it changes nothing (no post to add or remove, no replace): the
    /// backend then only reads the pool's size and spares the write.
    pub fn new(
        feed: &str,
        add: &[String],
        remove: &[String],
        replace: bool,
    ) -> Result<Option<Self>, StoreError> {
        checks::pool_update(feed, add, remove)?;
        if add.is_empty() && remove.is_empty() && !replace {
            return Ok(None);
        }
        let started = Instant::now();
        let requested = (add.len(), remove.len());
        let remove: BTreeSet<String> = remove.iter().cloned().collect();
        // Distinct and none removed: each post is counted once.
        let add: BTreeSet<String> = add
            .iter()
            .filter(|uri| !remove.contains(*uri))
            .cloned()
            .collect();
        Ok(Some(PoolUpdate {
            feed: feed.to_owned(),
            replace,
            add,
            remove,
            requested,
            started,
        }))
    }

    /// Logs the written update ("updated feed pool"), timed from
    /// [`PoolUpdate::new`].
    pub fn log(&self, stats: &PoolStats) {
        tracing::info!(
            feed = self.feed.as_str(),
            replace = self.replace,
            add = self.requested.0,
            remove = self.requested.1,
            added = stats.added,
            removed = stats.removed,
            size = stats.size,
            elapsed_ms = self.started.elapsed().as_millis() as u64,
            "updated feed pool"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uris(list: &[&str]) -> Vec<String> {
        list.iter().map(|uri| uri.to_string()).collect()
    }

    #[test]
    fn a_call_that_changes_nothing_is_none() {
        assert!(PoolUpdate::new("f", &[], &[], false).unwrap().is_none());
        assert!(PoolUpdate::new("f", &[], &[], true).unwrap().is_some());
    }

    #[test]
    fn each_post_once_and_removing_wins() {
        let update = PoolUpdate::new("f", &uris(&["b", "a", "b", "c"]), &uris(&["c", "c"]), false)
            .unwrap()
            .unwrap();
        assert_eq!(update.add.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(update.remove.iter().collect::<Vec<_>>(), ["c"]);
        assert_eq!(update.requested, (4, 2));
    }

    #[test]
    fn refuses_what_the_checks_refuse() {
        assert!(matches!(
            PoolUpdate::new("", &[], &[], true),
            Err(StoreError::EmptyFeedName)
        ));
        assert!(matches!(
            PoolUpdate::new("f", &uris(&[""]), &[], false),
            Err(StoreError::EmptyPostUri)
        ));
    }
}
