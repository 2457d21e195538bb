//! Property tests of the embedded store against a plain in-memory model of
//! the like-log rules, on random event sequences over a few keys (so that
//! duplicates, deletes, tombstones and account deletions collide often),
//! with prunes between them.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use feedmixer_store::{PruneStats, RepoEvent, Store, StoreCounts};
use proptest::prelude::*;

/// The rules of the crate docs, written as directly as possible.
#[derive(Default)]
struct Model {
    /// (did, rkey) → (subject, logged time, newest create time).
    likes: BTreeMap<(String, String), (String, u64, u64)>,
    tombstones: BTreeMap<(String, String), u64>,
    deleted_accounts: BTreeMap<String, u64>,
    /// Events stamped before it are stale.
    horizon: u64,
}

impl Model {
    fn deleted_since(&self, did: &str, rkey: &str, time_us: u64) -> bool {
        self.deleted_accounts
            .get(did)
            .is_some_and(|&at| at >= time_us)
            || self
                .tombstones
                .get(&(did.to_owned(), rkey.to_owned()))
                .is_some_and(|&at| at >= time_us)
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
            self.likes.remove(&key);
            stats.likes += 1;
            // Created again at or after the horizon: its replay stays
            // stale.
            if newest >= horizon {
                let tombstone = self.tombstones.entry(key).or_insert(newest);
                if *tombstone < horizon {
                    // An old tombstone replaced counts as dropped.
                    stats.tombstones += 1;
                }
                *tombstone = (*tombstone).max(newest);
            }
        }
        let tombstones = self.tombstones.len();
        self.tombstones.retain(|_, at| *at >= horizon);
        stats.tombstones += (tombstones - self.tombstones.len()) as u64;
        let accounts = self.deleted_accounts.len();
        self.deleted_accounts.retain(|_, at| *at >= horizon);
        stats.accounts = (accounts - self.deleted_accounts.len()) as u64;
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
            } => {
                if self.deleted_since(did, rkey, *time_us) {
                    return;
                }
                self.likes
                    .entry((did.clone(), rkey.clone()))
                    .and_modify(|(_, _, newest)| *newest = (*newest).max(*time_us))
                    .or_insert((subject.clone(), *time_us, *time_us));
            }
            RepoEvent::LikeDelete { did, rkey, time_us } => {
                let key = (did.clone(), rkey.clone());
                match self.likes.get(&key) {
                    Some((_, _, newest)) if newest <= time_us => {
                        self.likes.remove(&key);
                        self.tombstones.insert(key, *time_us);
                    }
                    Some(_) => {}
                    None if self.deleted_since(did, rkey, *time_us) => {}
                    None => {
                        self.tombstones.insert(key, *time_us);
                    }
                }
            }
            RepoEvent::AccountDeleted { did, time_us } => {
                if self
                    .deleted_accounts
                    .get(did)
                    .is_some_and(|at| at >= time_us)
                {
                    return;
                }
                self.deleted_accounts.insert(did.clone(), *time_us);
                self.likes
                    .retain(|(like_did, _), (_, _, newest)| like_did != did || *newest > *time_us);
            }
        }
    }

    fn snapshot(&self) -> (Vec<Like>, StoreCounts) {
        let mut likes: Vec<Like> = self
            .likes
            .iter()
            .map(|((did, rkey), (subject, logged, _))| {
                (did.clone(), rkey.clone(), subject.clone(), *logged)
            })
            .collect();
        likes.sort_by(|a, b| (a.3, &a.0, &a.1).cmp(&(b.3, &b.0, &b.1)));
        let likers: BTreeSet<_> = self.likes.keys().map(|(did, _)| did).collect();
        let counts = StoreCounts {
            likes: likes.len() as u64,
            likers: likers.len() as u64,
        };
        (likes, counts)
    }
}

fn event() -> impl Strategy<Value = RepoEvent> {
    // Prefix-related DIDs, to catch a prefix range that spills over.
    let did = prop::sample::select(vec!["did:plc:a", "did:plc:ab", "did:plc:b"]);
    let rkey = prop::sample::select(vec!["k1", "k2", "k3"]);
    let time = 0..12u64;
    prop_oneof![
        4 => (did.clone(), rkey.clone(), 0..3u32, time.clone())
            .prop_map(|(did, rkey, p, t)| create(did, rkey, &post(p), t)),
        2 => (did.clone(), rkey, time.clone()).prop_map(|(did, rkey, t)| delete(did, rkey, t)),
        1 => (did, time).prop_map(|(did, t)| account_deleted(did, t)),
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

                let replay = store.apply(&applied).await.unwrap();
                prop_assert_eq!(
                    (replay.created, replay.deleted, replay.accounts_deleted, replay.missing_deletes),
                    (0, 0, 0, 0)
                );
                prop_assert_eq!(snapshot(&store).await, pruned);
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
            let replay = store.apply(&events[from..to]).await.unwrap();
            prop_assert_eq!(snapshot(&store).await, before);
            prop_assert_eq!((replay.created, replay.deleted, replay.accounts_deleted), (0, 0, 0));
            Ok(())
        })?;
    }
}
