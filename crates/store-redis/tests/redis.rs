//! What only the Redis store has: connecting, key prefixes, the schema
//! version under a prefix, reconnection, histories that expire by
//! themselves, the hash tags that keep the like and post logs in one slot,
//! and the stored form of changes and posts.

mod common;

use std::time::{Duration, Instant};

use common::*;
use feedmixer_atproto::{InteractionEvent, clock};
use feedmixer_store::{
    Change, Changes, Interaction, InteractionLimits, PostChangeKind, Store, StoreError,
};
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
    assert_eq!(version, 1, "stamped on first use");
    let () = raw_query(
        &target,
        redis::pipe().hset(&state, "schema_version", 2).ignore(),
    )
    .await;
    let err = RedisStore::connect(target, &prefix)
        .await
        .err()
        .expect("newer schema refused");
    assert!(err.to_string().contains("schema version 2"), "{err}");
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
    let (exists, likers, stream): (u64, Option<u64>, u64) = raw_query(
        &target,
        redis::pipe()
            .exists(&keys)
            .hget(&state, "likers")
            .cmd("XLEN")
            .arg(&changes),
    )
    .await;
    assert_eq!(exists, 0, "no key of {keys:?} is left");
    assert_eq!(likers.unwrap_or(0), 0);
    assert_eq!(stream, version, "pruning appends no change");
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

/// A post change is a stream entry with a kind `k`; a like change has
/// none, as before there were posts, so entries written then still decode.
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
        ["1-0", "2-0", "3-0", "4-0", "5-0"]
    );
    assert_eq!(
        fields(&entries[0]),
        [
            ("d", "did:plc:a"),
            ("s", "at://p"),
            ("t", &t(10)),
            ("a", "1")
        ]
    );
    assert_eq!(
        fields(&entries[1]),
        [
            ("k", "p+"),
            ("d", "did:plc:a"),
            ("r", "k1"),
            ("t", &t(11)),
            ("p", &feedmixer_store::post_codec::encode(&nb))
        ]
    );
    assert_eq!(
        fields(&entries[2]),
        [("k", "p-"), ("d", "did:plc:a"), ("r", "k1"), ("t", &t(12))]
    );
    assert_eq!(
        fields(&entries[3])[..2],
        [("d", "did:plc:a"), ("s", "at://p")]
    );
    assert_eq!(
        fields(&entries[4]),
        [("k", "a-"), ("d", "did:plc:a"), ("r", ""), ("t", &t(13))]
    );
    // An entry as the store wrote like changes before posts decodes as one.
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
    let Changes::Since(decoded) = store.changes_since(3, 10).await.unwrap() else {
        panic!("nothing trimmed");
    };
    assert!(matches!(
        &decoded[1],
        Change::Post(change) if change.kind == PostChangeKind::AccountDeleted && change.seq == 5
    ));
    assert_eq!(
        decoded[2],
        Change::Like(feedmixer_store::LikeChange {
            seq: 6,
            did: "did:plc:old".into(),
            subject: "at://q".into(),
            time_us: 14,
            added: true,
        })
    );
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
