//! Property tests of the embedded store against a plain in-memory model of
//! the like-log rules, on random event sequences over a few keys (so that
//! duplicates, deletes, tombstones and account deletions collide often),
//! with prunes between them. Posts follow the same rules as likes, in a
//! collection of their own: the model keys records by collection too, and
//! like and post events share record keys to show they do not mix.
//! Account statuses are a register per DID beside them.

mod common;

use std::collections::BTreeMap;

use common::*;
use feedmixer_store::{Post, PruneStats, RepoEvent, Store, StoreCounts};
use proptest::prelude::*;

/// A like's subject or a post's stored form.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Subject(String),
    Post(Post),
}

/// The collection of a record: likes and posts never share a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Collection {
    Like,
    Post,
}

type Key = (Collection, String, String);

/// The rules of the crate docs, written as directly as possible.
#[derive(Default)]
struct Model {
    /// (collection, did, rkey) → (value, logged time, newest create time).
    likes: BTreeMap<Key, (Value, u64, u64)>,
    tombstones: BTreeMap<Key, u64>,
    deleted_accounts: BTreeMap<String, u64>,
    /// did → (time of the newest status event, inactive).
    statuses: BTreeMap<String, (u64, bool)>,
    /// Events stamped before it are stale.
    horizon: u64,
}

impl Model {
    fn deleted_since(&self, key: &Key, time_us: u64) -> bool {
        self.deleted_accounts
            .get(&key.1)
            .is_some_and(|&at| at >= time_us)
            || self.tombstones.get(key).is_some_and(|&at| at >= time_us)
    }

    /// Forgets what lies before `before_us` (or the horizon, if later),
    /// all of it; returns what went.
    fn prune(&mut self, before_us: u64) -> PruneStats {
        self.horizon = self.horizon.max(before_us);
        let horizon = self.horizon;
        let mut stats = PruneStats::default();
        let old: Vec<_> = self
            .likes
            .iter()
            .filter(|(_, (_, logged, _))| *logged < horizon)
            .map(|(key, (_, _, newest))| (key.clone(), *newest))
            .collect();
        for (key, newest) in old {
            let collection = key.0;
            self.likes.remove(&key);
            match collection {
                Collection::Like => stats.likes += 1,
                Collection::Post => stats.posts += 1,
            }
            // Created again at or after the horizon: its replay stays
            // stale.
            if newest >= horizon {
                let tombstone = self.tombstones.entry(key).or_insert(newest);
                if *tombstone < horizon {
                    // An old tombstone replaced counts as dropped.
                    match collection {
                        Collection::Like => stats.tombstones += 1,
                        Collection::Post => stats.post_tombstones += 1,
                    }
                }
                *tombstone = (*tombstone).max(newest);
            }
        }
        for (key, at) in &self.tombstones {
            if *at < horizon {
                match key.0 {
                    Collection::Like => stats.tombstones += 1,
                    Collection::Post => stats.post_tombstones += 1,
                }
            }
        }
        self.tombstones.retain(|_, at| *at >= horizon);
        let accounts = self.deleted_accounts.len();
        self.deleted_accounts.retain(|_, at| *at >= horizon);
        stats.accounts = (accounts - self.deleted_accounts.len()) as u64;
        let statuses = self.statuses.len();
        self.statuses.retain(|_, (at, _)| *at >= horizon);
        stats.account_statuses = (statuses - self.statuses.len()) as u64;
        stats
    }

    fn apply(&mut self, event: &RepoEvent) {
        if event.time_us() < self.horizon {
            return;
        }
        match event {
            RepoEvent::LikeCreate {
                did,
                rkey,
                subject,
                time_us,
            } => self.create(
                (Collection::Like, did.clone(), rkey.clone()),
                Value::Subject(subject.clone()),
                *time_us,
            ),
            RepoEvent::PostCreate {
                did,
                rkey,
                time_us,
                post,
            } => self.create(
                (Collection::Post, did.clone(), rkey.clone()),
                Value::Post(post.without_text()),
                *time_us,
            ),
            RepoEvent::LikeDelete { did, rkey, time_us } => {
                self.delete((Collection::Like, did.clone(), rkey.clone()), *time_us)
            }
            RepoEvent::PostDelete { did, rkey, time_us } => {
                self.delete((Collection::Post, did.clone(), rkey.clone()), *time_us)
            }
            RepoEvent::AccountStatus {
                did,
                time_us,
                active,
            } => self.set_status(did, *time_us, !active),
            RepoEvent::AccountDeleted { did, time_us } => {
                if self
                    .deleted_accounts
                    .get(did)
                    .is_some_and(|at| at >= time_us)
                {
                    return;
                }
                self.deleted_accounts.insert(did.clone(), *time_us);
                if self.statuses.get(did).is_some_and(|(at, _)| at <= time_us) {
                    self.statuses.remove(did);
                }
                self.likes.retain(|(_, like_did, _), (_, _, newest)| {
                    like_did != did || *newest > *time_us
                });
            }
        }
    }

