//! The like log: numbered records packed into chunks.
//!
//! Every like the store adds or removes is one record, numbered in the
//! store's one sequence of changes, appended to the newest chunk. A chunk
//! is one value in redb: `[count u32][count records][text]`, each record
//! [`RECORD_BYTES`] wide, in number order:
//!
//! | offset | field |
//! |---:|---|
//! | 0 | kind (added or removed) and which parts are text |
//! | 1 | number (`seq`), `u64` |
//! | 9 | `time_us`: the like's log time (its first create) |
//! | 17 | DID: `did:plc` bits, `u128` |
//! | 33 | record key: TID bits, `u64` (an addition's only) |
//! | 41 | subject's author: `did:plc` bits, `u128` |
//! | 57 | subject's record key: TID bits, `u64` |
//! | 65 | where this record's text starts in the chunk's text, `u32` |
//!
//! all little-endian. A part that has no packed form (see
//! `feedmixer_atproto::packed`) is written to the text area instead, as
//! a `u32` length and the bytes, in the order DID, record key, subject.
//! So reading the log parses nothing but integers, and the graph is built
//! straight from them.
//!
//! A store that appends to its log in place (Redis, with `APPEND`) writes
//! each record on its own instead: the same fixed part, its text right
//! after it, and `text_at` zero ([`encode_one`], [`Records`]). The kind
//! byte and the number are the first nine bytes of either form, so a
//! writer can stamp them on a record built before its number was known.

use feedmixer_atproto::{DidRef, RkeyRef, SubjectRef, Tid};

use crate::{LikeRef, StoreError};

/// Bytes of a record's fixed part.
pub const RECORD_BYTES: usize = 69;
const HEADER_BYTES: usize = 4;

/// The kind of a record, the low half of its first byte.
pub const ADDED: u8 = 1;
pub const REMOVED: u8 = 2;
const KIND_MASK: u8 = 0x0f;
/// Which parts are in the text area.
const TEXT_DID: u8 = 0x10;
const TEXT_RKEY: u8 = 0x20;
const TEXT_SUBJECT: u8 = 0x40;

/// A chunk being built: records and text, appended to.
#[derive(Debug, Default)]
pub struct ChunkBuilder {
    records: Vec<u8>,
    text: Vec<u8>,
}

impl ChunkBuilder {
    /// A builder that goes on from a stored chunk.
    pub fn from_chunk(chunk: &Chunk<'_>) -> Self {
        ChunkBuilder {
            records: chunk.records.to_vec(),
            text: chunk.text.to_vec(),
        }
    }

    pub fn len(&self) -> usize {
        self.records.len() / RECORD_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn push(&mut self, record: &Record<'_>) {
        let mut kind = if record.added { ADDED } else { REMOVED };
        let text_at = self.text.len() as u32;
        let did = match record.did {
            DidRef::Plc(bits) => bits,
            DidRef::Other(text) => {
                kind |= TEXT_DID;
                self.push_text(text);
                0
            }
        };
        let rkey = match record.rkey {
            Some(RkeyRef::Tid(tid)) => tid.bits(),
            Some(RkeyRef::Other(text)) => {
                kind |= TEXT_RKEY;
                self.push_text(text);
                0
            }
            None => 0,
        };
        let (author, post) = match record.subject {
            SubjectRef::Post {
                author: DidRef::Plc(author),
                rkey: RkeyRef::Tid(post),
            } => (author, post.bits()),
            other => {
                kind |= TEXT_SUBJECT;
                let mut text = String::new();
                other.write(&mut text);
                self.push_text(&text);
                (0, 0)
            }
        };
        let out = &mut self.records;
        out.push(kind);
        out.extend_from_slice(&record.seq.to_le_bytes());
        out.extend_from_slice(&record.time_us.to_le_bytes());
        out.extend_from_slice(&did.to_le_bytes());
        out.extend_from_slice(&rkey.to_le_bytes());
        out.extend_from_slice(&author.to_le_bytes());
        out.extend_from_slice(&post.to_le_bytes());
        out.extend_from_slice(&text_at.to_le_bytes());
    }

    /// Appends `later`'s records (numbered after this builder's).
    pub fn append(&mut self, later: &ChunkBuilder) {
        let shift = self.text.len() as u32;
        for record in later.records.chunks_exact(RECORD_BYTES) {
            let start = self.records.len();
            self.records.extend_from_slice(record);
            if record[0] & (TEXT_DID | TEXT_RKEY | TEXT_SUBJECT) != 0 {
                let at = &mut self.records[start + 65..start + RECORD_BYTES];
                let moved = u32::from_le_bytes((*at).try_into().expect("4 bytes")) + shift;
                at.copy_from_slice(&moved.to_le_bytes());
            }
        }
        self.text.extend_from_slice(&later.text);
    }

    fn push_text(&mut self, text: &str) {
        self.text
            .extend_from_slice(&(text.len() as u32).to_le_bytes());
        self.text.extend_from_slice(text.as_bytes());
    }

    /// The chunk's stored bytes.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_BYTES + self.records.len() + self.text.len());
        out.extend_from_slice(&(self.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.records);
        out.extend_from_slice(&self.text);
        out
    }
}

/// A stored chunk, read in place.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    records: &'a [u8],
    text: &'a [u8],
}

