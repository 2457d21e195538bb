//! The like index: one fixed-width key per like record, `(bucket, did,
//! rkey)`, and its state.
//!
//! The key leads with the record key's TID time in ten-minute buckets, so
//! new likes land at the end of the B-tree (a like's TID is stamped when it
//! is created) and a batch touches a few pages instead of one page per like,
//! as a key leading with the DID did: 1M inserts a second here, where a
//! DID-first key took 150k. Within a bucket the DID comes first, so every
//! like of an account is one short range per bucket (what an account
//! deletion reads), and so is a delete's key: a delete names the DID and
//! the record key, which is all the key needs.
//!
//! A `did:plc` is its 120 bits and a TID its 64; any other DID or record
//! key is hashed into the same width (SHA-256, with a marker bit no packed
//! value has), and a record key that is no TID lives in bucket 0.

use feedmixer_atproto::{DidRef, RkeyRef, SubjectRef, Tid};
use sha2::{Digest, Sha256};

use crate::StoreError;

/// A bucket's span of TID time: ten minutes.
pub(super) const BUCKET_US: u64 = 600 * 1_000_000;
/// Set in a DID's key when it is a hash of its text.
const HASHED_DID: u128 = 1 << 127;
/// Set in a record key's key when it is a hash of its text.
const HASHED_RKEY: u64 = 1 << 63;

/// The index key as redb stores it: `(bucket, did, rkey)`, fixed width,
/// compared field by field.
pub(super) type IndexKey = (u32, u128, u64);

/// A like record's key in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct LikeKey {
    pub(super) bucket: u32,
    pub(super) did: u128,
    pub(super) rkey: u64,
}

impl LikeKey {
    pub(super) fn of(did: DidRef<'_>, rkey: RkeyRef<'_>) -> Self {
        let (bucket, rkey) = match rkey {
            RkeyRef::Tid(tid) => (bucket_of(tid), tid.bits()),
            RkeyRef::Other(text) => (0, HASHED_RKEY | (hash(text) as u64 >> 1)),
        };
        LikeKey {
            bucket,
            did: did_key(did),
            rkey,
        }
    }

    /// The first key of `did` in `bucket`.
    pub(super) fn first_of(bucket: u32, did: u128) -> Self {
        LikeKey {
            bucket,
            did,
            rkey: 0,
        }
    }

    pub(super) fn to_key(self) -> IndexKey {
        (self.bucket, self.did, self.rkey)
    }

    pub(super) fn from_key((bucket, did, rkey): IndexKey) -> Self {
        LikeKey { bucket, did, rkey }
    }
}

/// The bucket of a TID's time.
fn bucket_of(tid: Tid) -> u32 {
    u32::try_from(tid.time_us() / BUCKET_US).unwrap_or(u32::MAX)
}

/// The bucket holding records keyed by TIDs of `time_us`: every bucket
/// before it holds only TIDs older than `time_us`.
pub(super) fn bucket_at(time_us: u64) -> u32 {
    u32::try_from(time_us / BUCKET_US).unwrap_or(u32::MAX)
}

/// A DID's key: its `did:plc` bits, or a hash of its text.
pub(super) fn did_key(did: DidRef<'_>) -> u128 {
    match did {
        DidRef::Plc(bits) => bits,
        DidRef::Other(text) => HASHED_DID | (hash(text) >> 8),
    }
}

fn hash(text: &str) -> u128 {
    let digest = Sha256::digest(text.as_bytes());
    u128::from_be_bytes(digest[..16].try_into().expect("16 bytes"))
}

/// What the index holds for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Entry<'a> {
    Live(Live<'a>),
    /// A deleted key: the newest delete's time.
    Tombstone(u64),
}

/// A live like as the index keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Live<'a> {
    /// When it was logged: its first create.
    pub(super) logged_us: u64,
    /// The newest create seen, what deletions are judged by.
    pub(super) newest_us: u64,
    /// Its record's number in the log.
    pub(super) seq: u64,
    /// The time of an older delete of the key.
    pub(super) tombstone_us: Option<u64>,
    /// What it likes, so a removal needs no read of the log.
    pub(super) subject: SubjectRef<'a>,
    /// Its record key when that is no TID (the key holds only a hash of
    /// it).
    pub(super) odd_rkey: Option<&'a str>,
}

/// A live entry's tombstone time when it has none: no delete is that
/// late (a key deleted then would have no live like after it).
const NO_TOMBSTONE: u64 = u64::MAX;

/// Subject forms in a live entry.
const SUBJECT_POST: u8 = 0;
const SUBJECT_TEXT: u8 = 1;

