//! The feeds' candidate pools: a sorted set per feed, each update one
//! script (`lua/pool.lua`), and a registry of the feeds.

use std::sync::LazyLock;

use feedmixer_store::{PoolStats, PoolUpdate};
use redis::{AsyncCommands, Script};

use crate::RedisStoreError;
use crate::conn::Conn;
use crate::keys::Keys;

static UPDATE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/pool.lua")));

/// Applies one pool update, stamping new posts `now_us`.
pub(crate) async fn update(
    conn: &mut Conn,
    keys: &Keys,
    update: &PoolUpdate,
    now_us: u64,
) -> Result<PoolStats, RedisStoreError> {
    if !update.add.is_empty() {
        // Before the pool, so that the registry always holds every feed
        // with a pool (it lives in another slot: no script spans both).
        let _: () = conn.sadd(&keys.pool_feeds, &update.feed).await?;
    }
    let mut invocation = UPDATE.key(keys.pool(&update.feed));
    invocation
        .arg(if update.replace { "1" } else { "0" })
        .arg(now_us)
        .arg(update.add.len())
        .arg(update.add.iter().collect::<Vec<_>>());
    if !update.replace {
        invocation.arg(update.remove.iter().collect::<Vec<_>>());
    }
    let (added, removed, size): (u64, u64, u64) = invocation.invoke_async(conn).await?;
    Ok(PoolStats {
        added,
        removed,
        size,
    })
}

/// The number of posts in `feed`'s pool.
pub(crate) async fn size(conn: &mut Conn, keys: &Keys, feed: &str) -> Result<u64, RedisStoreError> {
    Ok(conn.zcard(keys.pool(feed)).await?)
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