    fn set_status(&mut self, did: &str, time_us: u64, inactive: bool) {
        if self
            .deleted_accounts
            .get(did)
            .is_some_and(|&at| at >= time_us)
        {
            return;
        }
        let newer = match self.statuses.get(did) {
            None => true,
            Some(&(at, was)) => time_us > at || (time_us == at && inactive && !was),
        };
        if newer {
            self.statuses.insert(did.to_owned(), (time_us, inactive));
        }
    }

    fn create(&mut self, key: Key, value: Value, time_us: u64) {
        if self.deleted_since(&key, time_us) {
            return;
        }
        self.likes
            .entry(key)
            .and_modify(|(_, _, newest)| *newest = (*newest).max(time_us))
            .or_insert((value, time_us, time_us));
    }

    fn delete(&mut self, key: Key, time_us: u64) {
        match self.likes.get(&key) {
            Some((_, _, newest)) if *newest <= time_us => {
                self.likes.remove(&key);
                self.tombstones.insert(key, time_us);
            }
            Some(_) => {}
            None if self.deleted_since(&key, time_us) => {}
            None => {
                self.tombstones.insert(key, time_us);
            }
        }
    }

    /// The posts of the index, in scan order, and what must not be served.
    fn posts(&self) -> (Vec<PostRow>, Vec<(String, String)>) {
        let mut posts: Vec<PostRow> = self
            .likes
            .iter()
            .filter_map(
                |((collection, did, rkey), (value, logged, _))| match (collection, value) {
                    (Collection::Post, Value::Post(post)) => {
                        Some((did.clone(), rkey.clone(), *logged, post.clone()))
                    }
                    _ => None,
                },
            )
            .collect();
        posts.sort_by(|a, b| (a.2, &a.0, &a.1).cmp(&(b.2, &b.0, &b.1)));
        let mut removed: Vec<(String, String)> = self
            .tombstones
            .keys()
            .filter(|(collection, _, _)| *collection == Collection::Post)
            .map(|(_, did, rkey)| (did.clone(), rkey.clone()))
            .chain(
                self.deleted_accounts
                    .keys()
                    .map(|did| (did.clone(), String::new())),
            )
            .chain(
                self.statuses
                    .iter()
                    .filter(|(_, (_, inactive))| *inactive)
                    .map(|(did, _)| (did.clone(), INACTIVE.to_owned())),
            )
            .collect();
        removed.sort();
        (posts, removed)
    }

    fn snapshot(&self) -> (Vec<Like>, StoreCounts) {
        let mut likes: Vec<Like> = self
            .likes
            .iter()
            .filter_map(|((_, did, rkey), (value, logged, _))| match value {
                Value::Subject(subject) => {
                    Some((did.clone(), rkey.clone(), subject.clone(), *logged))
                }
                Value::Post(_) => None,
            })
            .collect();
        likes.sort_by(|a, b| (a.3, &a.0, &a.1).cmp(&(b.3, &b.0, &b.1)));
        let counts = StoreCounts {
            likes: likes.len() as u64,
            posts: self.posts().0.len() as u64,
        };
        (likes, counts)
    }
}

