//! `scan_likes`: the log read in chunks by member order, the next chunk
//! read while the sink takes the current one.

use feedmixer_store::{LikeRef, LikeSink, StoreError};
use redis::RedisResult;

use crate::conn::Conn;
use crate::error::backend;
use crate::keys::{Keys, decode_member, time20};

/// Likes per read: about 700 KiB of members, a millisecond or two of
/// Redis time per read.
pub const SCAN_CHUNK_LIKES: usize = 5_000;

/// Calls `sink` for every like from `since_us` on, in log order; see
/// KEYS.md for what a scan sees of concurrent writes.
pub(crate) async fn scan(
    conn: &Conn,
    keys: &Keys,
    since_us: u64,
    sink: &mut LikeSink<'_>,
) -> Result<u64, StoreError> {
    let mut start = b"[".to_vec();
    start.extend_from_slice(time20(since_us).as_bytes());
    let mut pending = Some(read_chunk(conn.clone(), keys.log.clone(), start));
    let mut delivered = 0;
    while let Some(reading) = pending.take() {
        let chunk = reading.await?.map_err(backend)?;
        if chunk.len() >= SCAN_CHUNK_LIKES {
            // Exclusive: the next chunk starts right after this one's last
            // member.
            let mut next = b"(".to_vec();
            next.extend_from_slice(chunk.last().expect("a full chunk"));
            pending = Some(read_chunk(conn.clone(), keys.log.clone(), next));
        }
        for member in &chunk {
            let like = decode_member(member).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "like log member {:?}",
                    String::from_utf8_lossy(member)
                ))
            })?;
            sink(LikeRef {
                did: &like.did,
                rkey: &like.rkey,
                subject: like.value,
                time_us: like.time_us,
            });
            delivered += 1;
        }
    }
    Ok(delivered)
}

/// Reads the chunk of members from `start` (a `ZRANGE BYLEX` bound) on,
/// in a task of its own so that it runs while the caller delivers.
fn read_chunk(
    mut conn: Conn,
    log: String,
    start: Vec<u8>,
) -> tokio::task::JoinHandle<RedisResult<Vec<Vec<u8>>>> {
    tokio::spawn(async move {
        redis::cmd("ZRANGE")
            .arg(log)
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
