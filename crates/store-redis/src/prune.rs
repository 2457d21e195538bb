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

/// Likes per script call at most, and as many of each other kind (like
/// tombstones, posts, post tombstones, account deletions, account
/// statuses): like an apply
/// chunk, a call blocks Redis for milliseconds.
pub const PRUNE_CHUNK: usize = 1_000;

static PRUNE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/prune.lua")));

/// The kinds pruned, each bounded on its own, in the order of
/// [`Candidates`].
const KINDS: usize = 6;

/// The oldest members before the horizon of the like log, the like
/// tombstones, the post log, the post tombstones, the account deletions
/// and the account statuses.
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
    let horizon = time20(stored.max(before_us));
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
        // Replaced tombstones went with their records, outside the budget
        // of tombstones.
        let done = [
            chunk.likes,
            chunk.tombstones - replaced.likes,
            chunk.posts,
            chunk.post_tombstones - replaced.posts,
            chunk.accounts,
            chunk.account_statuses,
        ];
        for (left, done) in left.iter_mut().zip(done) {
            *left = left.saturating_sub(done as usize);
        }
        let progress = done.iter().any(|&done| done > 0) || replaced.likes + replaced.posts > 0;
        stats.add(&chunk);
        if !chunk.more || !progress || left == [0; KINDS] {
            break;
        }
    }
    Ok(stats)
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
        &keys.log,
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

/// Tombstones from before the horizon that pruned records' newer ones
/// replaced, per collection.
#[derive(Debug, Default, Clone, Copy)]
struct Replaced {
    likes: u64,
    posts: u64,
}

/// Prunes the candidates; returns what went, and how many of the
/// tombstones counted were replaced by pruned records' newer ones.
async fn prune_chunk(
    conn: &mut Conn,
    keys: &Keys,
    horizon: &str,
    [
        likes,
        tombstones,
        posts,
        post_tombstones,
        accounts,
        statuses,
    ]: &Candidates,
) -> Result<(PruneStats, Replaced), RedisStoreError> {
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
    let like_args = log_args(likes, "like log", &mut number)?;
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
        .key(&keys.log)
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
        .arg(like_args.len())
        .arg(like_tombstone_args.len())
        .arg(post_args.len())
        .arg(post_tombstone_args.len())
        .arg(account_args.len())
        .arg(status_args.len());
    for (j, rkey, member) in like_args
        .iter()
        .chain(&like_tombstone_args)
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
        likes,
        tombstones,
        replaced_tombstones,
        posts,
        post_tombstones,
        replaced_post_tombstones,
        accounts,
        account_statuses,
        more,
    ] = counts[..]
    else {
        return Err(RedisStoreError::Reply(format!(
            "prune script returned {} counts, not 9",
            counts.len()
        )));
    };
    Ok((
        PruneStats {
            likes,
            tombstones: tombstones + replaced_tombstones,
            accounts,
            posts,
            post_tombstones: post_tombstones + replaced_post_tombstones,
            account_statuses,
            more: more == 1,
        },
        Replaced {
            likes: replaced_tombstones,
            posts: replaced_post_tombstones,
        },
    ))
}
