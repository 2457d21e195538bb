//! The `Store` contract, run against every backend: the embedded store
//! (the reference), a single Redis and a Redis Cluster.
//!
//! Each scenario is one `async fn(&dyn Store, &mut Transcript)`: it checks
//! what the trait promises with assertions, and notes what it observed in
//! a transcript. The embedded variant runs it alone; each Redis variant
//! runs it on a fresh embedded store and on Redis under a fresh key prefix
//! and requires the same transcript, step for step.
//!
//! Run the Redis variants with `scripts/redis-test-servers run -- cargo
//! test -p feedmixer-store-redis`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use feedmixer_atproto::{Embed, InteractionEvent, Media, Post, ReplyRefs};
use feedmixer_store::{
    ApplyStats, Change, Interaction, InteractionLimits, LikeChange, PoolStats, PostChange,
    PostChangeKind, PruneStats, RepoEvent, SpecialPosts, Sponsored, Store, StoreCounts, StoreError,
};

/// Generates the three variants of every scenario.
macro_rules! contract {
    ($($name:ident),+ $(,)?) => {
        mod embedded {
            use super::common::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (_dir, store) = open_temp();
                    super::$name(&store, &mut Transcript::default()).await;
                }
            )+
        }
        mod redis_single {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::against_reference(super::common::Backend::Single, stringify!($name), |store, transcript| {
                        Box::pin(super::$name(store, transcript))
                    })
                    .await;
                }
            )+
        }
        mod redis_cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::against_reference(super::common::Backend::Cluster, stringify!($name), |store, transcript| {
                        Box::pin(super::$name(store, transcript))
                    })
                    .await;
                }
            )+
        }
    };
}

type Scenario = for<'a> fn(
    &'a dyn Store,
    &'a mut Transcript,
) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Runs `scenario` on the embedded reference and on Redis, and compares.
async fn against_reference(backend: Backend, name: &str, scenario: Scenario) {
    let Some(redis) = redis(backend, name).await else {
        return;
    };
    let (_dir, reference) = open_temp();
    let mut expected = Transcript::default();
    scenario(&reference, &mut expected).await;
    let mut got = Transcript::default();
    scenario(&redis, &mut got).await;
    expected.assert_matches(&got, backend);
}

contract!(
    a_new_store_is_empty,
    creates_are_stored_and_counted,
    a_repeated_create_is_one_like_and_the_first_stays,
    a_delete_removes_its_like_and_counts_missing_ones,
    a_tombstone_makes_older_creates_stale,
    a_delete_older_than_the_live_like_is_stale,
    an_account_deletion_removes_the_accounts_likes_only,
    after_an_account_deletion_older_creates_are_stale_and_newer_ones_count,
    a_key_created_at_two_times_is_judged_by_the_newest,
    replaying_the_same_events_changes_nothing,
    liveness_ignores_the_order_of_events,
    batching_does_not_matter_and_every_event_is_counted_once,
    scan_streams_every_like_from_since,
    a_run_of_equal_times_longer_than_a_scan_chunk_is_delivered_whole,
    keys_of_any_bytes_round_trip_and_are_found,
    the_likes_version_moves_only_when_likes_or_posts_change,
    every_like_added_or_removed_is_a_numbered_change,
    posts_follow_the_like_rules,
    a_like_and_a_post_with_the_same_rkey_never_interact,
    an_account_deletion_removes_the_accounts_posts_and_likes,
    post_changes_are_numbered_with_the_like_changes,
    scan_posts_streams_in_time_order_from_since,
    scan_removed_posts_lists_post_and_account_deletions,
    an_inactive_account_is_hidden_until_it_is_active_again,
    account_statuses_are_last_writer_wins_and_end_with_a_deletion,
    pruning_drops_old_account_statuses,
    pruning_drops_old_posts_and_post_tombstones,
    pruning_posts_is_bounded_and_says_when_more_remain,
    random_likes_and_posts_agree_across_batches_and_prunes,
    meta_values_round_trip_and_store_keys_are_refused,
    counters_add_up_per_group_even_when_added_to_at_once,
    set_meta_if_absent_keeps_the_first_value_even_under_a_race,
    pool_adds_and_removes_are_counted,
    pool_updates_are_idempotent,
    a_post_both_added_and_removed_ends_up_absent,
    replace_makes_the_pool_exactly_the_added_posts,
    pools_of_feeds_are_independent_even_when_names_are_prefixes,
    pool_feeds_lists_non_empty_pools_sorted,
    empty_feed_names_and_uris_are_refused_and_nothing_is_written,
    pools_and_likes_do_not_touch,
    concurrent_pool_updates_keep_the_size_in_step,
    random_pool_updates_match_a_model,
    special_posts_round_trip_per_feed_and_bad_ones_change_nothing,
    the_feed_data_version_moves_on_every_mark,
    histories_are_per_viewer_newest_first_and_deduplicated,
    histories_are_bounded_and_drop_what_expired,
    bad_interactions_are_refused_and_change_nothing,
    cached_values_live_for_their_ttl,
    pruning_removes_old_likes_and_keeps_the_counts,
    pruning_drops_old_deletions_and_keeps_newer_ones,
    events_older_than_the_horizon_are_stale,
    replaying_everything_after_a_prune_brings_nothing_back,
    a_like_created_on_both_sides_of_the_horizon_stays_pruned,
    pruning_is_bounded_and_says_when_more_remain,
    the_horizon_only_moves_forward,
    pruning_leaves_pools_meta_and_histories_alone,
    pruning_while_applying_keeps_the_counts_in_step,
    a_lease_has_one_holder_until_it_expires_or_is_released,
    contending_holders_get_the_lease_once,
    bad_leases_are_refused,
);

const P1: &str = "at://did:plc:bob/app.bsky.feed.post/3p1";
const P2: &str = "at://did:plc:bob/app.bsky.feed.post/3p2";

fn like(did: &str, rkey: &str, subject: &str, time_us: u64) -> Like {
    (did.into(), rkey.into(), subject.into(), time_us)
}

fn store_counts(likes: u64, posts: u64) -> StoreCounts {
    StoreCounts { likes, posts }
}

/// Applies and notes the stats.
async fn apply(store: &dyn Store, t: &mut Transcript, events: &[RepoEvent]) -> ApplyStats {
    let stats = store.apply(events).await.unwrap();
    t.note("apply", stats);
    stats
}

/// Notes the whole like log and its counts.
async fn note_snapshot(store: &dyn Store, t: &mut Transcript) -> (Vec<Like>, StoreCounts) {
    let snapshot = snapshot(store).await;
    t.note("snapshot", &snapshot);
    snapshot
}

// ---- the like log ----------------------------------------------------

async fn a_new_store_is_empty(store: &dyn Store, t: &mut Transcript) {
    assert_eq!(
        note_snapshot(store, t).await,
        (vec![], StoreCounts::default())
    );
    assert_eq!(apply(store, t, &[]).await, ApplyStats::default());
    assert_eq!(scan(store, u64::MAX).await, []);
    assert_eq!(store.pool_feeds().await.unwrap(), Vec::<String>::new());
    assert_eq!(store.pool("news").await.unwrap(), Vec::<String>::new());
    assert_eq!(store.get_meta("cursor").await.unwrap(), None);
    assert_eq!(
        store.interactions("did:plc:viewer", 0).await.unwrap(),
        vec![]
    );
    let v0 = store.likes_version().await.unwrap();
    assert_eq!(store.likes_version().await.unwrap(), v0, "stable");
}

async fn creates_are_stored_and_counted(store: &dyn Store, t: &mut Transcript) {
    let stats = apply(
        store,
        t,
        &[
            create("did:plc:alice", "k1", P1, 10),
            create("did:plc:alice", "k2", P2, 20),
            create("did:plc:carol", "k1", P1, 15),
        ],
    )
    .await;
    assert_eq!(
        stats,
        ApplyStats {
            created: 3,
            ..Default::default()
        }
    );
    let (likes, counts) = note_snapshot(store, t).await;
    assert_eq!(
        likes,
        [
            like("did:plc:alice", "k1", P1, 10),
            like("did:plc:carol", "k1", P1, 15),
            like("did:plc:alice", "k2", P2, 20),
        ]
    );
    assert_eq!(counts, store_counts(3, 0));
}

async fn a_repeated_create_is_one_like_and_the_first_stays(store: &dyn Store, t: &mut Transcript) {
    apply(store, t, &[create("did:plc:alice", "k1", P1, 10)]).await;
    let stats = apply(
        store,
        t,
        &[
            create("did:plc:alice", "k1", P2, 12),
            create("did:plc:alice", "k1", P1, 10),
        ],
    )
    .await;
    assert_eq!(
        stats,
        ApplyStats {
            duplicates: 2,
            ..Default::default()
        }
    );
    let (likes, counts) = note_snapshot(store, t).await;
    assert_eq!(likes, [like("did:plc:alice", "k1", P1, 10)]);
    assert_eq!(counts, store_counts(1, 0));
}

async fn a_delete_removes_its_like_and_counts_missing_ones(store: &dyn Store, t: &mut Transcript) {
    apply(
        store,
        t,
        &[
            create("did:plc:alice", "k1", P1, 10),
            create("did:plc:alice", "k2", P2, 11),
        ],
    )
    .await;
    let stats = apply(
        store,
        t,
        &[
            delete("did:plc:alice", "k1", 20),
            delete("did:plc:alice", "nope", 21),
        ],
    )
    .await;
    assert_eq!(
        stats,
        ApplyStats {
            deleted: 1,
            missing_deletes: 1,
            ..Default::default()
        }
    );
    let (likes, counts) = note_snapshot(store, t).await;
    assert_eq!(likes, [like("did:plc:alice", "k2", P2, 11)]);
    assert_eq!(counts.likes, 1);

    apply(store, t, &[delete("did:plc:alice", "k2", 22)]).await;
    assert_eq!(
        note_snapshot(store, t).await.1,
        StoreCounts::default(),
        "a DID without likes is no liker"
    );
}

async fn a_tombstone_makes_older_creates_stale(store: &dyn Store, t: &mut Transcript) {
    // The delete of a like the store never saw arrives first.
    let stats = apply(store, t, &[delete("did:plc:alice", "k1", 20)]).await;
    assert_eq!(stats.missing_deletes, 1);
    let stats = apply(
        store,
        t,
        &[
            create("did:plc:alice", "k1", P1, 10),
            create("did:plc:alice", "k1", P1, 20),
        ],
    )
    .await;
    assert_eq!(
        stats,
        ApplyStats {
            stale: 2,
            ..Default::default()
        },
        "a delete wins a tie"
    );
    assert_eq!(note_snapshot(store, t).await.0, []);

    // A create after the delete is a new like.
    let stats = apply(store, t, &[create("did:plc:alice", "k1", P2, 30)]).await;
    assert_eq!(stats.created, 1);
    assert_eq!(
        note_snapshot(store, t).await.0,
        [like("did:plc:alice", "k1", P2, 30)]
    );
    // A replayed tombstone is stale now.
    let stats = apply(store, t, &[delete("did:plc:alice", "k1", 20)]).await;
    assert_eq!(stats.stale, 1);
}

async fn a_delete_older_than_the_live_like_is_stale(store: &dyn Store, t: &mut Transcript) {
    let stats = apply(
        store,
        t,
        &[
            create("did:plc:alice", "k1", P1, 10),
            delete("did:plc:alice", "k1", 20),
            create("did:plc:alice", "k1", P2, 30),
        ],
    )
    .await;
    assert_eq!(
        stats,
        ApplyStats {
            created: 2,
            deleted: 1,
            ..Default::default()
        }
    );
    let stats = apply(store, t, &[delete("did:plc:alice", "k1", 20)]).await;
    assert_eq!(
        stats,
        ApplyStats {
            stale: 1,
            ..Default::default()
        }
    );
    assert_eq!(
        note_snapshot(store, t).await.0,
        [like("did:plc:alice", "k1", P2, 30)]
    );
}

async fn an_account_deletion_removes_the_accounts_likes_only(
    store: &dyn Store,
    t: &mut Transcript,
) {
    // did:plc:ab is a prefix of did:plc:abc: the deletion must not spill
    // into it.
    apply(
        store,
        t,
        &[
            create("did:plc:ab", "k1", P1, 10),
            create("did:plc:ab", "k2", P2, 11),
            create("did:plc:abc", "k1", P1, 12),
            create("did:plc:aa", "k1", P1, 13),
            delete("did:plc:ab", "k3", 14),
        ],
    )
    .await;
    let stats = apply(store, t, &[account_deleted("did:plc:ab", 20)]).await;
    assert_eq!(
        stats,
        ApplyStats {
            accounts_deleted: 1,
            likes_removed_by_account: 2,
            ..Default::default()
        }
    );
    let (likes, counts) = note_snapshot(store, t).await;
    let dids: Vec<_> = likes.into_iter().map(|like| like.0).collect();
    assert_eq!(dids, ["did:plc:abc", "did:plc:aa"]);
    assert_eq!(counts, store_counts(2, 0));
    // An account without likes can be deleted too.
    let stats = apply(store, t, &[account_deleted("did:plc:nobody", 5)]).await;
    assert_eq!(stats.accounts_deleted, 1);
    assert_eq!(stats.likes_removed_by_account, 0);
}

