//! What followers read: the like records after a number, as changes.

use crate::StoreError;
use crate::embedded::schema::{LIKE_CHUNKS, LIKE_SEGMENTS};
use crate::like_log::Chunk;

/// The like records numbered after `after`, oldest first, at most `max`,
/// as changes.
pub(in crate::embedded) fn changes_after(
    txn: &redb::ReadTransaction,
    after: u64,
    max: usize,
) -> Result<Vec<crate::LikeChange>, StoreError> {
    let metas = txn.open_table(LIKE_CHUNKS)?;
    let segments = txn.open_table(LIKE_SEGMENTS)?;
    let mut out = Vec::new();
    // The chunk holding the first number after `after` starts at or before
    // it; every later chunk follows.
    let start = metas
        .range(..=after.saturating_add(1))?
        .next_back()
        .transpose()?
        .map_or(0, |(first, _)| first.value());
    for item in metas.range(start..)? {
        if out.len() >= max {
            break;
        }
        let (first, meta) = item?;
        if meta.value().0 <= after {
            continue;
        }
        let first = first.value();
        let stored = segments
            .get(first)?
            .ok_or_else(|| StoreError::Corrupt(format!("like chunk {first} missing")))?;
        let chunk = Chunk::parse(stored.value())?;
        for i in chunk.position(after.saturating_add(1))..chunk.len() {
            if out.len() >= max {
                break;
            }
            let record = chunk.record(i)?;
            out.push(crate::LikeChange {
                seq: record.seq,
                did: record.did.to_string(),
                subject: record.subject.to_string(),
                time_us: record.time_us,
                added: record.added,
            });
        }
    }
    Ok(out)
}
