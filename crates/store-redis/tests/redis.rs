//! What only the Redis store has: connecting, key prefixes, the schema
//! version under a prefix, reconnection, histories that expire by
//! themselves, the hash tags that keep the like and post logs in one slot,
//! and the stored form of changes and posts.

mod common;

use std::time::{Duration, Instant};

use common::*;
use feedmixer_atproto::{InteractionEvent, clock};
use feedmixer_store::{Change, Changes, Interaction, InteractionLimits, Store, StoreError};
use feedmixer_store_redis::{DEFAULT_PREFIX, RedisStore, RedisTarget};

/// A plain connection to the first node of `target`, to look at or
/// tamper with what the store wrote.
async fn raw(target: &RedisTarget) -> redis::aio::MultiplexedConnection {
    let url = match target {
        RedisTarget::Single(url) => url.clone(),
        RedisTarget::Cluster(urls) => urls[0].clone(),
    };
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// A raw cluster connection, routing by key.
async fn raw_cluster(target: &RedisTarget) -> redis::cluster_async::ClusterConnection {
    let RedisTarget::Cluster(urls) = target else {
        panic!("not a cluster")
    };
    redis::cluster::ClusterClient::new(urls.clone())
        .unwrap()
        .get_async_connection()
        .await
        .unwrap()
}

/// Runs `pipe` on a plain connection to `target` (routing by key on a
/// cluster), to look at or tamper with what the store wrote.
async fn raw_query<T: redis::FromRedisValue>(target: &RedisTarget, pipe: &redis::Pipeline) -> T {
    match target {
        RedisTarget::Single(_) => pipe.query_async(&mut raw(target).await).await,
        RedisTarget::Cluster(_) => pipe.query_async(&mut raw_cluster(target).await).await,
    }
    .unwrap()
}

/// A store on a fresh prefix of `backend`'s Redis, with the target and
/// the prefix to look at what it writes; `None` when the Redis tests are
/// skipped.
async fn fresh_store(backend: Backend, test: &str) -> Option<(RedisTarget, String, RedisStore)> {
    let target = target(backend)?;
    let prefix = fresh_prefix(test);
    let store = RedisStore::connect(target.clone(), &prefix).await.unwrap();
    Some((target, prefix, store))
}

/// Runs each `async fn(Backend)` named as two tests, `NAME::single` and
/// `NAME::cluster`.
macro_rules! on_single_and_cluster {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn single() {
                    super::$name(super::Backend::Single).await;
                }

                #[tokio::test]
                async fn cluster() {
                    super::$name(super::Backend::Cluster).await;
                }
            }
        )+
    };
}

on_single_and_cluster!(
    a_newer_schema_is_refused,
    stores_share_a_prefix_and_only_it,
    histories_expire_by_themselves,
    a_follower_behind_the_kept_tail_is_told_to_rebuild,
    pruning_everything_leaves_no_did_state,
    post_changes_carry_a_kind_and_like_changes_none,
    a_corrupt_stored_post_is_an_error,
    the_like_log_seals_chunks_and_prune_drops_old_ones,
    a_schema_1_store_is_converted_once_and_keeps_every_like,
    a_post_field_keeps_a_time_and_its_delete_finds_the_member,
);

#[test]
fn the_default_prefix_is_fm() {
    assert_eq!(DEFAULT_PREFIX, "fm");
}