async fn after_an_account_deletion_older_creates_are_stale_and_newer_ones_count(
    store: &dyn Store,
    t: &mut Transcript,
) {
    apply(store, t, &[account_deleted("did:plc:alice", 20)]).await;
    let stats = apply(
        store,
        t,
        &[
            create("did:plc:alice", "k1", P1, 10),
            create("did:plc:alice", "k2", P1, 20),
            delete("did:plc:alice", "k3", 15),
            create("did:plc:alice", "k4", P2, 25),
        ],
    )
    .await;
    assert_eq!(
        stats,
        ApplyStats {
            stale: 3,
            created: 1,
            ..Default::default()
        }
    );
    assert_eq!(
        note_snapshot(store, t).await.0,
        [like("did:plc:alice", "k4", P2, 25)]
    );

    // A replayed deletion is stale and keeps the newer like; a later one
    // removes it.
    let stats = apply(store, t, &[account_deleted("did:plc:alice", 20)]).await;
    assert_eq!(stats.stale, 1);
    assert_eq!(note_snapshot(store, t).await.0.len(), 1);
    let stats = apply(store, t, &[account_deleted("did:plc:alice", 30)]).await;
    assert_eq!(stats.likes_removed_by_account, 1);
    assert_eq!(
        note_snapshot(store, t).await,
        (vec![], StoreCounts::default())
    );
}

/// The same like seen through two Jetstream instances carries two
/// `time_us`; a deletion stamped between them loses to the newer one.
async fn a_key_created_at_two_times_is_judged_by_the_newest(store: &dyn Store, t: &mut Transcript) {
    let first_seen = [
        create("did:plc:alice", "k1", P1, 100),
        create("did:plc:alice", "k1", P1, 103),
    ];
    apply(store, t, &first_seen).await;
    let stats = apply(store, t, &[account_deleted("did:plc:alice", 101)]).await;
    assert_eq!(stats.likes_removed_by_account, 0);
    let stats = apply(store, t, &[delete("did:plc:alice", "k1", 102)]).await;
    assert_eq!(stats.stale, 1);

    let kept = [like("did:plc:alice", "k1", P1, 100)];
    assert_eq!(
        note_snapshot(store, t).await.0,
        kept,
        "logged at its first create"
    );
    apply(store, t, &first_seen).await;
    assert_eq!(note_snapshot(store, t).await.0, kept);

    let stats = apply(store, t, &[delete("did:plc:alice", "k1", 103)]).await;
    assert_eq!(stats.deleted, 1);
    apply(store, t, &first_seen).await;
    assert_eq!(note_snapshot(store, t).await.0, []);
}

async fn replaying_the_same_events_changes_nothing(store: &dyn Store, t: &mut Transcript) {
    let events = vec![
        create("did:plc:alice", "k1", P1, 10),
        create("did:plc:alice", "k2", P2, 11),
        create("did:plc:bob", "k1", P1, 12),
        delete("did:plc:alice", "k1", 13),
        delete("did:plc:carol", "k9", 14),
        create("did:plc:alice", "k1", P1, 15),
        create("did:plc:dave", "k1", P2, 16),
        account_deleted("did:plc:bob", 17),
        create("did:plc:bob", "k2", P2, 18),
    ];
    let first = apply(store, t, &events).await;
    assert_eq!(first.created, 6);
    let before = note_snapshot(store, t).await;
    let second = apply(store, t, &events).await;
    assert_eq!(note_snapshot(store, t).await, before);
    assert_eq!(
        (second.created, second.deleted, second.accounts_deleted),
        (0, 0, 0),
        "{second:?}"
    );
    assert_eq!(second.events(), events.len() as u64);
}

/// Events over few keys, so duplicates, deletes, tombstones and account
/// deletions collide often; prefix-related DIDs catch a range that spills.
fn colliding_events(rng: &mut Rng, n: usize, namespace: &str) -> Vec<RepoEvent> {
    const DIDS: [&str; 4] = ["a", "ab", "b", "c\0"];
    const RKEYS: [&str; 4] = ["k1", "k2", "k3", "k1\0"];
    (0..n)
        .map(|_| {
            let did = format!("did:plc:{namespace}{}", DIDS[rng.below(4) as usize]);
            let rkey = RKEYS[rng.below(4) as usize];
            let time_us = rng.below(24);
            match rng.below(7) {
                0..=3 => create(&did, rkey, &post(rng.below(3) as u32), time_us),
                4 | 5 => delete(&did, rkey, time_us),
                _ => account_deleted(&did, time_us),
            }
        })
        .collect()
}

/// The live keys, with the namespace taken off their DIDs.
fn live_keys(likes: &[Like], namespace: &str) -> BTreeSet<(String, String)> {
    likes
        .iter()
        .filter_map(|(did, rkey, ..)| {
            let rest = did.strip_prefix("did:plc:")?.strip_prefix(namespace)?;
            Some((rest.to_owned(), rkey.clone()))
        })
        .collect()
}

async fn liveness_ignores_the_order_of_events(store: &dyn Store, t: &mut Transcript) {
    let mut rng = Rng::new(7);
    for round in 0..6 {
        let base = colliding_events(&mut rng, 40, &format!("r{round}o-"));
        // The same events in shuffled orders, each under its own DIDs.
        let mut orders = Vec::new();
        for shuffle in 0..4 {
            let mut events = base.clone();
            rng.shuffle(&mut events);
            let namespace = format!("r{round}s{shuffle}-");
            for event in &mut events {
                match event {
                    RepoEvent::LikeCreate { did, .. }
                    | RepoEvent::LikeDelete { did, .. }
                    | RepoEvent::PostCreate { did, .. }
                    | RepoEvent::PostDelete { did, .. }
                    | RepoEvent::AccountDeleted { did, .. }
                    | RepoEvent::AccountStatus { did, .. } => {
                        *did = did.replace(&format!("r{round}o-"), &namespace);
                    }
                }
            }
            let stats = apply(store, t, &events).await;
            assert_eq!(stats.events(), events.len() as u64);
            orders.push(namespace);
        }
        apply(store, t, &base).await;
        let likes = note_snapshot(store, t).await.0;
        let reference = live_keys(&likes, &format!("r{round}o-"));
        for namespace in &orders {
            assert_eq!(
                live_keys(&likes, namespace),
                reference,
                "round {round}, order {namespace}"
            );
        }
    }
}

async fn batching_does_not_matter_and_every_event_is_counted_once(
    store: &dyn Store,
    t: &mut Transcript,
) {
    // More events than a Redis apply chunk, over few keys.
    let mut rng = Rng::new(42);
    let events = colliding_events(&mut rng, 2_600, "");
    let whole = |namespace: &str| -> Vec<RepoEvent> {
        events
            .iter()
            .cloned()
            .map(|mut event| {
                match &mut event {
                    RepoEvent::LikeCreate { did, .. }
                    | RepoEvent::LikeDelete { did, .. }
                    | RepoEvent::PostCreate { did, .. }
                    | RepoEvent::PostDelete { did, .. }
                    | RepoEvent::AccountDeleted { did, .. }
                    | RepoEvent::AccountStatus { did, .. } => {
                        *did = did.replacen("did:plc:", &format!("did:plc:{namespace}"), 1);
                    }
                }
                event
            })
            .collect()
    };
    let one_batch = whole("x-");
    let stats = apply(store, t, &one_batch).await;
    assert_eq!(
        stats.events(),
        events.len() as u64,
        "every event counted once"
    );

    let mut sum = ApplyStats::default();
    let mut rest = &whole("y-")[..];
    while !rest.is_empty() {
        let (batch, after) = rest.split_at((1 + rng.below(300) as usize).min(rest.len()));
        sum.add(&apply(store, t, batch).await);
        rest = after;
    }
    assert_eq!(sum.events(), events.len() as u64);
    assert_eq!(
        sum, stats,
        "each event is judged by the state before it: the cuts between batches change nothing"
    );

    let likes = note_snapshot(store, t).await.0;
    let strip = |namespace: &str| -> Vec<Like> {
        likes
            .iter()
            .filter_map(|(did, rkey, subject, time_us)| {
                let rest = did.strip_prefix("did:plc:")?.strip_prefix(namespace)?;
                Some((rest.to_owned(), rkey.clone(), subject.clone(), *time_us))
            })
            .collect()
    };
    assert_eq!(strip("x-"), strip("y-"));

    let changes = all_changes(store, 0).await;
    assert_eq!(changes.len() as u64, store.likes_version().await.unwrap());
    t.note("changes", &changes);
}

async fn scan_streams_every_like_from_since(store: &dyn Store, t: &mut Transcript) {
    // More likes than a scan chunk, applied out of time order.
    const LIKES: u32 = 20_000;
    let events: Vec<_> = (0..LIKES)
        .map(|i| {
            let time_us = u64::from((i * 7_919) % LIKES) * 10;
            create(&did(i % 500), &format!("3k{i:08}"), &post(i % 300), time_us)
        })
        .collect();
    let stats = apply(store, t, &events).await;
    assert_eq!(stats.created, u64::from(LIKES));

    // `scan` sorts what the store delivers (in its log's order) and
    // checks that no like came twice.
    let all = scan(store, 0).await;
    assert_eq!(all.len(), LIKES as usize);
    t.note("all", &all);

    for since in [1, 50_000, 100_000, 100_001, 199_990, 199_991] {
        let tail = scan(store, since).await;
        assert!(tail.iter().all(|like| like.3 >= since));
        assert_eq!(tail[..], all[all.len() - tail.len()..], "since {since}");
        t.note("since", (since, tail.len()));
    }
    let since = scan(store, 100_000).await;
    assert_eq!(since.len(), 10_000);
    assert_eq!(since[0].3, 100_000, "since_us is inclusive");
    assert_eq!(scan(store, u64::MAX).await, []);
    assert_eq!(
        store.counts().await.unwrap(),
        store_counts(u64::from(LIKES), 0)
    );
}

async fn a_run_of_equal_times_longer_than_a_scan_chunk_is_delivered_whole(
    store: &dyn Store,
    t: &mut Transcript,
) {
    // Three Redis scan chunks stamped the same time, between two others.
    let mut events = vec![create("did:plc:first", "k", P1, 6)];
    events.extend((0..12_001u32).map(|i| create(&did(i % 3_000), &format!("k{i}"), P2, 7)));
    events.push(create("did:plc:last", "k", P1, 8));
    events.reverse();
    apply(store, t, &events).await;
    // Every one once (`scan` checks), whatever the store's order.
    let all = scan(store, 0).await;
    assert_eq!(all.len(), 12_003);
    assert_eq!(all[0].0, "did:plc:first");
    assert_eq!(all[12_002].0, "did:plc:last");
    assert_eq!(scan(store, 7).await.len(), 12_002);
    assert_eq!(scan(store, 8).await.len(), 1);
    t.note("all", &all);
}

async fn keys_of_any_bytes_round_trip_and_are_found(store: &dyn Store, t: &mut Transcript) {
    // Any bytes come back as they went in, even NUL and other control
    // bytes (`scan` sorts bytewise, as `sorted` is).
    let keys = [
        ("did:plc:b", "k1"),
        ("did:plc:a", "k2"),
        ("did:plc:a", "k1"),
        ("did:plc:a", "k1\0"),
        ("did:plc:a", "k1\u{1}"),
        ("did:plc:a\0", "k"),
        ("did:plc:a\u{1}", "k"),
        ("did:plc:ab", ""),
        ("did:plc:a", ""),
        ("did:plc:é", "k"),
    ];
    let events: Vec<_> = keys
        .iter()
        .map(|(did, rkey)| create(did, rkey, "at://s\0ubject", 5))
        .collect();
    apply(store, t, &events).await;
    let scanned: Vec<_> = note_snapshot(store, t)
        .await
        .0
        .into_iter()
        .map(|like| (like.0, like.1))
        .collect();
    let mut sorted: Vec<(String, String)> = keys
        .iter()
        .map(|(did, rkey)| (did.to_string(), rkey.to_string()))
        .collect();
    sorted.sort();
    assert_eq!(scanned, sorted);
    // Deleting and account-deleting such keys finds them.
    let stats = apply(
        store,
        t,
        &[
            delete("did:plc:a", "k1\0", 6),
            account_deleted("did:plc:a\0", 6),
        ],
    )
    .await;
    assert_eq!((stats.deleted, stats.likes_removed_by_account), (1, 1));
    assert_eq!(scan(store, 0).await.len(), keys.len() - 2);
}

