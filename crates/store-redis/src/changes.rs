//! `changes_since`: the numbered changes to the live likes and the posts.
//! A like change is a record of the like log; a post change is an entry
//! of one stream whose entry IDs are the change numbers (`SEQ-0`), written
//! by the apply script and trimmed to the newest `changes_kept`. Both are
//! read by one script, so they are one consistent sequence.

use std::sync::LazyLock;

use feedmixer_store::like_log::Records;
use feedmixer_store::{
    Change, Changes, LikeChange, PostChange, PostChangeKind, StoreError, post_codec,
};
use redis::Script;

use crate::conn::Conn;
use crate::error::backend;
use crate::keys::Keys;

/// Changes returned by one call at most, whatever the caller asks: one
/// read blocks Redis while it runs.
pub const CHANGES_PER_READ: usize = 10_000;
/// Changes kept by default: a replica further behind rebuilds from the
/// log.
pub const DEFAULT_CHANGES_KEPT: u64 = 1_000_000;

static READ: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/changes.lua")));

/// A stream entry: its ID and its field/value pairs.
type Entry = (String, Vec<Vec<u8>>);

/// What `lua/changes.lua` returns: the newest number, the oldest kept,
/// the post changes, the like chunks and whether chunks were left out.
type Read = (Option<u64>, Option<u64>, Vec<Entry>, Vec<Vec<u8>>, u8);

pub(crate) async fn since(
    conn: &mut Conn,
    keys: &Keys,
    after: u64,
    max: usize,
) -> Result<Changes, StoreError> {
    let asked = max;
    let max = max.clamp(1, CHANGES_PER_READ);
    let (version, from, entries, chunks, more): Read = READ
        .key(&keys.state)
        .key(&keys.changes)
        .key(&keys.like_chunks)
        // The script counts in doubles; no store numbers this far.
        .arg(after.min(1 << 52))
        .arg(max)
        .arg(&keys.like_chunk_prefix)
        .invoke_async(conn)
        .await
        .map_err(backend)?;
    if version.unwrap_or(0) <= after {
        return Ok(Changes::Since(Vec::new()));
    }
    // The changes kept must start at or before `after + 1`.
    if after.saturating_add(1) < from.unwrap_or(0) {
        return Ok(Changes::Trimmed);
    }
    let mut out: Vec<Change> = entries.iter().map(decode).collect::<Result<_, _>>()?;
    // Each source holds every change after `after` up to its last when
    // it stopped early, and every one when it did not; past the lower of
    // those bounds one of them may have left some out.
    let mut complete_to = match out.last() {
        Some(last) if entries.len() >= max => last.seq(),
        _ => u64::MAX,
    };
    let mut last_like = after;
    for chunk in &chunks {
        for record in Records::new(chunk) {
            let record = record?;
            if record.seq > after {
                out.push(Change::Like(LikeChange {
                    seq: record.seq,
                    did: record.did.to_string(),
                    subject: record.subject.to_string(),
                    time_us: record.time_us,
                    added: record.added,
                }));
            }
            last_like = last_like.max(record.seq);
        }
    }
    if more == 1 {
        complete_to = complete_to.min(last_like);
    }
    out.retain(|change| change.seq() <= complete_to);
    out.sort_unstable_by_key(Change::seq);
    out.truncate(max.min(asked));
    Ok(Changes::Since(out))
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(format!("change: {what}"))
}

/// The change number of a stream entry ID.
fn seq(id: &str) -> Result<u64, StoreError> {
    id.strip_suffix("-0")
        .and_then(|seq| seq.parse().ok())
        .ok_or_else(|| corrupt(format!("entry ID {id}")))
}

fn decode((id, fields): &Entry) -> Result<Change, StoreError> {
    let field = |name: &[u8]| -> Option<&Vec<u8>> {
        fields
            .chunks(2)
            .find(|pair| pair[0] == name)
            .and_then(|pair| pair.get(1))
    };
    let text = |name: &[u8]| -> Result<String, StoreError> {
        let value =
            field(name).ok_or_else(|| corrupt(format!("{id} has no {}", name.escape_ascii())))?;
        String::from_utf8(value.clone()).map_err(|_| corrupt(format!("{id} is not UTF-8")))
    };
    let time = text(b"t")?;
    let seq = seq(id)?;
    let did = text(b"d")?;
    let time_us = time
        .parse()
        .map_err(|_| corrupt(format!("{id} has time {time}")))?;
    let kind = match text(b"k")?.as_str() {
        "p+" => PostChangeKind::Added(post_codec::decode(&text(b"p")?)?),
        "p-" => PostChangeKind::Removed,
        "a-" => PostChangeKind::AccountDeleted,
        "h-" => PostChangeKind::AccountHidden,
        "h+" => PostChangeKind::AccountRevealed,
        other => return Err(corrupt(format!("{id} has kind {other}"))),
    };
    Ok(Change::Post(PostChange {
        seq,
        did,
        rkey: text(b"r")?,
        time_us,
        kind,
    }))
}
