//! The like log's chunks as the readers see them: each chunk's meta, its
//! records and the bitmap of its dead ones (KEYS.md, *The like log*).

use feedmixer_store::StoreError;
use feedmixer_store::like_log::{Record, Records};
use redis::AsyncCommands;

use crate::conn::Conn;
use crate::error::backend;
use crate::keys::Keys;

/// What `{P}:like-chunks` says of one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) first_seq: u64,
    pub(crate) last_seq: u64,
    /// The newest time of a record in it, rounded (the script counts in
    /// doubles): a bound for skipping, never for deciding.
    pub(crate) max_us: u64,
    pub(crate) records: u64,
}

impl Meta {
    /// Parses `first last max_us records bytes`.
    pub(crate) fn parse(text: &[u8]) -> Result<Meta, StoreError> {
        let corrupt = || {
            StoreError::Corrupt(format!(
                "like chunk meta {:?}",
                text.escape_ascii().to_string()
            ))
        };
        let text = std::str::from_utf8(text).map_err(|_| corrupt())?;
        let fields: Vec<u64> = text
            .split(' ')
            .map(|f| f.parse().map_err(|_| corrupt()))
            .collect::<Result<_, _>>()?;
        let [first_seq, last_seq, max_us, records, _bytes] = fields[..] else {
            return Err(corrupt());
        };
        Ok(Meta {
            first_seq,
            last_seq,
            max_us,
            records,
        })
    }
}

/// Every chunk's number and meta, oldest first.
pub(crate) async fn list(conn: &Conn, keys: &Keys) -> Result<Vec<(u64, Meta)>, StoreError> {
    let all: Vec<(String, Vec<u8>)> = conn
        .clone()
        .hgetall(&keys.like_chunks)
        .await
        .map_err(backend)?;
    let mut out = all
        .iter()
        .map(|(n, meta)| {
            let n = n
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("like chunk number {n:?}")))?;
            Ok((n, Meta::parse(meta)?))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    out.sort_unstable_by_key(|(n, _)| *n);
    Ok(out)
}

/// One chunk as read at one moment: its records and its dead bitmap.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    pub(crate) records: Vec<u8>,
    pub(crate) dead: Vec<u8>,
}

impl Chunk {
    /// Reads chunk `n` and its bitmap atomically.
    pub(crate) async fn read(conn: &mut Conn, keys: &Keys, n: u64) -> redis::RedisResult<Chunk> {
        let (records, dead): (Option<Vec<u8>>, Option<Vec<u8>>) = redis::pipe()
            .atomic()
            .get(keys.like_chunk(n))
            .get(keys.like_dead(n))
            .query_async(conn)
            .await?;
        Ok(Chunk {
            records: records.unwrap_or_default(),
            dead: dead.unwrap_or_default(),
        })
    }

    /// Reads chunk `n`, its bitmap and its meta atomically; `None` when
    /// the chunk is gone.
    pub(crate) async fn read_with_meta(
        conn: &mut Conn,
        keys: &Keys,
        n: u64,
    ) -> Result<Option<(Meta, Chunk)>, StoreError> {
        type Bytes = Option<Vec<u8>>;
        let (meta, records, dead): (Bytes, Bytes, Bytes) = redis::pipe()
            .atomic()
            .hget(&keys.like_chunks, n)
            .get(keys.like_chunk(n))
            .get(keys.like_dead(n))
            .query_async(conn)
            .await
            .map_err(backend)?;
        let Some(meta) = meta else {
            return Ok(None);
        };
        let chunk = Chunk {
            records: records.unwrap_or_default(),
            dead: dead.unwrap_or_default(),
        };
        Ok(Some((Meta::parse(&meta)?, chunk)))
    }

    /// True when the added record at `ordinal` was removed since.
    pub(crate) fn is_dead(&self, ordinal: usize) -> bool {
        // SETBIT numbers a byte's bits from its highest.
        self.dead
            .get(ordinal / 8)
            .is_some_and(|byte| byte & (0x80 >> (ordinal % 8)) != 0)
    }

    /// Every record with its ordinal, in log order.
    pub(crate) fn records(&self) -> impl Iterator<Item = Result<(usize, Record<'_>), StoreError>> {
        Records::new(&self.records)
            .enumerate()
            .map(|(i, record)| record.map(|record| (i, record)))
    }

    /// The likes added in this chunk and not removed since, with their
    /// ordinals.
    pub(crate) fn live(&self) -> impl Iterator<Item = Result<(usize, Record<'_>), StoreError>> {
        self.records().filter(|item| match item {
            Ok((i, record)) => record.added && !self.is_dead(*i),
            Err(_) => true,
        })
    }
}
