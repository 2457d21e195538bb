//! Schema 1 to 2: the like log's sorted set becomes chunks of packed
//! records (KEYS.md, *Schema versions*).
//!
//! The store is stamped version 2, with `migrating` set, before anything
//! moves, so an older feedmixer refuses it from the start. Then the oldest
//! members of `{P}:log` move a thousand at a time, each step one call of
//! the apply script (its `m` op): each like is appended to the chunks,
//! its field in the DID state points at its record (its newest time kept),
//! and its member leaves `{P}:log`. A step is atomic, so a migration cut
//! short goes on at the next start from the members left. Last, the
//! numbered changes of schema 1 go (a follower rebuilds from the log) and
//! `migrating` is cleared.

use std::time::Instant;

use feedmixer_store::{DidRef, MigrationProgress, RkeyRef, SubjectRef, like_log};
use redis::AsyncCommands;

use crate::RedisStoreError;
use crate::conn::Conn;
use crate::keys::{self, Keys, decode_member, time20};

/// Likes moved per step.
const STEP: usize = 1_000;

/// Field of `{P}:state` set while a migration is under way.
pub(crate) const MIGRATING_FIELD: &str = "migrating";

/// Marks the store as version 2 being converted; the caller saw
/// version 1.
pub(crate) async fn begin(conn: &mut Conn, keys: &Keys) -> Result<(), RedisStoreError> {
    let _: () = redis::pipe()
        .atomic()
        .hset(&keys.state, MIGRATING_FIELD, 1)
        .hset(&keys.state, keys::SCHEMA_VERSION_FIELD, 2)
        .query_async(conn)
        .await?;
    Ok(())
}

/// True when a migration was begun and not finished.
pub(crate) async fn under_way(conn: &mut Conn, keys: &Keys) -> Result<bool, RedisStoreError> {
    let flag: Option<u8> = conn.hget(&keys.state, MIGRATING_FIELD).await?;
    Ok(flag.is_some())
}

/// Moves every like of `{P}:log` to the chunks, telling `progress` after
/// every step, then finishes.
pub(crate) async fn run(
    conn: &mut Conn,
    keys: &Keys,
    progress: &mut (dyn FnMut(MigrationProgress) + Send),
) -> Result<(), RedisStoreError> {
    let total: u64 = conn.zcard(&keys.v1_log).await?;
    tracing::info!(
        likes = total,
        prefix = keys.prefix(),
        "converting the redis store to schema version 2"
    );
    let started = Instant::now();
    let mut logged = Instant::now();
    let mut moved = 0;
    loop {
        let members: Vec<Vec<u8>> = redis::cmd("ZRANGE")
            .arg(&keys.v1_log)
            .arg("-")
            .arg("+")
            .arg("BYLEX")
            .arg("LIMIT")
            .arg(0)
            .arg(STEP)
            .query_async(conn)
            .await?;
        if members.is_empty() {
            break;
        }
        moved += step(conn, keys, &members).await?;
        progress(MigrationProgress {
            moved,
            total: total.max(moved),
        });
        if logged.elapsed().as_secs() >= 10 {
            tracing::info!(moved, total, "converting the redis store");
            logged = Instant::now();
        }
    }
    // Schema 1's changes hold likes as stream entries; followers rebuild
    // from the chunks instead.
    let version: Option<u64> = conn.hget(&keys.state, keys::LIKES_VERSION_FIELD).await?;
    let _: () = redis::pipe()
        .atomic()
        .del(&keys.changes)
        .hset(
            &keys.state,
            keys::CHANGES_FROM_FIELD,
            version.unwrap_or(0) + 1,
        )
        .hdel(&keys.state, &["likers", MIGRATING_FIELD])
        .query_async(conn)
        .await?;
    tracing::info!(
        moved,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "converted the redis store to schema version 2"
    );
    Ok(())
}

/// Moves the likes of `members` (schema 1 log members); returns how many.
async fn step(conn: &mut Conn, keys: &Keys, members: &[Vec<u8>]) -> Result<u64, RedisStoreError> {
    let likes = members
        .iter()
        .map(|member| {
            decode_member(member).ok_or_else(|| {
                RedisStoreError::Reply(format!(
                    "schema 1 like log member {:?}",
                    String::from_utf8_lossy(member)
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let dids: Vec<&str> = likes.iter().map(|like| like.did.as_ref()).collect();
    // The changes are dropped at the end: keep them all until then.
    let (mut invocation, did_number) = crate::apply::invocation(keys, &dids, u64::MAX >> 12);
    let mut record = Vec::with_capacity(2 * like_log::RECORD_BYTES);
    for (like, member) in likes.iter().zip(members) {
        record.clear();
        like_log::encode_one(
            &like_log::Record {
                added: true,
                seq: 0,
                time_us: like.time_us,
                did: DidRef::parse(&like.did),
                rkey: Some(RkeyRef::parse(&like.rkey)),
                subject: SubjectRef::parse(like.value),
            },
            &mut record,
        );
        invocation
            .arg("m")
            .arg(did_number[like.did.as_ref()])
            .arg(like.rkey.as_ref())
            .arg(time20(like.time_us))
            .arg(record.as_slice())
            .arg(member.as_slice());
    }
    let counts: Vec<u64> = invocation.invoke_async(conn).await?;
    counts
        .last()
        .copied()
        .filter(|_| counts.len() == 13)
        .ok_or_else(|| {
            RedisStoreError::Reply(format!(
                "apply script returned {} counts, not 13",
                counts.len()
            ))
        })
}