async fn the_likes_version_moves_only_when_likes_or_posts_change(
    store: &dyn Store,
    t: &mut Transcript,
) {
    let mut last = store.likes_version().await.unwrap();
    let mut step = async |events: &[RepoEvent], moves: bool, t: &mut Transcript| {
        apply(store, t, events).await;
        let now = store.likes_version().await.unwrap();
        assert_eq!(now != last, moves, "{events:?}");
        t.note("version moved", now != last);
        last = now;
    };
    step(&[create(&did(1), "r1", &post(1), 10)], true, t).await;
    step(&[create(&did(1), "r1", &post(1), 10)], false, t).await;
    step(&[delete(&did(1), "nope", 10)], false, t).await;
    step(&[create(&did(1), "nope", &post(1), 5)], false, t).await;
    step(&[delete(&did(1), "r1", 20)], true, t).await;
    step(&[create(&did(2), "r1", &post(1), 30)], true, t).await;
    // Every account deletion applied is a change to the posts, whether or
    // not the account had likes or posts; a replayed one is not.
    step(&[account_deleted(&did(3), 30)], true, t).await;
    step(&[account_deleted(&did(3), 30)], false, t).await;
    step(&[account_deleted(&did(2), 40)], true, t).await;
    step(&[], false, t).await;
    // Posts: an added or deleted post moves it, also the delete of a post
    // never seen (it hides the post); a duplicate or a stale event does
    // not.
    let nb = post_record(&["nb"], "hei");
    step(&[post_create(&did(1), "p1", nb.clone(), 50)], true, t).await;
    step(&[post_create(&did(1), "p1", nb.clone(), 51)], false, t).await;
    step(&[post_delete(&did(1), "p1", 50)], false, t).await;
    step(&[post_delete(&did(1), "p1", 60)], true, t).await;
    step(&[post_create(&did(1), "p1", nb, 55)], false, t).await;
    step(&[post_delete(&did(1), "p9", 60)], true, t).await;
    step(&[post_delete(&did(1), "p9", 60)], false, t).await;
}

fn post_change(seq: u64, did: &str, rkey: &str, time_us: u64, kind: PostChangeKind) -> Change {
    Change::Post(PostChange {
        seq,
        did: did.into(),
        rkey: rkey.into(),
        time_us,
        kind,
    })
}

fn change(seq: u64, did: &str, subject: &str, time_us: u64, added: bool) -> Change {
    Change::Like(LikeChange {
        seq,
        did: did.into(),
        subject: subject.into(),
        time_us,
        added,
    })
}

async fn every_like_added_or_removed_is_a_numbered_change(store: &dyn Store, t: &mut Transcript) {
    assert_eq!(store.likes_version().await.unwrap(), 0);
    assert!(changes(store, 0, 1_000).await.is_empty());
    assert!(changes(store, u64::MAX, 1_000).await.is_empty());
    let (a, b) = (did(1), did(2));
    apply(
        store,
        t,
        &[
            // Out of DID order: both backends number DID by DID.
            create(&b, "r1", &post(1), 12),
            create(&a, "r1", &post(1), 10),
            create(&a, "r2", &post(2), 11),
            // A duplicate and a stale delete change nothing.
            create(&a, "r1", &post(1), 10),
            delete(&b, "r1", 5),
        ],
    )
    .await;
    let version = store.likes_version().await.unwrap();
    assert_eq!(version, 3);
    let first = changes(store, 0, 1_000).await;
    t.note("changes", &first);
    assert_eq!(first.len(), 3);
    assert!(
        first
            .iter()
            .all(|c| matches!(c, Change::Like(c) if c.added))
    );
    assert_eq!(first.iter().map(Change::seq).collect::<Vec<_>>(), [1, 2, 3]);

    apply(store, t, &[delete(&a, "r2", 20)]).await;
    apply(store, t, &[account_deleted(&b, 30)]).await;
    assert_eq!(
        changes(store, version, 1_000).await,
        [
            change(4, &a, &post(2), 11, false),
            change(5, &b, &post(1), 12, false),
            // The account's posts go too, after its likes.
            post_change(6, &b, "", 30, PostChangeKind::AccountDeleted),
        ]
    );
    assert_eq!(store.likes_version().await.unwrap(), 6);
    assert!(changes(store, 6, 1_000).await.is_empty());
    assert!(
        changes(store, 9, 1_000).await.is_empty(),
        "ahead of the store"
    );
    // At most `max`, oldest first.
    assert_eq!(
        changes(store, 0, 2)
            .await
            .iter()
            .map(Change::seq)
            .collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(changes(store, 0, 0).await.is_empty());
    // Subjects and DIDs come back whatever bytes they hold; the time is
    // the like's log time (its first create).
    assert_eq!(store.likes_version().await.unwrap(), 6);
    apply(
        store,
        t,
        &[
            create("did:plc:\0\u{1}x", "k\0", "at://s\0\u{1}ubject", 40),
            create("did:plc:\0\u{1}x", "k\0", "at://other", 45),
            delete("did:plc:\0\u{1}x", "k\0", 50),
        ],
    )
    .await;
    assert_eq!(
        changes(store, 6, 1_000).await,
        [
            change(7, "did:plc:\0\u{1}x", "at://s\0\u{1}ubject", 40, true),
            change(8, "did:plc:\0\u{1}x", "at://s\0\u{1}ubject", 40, false),
        ]
    );
}

// ---- posts -----------------------------------------------------------

/// A post as the scans return it: without its text and hashtags.
fn post_row(did: &str, rkey: &str, time_us: u64, post: &Post) -> PostRow {
    (did.into(), rkey.into(), time_us, post.without_text())
}

/// What `scan_removed` returns for these deletions: `(did, rkey)` of
/// deleted posts, `(did, "")` of deleted accounts, sorted.
fn removed(items: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut items: Vec<(String, String)> = items
        .iter()
        .map(|(did, rkey)| (did.to_string(), rkey.to_string()))
        .collect();
    items.sort();
    items
}

/// Notes every post, what must not be served, and the counts.
async fn note_posts(
    store: &dyn Store,
    t: &mut Transcript,
) -> (Vec<PostRow>, Vec<(String, String)>, StoreCounts) {
    let posts = scan_posts(store, 0).await;
    let removed = scan_removed(store).await;
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.posts, posts.len() as u64, "counted as scanned");
    t.note("posts", &posts);
    t.note("removed", &removed);
    t.note("counts", counts);
    (posts, removed, counts)
}

/// A post with every field the store keeps set, and text and tags it
/// drops.
fn rich_post() -> Post {
    Post {
        created_at_us: 1_725_911_162_102_000,
        langs: vec!["nb-no".into(), "se".into()],
        reply: Some(ReplyRefs {
            root: "at://did:plc:a/app.bsky.feed.post/1".into(),
            parent: "at://did:plc:b\0/app.bsky.feed.post/2".into(),
        }),
        embed: Some(Embed::RecordWithMedia(Media::Video)),
        labels: vec!["nsfw".into(), "é\"".into()],
        text: "hei \"verden\" #fjell".into(),
        tags: vec!["fjell".into()],
    }
}

async fn posts_follow_the_like_rules(store: &dyn Store, t: &mut Transcript) {
    let (alice, carol) = ("did:plc:alice", "did:plc:carol");
    let nb = post_record(&["nb"], "hei");
    let en = post_record(&["en"], "hello");
    let stats = apply(
        store,
        t,
        &[
            post_create(alice, "p1", nb.clone(), 10),
            post_create(alice, "p2", en.clone(), 20),
            post_create(carol, "p1", en.clone(), 15),
        ],
    )
    .await;
    assert_eq!(
        stats,
        ApplyStats {
            posts_created: 3,
            ..Default::default()
        }
    );
    let (posts, gone, counts) = note_posts(store, t).await;
    assert_eq!(
        posts,
        [
            post_row(alice, "p1", 10, &nb),
            post_row(carol, "p1", 15, &en),
            post_row(alice, "p2", 20, &en),
        ],
        "in time order, without text"
    );
    assert_eq!(gone, removed(&[]));
    assert_eq!(counts, store_counts(0, 3), "posts are no likes");

    // A repeated create is one post, and the first stays.
    let stats = apply(
        store,
        t,
        &[
            post_create(alice, "p1", en.clone(), 12),
            post_create(alice, "p1", nb.clone(), 10),
        ],
    )
    .await;
    assert_eq!(
        stats,
        ApplyStats {
            duplicates: 2,
            ..Default::default()
        }
    );
    assert_eq!(note_posts(store, t).await.0, posts);

    // A delete removes its post; one of a post never seen is a missing
    // delete, and both hide the post.
    let stats = apply(
        store,
        t,
        &[post_delete(alice, "p1", 30), post_delete(alice, "nope", 31)],
    )
    .await;
    assert_eq!(
        stats,
        ApplyStats {
            posts_deleted: 1,
            missing_deletes: 1,
            ..Default::default()
        }
    );
    let (posts, gone, counts) = note_posts(store, t).await;
    assert_eq!(
        posts,
        [
            post_row(carol, "p1", 15, &en),
            post_row(alice, "p2", 20, &en),
        ]
    );
    assert_eq!(gone, removed(&[(alice, "p1"), (alice, "nope")]));
    assert_eq!(counts, store_counts(0, 2));

    // Stale: creates no newer than a tombstone (a delete wins a tie), a
    // delete older than the live post's newest create (12 moved p1's, 20
    // is p2's), replays.
    let stats = apply(
        store,
        t,
        &[
            post_create(alice, "p1", nb.clone(), 25),
            post_create(alice, "p1", nb.clone(), 30),
            post_create(alice, "nope", nb.clone(), 31),
            post_delete(alice, "p2", 19),
            post_delete(alice, "p1", 30),
            post_delete(alice, "nope", 31),
        ],
    )
    .await;
    assert_eq!(
        stats,
        ApplyStats {
            stale: 6,
            ..Default::default()
        }
    );
    // A create after the delete is a new post; the tombstone stays.
    let stats = apply(store, t, &[post_create(alice, "p1", en.clone(), 40)]).await;
    assert_eq!(stats.posts_created, 1);
    let (posts, gone, _) = note_posts(store, t).await;
    assert_eq!(
        posts,
        [
            post_row(carol, "p1", 15, &en),
            post_row(alice, "p2", 20, &en),
            post_row(alice, "p1", 40, &en),
        ]
    );
    assert_eq!(gone, removed(&[(alice, "p1"), (alice, "nope")]));
    // Every field the store keeps comes back, whatever bytes it holds.
    let rich = rich_post();
    apply(
        store,
        t,
        &[post_create(
            "did:plc:\0\u{1}x",
            "k\0\u{1}",
            rich.clone(),
            50,
        )],
    )
    .await;
    assert_eq!(
        scan_posts(store, 50).await,
        [post_row("did:plc:\0\u{1}x", "k\0\u{1}", 50, &rich)]
    );
    let stats = apply(store, t, &[post_delete("did:plc:\0\u{1}x", "k\0\u{1}", 60)]).await;
    assert_eq!(stats.posts_deleted, 1);
    assert_eq!(scan_posts(store, 50).await, []);
    assert!(
        scan_removed(store)
            .await
            .contains(&("did:plc:\0\u{1}x".into(), "k\0\u{1}".into()))
    );
}

async fn a_like_and_a_post_with_the_same_rkey_never_interact(
    store: &dyn Store,
    t: &mut Transcript,
) {
    let alice = "did:plc:alice";
    let nb = post_record(&["nb"], "hei");
    let stats = apply(
        store,
        t,
        &[
            create(alice, "k1", P1, 10),
            post_create(alice, "k1", nb.clone(), 10),
        ],
    )
    .await;
    assert_eq!((stats.created, stats.posts_created), (1, 1));
    assert_eq!(note_posts(store, t).await.2, store_counts(1, 1));

    // Deleting the like leaves the post, and a DID with only posts is no
    // liker.
    let stats = apply(store, t, &[delete(alice, "k1", 20)]).await;
    assert_eq!(stats.deleted, 1);
    assert_eq!(note_posts(store, t).await.2, store_counts(0, 1));

    // Deleting a post leaves the like of its key.
    let stats = apply(
        store,
        t,
        &[
            post_create(alice, "k2", nb.clone(), 5),
            create(alice, "k2", P2, 30),
            post_delete(alice, "k2", 40),
        ],
    )
    .await;
    assert_eq!(
        stats,
        ApplyStats {
            created: 1,
            posts_created: 1,
            posts_deleted: 1,
            ..Default::default()
        }
    );
    // Each key is judged in its own collection: the like tombstone of k1
    // makes only like creates stale, the post tombstone of k2 only post
    // creates.
    let stats = apply(
        store,
        t,
        &[
            create(alice, "k1", P1, 15),
            post_create(alice, "k1", nb.clone(), 15),
            create(alice, "k2", P2, 35),
            post_create(alice, "k2", nb.clone(), 35),
        ],
    )
    .await;
    assert_eq!(
        stats,
        ApplyStats {
            stale: 2,
            duplicates: 2,
            ..Default::default()
        }
    );
    let (likes, counts) = note_snapshot(store, t).await;
    assert_eq!(likes, [like(alice, "k2", P2, 30)]);
    assert_eq!(counts, store_counts(1, 1));
    let (posts, gone, _) = note_posts(store, t).await;
    assert_eq!(posts, [post_row(alice, "k1", 10, &nb)]);
    assert_eq!(
        gone,
        removed(&[(alice, "k2")]),
        "like tombstones hide no post"
    );
    t.note("changes", all_changes(store, 0).await);
}

