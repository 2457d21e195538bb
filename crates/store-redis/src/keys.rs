//! Key names and the byte encodings stored under them (see KEYS.md).

use std::borrow::Cow;

use crate::RedisStoreError;

/// Fields of `{P}:state`.
pub(crate) const SCHEMA_VERSION_FIELD: &str = "schema_version";
pub(crate) const LIKES_VERSION_FIELD: &str = "likes_version";
pub(crate) const PRUNED_BEFORE_FIELD: &str = "pruned_before";
pub(crate) const LIKE_COUNT_FIELD: &str = "like_count";
pub(crate) const CHANGES_FROM_FIELD: &str = "changes_from";

/// Ends a field of a log member; a NUL inside a field is written `00 FF`.
const FIELD_END: [u8; 2] = [0, 1];
const ESCAPED_NUL: [u8; 2] = [0, 0xFF];
/// Digits of a time in a log member or a script argument.
pub(crate) const TIME_DIGITS: usize = 20;

/// The names of the store's keys under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
    /// `{P}:log`, the like log of schema 1 (read by the migration).
    pub(crate) v1_log: String,
    /// `{P}:like-chunks`
    pub(crate) like_chunks: String,
    /// `{P}:like-chunks-due`
    pub(crate) like_chunks_due: String,
    /// `{P}:likes:`, which a chunk's number ends.
    pub(crate) like_chunk_prefix: String,
    /// `{P}:likes-dead:`, which a chunk's number ends.
    pub(crate) like_dead_prefix: String,
    /// `{P}:state`
    pub(crate) state: String,
    /// `{P}:changes`
    pub(crate) changes: String,
    /// `{P}:tombstones`
    pub(crate) tombstones: String,
    /// `{P}:deleted-accounts`
    pub(crate) deleted_accounts: String,
    /// `{P}:posts`
    pub(crate) posts: String,
    /// `{P}:post-tombstones`
    pub(crate) post_tombstones: String,
    /// `{P}:account-statuses`
    pub(crate) account_statuses: String,
    /// `{P}:meta`
    pub(crate) meta: String,
    /// `{P}:pool-feeds`
    pub(crate) pool_feeds: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Result<Self, RedisStoreError> {
        if prefix.is_empty() || prefix.contains(['{', '}']) {
            return Err(RedisStoreError::InvalidPrefix(prefix.to_owned()));
        }
        Ok(Keys {
            prefix: prefix.to_owned(),
            v1_log: format!("{{{prefix}}}:log"),
            like_chunks: format!("{{{prefix}}}:like-chunks"),
            like_chunks_due: format!("{{{prefix}}}:like-chunks-due"),
            like_chunk_prefix: format!("{{{prefix}}}:likes:"),
            like_dead_prefix: format!("{{{prefix}}}:likes-dead:"),
            state: format!("{{{prefix}}}:state"),
            changes: format!("{{{prefix}}}:changes"),
            tombstones: format!("{{{prefix}}}:tombstones"),
            deleted_accounts: format!("{{{prefix}}}:deleted-accounts"),
            posts: format!("{{{prefix}}}:posts"),
            post_tombstones: format!("{{{prefix}}}:post-tombstones"),
            account_statuses: format!("{{{prefix}}}:account-statuses"),
            meta: format!("{{{prefix}}}:meta"),
            pool_feeds: format!("{{{prefix}}}:pool-feeds"),
        })
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{P}:did:DID`, in the like log's slot.
    pub(crate) fn did(&self, did: &str) -> Vec<u8> {
        let mut key = format!("{{{}}}:did:", self.prefix).into_bytes();
        key.extend_from_slice(did.as_bytes());
        key
    }

    /// `{P}:likes:N`, like chunk `n`.
    pub(crate) fn like_chunk(&self, n: u64) -> String {
        format!("{}{n}", self.like_chunk_prefix)
    }

    /// `{P}:likes-dead:N`, the dead records of like chunk `n`.
    pub(crate) fn like_dead(&self, n: u64) -> String {
        format!("{}{n}", self.like_dead_prefix)
    }

    /// `{P:pool:FEED}`, a slot per feed.
    pub(crate) fn pool(&self, feed: &str) -> String {
        format!("{{{}:pool:{feed}}}", self.prefix)
    }

    /// `{P:cache:KEY}`, a slot per key.
    pub(crate) fn cache(&self, key: &str) -> String {
        format!("{{{}:cache:{key}}}", self.prefix)
    }

    /// `{P:ix:VIEWER}`, a slot per viewer.
    pub(crate) fn interactions(&self, viewer: &str) -> String {
        format!("{{{}:ix:{viewer}}}", self.prefix)
    }

    /// `{P:counters:GROUP}`, a slot per counter group.
    pub(crate) fn counters(&self, group: &str) -> String {
        format!("{{{}:counters:{group}}}", self.prefix)
    }

    /// `{P:lease:NAME}`, a slot per lease.
    pub(crate) fn lease(&self, name: &str) -> String {
        format!("{{{}:lease:{name}}}", self.prefix)
    }
}

/// A time as the scripts compare it: 20 zero-padded digits.
pub(crate) fn time20(time_us: u64) -> String {
    format!("{time_us:020}")
}

/// The log member of a record logged at `time_us`: in the like log,
/// `value` is the like's subject; in the post log, the stored post
/// (`post_codec`).
pub(crate) fn log_member(time_us: u64, did: &str, rkey: &str, value: &str) -> Vec<u8> {
    let mut member = Vec::with_capacity(TIME_DIGITS + did.len() + rkey.len() + value.len() + 4);
    member.extend_from_slice(time20(time_us).as_bytes());
    escape_into(&mut member, did);
    member.extend_from_slice(&FIELD_END);
    escape_into(&mut member, rkey);
    member.extend_from_slice(&FIELD_END);
    member.extend_from_slice(value.as_bytes());
    member
}

fn escape_into(out: &mut Vec<u8>, field: &str) {
    for &byte in field.as_bytes() {
        if byte == 0 {
            out.extend_from_slice(&ESCAPED_NUL);
        } else {
            out.push(byte);
        }
    }
}

/// A log member taken apart; borrows the member unless a field held a NUL.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DecodedMember<'a> {
    pub(crate) time_us: u64,
    pub(crate) did: Cow<'a, str>,
    pub(crate) rkey: Cow<'a, str>,
    /// A like's subject, or a post's stored form.
    pub(crate) value: &'a str,
}

/// Takes a log member apart; `None` for bytes [`log_member`] never writes.
pub(crate) fn decode_member(member: &[u8]) -> Option<DecodedMember<'_>> {
    let time_us = parse_time(member.get(..TIME_DIGITS)?)?;
    let (did, rest) = take_field(&member[TIME_DIGITS..])?;
    let (rkey, rest) = take_field(rest)?;
    Some(DecodedMember {
        time_us,
        did,
        rkey,
        value: std::str::from_utf8(rest).ok()?,
    })
}

/// Digits of a DID's length in a tombstone index member.
const DID_LENGTH_DIGITS: usize = 10;

/// The `{P}:tombstones` (or `{P}:post-tombstones`) member of the tombstone
/// of `(did, rkey)` recorded
/// at `time_us`: `T20 ‖ L10 ‖ did ‖ rkey`, `L10` the DID's length in
/// bytes. Written by the scripts; here for tests.
#[cfg(test)]
pub(crate) fn tombstone_member(time_us: u64, did: &str, rkey: &str) -> Vec<u8> {
    format!(
        "{}{:0width$}{did}{rkey}",
        time20(time_us),
        did.len(),
        width = DID_LENGTH_DIGITS
    )
    .into_bytes()
}

/// A `{P}:tombstones` or `{P}:post-tombstones` member taken apart: its DID and record key; `None`
/// for bytes the scripts never write.
pub(crate) fn decode_tombstone(member: &[u8]) -> Option<(&str, &str)> {
    parse_time(member.get(..TIME_DIGITS)?)?;
    let length = member.get(TIME_DIGITS..TIME_DIGITS + DID_LENGTH_DIGITS)?;
    if !length.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let length: usize = std::str::from_utf8(length).ok()?.parse().ok()?;
    let start = TIME_DIGITS + DID_LENGTH_DIGITS;
    let end = start.checked_add(length)?;
    let did = std::str::from_utf8(member.get(start..end)?).ok()?;
    let rkey = std::str::from_utf8(&member[end..]).ok()?;
    Some((did, rkey))
}

/// A `{P}:deleted-accounts` member (`T20 ‖ did`) taken apart: its DID.
pub(crate) fn decode_deleted_account(member: &[u8]) -> Option<&str> {
    parse_time(member.get(..TIME_DIGITS)?)?;
    std::str::from_utf8(&member[TIME_DIGITS..]).ok()
}

/// A `{P}:account-statuses` member (`T20 ‖ 'h' | 'a' ‖ did`) taken
/// apart: whether the account is hidden (inactive), and its DID.
pub(crate) fn decode_account_status(member: &[u8]) -> Option<(bool, &str)> {
    parse_time(member.get(..TIME_DIGITS)?)?;
    let hidden = match member.get(TIME_DIGITS)? {
        b'h' => true,
        b'a' => false,
        _ => return None,
    };
    let did = std::str::from_utf8(&member[TIME_DIGITS + 1..]).ok()?;
    Some((hidden, did))
}

fn parse_time(digits: &[u8]) -> Option<u64> {
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// One escaped field and what follows its end marker.
fn take_field(bytes: &[u8]) -> Option<(Cow<'_, str>, &[u8])> {
    let mut unescaped: Option<Vec<u8>> = None;
    let mut start = 0;
    let mut from = 0;
    loop {
        let nul = from + bytes[from..].iter().position(|&b| b == 0)?;
        match bytes.get(nul + 1)? {
            1 => {
                let field = match unescaped {
                    None => Cow::Borrowed(std::str::from_utf8(&bytes[..nul]).ok()?),
                    Some(mut owned) => {
                        owned.extend_from_slice(&bytes[start..nul]);
                        Cow::Owned(String::from_utf8(owned).ok()?)
                    }
                };
                return Some((field, &bytes[nul + 2..]));
            }
            0xFF => {
                let owned = unescaped.get_or_insert_with(Vec::new);
                owned.extend_from_slice(&bytes[start..nul]);
                owned.push(0);
                start = nul + 2;
                from = start;
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_round_trip_even_with_nul_bytes() {
        for (did, rkey, subject) in [
            ("did:plc:a", "3k", "at://did:plc:b/app.bsky.feed.post/p"),
            ("", "", ""),
            ("did\0x", "\0", "s\0ubject"),
            ("\0\0", "a\0\u{1}b", "\u{1}"),
        ] {
            let member = log_member(1_725_911_162_329_309, did, rkey, subject);
            assert_eq!(
                decode_member(&member),
                Some(DecodedMember {
                    time_us: 1_725_911_162_329_309,
                    did: did.into(),
                    rkey: rkey.into(),
                    value: subject
                })
            );
        }
        let max = log_member(u64::MAX, "d", "r", "s");
        assert_eq!(decode_member(&max).unwrap().time_us, u64::MAX);
    }

    #[test]
    fn members_sort_as_time_did_rkey_tuples() {
        let keys = [
            (5, "did:plc:a", "k"),
            (5, "did:plc:a", "k\0"),
            (5, "did:plc:a", "k\u{1}"),
            (5, "did:plc:a", "ka"),
            (5, "did:plc:a\0", ""),
            (5, "did:plc:a\u{1}", ""),
            (5, "did:plc:ab", ""),
            (6, "", ""),
            (10, "a", "b"),
        ];
        let mut by_member = keys.to_vec();
        by_member.sort_by_key(|(t, d, r)| log_member(*t, d, r, "zzz"));
        let mut by_tuple = keys.to_vec();
        by_tuple.sort();
        assert_eq!(by_member, by_tuple);
        assert_eq!(by_tuple, keys);
    }

    #[test]
    fn foreign_bytes_do_not_decode() {
        for bad in [
            &b""[..],
            b"0000000000000000000x",
            b"00000000000000000001abc",
            b"00000000000000000001a\0\x02b\0\x01",
            b"00000000000000000001a\0\x01b\0\x01\xff",
        ] {
            assert_eq!(decode_member(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn status_members_decode() {
        assert_eq!(
            decode_account_status(b"00000000000000000042hdid:plc:a"),
            Some((true, "did:plc:a"))
        );
        assert_eq!(
            decode_account_status(b"00000000000000000042adid:plc:a"),
            Some((false, "did:plc:a"))
        );
        for bad in [
            &b""[..],
            b"00000000000000000042",
            b"00000000000000000042xdid:plc:a",
            b"0000000000000000004Xhdid:plc:a",
        ] {
            assert_eq!(decode_account_status(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn deletion_members_decode_and_sort_by_time() {
        let member = tombstone_member(42, "did:plc:a\0b", "k\0\u{1}");
        assert_eq!(
            decode_tombstone(&member),
            Some(("did:plc:a\0b", "k\0\u{1}"))
        );
        assert_eq!(
            decode_tombstone(&tombstone_member(u64::MAX, "", "")),
            Some(("", ""))
        );
        assert!(tombstone_member(9, "did:plc:zz", "k") < tombstone_member(10, "did:plc:a", "k"));
        for bad in [
            &b""[..],
            b"00000000000000000001",
            b"000000000000000000010000000010did:plc:a",
            b"00000000000000000001000000000xdk",
            b"0000000000000000000x0000000001dk",
        ] {
            assert_eq!(decode_tombstone(bad), None, "{bad:?}");
        }
        assert_eq!(
            decode_deleted_account(b"00000000000000000042did:plc:a"),
            Some("did:plc:a")
        );
        assert_eq!(decode_deleted_account(b"0000000000000000004"), None);
        assert_eq!(decode_deleted_account(b"0000000000000000004xdid"), None);
    }

    #[test]
    fn prefixes_with_braces_are_refused() {
        for bad in ["", "a{b", "}", "{fm}"] {
            assert!(Keys::new(bad).is_err(), "{bad}");
        }
        let keys = Keys::new("fm").unwrap();
        assert_eq!(keys.v1_log, "{fm}:log");
        assert_eq!(keys.like_chunk(7), "{fm}:likes:7");
        assert_eq!(keys.like_dead(7), "{fm}:likes-dead:7");
        assert_eq!(keys.like_chunks, "{fm}:like-chunks");
        assert_eq!(keys.did("did:plc:x"), b"{fm}:did:did:plc:x");
        assert_eq!(keys.pool("news"), "{fm:pool:news}");
        assert_eq!(keys.interactions("did:plc:v"), "{fm:ix:did:plc:v}");
        assert_eq!(keys.cache("list:1"), "{fm:cache:list:1}");
        assert_eq!(keys.tombstones, "{fm}:tombstones");
        assert_eq!(keys.deleted_accounts, "{fm}:deleted-accounts");
        assert_eq!(keys.posts, "{fm}:posts");
        assert_eq!(keys.post_tombstones, "{fm}:post-tombstones");
        assert_eq!(keys.account_statuses, "{fm}:account-statuses");
        assert_eq!(keys.lease("ingest"), "{fm:lease:ingest}");
    }
}
