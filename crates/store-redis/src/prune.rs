//! `prune`: what lies before the horizon, in chunks, each chunk one atomic
//! script (`lua/prune.lua`) over candidates read just before it.

use std::collections::HashMap;
use std::sync::LazyLock;

use feedmixer_store::PruneStats;
use redis::{AsyncCommands, Script};

use crate::RedisStoreError;
use crate::conn::Conn;
use crate::keys::{self, Keys, decode_deleted_account, decode_member, decode_tombstone, time20};

/// Likes per script call at most, and as many tombstones and account
/// deletions: like an apply chunk, a call blocks Redis for milliseconds.
pub const PRUNE_CHUNK: usize = 1_000;

static PRUNE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/prune.lua")));

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
    let mut left = [max; 3];
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
        // Replaced tombstones went with their likes, outside the budget
        // of tombstones.
        for (left, done) in
            left.iter_mut()
                .zip([chunk.likes, chunk.tombstones - replaced, chunk.accounts])
        {
            *left = left.saturating_sub(done as usize);
        }
        let progress = chunk.likes + chunk.tombstones + chunk.accounts > 0;
        stats.add(&chunk);
        if !chunk.more || !progress || left == [0; 3] {
            break;
        }
    }
    Ok(stats)
}

/// The oldest members before the horizon of the log, the tombstones and
/// the account deletions, at most a chunk and what is `left` of each.
async fn read_candidates(
    conn: &mut Conn,
    keys: &Keys,
    horizon: &str,
    left: [usize; 3],
) -> Result<[Vec<Vec<u8>>; 3], RedisStoreError> {
    let end = format!("({horizon}");
    let mut pipe = redis::pipe();
    for (key, left) in [&keys.log, &keys.tombstones, &keys.deleted_accounts]
        .into_iter()
        .zip(left)
    {
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
    let mut read: [Vec<Vec<u8>>; 3] = pipe.query_async(conn).await?;
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

/// Prunes the candidates; returns what went, and how many of the
/// tombstones counted were replaced by pruned likes' newer ones.
async fn prune_chunk(
    conn: &mut Conn,
    keys: &Keys,
    horizon: &str,
    [likes, tombstones, accounts]: &[Vec<Vec<u8>>; 3],
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
    let mut like_args = Vec::with_capacity(likes.len());
    for member in likes {
        let like = decode_member(member).ok_or_else(|| corrupt("like log", member))?;
        like_args.push((number(&like.did), like.rkey.into_owned(), member));
    }
    let mut tombstone_args = Vec::with_capacity(tombstones.len());
    for member in tombstones {
        let (did, rkey) = decode_tombstone(member).ok_or_else(|| corrupt("tombstone", member))?;
        tombstone_args.push((number(did), rkey.to_owned(), member));
    }
    let mut account_args = Vec::with_capacity(accounts.len());
    for member in accounts {
        let did =
            decode_deleted_account(member).ok_or_else(|| corrupt("deleted account", member))?;
        account_args.push((number(did), member));
    }

    let mut invocation = PRUNE.prepare_invoke();
    invocation
        .key(&keys.log)
        .key(&keys.state)
        .key(&keys.tombstones)
        .key(&keys.deleted_accounts);
    for did in &dids {
        invocation.key(keys.did(did));
    }
    invocation
        .arg(horizon)
        .arg(dids.len())
        .arg(&dids)
        .arg(like_args.len())
        .arg(tombstone_args.len())
        .arg(account_args.len());
    for (j, rkey, member) in like_args.iter().chain(&tombstone_args) {
        invocation.arg(*j).arg(rkey).arg(member.as_slice());
    }
    for (j, member) in &account_args {
        invocation.arg(*j).arg(member.as_slice());
    }
    let counts: Vec<u64> = invocation.invoke_async(conn).await?;
    let [likes, tombstones, replaced, accounts, more] = counts[..] else {
        return Err(RedisStoreError::Reply(format!(
            "prune script returned {} counts, not 5",
            counts.len()
        )));
    };
    Ok((
        PruneStats {
            likes,
            tombstones: tombstones + replaced,
            accounts,
            more: more == 1,
            ..PruneStats::default()
        },
        replaced,
    ))
}