async fn an_account_deletion_removes_the_accounts_posts_and_likes(
    store: &dyn Store,
    t: &mut Transcript,
) {
    // did:plc:ab is a prefix of did:plc:abc: the deletion must not spill
    // into it.
    let (ab, abc, aa) = ("did:plc:ab", "did:plc:abc", "did:plc:aa");
    let nb = post_record(&["nb"], "hei");
    let en = post_record(&["en"], "hello");
    apply(
        store,
        t,
        &[
            create(ab, "k1", P1, 10),
            create(ab, "k2", P2, 9),
            post_create(ab, "p1", nb.clone(), 11),
            post_create(ab, "p2", en.clone(), 12),
            // Created after the deletion: it stays.
            post_create(ab, "p3", en.clone(), 25),
            post_create(abc, "p1", nb.clone(), 13),
            post_create(aa, "p1", nb.clone(), 14),
            post_delete(ab, "p0", 15),
        ],
    )
    .await;
    let version = store.likes_version().await.unwrap();
    let stats = apply(store, t, &[account_deleted(ab, 20)]).await;
    assert_eq!(
        stats,
        ApplyStats {
            accounts_deleted: 1,
            likes_removed_by_account: 2,
            posts_removed_by_account: 2,
            ..Default::default()
        }
    );
    // The likes' removals in record key order, then the one change for
    // the posts.
    assert_eq!(
        changes(store, version, 100).await,
        [
            change(version + 1, ab, P1, 10, false),
            change(version + 2, ab, P2, 9, false),
            post_change(version + 3, ab, "", 20, PostChangeKind::AccountDeleted),
        ]
    );
    let (posts, gone, counts) = note_posts(store, t).await;
    assert_eq!(
        posts,
        [
            post_row(abc, "p1", 13, &nb),
            post_row(aa, "p1", 14, &nb),
            post_row(ab, "p3", 25, &en),
        ]
    );
    assert_eq!(gone, removed(&[(ab, ""), (ab, "p0")]));
    assert_eq!(counts, store_counts(0, 3));

    // Older post events of the account are stale, newer ones count; in one
    // batch, the events before a deletion are judged before it.
    let stats = apply(
        store,
        t,
        &[
            post_create(ab, "p4", nb.clone(), 19),
            post_create(ab, "p5", nb.clone(), 20),
            post_delete(ab, "p6", 18),
            post_create(ab, "p7", nb.clone(), 21),
            post_create(aa, "p2", nb.clone(), 21),
            account_deleted(aa, 22),
            post_create(aa, "p3", nb.clone(), 21),
            post_create(aa, "p4", nb.clone(), 23),
            create(aa, "k1", P1, 23),
        ],
    )
    .await;
    assert_eq!(
        stats,
        ApplyStats {
            stale: 4,
            posts_created: 3,
            created: 1,
            accounts_deleted: 1,
            posts_removed_by_account: 2,
            ..Default::default()
        }
    );
    let (posts, ..) = note_posts(store, t).await;
    assert_eq!(
        posts,
        [
            post_row(abc, "p1", 13, &nb),
            post_row(ab, "p7", 21, &nb),
            post_row(aa, "p4", 23, &nb),
            post_row(ab, "p3", 25, &en),
        ]
    );
    // A replayed deletion is stale; a later one removes what came since.
    assert_eq!(apply(store, t, &[account_deleted(ab, 20)]).await.stale, 1);
    let stats = apply(store, t, &[account_deleted(ab, 30)]).await;
    assert_eq!(
        (stats.accounts_deleted, stats.posts_removed_by_account),
        (1, 2)
    );
    // An account with nothing stored is deleted all the same.
    let stats = apply(store, t, &[account_deleted("did:plc:nobody", 5)]).await;
    assert_eq!(
        stats,
        ApplyStats {
            accounts_deleted: 1,
            ..Default::default()
        }
    );
    let (posts, gone, counts) = note_posts(store, t).await;
    assert_eq!(
        posts,
        [post_row(abc, "p1", 13, &nb), post_row(aa, "p4", 23, &nb)]
    );
    assert_eq!(
        gone,
        removed(&[(ab, ""), (ab, "p0"), (aa, ""), ("did:plc:nobody", "")])
    );
    assert_eq!(counts, store_counts(1, 2));
    t.note("changes", all_changes(store, 0).await);
}

async fn post_changes_are_numbered_with_the_like_changes(store: &dyn Store, t: &mut Transcript) {
    let (a, b) = (did(1), did(2));
    let rich = rich_post();
    apply(
        store,
        t,
        &[
            // Out of DID order: both backends number DID by DID.
            create(&b, "l1", &post(1), 12),
            post_create(&a, "p1", rich.clone(), 10),
            create(&a, "l1", &post(2), 11),
            // A duplicate changes nothing; a missing delete does.
            post_create(&a, "p1", rich.clone(), 10),
            post_delete(&b, "p9", 13),
        ],
    )
    .await;
    apply(
        store,
        t,
        &[post_delete(&a, "p1", 20), account_deleted(&a, 30)],
    )
    .await;
    let all = [
        post_change(1, &a, "p1", 10, PostChangeKind::Added(rich.without_text())),
        change(2, &a, &post(2), 11, true),
        change(3, &b, &post(1), 12, true),
        post_change(4, &b, "p9", 13, PostChangeKind::Removed),
        post_change(5, &a, "p1", 20, PostChangeKind::Removed),
        change(6, &a, &post(2), 11, false),
        post_change(7, &a, "", 30, PostChangeKind::AccountDeleted),
    ];
    assert_eq!(store.likes_version().await.unwrap(), 7);
    assert_eq!(changes(store, 0, 1_000).await, all);
    // Bounded pages, oldest first, across both kinds.
    for max in 1..=3 {
        let mut after = 0;
        let mut paged = Vec::new();
        loop {
            let page = changes(store, after, max).await;
            assert!(page.len() <= max);
            let Some(last) = page.last() else { break };
            after = last.seq();
            paged.extend(page);
        }
        assert_eq!(paged, all, "pages of {max}");
    }
    assert_eq!(changes(store, 3, 2).await, all[3..5]);
    assert!(changes(store, 0, 0).await.is_empty());
    assert!(changes(store, 7, 1_000).await.is_empty());
    assert!(changes(store, 70, 1_000).await.is_empty(), "ahead");
    // DIDs and record keys come back whatever bytes they hold.
    let odd = "did:plc:\0\u{1}x";
    let nb = post_record(&["nb"], "hei");
    apply(
        store,
        t,
        &[
            post_create(odd, "k\0\u{1}", nb.clone(), 40),
            post_delete(odd, "k\0\u{1}", 50),
        ],
    )
    .await;
    let odd_changes = changes(store, 7, 1_000).await;
    t.note("changes", &odd_changes);
    assert_eq!(
        odd_changes,
        [
            post_change(
                8,
                odd,
                "k\0\u{1}",
                40,
                PostChangeKind::Added(nb.without_text())
            ),
            post_change(9, odd, "k\0\u{1}", 50, PostChangeKind::Removed),
        ]
    );
}

async fn scan_posts_streams_in_time_order_from_since(store: &dyn Store, t: &mut Transcript) {
    // More posts than a scan chunk, applied out of time order, many at
    // equal times.
    const POSTS: u32 = 6_000;
    let langs = ["nb", "en", "se"];
    let events: Vec<_> = (0..POSTS)
        .map(|i| {
            let time_us = u64::from((i * 7_919) % POSTS) / 3 * 10;
            let record = post_record(&[langs[(i % 3) as usize]], "text");
            post_create(&did(i % 400), &format!("3p{i:08}"), record, time_us)
        })
        .collect();
    let stats = apply(store, t, &events).await;
    assert_eq!(stats.posts_created, u64::from(POSTS));
    let all = scan_posts(store, 0).await;
    assert_eq!(all.len(), POSTS as usize);
    let keys: Vec<_> = all
        .iter()
        .map(|(did, rkey, time, _)| (time, did, rkey))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "(time, did, rkey)");
    t.note("all", &all);
    for since in [1, 5_000, 9_990, 10_000, 19_990, 19_991] {
        let tail = scan_posts(store, since).await;
        assert!(tail.iter().all(|post| post.2 >= since));
        assert_eq!(tail[..], all[all.len() - tail.len()..], "since {since}");
        t.note("since", (since, tail.len()));
    }
    assert_eq!(scan_posts(store, 10_000).await[0].2, 10_000, "inclusive");
    assert_eq!(scan_posts(store, u64::MAX).await, []);
    assert_eq!(
        store.counts().await.unwrap(),
        store_counts(0, u64::from(POSTS))
    );
    assert_eq!(scan(store, 0).await, [], "posts are no likes");
}

async fn scan_removed_posts_lists_post_and_account_deletions(
    store: &dyn Store,
    t: &mut Transcript,
) {
    let (alice, bob, carol, dave, erin, odd) = (
        "did:plc:alice",
        "did:plc:bob",
        "did:plc:carol",
        "did:plc:dave",
        "did:plc:erin",
        "did:plc:\0x",
    );
    let nb = post_record(&["nb"], "hei");
    assert_eq!(scan_removed(store).await, removed(&[]));
    apply(
        store,
        t,
        &[
            post_create(alice, "p1", nb.clone(), 10),
            post_delete(alice, "p1", 20),
            post_delete(bob, "never", 21),
            // A like tombstone hides no post.
            delete(carol, "k1", 22),
            // An account with likes only is still a deleted account.
            create(dave, "k1", P1, 23),
            account_deleted(dave, 24),
            account_deleted(erin, 25),
            post_delete(odd, "k\0", 26),
            // Moved to a newer time, it is one deletion.
            post_delete(bob, "never", 27),
        ],
    )
    .await;
    let (_, gone, counts) = note_posts(store, t).await;
    assert_eq!(
        gone,
        removed(&[
            (alice, "p1"),
            (bob, "never"),
            (dave, ""),
            (erin, ""),
            (odd, "k\0"),
        ])
    );
    assert_eq!(counts, StoreCounts::default());
    // Pruned deletions are no longer held.
    assert_eq!(
        prune(store, t, 25, 1_000).await,
        PruneStats {
            tombstones: 1,
            accounts: 1,
            post_tombstones: 1,
            ..PruneStats::default()
        }
    );
    assert_eq!(
        note_posts(store, t).await.1,
        removed(&[(bob, "never"), (erin, ""), (odd, "k\0")])
    );
}

async fn an_inactive_account_is_hidden_until_it_is_active_again(
    store: &dyn Store,
    t: &mut Transcript,
) {
    let (alice, bob) = ("did:plc:alice", "did:plc:bob");
    let nb = post_record(&["nb"], "hei");
    apply(
        store,
        t,
        &[
            post_create(alice, "p1", nb.clone(), 10),
            create(alice, "k1", P1, 11),
            create(bob, "k1", P1, 12),
        ],
    )
    .await;
    let before = store.likes_version().await.unwrap();
    let stats = apply(store, t, &[account_status(alice, 20, false)]).await;
    assert_eq!(
        stats,
        ApplyStats {
            accounts_hidden: 1,
            ..ApplyStats::default()
        }
    );
    // Hidden, not removed: the records stay, the account is listed.
    let (posts, gone, counts) = note_posts(store, t).await;
    assert_eq!(posts.len(), 1);
    assert_eq!(counts, store_counts(2, 1));
    assert_eq!(gone, removed(&[(alice, INACTIVE)]));
    assert_eq!(
        changes(store, before, 10).await,
        [post_change(
            before + 1,
            alice,
            "",
            20,
            PostChangeKind::AccountHidden
        )]
    );
    // Records that come while it is inactive are kept as ever.
    let stats = apply(store, t, &[post_create(alice, "p2", nb, 21)]).await;
    assert_eq!(stats.posts_created, 1);

    let stats = apply(store, t, &[account_status(alice, 30, true)]).await;
    assert_eq!(stats.accounts_revealed, 1);
    assert_eq!(note_posts(store, t).await.1, removed(&[]));
    let last = changes(store, before + 2, 10).await;
    assert_eq!(
        last,
        [post_change(
            before + 3,
            alice,
            "",
            30,
            PostChangeKind::AccountRevealed
        )]
    );
    // Active again and again changes nothing; so does a first active
    // event of an account.
    let stats = apply(
        store,
        t,
        &[
            account_status(alice, 31, true),
            account_status(bob, 5, true),
        ],
    )
    .await;
    assert_eq!(
        stats,
        ApplyStats {
            stale: 2,
            ..ApplyStats::default()
        }
    );
    assert_eq!(store.likes_version().await.unwrap(), before + 3);
    note_snapshot(store, t).await;
}