/// One record of the log: a like added, or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub added: bool,
    pub seq: u64,
    pub time_us: u64,
    pub did: DidRef<'a>,
    /// An addition's record key (a removal's is `None`).
    pub rkey: Option<RkeyRef<'a>>,
    pub subject: SubjectRef<'a>,
}

impl<'a> Record<'a> {
    /// The like an addition added.
    pub fn like(&self) -> Option<LikeRef<'a>> {
        Some(LikeRef {
            did: self.did,
            rkey: self.rkey?,
            subject: self.subject,
            time_us: self.time_us,
        })
    }
}

impl<'a> Chunk<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("like chunk of {} bytes", bytes.len()));
        let count = bytes
            .get(..HEADER_BYTES)
            .map(|n| u32::from_le_bytes(n.try_into().expect("4 bytes")) as usize)
            .ok_or_else(corrupt)?;
        let end = HEADER_BYTES + count * RECORD_BYTES;
        let records = bytes.get(HEADER_BYTES..end).ok_or_else(corrupt)?;
        Ok(Chunk {
            records,
            text: &bytes[end..],
        })
    }

    pub fn len(&self) -> usize {
        self.records.len() / RECORD_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The number of record `i`, without decoding the rest.
    pub fn seq(&self, i: usize) -> u64 {
        let at = i * RECORD_BYTES + 1;
        u64::from_le_bytes(self.records[at..at + 8].try_into().expect("8 bytes"))
    }

    /// The index of the first record numbered `seq` or later.
    pub fn position(&self, seq: u64) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.seq(mid) < seq {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    pub fn record(&self, i: usize) -> Result<Record<'a>, StoreError> {
        let r = &self.records[i * RECORD_BYTES..(i + 1) * RECORD_BYTES];
        let u64_at = |at: usize| u64::from_le_bytes(r[at..at + 8].try_into().expect("8 bytes"));
        let u128_at = |at: usize| u128::from_le_bytes(r[at..at + 16].try_into().expect("16 bytes"));
        let kind = r[0];
        let added = match kind & KIND_MASK {
            ADDED => true,
            REMOVED => false,
            other => {
                return Err(StoreError::Corrupt(format!("like record of kind {other}")));
            }
        };
        let mut text = Text {
            bytes: self.text,
            at: u32::from_le_bytes(r[65..69].try_into().expect("4 bytes")) as usize,
        };
        let did = if kind & TEXT_DID != 0 {
            DidRef::Other(text.next()?)
        } else {
            DidRef::Plc(u128_at(17))
        };
        let rkey = if kind & TEXT_RKEY != 0 {
            RkeyRef::Other(text.next()?)
        } else {
            RkeyRef::Tid(Tid::from_bits(u64_at(33)))
        };
        let subject = if kind & TEXT_SUBJECT != 0 {
            SubjectRef::parse(text.next()?)
        } else {
            SubjectRef::Post {
                author: DidRef::Plc(u128_at(41)),
                rkey: RkeyRef::Tid(Tid::from_bits(u64_at(57))),
            }
        };
        Ok(Record {
            added,
            seq: u64_at(1),
            time_us: u64_at(9),
            did,
            rkey: added.then_some(rkey),
            subject,
        })
    }

    pub fn records(&self) -> impl Iterator<Item = Result<Record<'a>, StoreError>> + '_ {
        (0..self.len()).map(|i| self.record(i))
    }
}

/// A cursor over a chunk's text area.
struct Text<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Text<'a> {
    fn next(&mut self) -> Result<&'a str, StoreError> {
        let corrupt = || StoreError::Corrupt("like chunk text out of bounds".into());
        let len = self
            .bytes
            .get(self.at..self.at + 4)
            .map(|n| u32::from_le_bytes(n.try_into().expect("4 bytes")) as usize)
            .ok_or_else(corrupt)?;
        let start = self.at + 4;
        let text = self.bytes.get(start..start + len).ok_or_else(corrupt)?;
        self.at = start + len;
        std::str::from_utf8(text)
            .map_err(|_| StoreError::Corrupt("like chunk text is not UTF-8".into()))
    }
}

/// Appends `record` on its own to `out`: its fixed part, then its text.
pub fn encode_one(record: &Record<'_>, out: &mut Vec<u8>) {
    let mut one = ChunkBuilder::default();
    one.push(record);
    out.extend_from_slice(&one.records);
    out.extend_from_slice(&one.text);
}