impl<'a> Entry<'a> {
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        match self {
            Entry::Tombstone(at) => out.extend_from_slice(&at.to_le_bytes()),
            Entry::Live(live) => {
                let tombstone_us = live.tombstone_us.unwrap_or(NO_TOMBSTONE);
                for n in [live.logged_us, live.newest_us, live.seq, tombstone_us] {
                    out.extend_from_slice(&n.to_le_bytes());
                }
                let rkey = live.odd_rkey.unwrap_or_default();
                out.extend_from_slice(&(rkey.len() as u32).to_le_bytes());
                out.extend_from_slice(rkey.as_bytes());
                match live.subject {
                    SubjectRef::Post {
                        author: DidRef::Plc(author),
                        rkey: RkeyRef::Tid(rkey),
                    } => {
                        out.push(SUBJECT_POST);
                        out.extend_from_slice(&author.to_le_bytes());
                        out.extend_from_slice(&rkey.bits().to_le_bytes());
                    }
                    other => {
                        let mut text = String::new();
                        other.write(&mut text);
                        out.push(SUBJECT_TEXT);
                        out.extend_from_slice(&text.into_bytes());
                    }
                }
            }
        }
    }

    pub(super) fn decode(bytes: &'a [u8]) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("like index entry of {} bytes", bytes.len()));
        let u64_at = |at: usize| -> Result<u64, StoreError> {
            Ok(u64::from_le_bytes(
                bytes
                    .get(at..at + 8)
                    .ok_or_else(corrupt)?
                    .try_into()
                    .expect("8 bytes"),
            ))
        };
        if bytes.len() == 8 {
            return Ok(Entry::Tombstone(u64_at(0)?));
        }
        let text = |range: std::ops::Range<usize>| -> Result<&'a str, StoreError> {
            std::str::from_utf8(bytes.get(range).ok_or_else(corrupt)?).map_err(|_| corrupt())
        };
        let rkey_len = bytes
            .get(32..36)
            .map(|n| u32::from_le_bytes(n.try_into().expect("4 bytes")) as usize)
            .ok_or_else(corrupt)?;
        let at = 36 + rkey_len;
        let odd_rkey = (rkey_len > 0).then(|| text(36..at)).transpose()?;
        let subject = match bytes.get(at) {
            Some(&SUBJECT_POST) if bytes.len() == at + 25 => SubjectRef::Post {
                author: DidRef::Plc(u128::from_le_bytes(
                    bytes[at + 1..at + 17].try_into().expect("16 bytes"),
                )),
                rkey: RkeyRef::Tid(Tid::from_bits(u64_at(at + 17)?)),
            },
            Some(&SUBJECT_TEXT) => SubjectRef::parse(text(at + 1..bytes.len())?),
            _ => return Err(corrupt()),
        };
        Ok(Entry::Live(Live {
            logged_us: u64_at(0)?,
            newest_us: u64_at(8)?,
            seq: u64_at(16)?,
            tombstone_us: Some(u64_at(24)?).filter(|&at| at != NO_TOMBSTONE),
            subject,
            odd_rkey,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tids_lead_with_their_bucket_and_other_keys_go_to_bucket_0() {
        let did = DidRef::parse("did:plc:vd3dnd6iiclka2zhrsdqa7kt");
        let tid = Tid::parse("3jzfcijpj2z2a").unwrap();
        let key = LikeKey::of(did, RkeyRef::Tid(tid));
        assert_eq!(u64::from(key.bucket), tid.time_us() / BUCKET_US);
        assert_eq!(key.rkey, tid.bits());
        let odd = LikeKey::of(did, RkeyRef::parse("self"));
        assert_eq!(odd.bucket, 0);
        assert_ne!(odd.rkey & HASHED_RKEY, 0);
        let web = did_key(DidRef::parse("did:web:example.com"));
        assert_ne!(web & HASHED_DID, 0);
        assert_ne!(web, did_key(DidRef::parse("did:web:example.org")));
        let newer = LikeKey::of(did, RkeyRef::Tid(Tid::new(tid.time_us() + BUCKET_US, 0)));
        assert!(key.to_key() < newer.to_key());
    }

    proptest! {
        #[test]
        fn entries_round_trip(
            times in (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
            odd_rkey in proptest::option::of("[a-z0-9]{1,8}"),
            subject in prop_oneof![
                "at://did:plc:[a-z2-7]{24}/app\\.bsky\\.feed\\.post/[2-7a-j][2-7a-z]{12}",
                "at://did:web:[a-z.]{1,9}/app\\.bsky\\.feed\\.post/[a-z]{1,5}",
                "\\PC{0,30}",
            ],
        ) {
            let live = Entry::Live(Live {
                logged_us: times.0,
                newest_us: times.1,
                seq: times.2,
                tombstone_us: Some(times.3).filter(|&at| at != NO_TOMBSTONE),
                subject: SubjectRef::parse(&subject),
                odd_rkey: odd_rkey.as_deref(),
            });
            let mut bytes = Vec::new();
            live.encode(&mut bytes);
            prop_assert_eq!(Entry::decode(&bytes).unwrap(), live);
            Entry::Tombstone(times.0).encode(&mut bytes);
            prop_assert_eq!(Entry::decode(&bytes).unwrap(), Entry::Tombstone(times.0));
        }
    }
}
