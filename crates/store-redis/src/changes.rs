//! `changes_since`: the numbered changes to the live likes and the posts,
//! one stream whose entry IDs are the change numbers (`SEQ-0`), written by
//! the apply script and trimmed to the newest `changes_kept`. A post
//! change has a field `k` (its kind), a like change none.

use std::sync::LazyLock;

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

pub(crate) async fn since(
    conn: &mut Conn,
    keys: &Keys,
    after: u64,
    max: usize,
) -> Result<Changes, StoreError> {
    let (version, oldest, entries): (Option<u64>, Vec<Entry>, Vec<Entry>) = READ
        .key(&keys.state)
        .key(&keys.changes)
        .arg(format!("{}-0", after.saturating_add(1)))
        .arg(max.clamp(1, CHANGES_PER_READ))
        .invoke_async(conn)
        .await
        .map_err(backend)?;
    if version.unwrap_or(0) <= after {
        return Ok(Changes::Since(Vec::new()));
    }
    // The kept tail must start right after `after`.
    let oldest = oldest.first().map(|(id, _)| seq(id)).transpose()?;
    if oldest.is_none_or(|oldest| oldest > after + 1) {
        return Ok(Changes::Trimmed);
    }
    entries
        .iter()
        .take(max)
        .map(decode)
        .collect::<Result<_, _>>()
        .map(Changes::Since)
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
    // Like changes, written before there were posts too, have no kind.
    if field(b"k").is_none() {
        return Ok(Change::Like(LikeChange {
            seq,
            did,
            subject: text(b"s")?,
            time_us,
            added: match text(b"a")?.as_str() {
                "1" => true,
                "0" => false,
                other => return Err(corrupt(format!("{id} has added {other}"))),
            },
        }));
    }
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
