//! `apply`: repository events (likes, posts, account deletions and
//! statuses) in chunks,
//! each chunk one atomic script call (the rules are in `lua/apply.lua`,
//! the keys in KEYS.md).

use std::collections::HashMap;
use std::sync::LazyLock;

use feedmixer_store::{ApplyStats, DidRef, RepoEvent, RkeyRef, SubjectRef, like_log, post_codec};
use redis::{Script, ScriptInvocation};

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

/// The apply script's call for events of `dids` (in event order, repeats
/// allowed): its keys and leading arguments, and each DID's number.
pub(crate) fn invocation<'d>(
    keys: &Keys,
    dids: &[&'d str],
    changes_kept: u64,
) -> (ScriptInvocation<'static>, HashMap<&'d str, usize>) {
    let mut invocation = APPLY.prepare_invoke();
    invocation
        .key(&keys.like_chunks)
        .key(&keys.state)
        .key(&keys.changes)
        .key(&keys.tombstones)
        .key(&keys.deleted_accounts)
        .key(&keys.posts)
        .key(&keys.post_tombstones)
        .key(&keys.account_statuses)
        .key(&keys.like_chunks_due);
    // Each DID's number (1-based), in the order of its key.
    let mut numbered: Vec<&str> = Vec::new();
    let mut did_number: HashMap<&str, usize> = HashMap::new();
    for &did in dids {
        did_number.entry(did).or_insert_with(|| {
            invocation.key(keys.did(did));
            numbered.push(did);
            numbered.len()
        });
    }
    invocation
        .arg(changes_kept)
        .arg(&keys.like_chunk_prefix)
        .arg(&keys.like_dead_prefix)
        .arg(numbered.len())
        .arg(&numbered);
    (invocation, did_number)
}

async fn apply_chunk(
    conn: &mut Conn,
    keys: &Keys,
    events: &[&RepoEvent],
    changes_kept: u64,
) -> Result<ApplyStats, RedisStoreError> {
    let dids: Vec<&str> = events.iter().map(|event| event.did()).collect();
    let (mut invocation, did_number) = invocation(keys, &dids, changes_kept);
    let mut record = Vec::with_capacity(2 * like_log::RECORD_BYTES);
    for event in events {
        let index = did_number[event.did()];
        match event {
            RepoEvent::LikeCreate {
                did,
                rkey,
                subject,
                time_us,
            } => {
                record.clear();
                like_log::encode_one(
                    &like_log::Record {
                        added: true,
                        // The script numbers it.
                        seq: 0,
                        time_us: *time_us,
                        did: DidRef::parse(did),
                        rkey: Some(RkeyRef::parse(rkey)),
                        subject: SubjectRef::parse(subject),
                    },
                    &mut record,
                );
                invocation
                    .arg("c")
                    .arg(index)
                    .arg(rkey)
                    .arg(time20(*time_us))
                    .arg(record.as_slice())
            }
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
        _migrated,
    ] = counts[..]
    else {
        return Err(RedisStoreError::Reply(format!(
            "apply script returned {} counts, not 13",
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
