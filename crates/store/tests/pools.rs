//! The feeds' candidate pools, through the `Store` trait.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use feedmixer_store::{EmbeddedStore, PoolStats, Store, StoreCounts, StoreError};
use proptest::prelude::*;

fn uri(n: u32) -> String {
    format!("at://did:plc:author/app.bsky.feed.post/3p{n:03}")
}

fn uris(ns: impl IntoIterator<Item = u32>) -> Vec<String> {
    ns.into_iter().map(uri).collect()
}

fn stats(added: u64, removed: u64, size: u64) -> PoolStats {
    PoolStats {
        added,
        removed,
        size,
    }
}

#[tokio::test]
async fn a_new_store_has_no_pools() {
    let (_dir, store) = open_temp();
    assert_eq!(store.pool("news").await.unwrap(), Vec::<String>::new());
    assert_eq!(store.pool_feeds().await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn adds_and_removes_are_counted() {
    let (_dir, store) = open_temp();
    assert_eq!(
        store
            .update_pool("news", &uris([3, 1, 2]), &[], false)
            .await
            .unwrap(),
        stats(3, 0, 3)
    );
    assert_eq!(
        store.pool("news").await.unwrap(),
        uris([1, 2, 3]),
        "in URI order"
    );
    assert_eq!(
        store
            .update_pool("news", &uris([4]), &uris([1, 9]), false)
            .await
            .unwrap(),
        stats(1, 1, 3),
        "an absent post removed is not counted"
    );
    assert_eq!(store.pool("news").await.unwrap(), uris([2, 3, 4]));
}

#[tokio::test]
async fn updates_are_idempotent() {
    let (_dir, store) = open_temp();
    assert_eq!(
        store
            .update_pool("news", &uris([1, 2, 1, 2]), &[], false)
            .await
            .unwrap(),
        stats(2, 0, 2),
        "a post repeated in one update is counted once"
    );
    assert_eq!(
        store
            .update_pool("news", &uris([1, 2]), &[], false)
            .await
            .unwrap(),
        stats(0, 0, 2),
        "posts already present are not counted"
    );
    assert_eq!(
        store
            .update_pool("news", &[], &uris([2, 2]), false)
            .await
            .unwrap(),
        stats(0, 1, 1)
    );
    assert_eq!(
        store
            .update_pool("news", &[], &uris([2]), false)
            .await
            .unwrap(),
        stats(0, 0, 1)
    );
    assert_eq!(
        store.update_pool("news", &[], &[], false).await.unwrap(),
        stats(0, 0, 1),
        "an empty update reports the size"
    );
    for _ in 0..2 {
        assert_eq!(
            store
                .update_pool("news", &uris([5, 6]), &[], true)
                .await
                .unwrap()
                .size,
            2
        );
        assert_eq!(store.pool("news").await.unwrap(), uris([5, 6]));
    }
}

#[tokio::test]
async fn a_post_both_added_and_removed_ends_up_absent() {
    let (_dir, store) = open_temp();
    store
        .update_pool("news", &uris([1]), &[], false)
        .await
        .unwrap();
    assert_eq!(
        store
            .update_pool("news", &uris([1, 2, 3]), &uris([1, 2]), false)
            .await
            .unwrap(),
        stats(1, 1, 1),
        "1 was present and is removed; 2 never enters; 3 is added"
    );
    assert_eq!(store.pool("news").await.unwrap(), uris([3]));
}

#[tokio::test]
async fn replace_makes_the_pool_exactly_the_added_posts() {
    let (_dir, store) = open_temp();
    store
        .update_pool("news", &uris([1, 2, 3]), &[], false)
        .await
        .unwrap();
    assert_eq!(
        store
            .update_pool("news", &uris([2, 3, 4, 5]), &[], true)
            .await
            .unwrap(),
        stats(2, 1, 4),
        "kept posts are neither added nor removed"
    );
    assert_eq!(store.pool("news").await.unwrap(), uris([2, 3, 4, 5]));

    assert_eq!(
        store
            .update_pool("news", &uris([3, 4, 6]), &uris([4, 6, 7]), true)
            .await
            .unwrap(),
        stats(0, 3, 1),
        "remove applies after the replace: 2, 4 and 5 go, 6 never enters"
    );
    assert_eq!(store.pool("news").await.unwrap(), uris([3]));

    assert_eq!(
        store.update_pool("news", &[], &[], true).await.unwrap(),
        stats(0, 1, 0),
        "replacing with nothing empties the pool"
    );
    assert_eq!(store.pool("news").await.unwrap(), Vec::<String>::new());
    assert_eq!(store.pool_feeds().await.unwrap(), Vec::<String>::new());

    assert_eq!(
        store
            .update_pool("fresh", &uris([1]), &[], true)
            .await
            .unwrap(),
        stats(1, 0, 1),
        "replacing a pool that does not exist creates it"
    );
}

#[tokio::test]
async fn pools_of_feeds_are_independent_even_when_names_are_prefixes() {
    let (_dir, store) = open_temp();
    store
        .update_pool("a", &uris([1, 2]), &[], false)
        .await
        .unwrap();
    store
        .update_pool("ab", &uris([2, 3]), &[], false)
        .await
        .unwrap();
    store
        .update_pool("b", &uris([9]), &[], false)
        .await
        .unwrap();
    assert_eq!(store.pool("a").await.unwrap(), uris([1, 2]));
    assert_eq!(store.pool("ab").await.unwrap(), uris([2, 3]));
    assert_eq!(store.pool("b").await.unwrap(), uris([9]));
    assert_eq!(store.pool("a ").await.unwrap(), Vec::<String>::new());

    // Replacing `a` leaves `ab` alone, and the other way round.
    assert_eq!(
        store.update_pool("a", &[], &[], true).await.unwrap(),
        stats(0, 2, 0)
    );
    assert_eq!(store.pool("ab").await.unwrap(), uris([2, 3]));
    assert_eq!(
        store
            .update_pool("ab", &uris([7]), &uris([2]), false)
            .await
            .unwrap(),
        stats(1, 1, 2)
    );
    assert_eq!(
        store
            .update_pool("a", &uris([2]), &[], false)
            .await
            .unwrap(),
        stats(1, 0, 1),
        "2 left `ab`, not `a`"
    );
    assert_eq!(store.pool("a").await.unwrap(), uris([2]));
    assert_eq!(store.pool("ab").await.unwrap(), uris([3, 7]));
    assert_eq!(store.pool_feeds().await.unwrap(), ["a", "ab", "b"]);
}

#[tokio::test]
async fn pool_feeds_lists_non_empty_pools_sorted() {
    let (_dir, store) = open_temp();
    for feed in ["zeta", "alpha", "Mid", "alpha-2"] {
        store
            .update_pool(feed, &uris([1]), &[], false)
            .await
            .unwrap();
    }
    store
        .update_pool("never", &[], &uris([1]), false)
        .await
        .unwrap();
    assert_eq!(
        store.pool_feeds().await.unwrap(),
        ["Mid", "alpha", "alpha-2", "zeta"]
    );
    store
        .update_pool("alpha", &[], &uris([1]), false)
        .await
        .unwrap();
    assert_eq!(
        store.pool_feeds().await.unwrap(),
        ["Mid", "alpha-2", "zeta"],
        "an emptied pool is no longer listed"
    );
}

#[tokio::test]
async fn empty_feed_names_and_uris_are_refused_and_nothing_is_written() {
    let (_dir, store) = open_temp();
    store
        .update_pool("news", &uris([1]), &[], false)
        .await
        .unwrap();

    let err = store
        .update_pool("", &uris([2]), &[], false)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::EmptyFeedName), "{err}");
    assert_eq!(err.to_string(), "a feed pool needs a non-empty feed name");
    for replace in [false, true] {
        let err = store.update_pool("", &[], &[], replace).await.unwrap_err();
        assert!(matches!(err, StoreError::EmptyFeedName), "{err}");
    }
    assert!(matches!(
        store.pool("").await,
        Err(StoreError::EmptyFeedName)
    ));

    let with_empty = vec![uri(2), String::new()];
    let err = store
        .update_pool("news", &with_empty, &[], true)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::EmptyPostUri), "{err}");
    assert_eq!(err.to_string(), "a feed pool cannot hold an empty post URI");
    let err = store
        .update_pool("news", &[], &with_empty, false)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::EmptyPostUri), "{err}");

    assert_eq!(store.pool("news").await.unwrap(), uris([1]), "unchanged");
    assert_eq!(store.pool_feeds().await.unwrap(), ["news"]);
}

