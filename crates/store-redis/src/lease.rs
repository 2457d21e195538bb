//! Leases: one Redis string per lease (`{P:lease:NAME}`, a slot per
//! lease) holding its holder, with the lease's TTL; taken, renewed and
//! given up by compare-and-set scripts.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use crate::RedisStoreError;
use crate::conn::Conn;
use crate::keys::Keys;

/// The longest TTL set, about 2,000 years, as for cached values.
const MAX_TTL_MS: u64 = 1 << 46;

static ACQUIRE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/lease_acquire.lua")));
static RELEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/lease_release.lua")));

pub(crate) async fn acquire(
    conn: &mut Conn,
    keys: &Keys,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> Result<bool, RedisStoreError> {
    // Whole milliseconds, rounded up, at least one (PX 0 is an error).
    let ttl_ms = ttl
        .as_nanos()
        .div_ceil(1_000_000)
        .clamp(1, u128::from(MAX_TTL_MS)) as u64;
    let held: i64 = ACQUIRE
        .key(keys.lease(name))
        .arg(holder)
        .arg(ttl_ms)
        .invoke_async(conn)
        .await?;
    Ok(held == 1)
}

pub(crate) async fn release(
    conn: &mut Conn,
    keys: &Keys,
    name: &str,
    holder: &str,
) -> Result<(), RedisStoreError> {
    let _: i64 = RELEASE
        .key(keys.lease(name))
        .arg(holder)
        .invoke_async(conn)
        .await?;
    Ok(())
}
