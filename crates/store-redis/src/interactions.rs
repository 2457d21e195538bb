//! Viewers' interaction histories: a sorted set per viewer, merged by a
//! script (`lua/interactions.lua`) and expiring by itself.

use std::sync::LazyLock;

use feedmixer_atproto::InteractionEvent;
use feedmixer_store::{Interaction, InteractionLimits, StoreError};
use redis::Script;

use crate::RedisStoreError;
use crate::conn::Conn;
use crate::error::backend;
use crate::keys::Keys;

static ADD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/interactions.lua")));

fn member(interaction: &Interaction) -> Vec<u8> {
    let mut member = Vec::with_capacity(1 + interaction.item.len());
    member.push(interaction.event.code());
    member.extend_from_slice(interaction.item.as_bytes());
    member
}

/// Merges `items` into the viewer's history; the caller has [`checks`](feedmixer_store::checks)-ed
/// them.
pub(crate) async fn add(
    conn: &mut Conn,
    keys: &Keys,
    viewer: &str,
    items: &[Interaction],
    limits: InteractionLimits,
    now_us: u64,
) -> Result<(), RedisStoreError> {
    let cutoff = now_us.saturating_sub(limits.ttl_us);
    // ZREMRANGEBYRANK 0 -(max + 1) removes all but the newest `max`.
    let keep = i64::try_from(limits.max_per_viewer).unwrap_or(i64::MAX - 1);
    let stop = -keep.min(i64::MAX - 1) - 1;
    let mut invocation = ADD.key(keys.interactions(viewer));
    invocation
        .arg(cutoff)
        .arg(stop)
        .arg(now_us)
        .arg(limits.ttl_us);
    for item in items {
        invocation.arg(item.time_us).arg(member(item));
    }
    let _: i64 = invocation.invoke_async(conn).await?;
    Ok(())
}

/// The viewer's interactions from `since_us` on, newest first.
pub(crate) async fn read(
    conn: &mut Conn,
    keys: &Keys,
    viewer: &str,
    since_us: u64,
) -> Result<Vec<Interaction>, StoreError> {
    let entries: Vec<(Vec<u8>, f64)> = redis::cmd("ZRANGE")
        .arg(keys.interactions(viewer))
        .arg("+inf")
        .arg(since_us)
        .arg("BYSCORE")
        .arg("REV")
        .arg("WITHSCORES")
        .query_async(conn)
        .await
        .map_err(backend)?;
    entries
        .into_iter()
        .map(|(member, time_us)| decode(&member, time_us))
        .collect()
}

fn decode(member: &[u8], time_us: f64) -> Result<Interaction, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("interaction history: {what}"));
    let (&code, item) = member.split_first().ok_or_else(|| corrupt("empty entry"))?;
    let event = InteractionEvent::from_code(code).ok_or_else(|| corrupt("unknown event"))?;
    let item = std::str::from_utf8(item).map_err(|_| corrupt("URI is not UTF-8"))?;
    Ok(Interaction {
        item: item.to_owned(),
        event,
        // Scores are doubles: exact up to 2^53 µs (the year 2255).
        time_us: time_us as u64,
    })
}