#[tokio::test]
async fn pools_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .update_pool("a", &uris([1, 2, 3]), &[], false)
            .await
            .unwrap();
        store
            .update_pool("ab", &uris([4]), &[], false)
            .await
            .unwrap();
        store
            .update_pool("a", &[], &uris([2]), false)
            .await
            .unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(store.pool("a").await.unwrap(), uris([1, 3]));
    assert_eq!(store.pool("ab").await.unwrap(), uris([4]));
    assert_eq!(store.pool_feeds().await.unwrap(), ["a", "ab"]);
    assert_eq!(
        store
            .update_pool("a", &uris([1]), &[], false)
            .await
            .unwrap(),
        stats(0, 0, 2),
        "the size survives too"
    );
}

#[tokio::test]
async fn a_store_from_before_any_pool_reopens_with_empty_pools() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .apply(&[create("did:plc:alice", "k1", &uri(1), 10)])
            .await
            .unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(store.pool("news").await.unwrap(), Vec::<String>::new());
    assert_eq!(store.pool_feeds().await.unwrap(), Vec::<String>::new());
    assert_eq!(
        store.counts().await.unwrap(),
        StoreCounts {
            likes: 1,
            likers: 1
        }
    );
}

#[tokio::test]
async fn pools_and_likes_do_not_touch() {
    let (_dir, store) = open_temp();
    store
        .apply(&[create("did:plc:alice", "k1", &uri(1), 10)])
        .await
        .unwrap();
    store
        .update_pool("news", &uris([1, 2]), &[], false)
        .await
        .unwrap();
    store
        .apply(&[delete("did:plc:alice", "k1", 20)])
        .await
        .unwrap();
    assert_eq!(store.pool("news").await.unwrap(), uris([1, 2]));
    store.update_pool("news", &[], &[], true).await.unwrap();
    assert_eq!(store.counts().await.unwrap(), StoreCounts::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_keep_the_size_in_step() {
    let (_dir, store) = open_temp();
    let store = std::sync::Arc::new(store);
    let tasks: Vec<_> = (0..16u32)
        .map(|i| {
            let store = std::sync::Arc::clone(&store);
            tokio::spawn(async move {
                // Overlapping ranges, so updates race on the same posts.
                let add = uris(i * 5..i * 5 + 10);
                let remove = uris([i * 5 + 2]);
                store.update_pool("news", &add, &remove, false).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let pool = store.pool("news").await.unwrap();
    assert_eq!(
        store
            .update_pool("news", &[], &[], false)
            .await
            .unwrap()
            .size,
        pool.len() as u64
    );
}

/// What the pools must be: each feed's set of posts.
#[derive(Default)]
struct Model(BTreeMap<String, BTreeSet<String>>);

impl Model {
    fn update(
        &mut self,
        feed: &str,
        add: &[String],
        remove: &[String],
        replace: bool,
    ) -> PoolStats {
        let before = self.0.get(feed).cloned().unwrap_or_default();
        let mut after = if replace {
            BTreeSet::new()
        } else {
            before.clone()
        };
        after.extend(add.iter().cloned());
        remove.iter().for_each(|uri| {
            after.remove(uri);
        });
        let stats = PoolStats {
            added: after.difference(&before).count() as u64,
            removed: before.difference(&after).count() as u64,
            size: after.len() as u64,
        };
        if after.is_empty() {
            self.0.remove(feed);
        } else {
            self.0.insert(feed.to_owned(), after);
        }
        stats
    }
}

fn update() -> impl Strategy<Value = (String, Vec<String>, Vec<String>, bool)> {
    let feed = prop::sample::select(vec!["a", "ab", "b"]).prop_map(str::to_owned);
    let posts = prop::collection::vec((0..8u32).prop_map(uri), 0..6);
    (feed, posts.clone(), posts, prop::bool::weighted(0.2))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Every update's counts and the resulting pools match a model of
    /// plain sets, and each pool's size matches its posts.
    #[test]
    fn pools_match_the_model(updates in prop::collection::vec(update(), 0..30)) {
        runtime().block_on(async {
            let (_dir, store) = open_temp();
            let mut model = Model::default();
            for (feed, add, remove, replace) in &updates {
                let got = store.update_pool(feed, add, remove, *replace).await.unwrap();
                prop_assert_eq!(got, model.update(feed, add, remove, *replace));
            }
            prop_assert_eq!(
                store.pool_feeds().await.unwrap(),
                model.0.keys().cloned().collect::<Vec<_>>()
            );
            for feed in ["a", "ab", "b"] {
                let expected: Vec<String> =
                    model.0.get(feed).into_iter().flatten().cloned().collect();
                let size = store.update_pool(feed, &[], &[], false).await.unwrap().size;
                prop_assert_eq!(size, expected.len() as u64);
                prop_assert_eq!(store.pool(feed).await.unwrap(), expected);
            }
            Ok(())
        })?;
    }
}
