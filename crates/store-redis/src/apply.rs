//! `apply`: repository events (likes, posts, account deletions and
//! statuses) in chunks,
//! each chunk one atomic script call (the rules are in `lua/apply.lua`,
//! the keys in KEYS.md).

use std::collections::HashMap;
use std::sync::LazyLock;

use feedmixer_store::{ApplyStats, RepoEvent, post_codec};
use redis::Script;

use crate::RedisStoreError;
use crate::conn::Conn;
use crate::keys::{Keys, log_member, time20};

/// Events per script call. A call blocks Redis while it runs: a thousand
/// new likes take about ten milliseconds (2 cores, Redis 7.0), short
/// enough for the other clients, and the keys and arguments of a call
/// stay small.
pub const APPLY_CHUNK_EVENTS: usize = 1_000;

static APPLY: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/apply.lua")));

/// Applies `events` DID by DID, each DID's events in their order, chunk
/// by chunk; each chunk is atomic. Every event touches only its DID's
/// state, so the outcome is that of applying in batch order; the changes
/// are numbered in this order, as the embedded store numbers them.
pub(crate) async fn apply(
    conn: &mut Conn,
    keys: &Keys,
    events: &[RepoEvent],
    changes_kept: u64,
) -> Result<ApplyStats, RedisStoreError> {
    let mut by_did: Vec<&RepoEvent> = events.iter().collect();
    // Stable: each DID's events keep their order.
    by_did.sort_by(|a, b| a.did().cmp(b.did()));
    let mut stats = ApplyStats::default();
    for chunk in by_did.chunks(APPLY_CHUNK_EVENTS) {
        stats.add(&apply_chunk(conn, keys, chunk, changes_kept).await?);
    }
    Ok(stats)
}

async fn apply_chunk(
    conn: &mut Conn,
    keys: &Keys,
    events: &[&RepoEvent],
    changes_kept: u64,
) -> Result<ApplyStats, RedisStoreError> {
    let mut invocation = APPLY.prepare_invoke();
    invocation
        .key(&keys.log)
        .key(&keys.state)
        .key(&keys.changes)
        .key(&keys.tombstones)
        .key(&keys.deleted_accounts)
        .key(&keys.posts)
        .key(&keys.post_tombstones)
        .key(&keys.account_statuses);
    // Each DID's number (1-based), in the order of its key.
    let mut dids: Vec<&str> = Vec::new();
    let mut did_number: HashMap<&str, usize> = HashMap::new();
    for event in events {
        let did = event.did();
        did_number.entry(did).or_insert_with(|| {
            invocation.key(keys.did(did));
            dids.push(did);
            dids.len()
        });
    }
    invocation.arg(changes_kept).arg(dids.len()).arg(&dids);
    for event in events {
        let index = did_number[event.did()];
        match event {
            RepoEvent::LikeCreate {
                did,
                rkey,
                subject,
                time_us,
            } => invocation
                .arg("c")
                .arg(index)
                .arg(rkey)
                .arg(time20(*time_us))
                .arg(log_member(*time_us, did, rkey, subject)),
            RepoEvent::LikeDelete { rkey, time_us, .. } => invocation
                .arg("d")
                .arg(index)
                .arg(rkey)
                .arg(time20(*time_us)),
            RepoEvent::AccountDeleted { time_us, .. } => {
                invocation.arg("a").arg(index).arg(time20(*time_us))
            }
            RepoEvent::PostCreate {
                did,
                rkey,
                time_us,
                post,
            } => invocation
                .arg("p")
                .arg(index)
                .arg(rkey)
                .arg(time20(*time_us))
                .arg(log_member(*time_us, did, rkey, &post_codec::encode(post))),
            RepoEvent::PostDelete { rkey, time_us, .. } => invocation
                .arg("q")
                .arg(index)
                .arg(rkey)
                .arg(time20(*time_us)),
            RepoEvent::AccountStatus {
                time_us, active, ..
            } => invocation
                .arg("s")
                .arg(index)
                .arg(time20(*time_us))
                .arg(if *active { "a" } else { "h" }),
        };
    }
    let counts: Vec<u64> = invocation.invoke_async(conn).await?;
    let [
        created,
        duplicates,
        deleted,
        missing_deletes,
        stale,
        accounts_deleted,
        likes_removed_by_account,
        posts_created,
        posts_deleted,
        posts_removed_by_account,
        accounts_hidden,
        accounts_revealed,
    ] = counts[..]
    else {
        return Err(RedisStoreError::Reply(format!(
            "apply script returned {} counts, not 12",
            counts.len()
        )));
    };
    let stats = ApplyStats {
        created,
        duplicates,
        deleted,
        missing_deletes,
        stale,
        accounts_deleted,
        likes_removed_by_account,
        posts_created,
        posts_deleted,
        posts_removed_by_account,
        accounts_hidden,
        accounts_revealed,
    };
    let counted = stats.events();
    if counted != events.len() as u64 {
        return Err(RedisStoreError::Reply(format!(
            "apply script counted {counted} of {} events",
            events.len()
        )));
    }
    Ok(stats)
}
