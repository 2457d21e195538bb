//! `scan_likes` and `scan_posts`: a log read in chunks by member order,
//! the next chunk read while the sink takes the current one; and
//! `scan_removed_posts`, the post tombstones and account deletions read
//! the same way from their indexes.

use feedmixer_store::{
    LikeSink, PostRef, PostSink, RemovedRef, RemovedSink, StoreError, post_codec,
};
use redis::RedisResult;

use crate::conn::Conn;
use crate::error::backend;
use crate::keys::{
    Keys, decode_account_status, decode_deleted_account, decode_member, decode_tombstone, time20,
};
use crate::like_chunks::{self, Chunk};

/// Members per read of the sorted sets scanned (the post log, the
/// deletion indexes): a millisecond or two of Redis time per read. The
/// like log is read a chunk (up to 256 KiB) at a time.
pub const SCAN_CHUNK_LIKES: usize = 5_000;

/// Calls `sink` for every live like from `since_us` on, in log order,
/// chunk by chunk, the next chunk read while the sink takes the current
/// one; chunks the log gained meanwhile are read too. See KEYS.md for what
/// a scan sees of concurrent writes.
pub(crate) async fn scan(
    conn: &Conn,
    keys: &Keys,
    since_us: u64,
    sink: &mut LikeSink<'_>,
) -> Result<u64, StoreError> {
    let mut delivered = 0;
    let mut done: Option<u64> = None;
    loop {
        let chunks: Vec<u64> = like_chunks::list(conn, keys)
            .await?
            .into_iter()
            .filter(|(n, meta)| {
                done.is_none_or(|done| *n > done)
                    && meta.max_us.saturating_add(1_000_000) >= since_us
            })
            .map(|(n, _)| n)
            .collect();
        if chunks.is_empty() {
            return Ok(delivered);
        }
        let mut next = chunks
            .iter()
            .map(|&n| read_like_chunk(conn.clone(), keys.clone(), n));
        let mut pending = next.next();
        while let Some(reading) = pending.take() {
            let chunk = reading.await?.map_err(backend)?;
            pending = next.next();
            for item in chunk.live() {
                let (_, record) = item?;
                let like = record.like().expect("a live record adds a like");
                if like.time_us >= since_us {
                    sink(like);
                    delivered += 1;
                }
            }
        }
        done = chunks.last().copied();
    }
}

/// Reads like chunk `n` in a task of its own, so that it runs while the
/// caller delivers.
fn read_like_chunk(
    mut conn: Conn,
    keys: Keys,
    n: u64,
) -> tokio::task::JoinHandle<RedisResult<Chunk>> {
    tokio::spawn(async move { Chunk::read(&mut conn, &keys, n).await })
}

/// Calls `sink` for every post from `since_us` on, in log order, as
/// [`scan`] does for likes.
pub(crate) async fn scan_posts(
    conn: &Conn,
    keys: &Keys,
    since_us: u64,
    sink: &mut PostSink<'_>,
) -> Result<u64, StoreError> {
    scan_set(conn, &keys.posts, since_start(since_us), &mut |member| {
        let row = decode_member(member).ok_or_else(|| corrupt("post log", member))?;
        let post = post_codec::decode(row.value)?;
        sink(PostRef {
            did: &row.did,
            rkey: &row.rkey,
            time_us: row.time_us,
            post: &post,
        });
        Ok(())
    })
    .await
}

/// Calls `sink` for every post tombstone, then every account deletion,
/// then every inactive account, each in the order of their times.
pub(crate) async fn scan_removed(
    conn: &Conn,
    keys: &Keys,
    sink: &mut RemovedSink<'_>,
) -> Result<u64, StoreError> {
    let posts = scan_set(conn, &keys.post_tombstones, b"-".to_vec(), &mut |member| {
        let (did, rkey) =
            decode_tombstone(member).ok_or_else(|| corrupt("post tombstone", member))?;
        sink(RemovedRef::Post { did, rkey });
        Ok(())
    })
    .await?;
    let accounts = scan_set(conn, &keys.deleted_accounts, b"-".to_vec(), &mut |member| {
        let did =
            decode_deleted_account(member).ok_or_else(|| corrupt("deleted account", member))?;
        sink(RemovedRef::Account { did });
        Ok(())
    })
    .await?;
    let mut hidden = 0;
    scan_set(conn, &keys.account_statuses, b"-".to_vec(), &mut |member| {
        let (is_hidden, did) =
            decode_account_status(member).ok_or_else(|| corrupt("account status", member))?;
        if is_hidden {
            sink(RemovedRef::Hidden { did });
            hidden += 1;
        }
        Ok(())
    })
    .await?;
    Ok(posts + accounts + hidden)
}

/// The `ZRANGE BYLEX` start of the members logged at `since_us` or later.
fn since_start(since_us: u64) -> Vec<u8> {
    let mut start = b"[".to_vec();
    start.extend_from_slice(time20(since_us).as_bytes());
    start
}

fn corrupt(what: &str, member: &[u8]) -> StoreError {
    StoreError::Corrupt(format!(
        "{what} member {:?}",
        String::from_utf8_lossy(member)
    ))
}

/// Calls `take` for every member of the sorted set `key` (every score 0)
/// from the `ZRANGE BYLEX` bound `start` on, in member order, chunk by
/// chunk; returns how many it took. Stops at the first error `take`
/// returns.
async fn scan_set(
    conn: &Conn,
    key: &str,
    start: Vec<u8>,
    take: &mut (dyn FnMut(&[u8]) -> Result<(), StoreError> + Send),
) -> Result<u64, StoreError> {
    let mut pending = Some(read_chunk(conn.clone(), key.to_owned(), start));
    let mut delivered = 0;
    while let Some(reading) = pending.take() {
        let chunk = reading.await?.map_err(backend)?;
        if chunk.len() >= SCAN_CHUNK_LIKES {
            // Exclusive: the next chunk starts right after this one's last
            // member.
            let mut next = b"(".to_vec();
            next.extend_from_slice(chunk.last().expect("a full chunk"));
            pending = Some(read_chunk(conn.clone(), key.to_owned(), next));
        }
        for member in &chunk {
            take(member)?;
            delivered += 1;
        }
    }
    Ok(delivered)
}

/// Reads the chunk of members from `start` (a `ZRANGE BYLEX` bound) on,
/// in a task of its own so that it runs while the caller delivers.
fn read_chunk(
    mut conn: Conn,
    key: String,
    start: Vec<u8>,
) -> tokio::task::JoinHandle<RedisResult<Vec<Vec<u8>>>> {
    tokio::spawn(async move {
        redis::cmd("ZRANGE")
            .arg(key)
            .arg(start)
            .arg("+")
            .arg("BYLEX")
            .arg("LIMIT")
            .arg(0)
            .arg(SCAN_CHUNK_LIKES)
            .query_async(&mut conn)
            .await
    })
}
