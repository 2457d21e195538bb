//! `prune`: what lies before the horizon, in chunks, each chunk one atomic
//! script (`lua/prune.lua`) over candidates read just before it.

use std::collections::HashMap;
use std::sync::LazyLock;

use feedmixer_store::PruneStats;
use redis::{AsyncCommands, Script};

use crate::RedisStoreError;
use crate::conn::Conn;
use crate::keys::{
    self, Keys, decode_account_status, decode_deleted_account, decode_member, decode_tombstone,
    time20,
};
use crate::like_chunks::Chunk;

/// Likes per script call at most, and as many of each other kind (like
/// tombstones, posts, post tombstones, account deletions, account
/// statuses): like an apply
/// chunk, a call blocks Redis for milliseconds.
pub const PRUNE_CHUNK: usize = 1_000;

static PRUNE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/prune.lua")));
static PRUNE_LIKES: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/prune_likes.lua")));

/// The kinds pruned from sorted sets, each bounded on its own, in the
/// order of [`Candidates`]; likes are pruned from the log's chunks.
const KINDS: usize = 5;

/// The oldest members before the horizon of the like tombstones, the
/// post log, the post tombstones, the account deletions and the account
/// statuses.
type Candidates = [Vec<Vec<u8>>; KINDS];

/// Prunes before `max(horizon, before_us)`, at most `max` of each kind,
/// chunk by chunk (see [`feedmixer_store::Store::prune`]).
pub(crate) async fn prune(
    conn: &mut Conn,
    keys: &Keys,
    before_us: u64,
    max: usize,
) -> Result<PruneStats, RedisStoreError> {
    let stored: Option<String> = conn.hget(&keys.state, keys::PRUNED_BEFORE_FIELD).await?;
    let stored = match stored {
        None => 0,
        Some(t20) => t20
            .parse::<u64>()
            .map_err(|_| RedisStoreError::Reply(format!("prune horizon {t20:?}")))?,
    };
    let horizon_us = stored.max(before_us);
    let horizon = time20(horizon_us);
    let mut stats = PruneStats::default();
    let mut left = [max; KINDS];
    let mut first = true;
    loop {
        let candidates = read_candidates(conn, keys, &horizon, left).await?;
        // The first chunk runs whatever it finds: it records the horizon.
        if !std::mem::take(&mut first) && candidates.iter().all(Vec::is_empty) {
            // What remains is past the budget (or was taken by a
            // concurrent prune): `more` stays what the last chunk said.
            break;
        }
        let (chunk, replaced) = prune_chunk(conn, keys, &horizon, &candidates).await?;
        // Replaced post tombstones went with their posts, outside the
        // budget of post tombstones.
        let done = [
            chunk.tombstones,
            chunk.posts,
            chunk.post_tombstones - replaced,
            chunk.accounts,
            chunk.account_statuses,
        ];
        for (left, done) in left.iter_mut().zip(done) {
            *left = left.saturating_sub(done as usize);
        }
        let progress = done.iter().any(|&done| done > 0) || replaced > 0;
        stats.add(&chunk);
        if !chunk.more || !progress || left == [0; KINDS] {
            break;
        }
    }
    // The first chunk recorded the horizon: applies from now on find what
    // is before it stale, so no like is added there while the chunks are
    // read.
    let likes = prune_likes(conn, keys, horizon_us, &horizon, max).await?;
    stats.likes += likes.pruned;
    stats.tombstones += likes.replaced;
    stats.more |= likes.more;
    Ok(stats)
}

/// What pruning the like log's chunks did.
#[derive(Debug, Default)]
struct LikesPruned {
    pruned: u64,
    /// Tombstones from before the horizon that pruned likes' new ones
    /// replaced.
    replaced: u64,
    more: bool,
}

/// Chunks looked at per read of the due index.
const DUE_CHUNKS: isize = 64;