async fn account_statuses_are_last_writer_wins_and_end_with_a_deletion(
    store: &dyn Store,
    t: &mut Transcript,
) {
    let (alice, bob, carol) = ("did:plc:alice", "did:plc:bob", "did:plc:carol");
    // Out of order: the newest wins whatever the order of arrival.
    let stats = apply(
        store,
        t,
        &[
            account_status(alice, 20, true),
            account_status(alice, 10, false),
            account_status(bob, 10, false),
            account_status(bob, 20, true),
        ],
    )
    .await;
    assert_eq!(
        (stats.accounts_hidden, stats.accounts_revealed, stats.stale),
        (1, 1, 2)
    );
    assert_eq!(note_posts(store, t).await.1, removed(&[]));
    // Inactive wins a tie, whichever comes first.
    apply(
        store,
        t,
        &[
            account_status(alice, 30, false),
            account_status(alice, 30, true),
            account_status(bob, 30, true),
            account_status(bob, 30, false),
        ],
    )
    .await;
    assert_eq!(
        note_posts(store, t).await.1,
        removed(&[(alice, INACTIVE), (bob, INACTIVE)])
    );
    // A replay changes nothing.
    let stats = apply(store, t, &[account_status(alice, 30, false)]).await;
    assert_eq!(stats.stale, 1);
    // A deletion ends the status; one from before it is stale, a newer
    // one counts again.
    let stats = apply(
        store,
        t,
        &[
            account_deleted(alice, 40),
            account_status(alice, 35, true),
            account_status(alice, 40, false),
            account_status(carol, 41, false),
        ],
    )
    .await;
    assert_eq!(
        (stats.accounts_deleted, stats.stale, stats.accounts_hidden),
        (1, 2, 1)
    );
    assert_eq!(
        note_posts(store, t).await.1,
        removed(&[(alice, ""), (bob, INACTIVE), (carol, INACTIVE)])
    );
    let stats = apply(store, t, &[account_status(alice, 50, false)]).await;
    assert_eq!(stats.accounts_hidden, 1);
    note_posts(store, t).await;
    t.note("changes", &all_changes(store, 0).await);
}

async fn pruning_drops_old_account_statuses(store: &dyn Store, t: &mut Transcript) {
    let (alice, bob, carol) = ("did:plc:alice", "did:plc:bob", "did:plc:carol");
    apply(
        store,
        t,
        &[
            account_status(alice, 10, false),
            account_status(bob, 11, true),
            account_status(carol, 12, false),
            account_status(carol, 30, false),
        ],
    )
    .await;
    // Bounded, oldest first.
    assert_eq!(
        prune(store, t, 20, 1).await,
        PruneStats {
            account_statuses: 1,
            more: true,
            ..PruneStats::default()
        }
    );
    assert_eq!(
        prune(store, t, 20, 10).await,
        PruneStats {
            account_statuses: 1,
            ..PruneStats::default()
        }
    );
    // Carol's status moved past the horizon and stays.
    assert_eq!(note_posts(store, t).await.1, removed(&[(carol, INACTIVE)]));
    // Events from before the horizon are stale like any other.
    let stats = apply(store, t, &[account_status(alice, 15, false)]).await;
    assert_eq!(stats.stale, 1);
}

async fn pruning_drops_old_posts_and_post_tombstones(store: &dyn Store, t: &mut Transcript) {
    let (alice, bob, carol, dave) = (
        "did:plc:alice",
        "did:plc:bob",
        "did:plc:carol",
        "did:plc:dave",
    );
    let nb = post_record(&["nb"], "hei");
    let events = [
        // A like sharing a post's key is pruned as a like.
        create(alice, "p1", P1, 10),
        post_create(alice, "p1", nb.clone(), 10),
        post_create(alice, "p2", nb.clone(), 99),
        post_create(alice, "p3", nb.clone(), 100),
        post_create(bob, "p1", nb.clone(), 50),
        post_delete(bob, "p1", 60),
        post_delete(bob, "old", 30),
        post_delete(bob, "new", 120),
        // Stamped on both sides of the horizon: judged by its log time,
        // its key keeps a tombstone at the newer create.
        post_create(carol, "p1", nb.clone(), 95),
        post_create(carol, "p1", nb.clone(), 105),
        // The same, replacing an old tombstone, which counts as dropped.
        post_delete(dave, "p1", 40),
        post_create(dave, "p1", nb.clone(), 90),
        post_create(dave, "p1", nb.clone(), 110),
    ];
    apply(store, t, &events).await;
    let version = store.likes_version().await.unwrap();
    assert_eq!(
        prune(store, t, 100, 1_000).await,
        PruneStats {
            likes: 1,
            posts: 4,
            post_tombstones: 3,
            ..PruneStats::default()
        }
    );
    assert_eq!(
        store.likes_version().await.unwrap(),
        version,
        "pruning is no numbered change"
    );
    let (posts, gone, counts) = note_posts(store, t).await;
    assert_eq!(
        posts,
        [post_row(alice, "p3", 100, &nb)],
        "before_us is exclusive"
    );
    assert_eq!(gone, removed(&[(bob, "new"), (carol, "p1"), (dave, "p1")]));
    assert_eq!(counts, store_counts(0, 1));

    // Replaying everything brings nothing back.
    let replay = apply(store, t, &events).await;
    assert_eq!(
        replay,
        ApplyStats {
            stale: events.len() as u64 - 1,
            duplicates: 1,
            ..Default::default()
        }
    );
    assert_eq!(note_posts(store, t).await, (posts, gone, counts));
    assert_eq!(
        prune(store, t, 100, 1_000).await,
        PruneStats::default(),
        "nothing left before the horizon"
    );
    assert_eq!(
        prune(store, t, 121, 1_000).await,
        PruneStats {
            posts: 1,
            post_tombstones: 3,
            ..PruneStats::default()
        }
    );
    assert_eq!(
        note_posts(store, t).await,
        (vec![], removed(&[]), StoreCounts::default())
    );
}

async fn pruning_posts_is_bounded_and_says_when_more_remain(store: &dyn Store, t: &mut Transcript) {
    // More old posts and post tombstones than a Redis prune chunk, each
    // kind bounded on its own.
    const OLD: u32 = 2_500;
    let nb = post_record(&["nb"], "hei");
    let mut events: Vec<_> = (0..OLD)
        .map(|i| {
            post_create(
                &did(i % 700),
                &format!("p{i}"),
                nb.clone(),
                u64::from(i % 97),
            )
        })
        .collect();
    events.extend(
        (0..OLD).map(|i| post_delete(&did(i % 300), &format!("gone{i}"), u64::from(i % 89))),
    );
    events.extend((0..300).map(|i| create(&did(i), "k", P1, u64::from(i % 50))));
    events.extend((0..40).map(|i| account_deleted(&did(1_000 + i), u64::from(i))));
    events.push(post_create("did:plc:kept", "p", nb.clone(), 1_000));
    apply(store, t, &events).await;

    assert_eq!(
        prune(store, t, 500, 0).await,
        PruneStats {
            more: true,
            ..PruneStats::default()
        },
        "a bound of zero only moves the horizon"
    );
    let first = prune(store, t, 500, 1_100).await;
    assert_eq!(
        first,
        PruneStats {
            likes: 300,
            accounts: 40,
            posts: 1_100,
            post_tombstones: 1_100,
            more: true,
            ..PruneStats::default()
        }
    );
    assert_eq!(
        note_posts(store, t).await.2,
        store_counts(0, u64::from(OLD) - 1_100 + 1)
    );
    let mut total = first;
    while total.more {
        total.add(&prune(store, t, 500, 1_000).await);
    }
    assert_eq!(
        total,
        PruneStats {
            likes: 300,
            accounts: 40,
            posts: u64::from(OLD),
            post_tombstones: u64::from(OLD),
            more: false,
            ..PruneStats::default()
        },
        "every old post and deletion, each once"
    );
    let (posts, gone, counts) = note_posts(store, t).await;
    assert_eq!(posts, [post_row("did:plc:kept", "p", 1_000, &nb)]);
    assert_eq!(gone, removed(&[]));
    assert_eq!(counts, store_counts(0, 1));
}

/// Likes and posts over few shared keys, so that every rule meets every
/// other often.
fn colliding_likes_and_posts(rng: &mut Rng, n: usize, namespace: &str) -> Vec<RepoEvent> {
    const DIDS: [&str; 4] = ["a", "ab", "b", "c\0"];
    const RKEYS: [&str; 4] = ["k1", "k2", "k3", "k1\0"];
    const LANGS: [&str; 3] = ["nb", "en", "se"];
    (0..n)
        .map(|_| {
            let did = format!("did:plc:{namespace}{}", DIDS[rng.below(4) as usize]);
            let rkey = RKEYS[rng.below(4) as usize];
            let time_us = rng.below(24);
            match rng.below(12) {
                0..=2 => create(&did, rkey, &post(rng.below(3) as u32), time_us),
                3 => delete(&did, rkey, time_us),
                4..=6 => {
                    let record = post_record(&[LANGS[rng.below(3) as usize]], "hei");
                    post_create(&did, rkey, record, time_us)
                }
                7 | 8 => post_delete(&did, rkey, time_us),
                9 => account_deleted(&did, time_us),
                n => account_status(&did, time_us, n == 10),
            }
        })
        .collect()
}

async fn random_likes_and_posts_agree_across_batches_and_prunes(
    store: &dyn Store,
    t: &mut Transcript,
) {
    let mut rng = Rng::new(23);
    let mut applied = Vec::new();
    for round in 0..5 {
        // More events than a Redis apply chunk, cut into random batches.
        let events = colliding_likes_and_posts(&mut rng, 1_300, &format!("r{}-", round % 2));
        let mut rest = &events[..];
        while !rest.is_empty() {
            let (batch, after) = rest.split_at((1 + rng.below(700) as usize).min(rest.len()));
            let stats = apply(store, t, batch).await;
            assert_eq!(
                stats.events(),
                batch.len() as u64,
                "every event counted once"
            );
            rest = after;
        }
        applied.extend(events);
        note_snapshot(store, t).await;
        note_posts(store, t).await;

        let horizon = 2 * round + rng.below(4);
        let max = 1 + rng.below(40) as usize;
        let mut calls = 0;
        while prune(store, t, horizon, max).await.more {
            calls += 1;
            assert!(calls < 1_000, "prune does not finish");
        }
        let pruned = (note_snapshot(store, t).await, note_posts(store, t).await);
        assert!(pruned.1.0.iter().all(|post| post.2 >= horizon));

        let replay = apply(store, t, &applied).await;
        assert_eq!(
            (
                replay.created,
                replay.deleted,
                replay.posts_created,
                replay.posts_deleted,
                replay.missing_deletes,
                replay.accounts_deleted,
                replay.accounts_hidden,
                replay.accounts_revealed
            ),
            (0, 0, 0, 0, 0, 0, 0, 0),
            "{replay:?}"
        );
        assert_eq!((snapshot(store).await, note_posts(store, t).await), pruned);
    }
    let changes = all_changes(store, 0).await;
    assert_eq!(changes.len() as u64, store.likes_version().await.unwrap());
    t.note("changes", &changes);
}

// ---- meta ------------------------------------------------------------

async fn meta_values_round_trip_and_store_keys_are_refused(store: &dyn Store, t: &mut Transcript) {
    assert_eq!(store.get_meta("cursor").await.unwrap(), None);
    store.set_meta("cursor", b"1725911162329309").await.unwrap();
    store.set_meta("binary", &[0, 1, 255, 0]).await.unwrap();
    store.set_meta("", b"empty key").await.unwrap();
    assert_eq!(
        store.get_meta("cursor").await.unwrap().as_deref(),
        Some(&b"1725911162329309"[..])
    );
    store.set_meta("cursor", b"2").await.unwrap();
    assert_eq!(store.get_meta("cursor").await.unwrap().unwrap(), b"2");
    assert_eq!(
        store.get_meta("binary").await.unwrap().unwrap(),
        [0, 1, 255, 0]
    );
    assert_eq!(store.get_meta("").await.unwrap().unwrap(), b"empty key");
    store.set_meta("empty", b"").await.unwrap();
    assert_eq!(store.get_meta("empty").await.unwrap().unwrap(), b"");
    for key in ["store.schema_version", "store.likes_version", "store."] {
        let err = store.set_meta(key, b"x").await.unwrap_err();
        assert!(matches!(err, StoreError::ReservedMetaKey(_)), "{err}");
        t.note("refused", err.to_string());
    }
    assert_eq!(store.get_meta("store.").await.unwrap(), None);
    assert_eq!(store.get_meta("curso").await.unwrap(), None);
}

async fn counters_add_up_per_group_even_when_added_to_at_once(
    store: &dyn Store,
    t: &mut Transcript,
) {
    assert!(store.counts_in("exp:a").await.unwrap().is_empty());
    let add = |pairs: &[(&str, u64)]| -> Vec<(String, u64)> {
        pairs.iter().map(|(f, n)| (f.to_string(), *n)).collect()
    };
    store
        .add_counts("exp:a", &add(&[("x:like", 2), ("y:seen", 1)]))
        .await
        .unwrap();
    store.add_counts("exp:a", &[]).await.unwrap();
    // Groups that share a prefix stay apart.
    store
        .add_counts("exp:ab", &add(&[("x:like", 7)]))
        .await
        .unwrap();
    let one = add(&[("x:like", 1)]);
    let adds = (0..20).map(|_| store.add_counts("exp:a", &one));
    for added in futures::future::join_all(adds).await {
        added.unwrap();
    }
    let counts = store.counts_in("exp:a").await.unwrap();
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [("x:like".to_string(), 22), ("y:seen".to_string(), 1)]
    );
    assert_eq!(store.counts_in("exp:ab").await.unwrap()["x:like"], 7);
    for (group, field) in [("", "f"), ("g{x}", "f"), ("g", "")] {
        let err = store
            .add_counts(group, &[(field.to_string(), 1)])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidCounter(_)), "{err}");
        t.note("refused", err.to_string());
    }
}

