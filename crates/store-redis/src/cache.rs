//! `cache_set` / `cache_get`: derived values with a time to live, one
//! Redis string per key (`{P:cache:KEY}`, a slot per key) that Redis
//! expires by itself.

use std::time::Duration;

use redis::AsyncCommands;

use crate::RedisStoreError;
use crate::conn::Conn;
use crate::keys::Keys;

/// The longest TTL set, about 2,000 years: Redis refuses an expiry time
/// past `i64` milliseconds, and the trait lets a backend drop an entry
/// early.
const MAX_TTL_MS: u64 = 1 << 46;

pub(crate) async fn set(
    conn: &mut Conn,
    keys: &Keys,
    key: &str,
    value: &[u8],
    ttl: Duration,
) -> Result<(), RedisStoreError> {
    let key = keys.cache(key);
    // Whole milliseconds, rounded up: a TTL below one still keeps the
    // value for a moment, as the embedded store does.
    let ttl_ms = ttl
        .as_nanos()
        .div_ceil(1_000_000)
        .min(u128::from(MAX_TTL_MS)) as u64;
    if ttl_ms == 0 {
        let _: () = conn.del(key).await?;
    } else {
        let _: () = conn.pset_ex(key, value, ttl_ms).await?;
    }
    Ok(())
}

pub(crate) async fn get(
    conn: &mut Conn,
    keys: &Keys,
    key: &str,
) -> Result<Option<Vec<u8>>, RedisStoreError> {
    Ok(conn.get(keys.cache(key)).await?)
}