/// Prunes at most `max` likes from the chunks due before the horizon,
/// oldest due first, one script call per chunk (per [`PRUNE_CHUNK`]
/// likes of it).
async fn prune_likes(
    conn: &mut Conn,
    keys: &Keys,
    horizon_us: u64,
    horizon: &str,
    max: usize,
) -> Result<LikesPruned, RedisStoreError> {
    let mut out = LikesPruned::default();
    let mut left = max;
    let before = format!("({horizon_us}");
    let due: Vec<u64> = conn
        .zrangebyscore_limit(&keys.like_chunks_due, "-inf", &before, 0, DUE_CHUNKS)
        .await?;
    for n in due {
        if left == 0 {
            break;
        }
        let Some((meta, chunk)) = Chunk::read_with_meta(conn, keys, n)
            .await
            .map_err(|e| RedisStoreError::Reply(e.to_string()))?
        else {
            continue;
        };
        let mut candidates = Vec::new();
        let mut live_min: Option<u64> = None;
        let mut max_us = 0;
        let mut read = 0;
        for item in chunk.records() {
            let (ordinal, record) = item.map_err(|e| RedisStoreError::Reply(e.to_string()))?;
            read += 1;
            max_us = max_us.max(record.time_us);
            if !record.added || chunk.is_dead(ordinal) {
                continue;
            }
            if record.time_us < horizon_us {
                let rkey = record.rkey.expect("an addition has its record key");
                candidates.push((record.did.to_string(), rkey.to_string(), ordinal));
            } else {
                live_min = Some(live_min.map_or(record.time_us, |t| t.min(record.time_us)));
            }
        }
        if read != meta.records {
            // Appended to between the meta and the records: next time.
            out.more = true;
            continue;
        }
        let all = candidates.len() <= left;
        candidates.truncate(left);
        left -= candidates.len();
        // With the candidates gone, what is left to do here is due at
        // the oldest live like, or when the horizon passes the newest
        // record and the chunk can go.
        let settle = all.then(|| {
            let due = live_min.unwrap_or(max_us).max(horizon_us);
            (due, live_min.is_none() && max_us < horizon_us)
        });
        let pieces: Vec<_> = candidates.chunks(PRUNE_CHUNK).collect();
        let last = pieces.len().saturating_sub(1);
        for (k, piece) in pieces.iter().enumerate() {
            let (pruned, replaced) = prune_likes_call(
                conn,
                keys,
                horizon,
                n,
                read,
                if k == last { settle } else { None },
                piece,
            )
            .await?;
            out.pruned += pruned;
            out.replaced += replaced;
        }
        if pieces.is_empty() {
            prune_likes_call(conn, keys, horizon, n, read, settle, &[]).await?;
        }
        out.more |= !all;
    }
    let still: Vec<u64> = conn
        .zrangebyscore_limit(&keys.like_chunks_due, "-inf", &before, 0, 1)
        .await?;
    out.more |= !still.is_empty();
    Ok(out)
}

/// One call of `lua/prune_likes.lua` on chunk `n` (`read` records).
async fn prune_likes_call(
    conn: &mut Conn,
    keys: &Keys,
    horizon: &str,
    n: u64,
    read: u64,
    settle: Option<(u64, bool)>,
    candidates: &[(String, String, usize)],
) -> Result<(u64, u64), RedisStoreError> {
    let mut dids: Vec<&str> = Vec::new();
    let mut did_number: HashMap<&str, usize> = HashMap::new();
    let mut invocation = PRUNE_LIKES.prepare_invoke();
    invocation
        .key(&keys.state)
        .key(&keys.tombstones)
        .key(&keys.like_chunks)
        .key(&keys.like_chunks_due);
    let numbers: Vec<usize> = candidates
        .iter()
        .map(|(did, _, _)| {
            *did_number.entry(did).or_insert_with(|| {
                invocation.key(keys.did(did));
                dids.push(did);
                dids.len()
            })
        })
        .collect();
    let (due, goes) = match settle {
        Some((due, goes)) => (due.to_string(), if goes { "1" } else { "0" }),
        None => (String::new(), "0"),
    };
    invocation
        .arg(horizon)
        .arg(&keys.like_chunk_prefix)
        .arg(&keys.like_dead_prefix)
        .arg(n)
        .arg(read)
        .arg(due)
        .arg(goes)
        .arg(dids.len())
        .arg(&dids);
    for ((_, rkey, ordinal), j) in candidates.iter().zip(numbers) {
        invocation.arg(j).arg(rkey).arg(*ordinal);
    }
    let counts: Vec<u64> = invocation.invoke_async(conn).await?;
    match counts[..] {
        [pruned, replaced] => Ok((pruned, replaced)),
        _ => Err(RedisStoreError::Reply(format!(
            "prune_likes script returned {} counts, not 2",
            counts.len()
        ))),
    }
}

/// The oldest members before the horizon of each kind, at most a chunk
/// and what is `left` of each.
async fn read_candidates(
    conn: &mut Conn,
    keys: &Keys,
    horizon: &str,
    left: [usize; KINDS],
) -> Result<Candidates, RedisStoreError> {
    let end = format!("({horizon}");
    let mut pipe = redis::pipe();
    let sets = [
        &keys.tombstones,
        &keys.posts,
        &keys.post_tombstones,
        &keys.deleted_accounts,
        &keys.account_statuses,
    ];
    for (key, left) in sets.into_iter().zip(left) {
        // LIMIT 0 0 would mean no limit at all: ask for one and drop it.
        pipe.cmd("ZRANGE")
            .arg(key)
            .arg("-")
            .arg(&end)
            .arg("BYLEX")
            .arg("LIMIT")
            .arg(0)
            .arg(left.clamp(1, PRUNE_CHUNK));
    }
    let mut read: Candidates = pipe.query_async(conn).await?;
    for (members, left) in read.iter_mut().zip(left) {
        members.truncate(left.min(PRUNE_CHUNK));
    }
    Ok(read)
}