async fn set_meta_if_absent_keeps_the_first_value_even_under_a_race(
    store: &dyn Store,
    t: &mut Transcript,
) {
    assert_eq!(
        store.set_meta_if_absent("secret", b"first").await.unwrap(),
        b"first"
    );
    assert_eq!(
        store.set_meta_if_absent("secret", b"second").await.unwrap(),
        b"first"
    );
    assert_eq!(store.get_meta("secret").await.unwrap().unwrap(), b"first");
    // A plain set still replaces it.
    store.set_meta("secret", b"third").await.unwrap();
    assert_eq!(
        store.set_meta_if_absent("secret", b"fourth").await.unwrap(),
        b"third"
    );
    // Racing writers all get the one winner.
    let racers: Vec<Vec<u8>> = (0..8u8).map(|n| vec![b'r', n]).collect();
    let held = futures::future::join_all(
        racers
            .iter()
            .map(|value| store.set_meta_if_absent("raced", value)),
    )
    .await;
    let held: Vec<Vec<u8>> = held.into_iter().map(Result::unwrap).collect();
    assert!(held.windows(2).all(|w| w[0] == w[1]), "{held:?}");
    assert!(racers.contains(&held[0]));
    assert_eq!(store.get_meta("raced").await.unwrap().unwrap(), held[0]);
    let err = store.set_meta_if_absent("store.x", b"x").await.unwrap_err();
    assert!(matches!(err, StoreError::ReservedMetaKey(_)), "{err}");
    t.note("refused", err.to_string());
}

// ---- pools -----------------------------------------------------------

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

async fn update(
    store: &dyn Store,
    t: &mut Transcript,
    feed: &str,
    add: &[String],
    remove: &[String],
    replace: bool,
) -> PoolStats {
    let stats = store.update_pool(feed, add, remove, replace).await.unwrap();
    t.note("pool update", stats);
    stats
}

async fn pool_adds_and_removes_are_counted(store: &dyn Store, t: &mut Transcript) {
    assert_eq!(
        update(store, t, "news", &uris([3, 1, 2]), &[], false).await,
        stats(3, 0, 3)
    );
    assert_eq!(
        store.pool("news").await.unwrap(),
        uris([1, 2, 3]),
        "in URI order"
    );
    assert_eq!(
        update(store, t, "news", &uris([4]), &uris([1, 9]), false).await,
        stats(1, 1, 3),
        "an absent post removed is not counted"
    );
    assert_eq!(store.pool("news").await.unwrap(), uris([2, 3, 4]));
    // URI order is byte order.
    let odd = vec!["at://Z".to_owned(), "at://a".into(), "at://a\0".into()];
    update(store, t, "odd", &odd, &[], false).await;
    assert_eq!(
        store.pool("odd").await.unwrap(),
        ["at://Z", "at://a", "at://a\0"]
    );
}

async fn pool_updates_are_idempotent(store: &dyn Store, t: &mut Transcript) {
    assert_eq!(
        update(store, t, "news", &uris([1, 2, 1, 2]), &[], false).await,
        stats(2, 0, 2),
        "a post repeated in one update is counted once"
    );
    assert_eq!(
        update(store, t, "news", &uris([1, 2]), &[], false).await,
        stats(0, 0, 2),
        "posts already present are not counted"
    );
    assert_eq!(
        update(store, t, "news", &[], &uris([2, 2]), false).await,
        stats(0, 1, 1)
    );
    assert_eq!(
        update(store, t, "news", &[], &uris([2]), false).await,
        stats(0, 0, 1)
    );
    assert_eq!(
        update(store, t, "news", &[], &[], false).await,
        stats(0, 0, 1),
        "an empty update reports the size"
    );
    for _ in 0..2 {
        assert_eq!(
            update(store, t, "news", &uris([5, 6]), &[], true)
                .await
                .size,
            2
        );
        assert_eq!(store.pool("news").await.unwrap(), uris([5, 6]));
    }
    assert_eq!(
        update(store, t, "never", &[], &[], false).await,
        stats(0, 0, 0)
    );
}

async fn a_post_both_added_and_removed_ends_up_absent(store: &dyn Store, t: &mut Transcript) {
    update(store, t, "news", &uris([1]), &[], false).await;
    assert_eq!(
        update(store, t, "news", &uris([1, 2, 3]), &uris([1, 2]), false).await,
        stats(1, 1, 1),
        "1 was present and is removed; 2 never enters; 3 is added"
    );
    assert_eq!(store.pool("news").await.unwrap(), uris([3]));
    assert_eq!(
        update(store, t, "other", &uris([1]), &uris([1]), false).await,
        stats(0, 0, 0)
    );
    assert_eq!(store.pool_feeds().await.unwrap(), ["news"]);
}

async fn replace_makes_the_pool_exactly_the_added_posts(store: &dyn Store, t: &mut Transcript) {
    update(store, t, "news", &uris([1, 2, 3]), &[], false).await;
    assert_eq!(
        update(store, t, "news", &uris([2, 3, 4, 5]), &[], true).await,
        stats(2, 1, 4),
        "kept posts are neither added nor removed"
    );
    assert_eq!(store.pool("news").await.unwrap(), uris([2, 3, 4, 5]));
    assert_eq!(
        update(store, t, "news", &uris([3, 4, 6]), &uris([4, 6, 7]), true).await,
        stats(0, 3, 1),
        "remove applies after the replace: 2, 4 and 5 go, 6 never enters"
    );
    assert_eq!(store.pool("news").await.unwrap(), uris([3]));
    assert_eq!(
        update(store, t, "news", &[], &[], true).await,
        stats(0, 1, 0),
        "replacing with nothing empties the pool"
    );
    assert_eq!(store.pool("news").await.unwrap(), Vec::<String>::new());
    assert_eq!(store.pool_feeds().await.unwrap(), Vec::<String>::new());
    assert_eq!(
        update(store, t, "fresh", &uris([1]), &[], true).await,
        stats(1, 0, 1),
        "replacing a pool that does not exist creates it"
    );
    assert_eq!(store.pool_feeds().await.unwrap(), ["fresh"]);
}

async fn pools_of_feeds_are_independent_even_when_names_are_prefixes(
    store: &dyn Store,
    t: &mut Transcript,
) {
    update(store, t, "a", &uris([1, 2]), &[], false).await;
    update(store, t, "ab", &uris([2, 3]), &[], false).await;
    update(store, t, "b", &uris([9]), &[], false).await;
    // Names that would break a naive key scheme.
    update(store, t, "c}x", &uris([4]), &[], false).await;
    update(store, t, "{c", &uris([5]), &[], false).await;
    assert_eq!(store.pool("a").await.unwrap(), uris([1, 2]));
    assert_eq!(store.pool("ab").await.unwrap(), uris([2, 3]));
    assert_eq!(store.pool("b").await.unwrap(), uris([9]));
    assert_eq!(store.pool("c}x").await.unwrap(), uris([4]));
    assert_eq!(store.pool("{c").await.unwrap(), uris([5]));
    assert_eq!(store.pool("c").await.unwrap(), Vec::<String>::new());
    assert_eq!(store.pool("a ").await.unwrap(), Vec::<String>::new());

    assert_eq!(update(store, t, "a", &[], &[], true).await, stats(0, 2, 0));
    assert_eq!(store.pool("ab").await.unwrap(), uris([2, 3]));
    assert_eq!(
        update(store, t, "ab", &uris([7]), &uris([2]), false).await,
        stats(1, 1, 2)
    );
    assert_eq!(
        update(store, t, "a", &uris([2]), &[], false).await,
        stats(1, 0, 1),
        "2 left `ab`, not `a`"
    );
    assert_eq!(store.pool("a").await.unwrap(), uris([2]));
    assert_eq!(store.pool("ab").await.unwrap(), uris([3, 7]));
    assert_eq!(
        store.pool_feeds().await.unwrap(),
        ["a", "ab", "b", "c}x", "{c"]
    );
}

async fn pool_feeds_lists_non_empty_pools_sorted(store: &dyn Store, t: &mut Transcript) {
    for feed in ["zeta", "alpha", "Mid", "alpha-2"] {
        update(store, t, feed, &uris([1]), &[], false).await;
    }
    update(store, t, "never", &[], &uris([1]), false).await;
    assert_eq!(
        store.pool_feeds().await.unwrap(),
        ["Mid", "alpha", "alpha-2", "zeta"]
    );
    update(store, t, "alpha", &[], &uris([1]), false).await;
    assert_eq!(
        store.pool_feeds().await.unwrap(),
        ["Mid", "alpha-2", "zeta"],
        "an emptied pool is no longer listed"
    );
    update(store, t, "alpha", &uris([2]), &[], false).await;
    assert_eq!(
        store.pool_feeds().await.unwrap(),
        ["Mid", "alpha", "alpha-2", "zeta"],
        "and is again once refilled"
    );
}

async fn empty_feed_names_and_uris_are_refused_and_nothing_is_written(
    store: &dyn Store,
    t: &mut Transcript,
) {
    update(store, t, "news", &uris([1]), &[], false).await;
    let err = store
        .update_pool("", &uris([2]), &[], false)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::EmptyFeedName), "{err}");
    assert_eq!(err.to_string(), "a feed pool needs a non-empty feed name");
    t.note("refused", err.to_string());
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
    t.note("refused", err.to_string());
    let err = store
        .update_pool("news", &[], &with_empty, false)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::EmptyPostUri), "{err}");

    assert_eq!(store.pool("news").await.unwrap(), uris([1]), "unchanged");
    assert_eq!(store.pool_feeds().await.unwrap(), ["news"]);
}

async fn pools_and_likes_do_not_touch(store: &dyn Store, t: &mut Transcript) {
    apply(store, t, &[create("did:plc:alice", "k1", &uri(1), 10)]).await;
    update(store, t, "news", &uris([1, 2]), &[], false).await;
    apply(store, t, &[delete("did:plc:alice", "k1", 20)]).await;
    assert_eq!(store.pool("news").await.unwrap(), uris([1, 2]));
    update(store, t, "news", &[], &[], true).await;
    assert_eq!(note_snapshot(store, t).await.1, StoreCounts::default());
}

/// Which racing update wins is up to the backend: the transcript notes
/// only that the size matches the posts.
async fn concurrent_pool_updates_keep_the_size_in_step(store: &dyn Store, t: &mut Transcript) {
    let updates = (0..16u32).map(|i| async move {
        // Overlapping ranges, so updates race on the same posts.
        let add = uris(i * 5..i * 5 + 10);
        let remove = uris([i * 5 + 2]);
        store.update_pool("news", &add, &remove, false).await
    });
    for result in futures::future::join_all(updates).await {
        result.unwrap();
    }
    let pool = store.pool("news").await.unwrap();
    let size = store
        .update_pool("news", &[], &[], false)
        .await
        .unwrap()
        .size;
    assert_eq!(size, pool.len() as u64);
    t.note("size matches", size == pool.len() as u64);
}

async fn random_pool_updates_match_a_model(store: &dyn Store, t: &mut Transcript) {
    let mut rng = Rng::new(3);
    let mut model: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for _ in 0..150 {
        let feed = ["a", "ab", "b"][rng.below(3) as usize].to_owned();
        let mut posts = || -> Vec<String> {
            let n = rng.below(6);
            (0..n).map(|_| uri(rng.below(8) as u32)).collect()
        };
        let (add, remove) = (posts(), posts());
        let replace = rng.below(5) == 0;

        let before = model.get(&feed).cloned().unwrap_or_default();
        let mut after = if replace {
            BTreeSet::new()
        } else {
            before.clone()
        };
        after.extend(add.iter().cloned());
        remove.iter().for_each(|uri| {
            after.remove(uri);
        });
        let expected = stats(
            after.difference(&before).count() as u64,
            before.difference(&after).count() as u64,
            after.len() as u64,
        );
        if after.is_empty() {
            model.remove(&feed);
        } else {
            model.insert(feed.clone(), after);
        }
        assert_eq!(
            update(store, t, &feed, &add, &remove, replace).await,
            expected
        );
    }
    assert_eq!(
        store.pool_feeds().await.unwrap(),
        model.keys().cloned().collect::<Vec<_>>()
    );
    for feed in ["a", "ab", "b"] {
        let expected: Vec<String> = model.get(feed).into_iter().flatten().cloned().collect();
        assert_eq!(store.pool(feed).await.unwrap(), expected);
    }
}

// ---- special posts and the feed data version -------------------------