#[tokio::test]
async fn prefixes_with_braces_or_empty_are_refused() {
    // Refused before connecting: any URL will do.
    for prefix in ["", "a{b", "c}"] {
        let err = RedisStore::connect(RedisTarget::Single("redis://127.0.0.1:1".into()), prefix)
            .await
            .err()
            .expect("refused");
        assert!(matches!(err, StoreError::Backend(_)), "{err}");
        assert!(
            err.to_string().contains("invalid redis key prefix"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_not_a_hang() {
    let started = Instant::now();
    let err = RedisStore::connect(RedisTarget::Single("redis://127.0.0.1:1".into()), "fm")
        .await
        .err()
        .expect("nothing listens on port 1");
    assert!(matches!(err, StoreError::Backend(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

async fn a_newer_schema_is_refused(backend: Backend) {
    let Some((target, prefix, store)) = fresh_store(backend, "newer_schema").await else {
        return;
    };
    assert_eq!(store.prefix(), prefix);
    drop(store);
    let state = format!("{{{prefix}}}:state");
    let (version,): (u64,) = raw_query(&target, redis::pipe().hget(&state, "schema_version")).await;
    assert_eq!(version, 2, "stamped on first use");
    let () = raw_query(
        &target,
        redis::pipe().hset(&state, "schema_version", 3).ignore(),
    )
    .await;
    let err = RedisStore::connect(target, &prefix)
        .await
        .err()
        .expect("newer schema refused");
    assert!(err.to_string().contains("schema version 3"), "{err}");
}

/// Data written through one store is there for another on the same
/// prefix, and only there.
async fn stores_share_a_prefix_and_only_it(backend: Backend) {
    let Some((target, prefix, writer)) = fresh_store(backend, "shared").await else {
        return;
    };
    writer
        .apply(&[create("did:plc:a", "k", "at://p", 1)])
        .await
        .unwrap();
    writer.set_meta("cursor", b"1").await.unwrap();
    let reader = RedisStore::connect(target.clone(), &prefix).await.unwrap();
    assert_eq!(scan(&reader, 0).await.len(), 1);
    assert_eq!(reader.get_meta("cursor").await.unwrap().unwrap(), b"1");
    assert_eq!(
        reader.likes_version().await.unwrap(),
        writer.likes_version().await.unwrap()
    );
    let other = RedisStore::connect(target, &fresh_prefix("other"))
        .await
        .unwrap();
    assert_eq!(scan(&other, 0).await.len(), 0);
    assert_eq!(other.get_meta("cursor").await.unwrap(), None);
}

/// Redis drops an idle viewer's history when its newest entry expires,
/// without another write.
async fn histories_expire_by_themselves(backend: Backend) {
    let Some(store) = redis(backend, "expire").await else {
        return;
    };
    let limits = InteractionLimits {
        max_per_viewer: 10,
        ttl_us: 600_000,
    };
    let now = clock::now_us();
    let seen = |item: &str, time_us| Interaction {
        item: item.into(),
        event: InteractionEvent::Seen,
        time_us,
    };
    store
        .add_interactions("did:plc:idle", &[seen("at://a", now)], limits, now)
        .await
        .unwrap();
    // The long-lived viewer's newest entry is an hour ahead.
    let long = InteractionLimits {
        ttl_us: 3_600_000_000,
        ..limits
    };
    store
        .add_interactions("did:plc:busy", &[seen("at://b", now)], long, now)
        .await
        .unwrap();
    assert_eq!(
        store.interactions("did:plc:idle", 0).await.unwrap().len(),
        1
    );
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(
        store
            .interactions("did:plc:idle", 0)
            .await
            .unwrap()
            .is_empty(),
        "expired with its newest entry"
    );
    assert_eq!(
        store.interactions("did:plc:busy", 0).await.unwrap().len(),
        1
    );
}

/// The like log's and the post log's keys share one hash slot (so the
/// apply script may touch them all on a cluster); pools and histories get
/// slots of their own.
#[tokio::test]
async fn the_like_log_lives_in_one_slot() {
    let Some((target, prefix, store)) = fresh_store(Backend::Cluster, "slots").await else {
        return;
    };
    store
        .apply(&[
            create("did:plc:a", "k", "at://p", 1),
            create("did:plc:b", "k", "at://p", 2),
            post_create("did:plc:c", "p", post_record(&["nb"], "hei"), 3),
            post_delete("did:plc:c", "p", 4),
        ])
        .await
        .unwrap();
    store.set_meta("cursor", b"2").await.unwrap();
    store
        .update_pool("news", &["at://p".to_owned()], &[], false)
        .await
        .unwrap();
    let mut conn = raw(&target).await;
    let mut slot = async |key: &str| -> u64 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap()
    };
    let log_slot = slot(&format!("{{{prefix}}}:log")).await;
    for key in [
        "state",
        "meta",
        "tombstones",
        "deleted-accounts",
        "posts",
        "post-tombstones",
        "changes",
        "pool-feeds",
        "did:did:plc:a",
        "did:did:plc:b",
        "did:did:plc:c",
    ] {
        assert_eq!(
            slot(&format!("{{{prefix}}}:{key}")).await,
            log_slot,
            "{key}"
        );
    }
    assert_eq!(slot(&prefix).await, log_slot);
    assert_eq!(
        slot(&format!("{{{prefix}:pool:news}}")).await,
        slot(&format!("{prefix}:pool:news")).await
    );
}

/// The connection comes back by itself after Redis drops it.
#[tokio::test]
async fn the_store_reconnects_after_its_connection_is_killed() {
    let Some(RedisTarget::Single(url)) = target(Backend::Single) else {
        return;
    };
    // A database no other test uses, so that its connections are the
    // store's and killing them leaves the other tests alone.
    const DB: u32 = 7;
    let target = RedisTarget::Single(format!("{}/{DB}", url.trim_end_matches('/')));
    let store = RedisStore::connect(target.clone(), &fresh_prefix("reconnect"))
        .await
        .unwrap();
    store.set_meta("k", b"v").await.unwrap();
    let mut admin = raw(&RedisTarget::Single(url)).await;
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut admin)
        .await
        .unwrap();
    let ids: Vec<&str> = clients
        .lines()
        .filter(|line| line.split(' ').any(|field| field == format!("db={DB}")))
        .filter_map(|line| line.split(' ').find_map(|field| field.strip_prefix("id=")))
        .collect();
    assert!(!ids.is_empty(), "{clients}");
    for id in ids {
        let _: redis::Value = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query_async(&mut admin)
            .await
            .unwrap();
    }
    // The request that finds the connection dead may fail; one of the
    // next ones must succeed.
    let started = Instant::now();
    loop {
        match store.get_meta("k").await {
            Ok(value) => {
                assert_eq!(value.unwrap(), b"v");
                break;
            }
            Err(err) if started.elapsed() < Duration::from_secs(10) => {
                eprintln!("while reconnecting: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("did not reconnect: {err}"),
        }
    }
}

/// A store keeping few changes tells a follower further behind to
/// rebuild, as the embedded store does with the same bound. The embedded
/// half runs whether the Redis tests do or not.
async fn a_follower_behind_the_kept_tail_is_told_to_rebuild(backend: Backend) {
    let (_dir, reference) = open_temp();
    let expected = follow_a_tail_of_three(&reference.with_changes_kept(3)).await;
    let Some(store) = redis(backend, "kept").await else {
        return;
    };
    let store = store.with_changes_kept(3);
    assert_eq!(follow_a_tail_of_three(&store).await, expected);
}

/// Checks that `store`, keeping three changes, tells followers behind
/// them to rebuild, also after a batch bigger than an apply chunk; returns
/// the tail it keeps last.
async fn follow_a_tail_of_three(store: &dyn Store) -> Vec<Change> {
    let events: Vec<_> = (0..5)
        .map(|n| create(&did(n), "r", &post(n), 10 + u64::from(n)))
        .collect();
    store.apply(&events).await.unwrap();
    assert_eq!(store.likes_version().await.unwrap(), 5);
    assert_eq!(store.changes_since(0, 10).await.unwrap(), Changes::Trimmed);
    assert_eq!(store.changes_since(1, 10).await.unwrap(), Changes::Trimmed);
    let Changes::Since(tail) = store.changes_since(2, 10).await.unwrap() else {
        panic!("the tail after 2 is kept")
    };
    assert_eq!(tail.iter().map(Change::seq).collect::<Vec<_>>(), [3, 4, 5]);
    // Up to date is never trimmed.
    assert_eq!(
        store.changes_since(5, 10).await.unwrap(),
        Changes::Since(vec![])
    );
    // A batch bigger than an apply chunk trims to the bound too.
    let many: Vec<_> = (0..2_500)
        .map(|n| create(&did(n), "many", &post(n), 100 + u64::from(n)))
        .collect();
    store.apply(&many).await.unwrap();
    assert_eq!(store.likes_version().await.unwrap(), 2_505);
    assert_eq!(
        store.changes_since(2_501, 10).await.unwrap(),
        Changes::Trimmed
    );
    let Changes::Since(tail) = store.changes_since(2_502, 10).await.unwrap() else {
        panic!("the last three are kept")
    };
    assert_eq!(tail.len(), 3);
    // Post changes share the sequence and the bound (the deleted account
    // has no likes: its deletion is one change).
    let nb = post_record(&["nb"], "hei");
    store
        .apply(&[
            post_create(&did(1), "p1", nb.clone(), 3_000),
            post_delete(&did(1), "p0", 3_001),
            account_deleted(&did(9_000), 3_002),
            post_create(&did(3), "p1", nb, 3_003),
        ])
        .await
        .unwrap();
    assert_eq!(store.likes_version().await.unwrap(), 2_509);
    assert_eq!(
        store.changes_since(2_505, 10).await.unwrap(),
        Changes::Trimmed
    );
    let Changes::Since(posts) = store.changes_since(2_506, 10).await.unwrap() else {
        panic!("the last three are kept")
    };
    assert_eq!(
        posts.iter().map(Change::seq).collect::<Vec<_>>(),
        [2_507, 2_508, 2_509]
    );
    tail.into_iter().chain(posts).collect()
}

/// Pruning everything leaves none of the DIDs' state, indexes or likers
/// behind (Redis drops a hash once its last field goes), and the changes
/// stream as it was.
async fn pruning_everything_leaves_no_did_state(backend: Backend) {
    let Some((target, prefix, store)) = fresh_store(backend, "prune-all").await else {
        return;
    };
    let dids = ["did:plc:a", "did:plc:b\0", "did:plc:c", "did:plc:d"];
    let nb = post_record(&["nb"], "hei");
    store
        .apply(&[
            create(dids[0], "k1", "at://p", 10),
            create(dids[0], "k2", "at://p", 11),
            create(dids[0], "k3", "at://p", 12),
            delete(dids[0], "k2", 13),
            delete(dids[1], "never", 14),
            create(dids[2], "k1", "at://p", 15),
            post_create(dids[2], "p1", nb.clone(), 15),
            account_deleted(dids[2], 16),
            // Posts only: a DID with posts but no like is no liker.
            post_create(dids[3], "p1", nb.clone(), 17),
            post_create(dids[3], "p2", nb.clone(), 18),
            post_delete(dids[3], "p2", 19),
            post_delete(dids[3], "never", 20),
        ])
        .await
        .unwrap();
    let version = store.likes_version().await.unwrap();
    let stats = store.prune(1_000, 1_000).await.unwrap();
    assert_eq!(
        (
            stats.likes,
            stats.tombstones,
            stats.accounts,
            stats.posts,
            stats.post_tombstones
        ),
        (2, 2, 1, 1, 2)
    );
    assert_eq!(store.likes_version().await.unwrap(), version);

    let mut keys: Vec<Vec<u8>> = dids
        .iter()
        .map(|did| {
            let mut key = format!("{{{prefix}}}:did:").into_bytes();
            key.extend_from_slice(did.as_bytes());
            key
        })
        .collect();
    for key in [
        "log",
        "tombstones",
        "deleted-accounts",
        "posts",
        "post-tombstones",
    ] {
        keys.push(format!("{{{prefix}}}:{key}").into_bytes());
    }
    let state = format!("{{{prefix}}}:state");
    let changes = format!("{{{prefix}}}:changes");
    let (exists, live, stream): (u64, Option<u64>, u64) = raw_query(
        &target,
        redis::pipe()
            .exists(&keys)
            .hget(&state, "like_count")
            .cmd("XLEN")
            .arg(&changes),
    )
    .await;
    assert_eq!(exists, 0, "no key of {keys:?} is left");
    assert_eq!(live.unwrap_or(0), 0);
    // The post changes (the like changes are the log's records).
    assert_eq!(stream, 6, "pruning appends no change");
    assert_eq!(store.counts().await.unwrap().likes, 0);
}

/// A lease is one key with the holder's TTL, which Redis expires.
#[tokio::test]
async fn a_lease_is_a_key_with_a_ttl() {
    let Some((target, prefix, store)) = fresh_store(Backend::Single, "lease").await else {
        return;
    };
    assert!(
        store
            .acquire_lease("ingest", "replica-a", Duration::from_secs(30))
            .await
            .unwrap()
    );
    let mut conn = raw(&target).await;
    let key = format!("{{{prefix}:lease:ingest}}");
    let (holder, ttl_ms): (String, i64) = redis::pipe()
        .get(&key)
        .pttl(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(holder, "replica-a");
    assert!((29_000..=30_000).contains(&ttl_ms), "{ttl_ms}");
    // A sub-millisecond TTL is a millisecond, never PX 0 (an error).
    assert!(
        store
            .acquire_lease("ingest", "replica-a", Duration::from_micros(1))
            .await
            .unwrap()
    );
    store.release_lease("ingest", "replica-a").await.unwrap();
    let exists: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!exists);
}

/// A stream entry as a raw read returns it: its ID and its fields.
type Entry = (String, Vec<(String, String)>);

/// A post change is a stream entry with a kind `k`; a like change is a
/// record of the like log, and no stream entry.
async fn post_changes_carry_a_kind_and_like_changes_none(backend: Backend) {
    let Some((target, prefix, store)) = fresh_store(backend, "change-fields").await else {
        return;
    };
    let nb = post_record(&["nb"], "hei");
    store
        .apply(&[
            create("did:plc:a", "k1", "at://p", 10),
            post_create("did:plc:a", "k1", nb.clone(), 11),
            post_delete("did:plc:a", "k1", 12),
            account_deleted("did:plc:a", 13),
        ])
        .await
        .unwrap();
    let changes = format!("{{{prefix}}}:changes");
    let (entries,): (Vec<Entry>,) = raw_query(
        &target,
        redis::pipe().cmd("XRANGE").arg(&changes).arg("-").arg("+"),
    )
    .await;
    fn fields(entry: &Entry) -> Vec<(&str, &str)> {
        entry
            .1
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect()
    }
    let t = |time_us: u64| format!("{time_us:020}");
    assert_eq!(
        entries
            .iter()
            .map(|entry| entry.0.as_str())
            .collect::<Vec<_>>(),
        ["2-0", "3-0", "5-0"]
    );
    assert_eq!(
        fields(&entries[0]),
        [
            ("k", "p+"),
            ("d", "did:plc:a"),
            ("r", "k1"),
            ("t", &t(11)),
            ("p", &feedmixer_store::post_codec::encode(&nb))
        ]
    );
    assert_eq!(
        fields(&entries[1]),
        [("k", "p-"), ("d", "did:plc:a"), ("r", "k1"), ("t", &t(12))]
    );
    assert_eq!(
        fields(&entries[2]),
        [("k", "a-"), ("d", "did:plc:a"), ("r", ""), ("t", &t(13))]
    );
    let Changes::Since(all) = store.changes_since(0, 10).await.unwrap() else {
        panic!("nothing trimmed");
    };
    let like = |seq, added| {
        Change::Like(feedmixer_store::LikeChange {
            seq,
            did: "did:plc:a".into(),
            subject: "at://p".into(),
            time_us: 10,
            added,
        })
    };
    assert_eq!(
        all.iter().map(Change::seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(all[0], like(1, true));
    assert_eq!(all[3], like(4, false));
    // A stream entry of another kind is corrupt, not skipped.
    let () = raw_query(
        &target,
        redis::pipe()
            .cmd("XADD")
            .arg(&changes)
            .arg("6-0")
            .arg(&["d", "did:plc:old", "s", "at://q", "t", &t(14), "a", "1"])
            .ignore()
            .hset(format!("{{{prefix}}}:state"), "likes_version", 6)
            .ignore(),
    )
    .await;
    let err = store.changes_since(3, 10).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
}

/// A stored post that does not decode fails the scan as corrupt, and so
/// does a post change carrying one.
async fn a_corrupt_stored_post_is_an_error(backend: Backend) {
    let Some((target, prefix, store)) = fresh_store(backend, "corrupt-post").await else {
        return;
    };
    let mut member = format!("{:020}did:plc:a", 10).into_bytes();
    member.extend_from_slice(b"\0\x01p\0\x01{\"e\":\"zz\"}");
    let () = raw_query(
        &target,
        redis::pipe()
            .zadd(format!("{{{prefix}}}:posts"), &member, 0)
            .ignore()
            .cmd("XADD")
            .arg(format!("{{{prefix}}}:changes"))
            .arg("1-0")
            .arg(&[
                "k",
                "p+",
                "d",
                "did:plc:a",
                "r",
                "p",
                "t",
                &format!("{:020}", 10),
                "p",
                "nope",
            ])
            .ignore()
            .hset(format!("{{{prefix}}}:state"), "likes_version", 1)
            .ignore(),
    )
    .await;
    let err = store.scan_posts(0, &mut |_| {}).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    let err = store.changes_since(0, 10).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
}

/// Likes past a chunk's 256 KiB go to the next chunk; deletes and
/// the changes reach across chunks; a prune drops a sealed chunk once
/// nothing in it is live or newer than the horizon, and a follower from
/// before it rebuilds.
async fn the_like_log_seals_chunks_and_prune_drops_old_ones(backend: Backend) {
    let Some((target, prefix, store)) = fresh_store(backend, "chunks").await else {
        return;
    };
    let likes = 10_000u32;
    // A DID per like, in time order: the log (DID by DID within a batch)
    // is in time order too.
    let events: Vec<_> = (0..likes)
        .map(|n| create(&did(n), &format!("k{n}"), &post(n), 1 + u64::from(n)))
        .collect();
    for batch in events.chunks(3_000) {
        store.apply(batch).await.unwrap();
    }
    // Every hundredth like deleted: some in each chunk.
    let deletes: Vec<_> = (0..likes)
        .step_by(100)
        .map(|n| delete(&did(n), &format!("k{n}"), 20_000))
        .collect();
    let stats = store.apply(&deletes).await.unwrap();
    assert_eq!(stats.deleted, 100);
    assert_eq!(store.counts().await.unwrap().likes, 9_900);
    let live = scan(&store, 0).await;
    assert_eq!(live.len(), 9_900);
    assert!(
        live.iter()
            .all(|like| like.1 != "k0" && !like.1.ends_with("00"))
    );
    let all = all_changes(&store, 0).await;
    assert_eq!(all.len(), 10_100);
    let chunk = |n: u32| format!("{{{prefix}}}:likes:{n}");
    let (exists,): (u64,) = raw_query(
        &target,
        redis::pipe().exists(&[chunk(1), chunk(2), chunk(3)]),
    )
    .await;
    assert_eq!(exists, 3);

    // Before 5,001: 5,000 likes, 50 of them deleted.
    let stats = store.prune(5_001, 100_000).await.unwrap();
    assert_eq!(stats.likes, 5_000 - 50);
    assert!(!stats.more);
    assert_eq!(store.counts().await.unwrap().likes, 9_900 - 4_950);
    let live = scan(&store, 0).await;
    assert_eq!(live.len(), 4_950);
    assert!(live.iter().all(|like| like.3 > 5_000));
    // The first chunk holds nothing live or after the horizon: gone.
    let (exists,): (u64,) = raw_query(&target, redis::pipe().exists(&[chunk(1)])).await;
    assert_eq!(exists, 0);
    assert_eq!(store.changes_since(0, 10).await.unwrap(), Changes::Trimmed);
    // The chunk holding the like of 5,001 still has live likes: its
    // records are there to follow.
    let Changes::Since(tail) = store.changes_since(5_000, 10).await.unwrap() else {
        panic!("the chunk of 5,001 is kept");
    };
    assert_eq!(tail[0].seq(), 5_001);
    // Nothing is left to do before the same horizon.
    let again = store.prune(5_001, 100_000).await.unwrap();
    assert_eq!((again.likes, again.more), (0, false));
}

/// A store as schema 1 wrote it (the like log a sorted set of members,
/// each DID's field holding the newest time and the member, the changes
/// in a stream) is converted at connect: the same likes, duplicates
/// still duplicates, deletes and prunes working on the moved likes, and
/// followers told to rebuild.
async fn a_schema_1_store_is_converted_once_and_keeps_every_like(backend: Backend) {
    let Some(target) = common::target(backend) else {
        return;
    };
    let prefix = fresh_prefix("v1");
    let t20 = |t: u64| format!("{t:020}");
    let member = |t: u64, did: &str, rkey: &str, subject: &str| {
        let mut m = t20(t).into_bytes();
        m.extend_from_slice(did.as_bytes());
        m.extend_from_slice(&[0, 1]);
        m.extend_from_slice(rkey.as_bytes());
        m.extend_from_slice(&[0, 1]);
        m.extend_from_slice(subject.as_bytes());
        m
    };
    let likes: Vec<(u64, String, String, String)> = (0..2_500u32)
        .map(|n| {
            (
                10 + u64::from(n),
                did(n % 13),
                format!("3k{n:011}"),
                post(n),
            )
        })
        .collect();
    let mut pipe = redis::pipe();
    let state = format!("{{{prefix}}}:state");
    pipe.hset(&state, "schema_version", 1).ignore();
    pipe.hset(&state, "likes_version", 2_500).ignore();
    pipe.hset(&state, "likers", 13).ignore();
    for (t, did, rkey, subject) in &likes {
        let m = member(*t, did, rkey, subject);
        pipe.zadd(format!("{{{prefix}}}:log"), m.clone(), 0)
            .ignore();
        // The first like's newest time is later than its log time.
        let newest = if rkey.ends_with("00000000000") {
            9_000
        } else {
            *t
        };
        let mut value = t20(newest).into_bytes();
        value.extend_from_slice(&m);
        pipe.hset(
            format!("{{{prefix}}}:did:{did}"),
            format!("l:{rkey}"),
            value,
        )
        .ignore();
        pipe.hincr(format!("{{{prefix}}}:did:{did}"), "n", 1)
            .ignore();
        pipe.cmd("XADD")
            .arg(format!("{{{prefix}}}:changes"))
            .arg("*")
            .arg(&[
                "d",
                did.as_str(),
                "s",
                subject.as_str(),
                "t",
                &t20(*t),
                "a",
                "1",
            ])
            .ignore();
    }
    let () = raw_query(&target, &pipe).await;

    let mut steps = Vec::new();
    let store = RedisStore::connect_with_progress(target.clone(), &prefix, &mut |p| steps.push(p))
        .await
        .unwrap();
    assert_eq!(
        steps.last().map(|p| (p.moved, p.total)),
        Some((2_500, 2_500))
    );
    assert_eq!(store.counts().await.unwrap().likes, 2_500);
    let mut want: Vec<_> = likes
        .iter()
        .map(|(t, did, rkey, subject)| (did.clone(), rkey.clone(), subject.clone(), *t))
        .collect();
    want.sort_by(|a, b| (a.3, &a.0, &a.1).cmp(&(b.3, &b.0, &b.1)));
    assert_eq!(scan(&store, 0).await, want);
    let (version, old_log, n_field, schema): (u64, u64, Option<u64>, u64) = raw_query(
        &target,
        redis::pipe()
            .hget(&state, "likes_version")
            .zcard(format!("{{{prefix}}}:log"))
            .hget(format!("{{{prefix}}}:did:{}", did(0)), "n")
            .hget(&state, "schema_version"),
    )
    .await;
    assert_eq!((old_log, n_field, schema), (0, None, 2));
    assert_eq!(version, 5_000, "each moved like is a record of the log");
    assert_eq!(
        store.changes_since(2_500, 10).await.unwrap(),
        Changes::Trimmed
    );
    assert_eq!(
        store.changes_since(version, 10).await.unwrap(),
        Changes::Since(vec![])
    );

    // A repeat is a duplicate; a delete before the newest time is stale,
    // after it removes the like.
    let (t, d, rkey, subject) = &likes[0];
    let stats = store.apply(&[create(d, rkey, subject, *t)]).await.unwrap();
    assert_eq!(stats.duplicates, 1);
    let stats = store.apply(&[delete(d, rkey, 5_000)]).await.unwrap();
    assert_eq!(stats.stale, 1);
    let stats = store.apply(&[delete(d, rkey, 9_500)]).await.unwrap();
    assert_eq!(stats.deleted, 1);
    let Changes::Since(removed) = store.changes_since(version, 10).await.unwrap() else {
        panic!("kept");
    };
    assert!(matches!(&removed[..], [Change::Like(c)] if !c.added && c.subject == *subject));
    let stats = store.prune(1_000, 10_000).await.unwrap();
    assert_eq!(stats.likes, 989);
    assert_eq!(store.counts().await.unwrap().likes, 2_499 - 989);
    drop(store);
    // Opening it again converts nothing.
    let mut steps = Vec::new();
    let store = RedisStore::connect_with_progress(target, &prefix, &mut |p| steps.push(p))
        .await
        .unwrap();
    assert!(steps.is_empty());
    assert_eq!(store.counts().await.unwrap().likes, 2_499 - 989);
}

/// A post's DID field keeps its log time, not its member (so the hash
/// stays a listpack); deletes, account deletions and prunes find the
/// member all the same, whatever bytes the keys hold, and a field as
/// schema 1 wrote it (the member itself) still works.
async fn a_post_field_keeps_a_time_and_its_delete_finds_the_member(backend: Backend) {
    let Some((target, prefix, store)) = fresh_store(backend, "post-fields").await else {
        return;
    };
    let nb = post_record(&["nb"], "hei");
    let odd = "did:plc:\0odd";
    store
        .apply(&[
            post_create(odd, "k\0\u{1}", nb.clone(), 10),
            post_create(odd, "k", nb.clone(), 11),
            post_create("did:plc:b", "p", nb.clone(), 12),
            post_create("did:plc:c", "p", nb.clone(), 13),
        ])
        .await
        .unwrap();
    let key = |did: &str| {
        let mut key = format!("{{{prefix}}}:did:").into_bytes();
        key.extend_from_slice(did.as_bytes());
        key
    };
    let posts = format!("{{{prefix}}}:posts");
    let (field, encoding): (Vec<u8>, String) = raw_query(
        &target,
        redis::pipe()
            .hget(key("did:plc:b"), "p:p")
            .cmd("OBJECT")
            .arg("ENCODING")
            .arg(key("did:plc:b")),
    )
    .await;
    assert_eq!(field, format!("{:020}{:020}", 12, 12).into_bytes());
    assert_eq!(encoding, "listpack");
    // did:plc:c's field as schema 1 wrote it: the newest time, then the
    // member.
    let (members,): (Vec<Vec<u8>>,) = raw_query(&target, redis::pipe().zrange(&posts, 0, -1)).await;
    let c_member = members
        .iter()
        .find(|m| m.windows(9).any(|w| w == b"did:plc:c"))
        .unwrap()
        .clone();
    let mut old = format!("{:020}", 13).into_bytes();
    old.extend_from_slice(&c_member);
    let () = raw_query(
        &target,
        redis::pipe().hset(key("did:plc:c"), "p:p", old).ignore(),
    )
    .await;

    let stats = store
        .apply(&[
            post_delete(odd, "k\0\u{1}", 20),
            account_deleted(odd, 21),
            post_delete("did:plc:c", "p", 22),
        ])
        .await
        .unwrap();
    assert_eq!(
        (stats.posts_deleted, stats.posts_removed_by_account),
        (2, 1)
    );
    let (left,): (Vec<Vec<u8>>,) = raw_query(&target, redis::pipe().zrange(&posts, 0, -1)).await;
    assert_eq!(left.len(), 1, "only did:plc:b's post is left");
    assert_eq!(store.prune(100, 1_000).await.unwrap().posts, 1);
    let (count,): (u64,) = raw_query(&target, redis::pipe().zcard(&posts)).await;
    assert_eq!(count, 0);
}