/// Records written one after the other by [`encode_one`], read in place.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Records<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Records { bytes, at: 0 }
    }

    /// Where the next record starts.
    pub fn offset(&self) -> usize {
        self.at
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.bytes.get(self.at..).filter(|rest| !rest.is_empty())?;
        let Some(fixed) = rest.get(..RECORD_BYTES) else {
            self.at = self.bytes.len();
            return Some(Err(StoreError::Corrupt(format!(
                "like record cut at {} of {RECORD_BYTES} bytes",
                rest.len()
            ))));
        };
        let chunk = Chunk {
            records: fixed,
            text: &rest[RECORD_BYTES..],
        };
        let texts = (fixed[0] & (TEXT_DID | TEXT_RKEY | TEXT_SUBJECT)).count_ones();
        let mut text = Text {
            bytes: chunk.text,
            at: 0,
        };
        let record = (0..texts)
            .try_for_each(|_| text.next().map(drop))
            .and_then(|()| chunk.record(0));
        match record {
            Ok(record) => {
                self.at += RECORD_BYTES + text.at;
                Some(Ok(record))
            }
            Err(error) => {
                self.at = self.bytes.len();
                Some(Err(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cut_records_are_corrupt() {
        let mut one = Vec::new();
        let record = Record {
            added: true,
            seq: 1,
            time_us: 2,
            did: DidRef::parse("did:web:example.com"),
            rkey: Some(RkeyRef::parse("3k")),
            subject: SubjectRef::parse("at://did:plc:x/app.bsky.feed.post/y"),
        };
        encode_one(&record, &mut one);
        assert_eq!(Records::new(&one).next().unwrap().unwrap(), record);
        for cut in [1, RECORD_BYTES - 1, RECORD_BYTES + 2, one.len() - 1] {
            let mut read = Records::new(&one[..cut]);
            assert!(read.next().unwrap().is_err(), "{cut}");
            assert!(read.next().is_none());
        }
    }

    fn strategy() -> impl Strategy<Value = (bool, u64, String, String, String)> {
        (
            any::<bool>(),
            any::<u64>(),
            prop_oneof!["did:plc:[a-z2-7]{24}", "did:web:[a-z.]{1,12}", "\\PC{0,10}"],
            prop_oneof!["[2-7a-j][2-7a-z]{12}", "[a-z0-9]{1,8}"],
            prop_oneof![
                "at://did:plc:[a-z2-7]{24}/app\\.bsky\\.feed\\.post/[2-7a-j][2-7a-z]{12}",
                "at://did:web:[a-z]{1,5}/app\\.bsky\\.feed\\.post/[a-z]{1,5}",
                "\\PC{0,20}",
            ],
        )
    }

    proptest! {
        /// What was pushed reads back, also after a builder went on from
        /// the stored chunk.
        #[test]
        fn records_round_trip(
            first in proptest::collection::vec(strategy(), 0..20),
            second in proptest::collection::vec(strategy(), 0..20),
        ) {
            let all: Vec<_> = first.iter().chain(&second).collect();
            fn new(i: usize, (added, time_us, did, rkey, subject): &(bool, u64, String, String, String)) -> Record<'_> {
                Record {
                    added: *added,
                    seq: i as u64 * 3 + 1,
                    time_us: *time_us,
                    did: DidRef::parse(did),
                    rkey: added.then(|| RkeyRef::parse(rkey)),
                    subject: SubjectRef::parse(subject),
                }
            }
            let mut builder = ChunkBuilder::default();
            for (i, r) in first.iter().enumerate() {
                builder.push(&new(i, r));
            }
            let stored = builder.finish();
            let mut builder = ChunkBuilder::from_chunk(&Chunk::parse(&stored).unwrap());
            let mut later = ChunkBuilder::default();
            for (i, r) in second.iter().enumerate() {
                later.push(&new(first.len() + i, r));
            }
            builder.append(&later);
            let stored = builder.finish();
            let chunk = Chunk::parse(&stored).unwrap();
            prop_assert_eq!(chunk.len(), all.len());
            for (i, r) in all.iter().enumerate() {
                let want = new(i, r);
                let got = chunk.record(i).unwrap();
                prop_assert_eq!(got.added, want.added);
                prop_assert_eq!(got.seq, want.seq);
                prop_assert_eq!(got.time_us, want.time_us);
                prop_assert_eq!(&got.did.to_string(), &r.2);
                prop_assert_eq!(&got.subject.to_string(), &r.4);
                prop_assert_eq!(got.rkey.map(|k| k.to_string()), want.rkey.map(|k| k.to_string()));
                prop_assert_eq!(chunk.position(want.seq), i);
                prop_assert_eq!(chunk.position(want.seq + 1), i + 1);
            }
            // The same records on their own, one after the other.
            let mut appended = Vec::new();
            for (i, r) in all.iter().enumerate() {
                encode_one(&new(i, r), &mut appended);
            }
            let read: Vec<Record<'_>> = Records::new(&appended).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(read.len(), all.len());
            for (i, got) in read.iter().enumerate() {
                prop_assert_eq!(*got, chunk.record(i).unwrap());
            }
        }
    }
}