async fn special_posts_round_trip_per_feed_and_bad_ones_change_nothing(
    store: &dyn Store,
    t: &mut Transcript,
) {
    assert_eq!(store.special_posts("for-you").await.unwrap(), None);
    let posts = SpecialPosts {
        pinned: uris([1]),
        rotating: uris([2, 3]),
        rotate_every_minutes: 30,
        sponsored: vec![Sponsored {
            slot: 5,
            post: uri(4),
        }],
    };
    store.set_special_posts("for-you", &posts).await.unwrap();
    assert_eq!(
        store.special_posts("for-you").await.unwrap(),
        Some(posts.clone())
    );
    assert_eq!(
        store.special_posts("for-yo").await.unwrap(),
        None,
        "feeds are independent"
    );
    let bad = SpecialPosts {
        pinned: vec!["https://example.com".into()],
        ..SpecialPosts::default()
    };
    let err = store.set_special_posts("for-you", &bad).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidSpecialPosts(_)), "{err}");
    t.note("refused", err.to_string());
    let err = store.set_special_posts("", &posts).await.unwrap_err();
    assert!(matches!(err, StoreError::EmptyFeedName), "{err}");
    assert_eq!(
        store.special_posts("for-you").await.unwrap(),
        Some(posts),
        "a refused write changes nothing"
    );
    store
        .set_special_posts("for-you", &SpecialPosts::default())
        .await
        .unwrap();
    let cleared = store.special_posts("for-you").await.unwrap();
    t.note("cleared", format!("{cleared:?}"));
    assert_eq!(cleared, Some(SpecialPosts::default()));
}

async fn the_feed_data_version_moves_on_every_mark(store: &dyn Store, t: &mut Transcript) {
    assert_eq!(store.feed_data_version().await.unwrap(), None);
    let first = store.mark_feed_data_changed().await.unwrap();
    assert_eq!(
        store.feed_data_version().await.unwrap(),
        Some(first.clone())
    );
    let second = store.mark_feed_data_changed().await.unwrap();
    assert_ne!(first, second, "each change is a new version");
    assert_eq!(store.feed_data_version().await.unwrap(), Some(second));
    t.note("marked", 2);
}

// ---- interactions ----------------------------------------------------

const VIEWER: &str = "did:plc:viewer";
/// Times far from 0, and a TTL long enough that a Redis key set to expire
/// with its newest entry does not vanish while the scenario runs.
const T0: u64 = 1_725_000_000_000_000;
const LIMITS: InteractionLimits = InteractionLimits {
    max_per_viewer: 4,
    ttl_us: 600_000_000,
};

fn event(item: &str, event: InteractionEvent, time_us: u64) -> Interaction {
    Interaction {
        item: item.into(),
        event,
        time_us,
    }
}

async fn history(
    store: &dyn Store,
    t: &mut Transcript,
    viewer: &str,
    since: u64,
) -> Vec<Interaction> {
    let history = store.interactions(viewer, since).await.unwrap();
    t.note("history", &history);
    history
}

async fn histories_are_per_viewer_newest_first_and_deduplicated(
    store: &dyn Store,
    t: &mut Transcript,
) {
    let batch = [
        event("at://a", InteractionEvent::Seen, T0 + 100),
        event("at://b", InteractionEvent::Seen, T0 + 110),
        event("at://a", InteractionEvent::RequestLess, T0 + 120),
        event("at://a", InteractionEvent::Seen, T0 + 130),
    ];
    store
        .add_interactions(VIEWER, &batch, LIMITS, T0 + 200)
        .await
        .unwrap();
    assert_eq!(
        history(store, t, VIEWER, 0).await,
        vec![
            event("at://a", InteractionEvent::Seen, T0 + 130),
            event("at://a", InteractionEvent::RequestLess, T0 + 120),
            event("at://b", InteractionEvent::Seen, T0 + 110),
        ]
    );
    assert_eq!(history(store, t, VIEWER, T0 + 115).await.len(), 2);
    assert_eq!(
        history(store, t, VIEWER, T0 + 120).await.len(),
        2,
        "inclusive"
    );
    assert!(history(store, t, "did:plc:other", 0).await.is_empty());

    // An older repeat does not move an entry back; a newer one moves it.
    store
        .add_interactions(
            VIEWER,
            &[
                event("at://b", InteractionEvent::Seen, T0 + 50),
                event("at://a", InteractionEvent::RequestLess, T0 + 140),
            ],
            LIMITS,
            T0 + 200,
        )
        .await
        .unwrap();
    assert_eq!(
        history(store, t, VIEWER, 0).await,
        vec![
            event("at://a", InteractionEvent::RequestLess, T0 + 140),
            event("at://a", InteractionEvent::Seen, T0 + 130),
            event("at://b", InteractionEvent::Seen, T0 + 110),
        ]
    );
    // Every event kind round-trips.
    let kinds: Vec<_> = feedmixer_atproto::INTERACTION_EVENTS
        .iter()
        .enumerate()
        .map(|(i, kind)| event("at://k", *kind, T0 + 1_000 + i as u64))
        .collect();
    let roomy = InteractionLimits {
        max_per_viewer: 100,
        ..LIMITS
    };
    store
        .add_interactions("did:plc:kinds", &kinds, roomy, T0 + 2_000)
        .await
        .unwrap();
    let mut newest_first = kinds.clone();
    newest_first.reverse();
    assert_eq!(history(store, t, "did:plc:kinds", 0).await, newest_first);
    // Nothing to add writes nothing.
    store
        .add_interactions("did:plc:nobody", &[], LIMITS, T0)
        .await
        .unwrap();
    assert!(history(store, t, "did:plc:nobody", 0).await.is_empty());
}

async fn histories_are_bounded_and_drop_what_expired(store: &dyn Store, t: &mut Transcript) {
    let many: Vec<_> = (0..10)
        .map(|n| event(&format!("at://p{n}"), InteractionEvent::Seen, T0 + 100 + n))
        .collect();
    store
        .add_interactions(VIEWER, &many, LIMITS, T0 + 200)
        .await
        .unwrap();
    let kept = history(store, t, VIEWER, 0).await;
    assert_eq!(
        kept.iter().map(|i| i.time_us - T0).collect::<Vec<_>>(),
        vec![109, 108, 107, 106]
    );

    // Later, past the TTL of the old entries but not of a new one: the old
    // ones go with the write.
    let later = T0 + 109 + LIMITS.ttl_us + 1;
    store
        .add_interactions(
            VIEWER,
            &[
                event("at://new", InteractionEvent::Like, later - 10),
                event("at://too-old", InteractionEvent::Like, T0 + 5),
            ],
            LIMITS,
            later,
        )
        .await
        .unwrap();
    assert_eq!(
        history(store, t, VIEWER, 0).await,
        vec![event("at://new", InteractionEvent::Like, later - 10)]
    );

    // A bound of zero keeps nothing.
    let none = InteractionLimits {
        max_per_viewer: 0,
        ..LIMITS
    };
    store
        .add_interactions(
            "did:plc:zero",
            &[event("at://x", InteractionEvent::Seen, T0)],
            none,
            T0,
        )
        .await
        .unwrap();
    assert!(history(store, t, "did:plc:zero", 0).await.is_empty());
}

async fn bad_interactions_are_refused_and_change_nothing(store: &dyn Store, t: &mut Transcript) {
    let good = event("at://a", InteractionEvent::Seen, T0);
    let err = store
        .add_interactions("", std::slice::from_ref(&good), LIMITS, T0)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInteraction(_)), "{err}");
    t.note("refused", err.to_string());
    let long = event(&"x".repeat(70_000), InteractionEvent::Seen, T0);
    for bad in [event("", InteractionEvent::Seen, T0), long] {
        let err = store
            .add_interactions(VIEWER, &[good.clone(), bad], LIMITS, T0)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidInteraction(_)), "{err}");
        t.note("refused", err.to_string());
    }
    assert!(history(store, t, VIEWER, 0).await.is_empty());
    assert!(history(store, t, "", 0).await.is_empty());
}

// ---- cached values -----------------------------------------------------