fn corrupt(what: &str, member: &[u8]) -> RedisStoreError {
    RedisStoreError::Reply(format!(
        "{what} member {:?}",
        String::from_utf8_lossy(member)
    ))
}

/// A candidate for the script: its DID's number, its record key, and its
/// member.
type RecordArg<'m> = (usize, String, &'m [u8]);

/// The log members `members` as script arguments.
fn log_args<'m>(
    members: &'m [Vec<u8>],
    what: &str,
    number: &mut impl FnMut(&str) -> usize,
) -> Result<Vec<RecordArg<'m>>, RedisStoreError> {
    members
        .iter()
        .map(|member| {
            let row = decode_member(member).ok_or_else(|| corrupt(what, member))?;
            Ok((number(&row.did), row.rkey.into_owned(), member.as_slice()))
        })
        .collect()
}

/// The tombstone index members `members` as script arguments.
fn tombstone_args<'m>(
    members: &'m [Vec<u8>],
    what: &str,
    number: &mut impl FnMut(&str) -> usize,
) -> Result<Vec<RecordArg<'m>>, RedisStoreError> {
    members
        .iter()
        .map(|member| {
            let (did, rkey) = decode_tombstone(member).ok_or_else(|| corrupt(what, member))?;
            Ok((number(did), rkey.to_owned(), member.as_slice()))
        })
        .collect()
}

/// Prunes the candidates; returns what went, and how many of the post
/// tombstones counted were replaced by pruned posts' newer ones.
async fn prune_chunk(
    conn: &mut Conn,
    keys: &Keys,
    horizon: &str,
    [tombstones, posts, post_tombstones, accounts, statuses]: &Candidates,
) -> Result<(PruneStats, u64), RedisStoreError> {
    // Each candidate as (its DID, what the script takes after the DID's
    // number).
    let mut dids: Vec<String> = Vec::new();
    let mut did_number: HashMap<String, usize> = HashMap::new();
    let mut number = |did: &str| -> usize {
        if let Some(&n) = did_number.get(did) {
            return n;
        }
        dids.push(did.to_owned());
        did_number.insert(did.to_owned(), dids.len());
        dids.len()
    };
    let like_tombstone_args = tombstone_args(tombstones, "tombstone", &mut number)?;
    let post_args = log_args(posts, "post log", &mut number)?;
    let post_tombstone_args = tombstone_args(post_tombstones, "post tombstone", &mut number)?;
    let mut account_args = Vec::with_capacity(accounts.len());
    for member in accounts {
        let did =
            decode_deleted_account(member).ok_or_else(|| corrupt("deleted account", member))?;
        account_args.push((number(did), member));
    }
    let mut status_args = Vec::with_capacity(statuses.len());
    for member in statuses {
        let (_, did) =
            decode_account_status(member).ok_or_else(|| corrupt("account status", member))?;
        status_args.push((number(did), member));
    }

    let mut invocation = PRUNE.prepare_invoke();
    invocation
        .key(&keys.like_chunks_due)
        .key(&keys.state)
        .key(&keys.tombstones)
        .key(&keys.deleted_accounts)
        .key(&keys.posts)
        .key(&keys.post_tombstones)
        .key(&keys.account_statuses);
    for did in &dids {
        invocation.key(keys.did(did));
    }
    invocation
        .arg(horizon)
        .arg(dids.len())
        .arg(&dids)
        .arg(like_tombstone_args.len())
        .arg(post_args.len())
        .arg(post_tombstone_args.len())
        .arg(account_args.len())
        .arg(status_args.len());
    for (j, rkey, member) in like_tombstone_args
        .iter()
        .chain(&post_args)
        .chain(&post_tombstone_args)
    {
        invocation.arg(*j).arg(rkey).arg(*member);
    }
    for (j, member) in account_args.iter().chain(&status_args) {
        invocation.arg(*j).arg(member.as_slice());
    }
    let counts: Vec<u64> = invocation.invoke_async(conn).await?;
    let [
        tombstones,
        posts,
        post_tombstones,
        replaced_post_tombstones,
        accounts,
        account_statuses,
        more,
    ] = counts[..]
    else {
        return Err(RedisStoreError::Reply(format!(
            "prune script returned {} counts, not 7",
            counts.len()
        )));
    };
    Ok((
        PruneStats {
            likes: 0,
            tombstones,
            accounts,
            posts,
            post_tombstones: post_tombstones + replaced_post_tombstones,
            account_statuses,
            more: more == 1,
        },
        replaced_post_tombstones,
    ))
}
