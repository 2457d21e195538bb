//! The feeds' candidate pools: a sorted set per feed, each update one
//! script (`lua/pool.lua`), and a registry of the feeds.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use feedmixer_store::PoolStats;
use redis::{AsyncCommands, Script};

use crate::RedisStoreError;
use crate::conn::Conn;
use crate::keys::Keys;

static UPDATE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/pool.lua")));

/// Applies one pool update; the caller has [`checks`](feedmixer_store::checks)-ed the arguments.
pub(crate) async fn update(
    conn: &mut Conn,
    keys: &Keys,
    feed: &str,
    add: &[String],
    remove: &[String],
    replace: bool,
    now_us: u64,
) -> Result<PoolStats, RedisStoreError> {
    let pool = keys.pool(feed);
    if add.is_empty() && remove.is_empty() && !replace {
        return Ok(PoolStats {
            size: conn.zcard(&pool).await?,
            ..PoolStats::default()
        });
    }
    let remove: BTreeSet<&str> = remove.iter().map(String::as_str).collect();
    // Distinct and none removed: each post is counted once.
    let add: BTreeSet<&str> = add
        .iter()
        .map(String::as_str)
        .filter(|uri| !remove.contains(uri))
        .collect();
    if !add.is_empty() {
        // Before the pool, so that the registry always holds every feed
        // with a pool (it lives in another slot: no script spans both).
        let _: () = conn.sadd(&keys.pool_feeds, feed).await?;
    }
    let mut invocation = UPDATE.key(&pool);
    invocation
        .arg(if replace { "1" } else { "0" })
        .arg(now_us)
        .arg(add.len())
        .arg(add.iter().collect::<Vec<_>>());
    if !replace {
        invocation.arg(remove.iter().collect::<Vec<_>>());
    }
    let (added, removed, size): (u64, u64, u64) = invocation.invoke_async(conn).await?;
    Ok(PoolStats {
        added,
        removed,
        size,
    })
}

/// The posts of `feed`'s pool, in URI order.
pub(crate) async fn read(
    conn: &mut Conn,
    keys: &Keys,
    feed: &str,
) -> Result<Vec<String>, RedisStoreError> {
    let mut posts: Vec<String> = conn.zrange(keys.pool(feed), 0, -1).await?;
    posts.sort_unstable();
    Ok(posts)
}

/// The feeds with a non-empty pool, sorted: the registry's feeds whose
/// pool has posts (the pools live in slots of their own, so they are
/// asked one by one, concurrently).
pub(crate) async fn feeds(conn: &Conn, keys: &Keys) -> Result<Vec<String>, RedisStoreError> {
    let registered: Vec<String> = conn.clone().smembers(&keys.pool_feeds).await?;
    let sizes = registered.iter().map(|feed| {
        let mut conn = conn.clone();
        let pool = keys.pool(feed);
        async move { conn.zcard::<_, u64>(pool).await }
    });
    let sizes = futures::future::try_join_all(sizes).await?;
    let mut feeds: Vec<String> = registered
        .into_iter()
        .zip(sizes)
        .filter(|(_, size)| *size > 0)
        .map(|(feed, _)| feed)
        .collect();
    feeds.sort_unstable();
    Ok(feeds)
}
