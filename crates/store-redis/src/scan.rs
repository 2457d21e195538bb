//! `scan_likes` and `scan_posts`: a log read in chunks by member order,
//! the next chunk read while the sink takes the current one; and
//! `scan_removed_posts`, the post tombstones and account deletions read
//! the same way from their indexes.

use feedmixer_store::{
    DidRef, LikeRef, LikeSink, PostRef, PostSink, RemovedRef, RemovedSink, RkeyRef, StoreError,
    SubjectRef, post_codec,
};
use redis::RedisResult;

use crate::conn::Conn;
use crate::error::backend;
use crate::keys::{
    Keys, decode_account_status, decode_deleted_account, decode_member, decode_tombstone, time20,
};

/// Members per read, of the like log and of the other sorted sets scanned
/// (the post log, the deletion indexes): about 700 KiB of like members, a
/// millisecond or two of Redis time per read.
pub const SCAN_CHUNK_LIKES: usize = 5_000;

/// Calls `sink` for every like from `since_us` on, in log order; see
/// KEYS.md for what a scan sees of concurrent writes.
pub(crate) async fn scan(
    conn: &Conn,
    keys: &Keys,
    since_us: u64,
    sink: &mut LikeSink<'_>,
) -> Result<u64, StoreError> {
    scan_set(conn, &keys.log, since_start(since_us), &mut |member| {
        let like = decode_member(member).ok_or_else(|| corrupt("like log", member))?;
        sink(LikeRef {
            did: DidRef::parse(&like.did),
            rkey: RkeyRef::parse(&like.rkey),
            subject: SubjectRef::parse(like.value),
            time_us: like.time_us,
        });
        Ok(())
    })
    .await
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