fn event() -> impl Strategy<Value = RepoEvent> {
    // Prefix-related DIDs, to catch a prefix range that spills over.
    let did = prop::sample::select(vec!["did:plc:a", "did:plc:ab", "did:plc:b"]);
    let rkey = prop::sample::select(vec!["k1", "k2", "k3"]);
    let time = 0..12u64;
    let lang = prop::sample::select(vec!["nb", "en", "se-NO"]);
    prop_oneof![
        4 => (did.clone(), rkey.clone(), 0..3u32, time.clone())
            .prop_map(|(did, rkey, p, t)| create(did, rkey, &post(p), t)),
        2 => (did.clone(), rkey.clone(), time.clone()).prop_map(|(did, rkey, t)| delete(did, rkey, t)),
        3 => (did.clone(), rkey.clone(), lang, time.clone())
            .prop_map(|(did, rkey, lang, t)| post_create(did, rkey, post_record(&[lang], "hei"), t)),
        1 => (did.clone(), rkey, time.clone()).prop_map(|(did, rkey, t)| post_delete(did, rkey, t)),
        1 => (did.clone(), time.clone()).prop_map(|(did, t)| account_deleted(did, t)),
        2 => (did, time, any::<bool>()).prop_map(|(did, t, active)| account_status(did, t, active)),
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Batching does not matter, and the store keeps its indexes and
    /// counts in step with the likes.
    #[test]
    fn store_matches_the_model(events in prop::collection::vec(event(), 0..40), cut in 0..40usize) {
        runtime().block_on(async {
            let (_dir, store) = open_temp();
            let cut = cut.min(events.len());
            let first = store.apply(&events[..cut]).await.unwrap();
            let second = store.apply(&events[cut..]).await.unwrap();
            prop_assert_eq!(
                first.events() + second.events(),
                events.len() as u64,
                "every event counted once"
            );

            let mut model = Model::default();
            events.iter().for_each(|event| model.apply(event));
            prop_assert_eq!(snapshot(&store).await, model.snapshot());
            prop_assert_eq!(
                (scan_posts(&store, 0).await, scan_removed(&store).await),
                model.posts()
            );
            Ok(())
        })?;
    }

    /// Prunes between batches (looping over bounded calls) leave what
    /// the model keeps, count what it drops, and after them replaying
    /// every event applied so far changes nothing.
    #[test]
    fn pruning_matches_the_model(
        batches in prop::collection::vec(
            (prop::collection::vec(event(), 0..25), 0..14u64, 1..6usize),
            1..4,
        ),
    ) {
        runtime().block_on(async {
            let (_dir, store) = open_temp();
            let mut model = Model::default();
            let mut applied = Vec::new();
            for (events, before_us, max) in batches {
                store.apply(&events).await.unwrap();
                events.iter().for_each(|event| model.apply(event));
                applied.extend(events);

                let mut total = PruneStats { more: true, ..PruneStats::default() };
                let mut calls = 0;
                while total.more {
                    let stats = store.prune(before_us, max).await.unwrap();
                    // A pruned like may take its key's old tombstone
                    // along.
                    prop_assert!(stats.likes <= max as u64);
                    prop_assert!(stats.tombstones <= (max as u64) + stats.likes);
                    prop_assert!(stats.accounts <= max as u64);
                    total.add(&stats);
                    calls += 1;
                    prop_assert!(calls <= 200, "prune does not finish");
                }
                prop_assert_eq!(total, model.prune(before_us));
                let pruned = snapshot(&store).await;
                prop_assert_eq!(&pruned, &model.snapshot());
                let pruned_posts = (scan_posts(&store, 0).await, scan_removed(&store).await);
                prop_assert_eq!(&pruned_posts, &model.posts());

                let replay = store.apply(&applied).await.unwrap();
                prop_assert_eq!(
                    (replay.created, replay.deleted, replay.accounts_deleted, replay.missing_deletes),
                    (0, 0, 0, 0)
                );
                prop_assert_eq!((replay.posts_created, replay.posts_deleted), (0, 0));
                prop_assert_eq!((replay.accounts_hidden, replay.accounts_revealed), (0, 0));
                prop_assert_eq!(snapshot(&store).await, pruned);
                prop_assert_eq!(
                    (scan_posts(&store, 0).await, scan_removed(&store).await),
                    pruned_posts
                );
            }
            Ok(())
        })?;
    }

    /// Jetstream redelivers: replaying any window of what was applied
    /// changes nothing.
    #[test]
    fn replaying_a_window_changes_nothing(
        events in prop::collection::vec(event(), 1..40),
        from in 0..40usize,
        len in 0..40usize,
    ) {
        runtime().block_on(async {
            let (_dir, store) = open_temp();
            store.apply(&events).await.unwrap();
            let before = snapshot(&store).await;
            let from = from.min(events.len());
            let to = (from + len).min(events.len());
            let posts = (scan_posts(&store, 0).await, scan_removed(&store).await);
            let replay = store.apply(&events[from..to]).await.unwrap();
            prop_assert_eq!(snapshot(&store).await, before);
            prop_assert_eq!((scan_posts(&store, 0).await, scan_removed(&store).await), posts);
            prop_assert_eq!((replay.posts_created, replay.posts_deleted), (0, 0));
            prop_assert_eq!((replay.created, replay.deleted, replay.accounts_deleted), (0, 0, 0));
            prop_assert_eq!((replay.accounts_hidden, replay.accounts_revealed), (0, 0));
            Ok(())
        })?;
    }
}