async fn cached_values_live_for_their_ttl(store: &dyn Store, t: &mut Transcript) {
    use std::time::Duration;
    store
        .cache_set("a", b"one", Duration::from_secs(60))
        .await
        .unwrap();
    store
        .cache_set("b", b"two", Duration::from_millis(50))
        .await
        .unwrap();
    store
        .cache_set("c}{", &[0, 255], Duration::from_secs(60))
        .await
        .unwrap();
    store
        .cache_set("", b"", Duration::from_secs(60))
        .await
        .unwrap();
    let get = async |key: &str, t: &mut Transcript| {
        let value = store.cache_get(key).await.unwrap();
        t.note(key, &value);
        value
    };
    assert_eq!(get("a", t).await.as_deref(), Some(&b"one"[..]));
    assert_eq!(get("b", t).await.as_deref(), Some(&b"two"[..]));
    assert_eq!(get("c}{", t).await.as_deref(), Some(&[0, 255][..]));
    assert_eq!(get("", t).await.as_deref(), Some(&b""[..]));
    assert_eq!(get("c", t).await, None);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get("b", t).await, None, "expired");
    // Setting again replaces the value and its lifetime.
    store
        .cache_set("a", b"uno", Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(get("a", t).await.as_deref(), Some(&b"uno"[..]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get("a", t).await, None);
    // Cached values are not meta values.
    assert_eq!(store.get_meta("c}{").await.unwrap(), None);
}

// ---- retention -----------------------------------------------------------

/// Prunes and notes the stats.
async fn prune(store: &dyn Store, t: &mut Transcript, before_us: u64, max: usize) -> PruneStats {
    let stats = store.prune(before_us, max).await.unwrap();
    t.note("prune", stats);
    stats
}

fn pruned(likes: u64, tombstones: u64, accounts: u64, more: bool) -> PruneStats {
    PruneStats {
        likes,
        tombstones,
        accounts,
        more,
        ..PruneStats::default()
    }
}

async fn pruning_removes_old_likes_and_keeps_the_counts(store: &dyn Store, t: &mut Transcript) {
    // alice has likes on both sides of 100, bob only before, carol only
    // after.
    apply(
        store,
        t,
        &[
            create("did:plc:alice", "k1", P1, 10),
            create("did:plc:alice", "k2", P2, 99),
            create("did:plc:alice", "k3", P1, 100),
            create("did:plc:bob", "k1", P1, 50),
            create("did:plc:bob", "k2", P2, 60),
            create("did:plc:carol", "k1", P2, 150),
        ],
    )
    .await;
    let version = store.likes_version().await.unwrap();
    assert_eq!(prune(store, t, 100, 1_000).await, pruned(4, 0, 0, false));
    let (likes, counts) = note_snapshot(store, t).await;
    assert_eq!(
        likes,
        [
            like("did:plc:alice", "k3", P1, 100),
            like("did:plc:carol", "k1", P2, 150),
        ],
        "before_us is exclusive"
    );
    assert_eq!(counts, store_counts(2, 0), "bob has no likes left");
    assert_eq!(
        store.likes_version().await.unwrap(),
        version,
        "pruning is no numbered change"
    );
    assert!(changes(store, version, 100).await.is_empty());

    // Nothing left to prune: a no-op.
    assert_eq!(prune(store, t, 100, 1_000).await, pruned(0, 0, 0, false));
    // The likers keep counting right afterwards.
    apply(
        store,
        t,
        &[
            create("did:plc:bob", "k3", P1, 200),
            delete("did:plc:alice", "k3", 201),
        ],
    )
    .await;
    assert_eq!(note_snapshot(store, t).await.1, store_counts(2, 0));
    assert_eq!(prune(store, t, 1_000, 1_000).await, pruned(2, 1, 0, false));
    assert_eq!(
        note_snapshot(store, t).await,
        (vec![], StoreCounts::default())
    );
}

async fn pruning_drops_old_deletions_and_keeps_newer_ones(store: &dyn Store, t: &mut Transcript) {
    apply(
        store,
        t,
        &[
            create("did:plc:alice", "k1", P1, 10),
            create("did:plc:alice", "k2", P1, 11),
            // Removes k1: a tombstone at 20.
            delete("did:plc:alice", "k1", 20),
            // Tombstones of likes never seen, one on each side of 100.
            delete("did:plc:alice", "old", 30),
            delete("did:plc:alice", "new", 120),
            // Account deletions on each side: bob's removes his like.
            create("did:plc:bob", "k1", P2, 40),
            account_deleted("did:plc:bob", 45),
            account_deleted("did:plc:carol", 130),
            // A tombstone moved past the horizon counts once, as newer.
            delete("did:plc:dave", "k1", 50),
            delete("did:plc:dave", "k1", 140),
        ],
    )
    .await;
    assert_eq!(prune(store, t, 100, 1_000).await, pruned(1, 2, 1, false));
    assert_eq!(note_snapshot(store, t).await.1, StoreCounts::default());
    // The deletions at or after the horizon still judge what comes.
    let stats = apply(
        store,
        t,
        &[
            create("did:plc:alice", "new", P1, 110),
            create("did:plc:carol", "k1", P1, 125),
            create("did:plc:dave", "k1", P1, 135),
            create("did:plc:bob", "k2", P1, 101),
        ],
    )
    .await;
    assert_eq!(
        stats,
        ApplyStats {
            stale: 3,
            created: 1,
            ..Default::default()
        }
    );
    assert_eq!(
        note_snapshot(store, t).await.0,
        [like("did:plc:bob", "k2", P1, 101)]
    );
    assert_eq!(prune(store, t, 200, 1_000).await, pruned(1, 2, 1, false));
}

async fn events_older_than_the_horizon_are_stale(store: &dyn Store, t: &mut Transcript) {
    apply(store, t, &[create("did:plc:alice", "k1", P1, 150)]).await;
    prune(store, t, 100, 1_000).await;
    let version = store.likes_version().await.unwrap();
    let stats = apply(
        store,
        t,
        &[
            create("did:plc:bob", "k1", P1, 99),
            delete("did:plc:bob", "k2", 99),
            account_deleted("did:plc:bob", 99),
            // Even one that would otherwise remove a live like.
            account_deleted("did:plc:alice", 0),
            create("did:plc:alice", "k1", P2, 1),
        ],
    )
    .await;
    assert_eq!(
        stats,
        ApplyStats {
            stale: 5,
            ..Default::default()
        }
    );
    assert_eq!(store.likes_version().await.unwrap(), version);
    assert_eq!(
        prune(store, t, 100, 1_000).await,
        pruned(0, 0, 0, false),
        "stale events leave nothing to prune"
    );
    // The horizon itself is inside the window.
    let stats = apply(
        store,
        t,
        &[
            create("did:plc:bob", "k1", P1, 100),
            delete("did:plc:bob", "k2", 100),
            account_deleted("did:plc:carol", 100),
        ],
    )
    .await;
    assert_eq!(
        stats,
        ApplyStats {
            created: 1,
            missing_deletes: 1,
            accounts_deleted: 1,
            ..Default::default()
        }
    );
    note_snapshot(store, t).await;
}

async fn replaying_everything_after_a_prune_brings_nothing_back(
    store: &dyn Store,
    t: &mut Transcript,
) {
    let mut rng = Rng::new(11);
    for round in 0..4 {
        let events = colliding_events(&mut rng, 300, &format!("r{round}-"));
        apply(store, t, &events).await;
        let horizon = 4 + rng.below(16);
        let stats = prune(store, t, horizon, 10_000).await;
        assert!(!stats.more);
        let (likes, counts) = note_snapshot(store, t).await;
        assert!(likes.iter().all(|like| like.3 >= horizon), "{likes:?}");

        let replay = apply(store, t, &events).await;
        assert_eq!(
            (replay.created, replay.deleted, replay.accounts_deleted),
            (0, 0, 0),
            "{replay:?}"
        );
        assert_eq!(replay.events(), events.len() as u64);
        assert_eq!(note_snapshot(store, t).await, (likes, counts));
    }
}

async fn a_like_created_on_both_sides_of_the_horizon_stays_pruned(
    store: &dyn Store,
    t: &mut Transcript,
) {
    // Two Jetstream instances stamped the same create 95 and 105.
    let seen = [
        create("did:plc:alice", "k1", P1, 95),
        create("did:plc:alice", "k1", P1, 105),
    ];
    apply(store, t, &seen).await;
    apply(store, t, &[delete("did:plc:alice", "k2", 40)]).await;
    assert_eq!(
        prune(store, t, 100, 1_000).await,
        pruned(1, 1, 0, false),
        "judged by its log time, its first create"
    );
    assert_eq!(note_snapshot(store, t).await.0, []);
    let stats = apply(store, t, &seen).await;
    assert_eq!(
        stats,
        ApplyStats {
            stale: 2,
            ..Default::default()
        },
        "its key keeps a tombstone at the newer create"
    );
    // That tombstone goes once the horizon passes it.
    assert_eq!(prune(store, t, 106, 1_000).await, pruned(0, 1, 0, false));
    // A newer delete of the key is one of a like the store does not have.
    let stats = apply(store, t, &[delete("did:plc:alice", "k1", 200)]).await;
    assert_eq!(stats.missing_deletes, 1);
}

async fn pruning_is_bounded_and_says_when_more_remain(store: &dyn Store, t: &mut Transcript) {
    // More old likes and tombstones than a Redis prune chunk.
    const OLD: u32 = 2_500;
    let mut events: Vec<_> = (0..OLD)
        .map(|i| create(&did(i % 700), &format!("k{i}"), &post(i), u64::from(i % 97)))
        .collect();
    events.extend((0..OLD).map(|i| delete(&did(i % 300), &format!("gone{i}"), u64::from(i % 89))));
    events.extend((0..40).map(|i| account_deleted(&did(1_000 + i), u64::from(i))));
    events.push(create("did:plc:kept", "k", P1, 1_000));
    apply(store, t, &events).await;

    assert_eq!(
        prune(store, t, 500, 0).await,
        pruned(0, 0, 0, true),
        "a bound of zero only moves the horizon"
    );
    assert_eq!(
        apply(store, t, &[create("did:plc:late", "k", P1, 200)])
            .await
            .stale,
        1
    );
    let first = prune(store, t, 500, 1_100).await;
    assert_eq!(first, pruned(1_100, 1_100, 40, true));
    // Which of the old likes went first is each store's choice.
    let counts = snapshot(store).await.1;
    t.note("counts", counts);
    assert_eq!(counts.likes, u64::from(OLD) - 1_100 + 1);

    let mut total = first;
    while total.more {
        total.add(&prune(store, t, 500, 1_000).await);
    }
    assert_eq!(
        total,
        pruned(u64::from(OLD), u64::from(OLD), 40, false),
        "every old like and deletion, each once"
    );
    assert_eq!(
        note_snapshot(store, t).await,
        (
            vec![like("did:plc:kept", "k", P1, 1_000)],
            store_counts(1, 0)
        )
    );
}

async fn the_horizon_only_moves_forward(store: &dyn Store, t: &mut Transcript) {
    apply(
        store,
        t,
        &[
            create("did:plc:alice", "k1", P1, 150),
            create("did:plc:alice", "k2", P1, 250),
        ],
    )
    .await;
    assert_eq!(prune(store, t, 200, 1_000).await, pruned(1, 0, 0, false));
    // Asked for an older horizon: the store keeps its own.
    assert_eq!(prune(store, t, 100, 1_000).await, pruned(0, 0, 0, false));
    assert_eq!(
        apply(store, t, &[create("did:plc:bob", "k1", P1, 150)])
            .await
            .stale,
        1
    );
    assert_eq!(prune(store, t, 300, 1_000).await, pruned(1, 0, 0, false));
    assert_eq!(
        apply(store, t, &[create("did:plc:bob", "k1", P1, 250)])
            .await
            .stale,
        1
    );
    assert_eq!(note_snapshot(store, t).await.1, StoreCounts::default());
}

async fn pruning_leaves_pools_meta_and_histories_alone(store: &dyn Store, t: &mut Transcript) {
    apply(store, t, &[create("did:plc:alice", "k1", &uri(1), 10)]).await;
    update(store, t, "news", &uris([1, 2]), &[], false).await;
    store.set_meta("cursor", b"10").await.unwrap();
    store
        .add_interactions(
            VIEWER,
            &[event("at://a", InteractionEvent::Seen, T0)],
            LIMITS,
            T0,
        )
        .await
        .unwrap();
    prune(store, t, T0 + 1, 1_000).await;
    assert_eq!(store.pool("news").await.unwrap(), uris([1, 2]));
    assert_eq!(store.get_meta("cursor").await.unwrap().unwrap(), b"10");
    assert_eq!(history(store, t, VIEWER, 0).await.len(), 1);
    assert_eq!(note_snapshot(store, t).await.1, StoreCounts::default());
}

/// Which events land before the prune sees them is up to the race: the
/// transcript notes only that the counts match the log.
async fn pruning_while_applying_keeps_the_counts_in_step(store: &dyn Store, t: &mut Transcript) {
    let mut rng = Rng::new(5);
    let batches: Vec<Vec<RepoEvent>> = (0..8)
        .map(|_| {
            (0..400)
                .map(|_| {
                    let (did, rkey) = (did(rng.below(60) as u32), format!("k{}", rng.below(8)));
                    let time_us = rng.below(2_000);
                    match rng.below(8) {
                        0..=4 => create(&did, &rkey, &post(rng.below(9) as u32), time_us),
                        5 | 6 => delete(&did, &rkey, time_us),
                        _ => account_deleted(&did, time_us),
                    }
                })
                .collect()
        })
        .collect();
    let writer = async {
        for batch in &batches {
            store.apply(batch).await.unwrap();
        }
    };
    let pruner = async {
        for before_us in (0..=1_000).step_by(125) {
            while store.prune(before_us, 50).await.unwrap().more {}
            tokio::task::yield_now().await;
        }
    };
    futures::future::join(writer, pruner).await;
    while store.prune(1_000, 1_000).await.unwrap().more {}

    let (likes, counts) = snapshot(store).await;
    let in_step = counts.likes == likes.len() as u64;
    assert!(in_step, "{counts:?}: {} likes", likes.len());
    assert!(likes.iter().all(|like| like.3 >= 1_000));
    t.note("in step", in_step);
    // Replaying it all now brings nothing back.
    for batch in &batches {
        let stats = store.apply(batch).await.unwrap();
        assert_eq!((stats.created, stats.deleted), (0, 0), "{stats:?}");
    }
    assert_eq!(snapshot(store).await, (likes, counts));
}

// ---- leases --------------------------------------------------------------

async fn a_lease_has_one_holder_until_it_expires_or_is_released(
    store: &dyn Store,
    t: &mut Transcript,
) {
    use std::time::Duration;
    const LONG: Duration = Duration::from_secs(60);
    let acquire = async |name: &str, holder: &str, ttl: Duration, t: &mut Transcript| {
        let held = store.acquire_lease(name, holder, ttl).await.unwrap();
        t.note(&format!("{holder} acquires {name}"), held);
        held
    };
    assert!(acquire("ingest", "replica-a", LONG, t).await, "free");
    assert!(!acquire("ingest", "replica-b", LONG, t).await, "held by a");
    assert!(acquire("ingest", "replica-a", LONG, t).await, "renewed");
    assert!(
        acquire("ingest:2", "replica-b", LONG, t).await,
        "another name is another lease"
    );

    // A release by someone else changes nothing.
    store.release_lease("ingest", "replica-b").await.unwrap();
    store.release_lease("nothing", "replica-b").await.unwrap();
    assert!(!acquire("ingest", "replica-b", LONG, t).await);
    // The holder's release frees it at once.
    store.release_lease("ingest", "replica-a").await.unwrap();
    assert!(acquire("ingest", "replica-b", Duration::from_millis(200), t).await);
    assert!(!acquire("ingest", "replica-a", LONG, t).await);

    // Not renewed, it expires.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(acquire("ingest", "replica-a", LONG, t).await, "expired");
    assert!(!acquire("ingest", "replica-b", LONG, t).await);
    // A renewal sets the TTL anew, shorter or longer.
    assert!(acquire("ingest", "replica-a", Duration::from_millis(200), t).await);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(acquire("ingest", "replica-b", LONG, t).await);
    // An expired holder's release does not take the lease from the next.
    store.release_lease("ingest", "replica-a").await.unwrap();
    assert!(!acquire("ingest", "replica-a", LONG, t).await);
    // Leases are not meta or cached values.
    assert_eq!(store.get_meta("ingest").await.unwrap(), None);
    assert_eq!(store.cache_get("ingest").await.unwrap(), None);
}

async fn contending_holders_get_the_lease_once(store: &dyn Store, t: &mut Transcript) {
    use std::time::Duration;
    let holders: Vec<String> = (0..16).map(|i| format!("replica-{i}")).collect();
    let attempts = holders.iter().map(|holder| async move {
        let held = store
            .acquire_lease("ingest", holder, Duration::from_secs(60))
            .await
            .unwrap();
        (holder, held)
    });
    let results = futures::future::join_all(attempts).await;
    let winners: Vec<_> = results.iter().filter(|(_, held)| *held).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    t.note("winners", winners.len());
    let winner = winners[0].0;
    for holder in &holders {
        let held = store
            .acquire_lease("ingest", holder, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(held, holder == winner, "{holder}");
    }
}

async fn bad_leases_are_refused(store: &dyn Store, t: &mut Transcript) {
    use std::time::Duration;
    for (name, holder) in [("", "replica-a"), ("ingest", "")] {
        let err = store
            .acquire_lease(name, holder, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidLease(_)), "{err}");
        t.note("refused", err.to_string());
        let err = store.release_lease(name, holder).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidLease(_)), "{err}");
    }
    // Names and holders with any bytes work.
    for name in ["a}{b", "x\0y", "é"] {
        let held = store
            .acquire_lease(name, "h\0\u{1}", Duration::from_secs(60))
            .await
            .unwrap();
        assert!(held, "{name:?}");
        assert!(
            !store
                .acquire_lease(name, "h", Duration::from_secs(60))
                .await
                .unwrap()
        );
    }
}
