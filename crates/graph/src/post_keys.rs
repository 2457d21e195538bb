//! Posts numbered by `(author, record key)` instead of by URI string.
//!
//! A post's URI is `at://AUTHOR/app.bsky.feed.post/RKEY`, and nearly every
//! record key is a TID: 13 characters that decode to 64 bits. So a post is
//! kept as its author's user id and the TID's bits, 12 bytes, where the
//! URI string took about 70 plus its offset; the lookup compares two
//! integers in dense arrays instead of a string behind two indirections,
//! which is most of what interning cost at start-up. The URI is written
//! back from the parts when a page is served.
//!
//! The rare key that is not a TID (or a TID past the year 2255, whose top
//! bit is set) keeps its string in a side [`Interner`], and the post
//! stores that string's number with the top bit set.

use std::hash::Hasher;

use feedmixer_atproto::{POST_COLLECTION, RkeyRef, Tid};
use rustc_hash::FxHasher;

use crate::did_keys::DidKeys;
use crate::graph::{PostId, UserId};
use crate::intern::Interner;
use crate::slots::Slots;

/// Set in a post's key when the rest is a number in `odd_rkeys`.
const ODD: u64 = 1 << 63;

/// An append-only set of posts numbered `0..len` in insertion order.
#[derive(Debug, Default, Clone)]
pub(crate) struct PostKeys {
    /// Per post: its author.
    authors: Vec<UserId>,
    /// Per post: the record key's TID bits, or `ODD | n` for the `n`th of
    /// `odd_rkeys`.
    rkeys: Vec<u64>,
    /// Record keys that are not TIDs below the top bit.
    odd_rkeys: Interner,
    slots: Slots,
}

/// A post's record key as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordKey<'a> {
    Tid(Tid),
    Other(&'a str),
}

impl PostKeys {
    pub(crate) fn with_capacity(posts: usize) -> Self {
        PostKeys {
            authors: Vec::with_capacity(posts),
            rkeys: Vec::with_capacity(posts),
            odd_rkeys: Interner::default(),
            slots: Slots::with_capacity(posts),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.authors.len()
    }

    /// The author of `p`. Panics when `p` is out of range.
    #[inline]
    pub(crate) fn author(&self, p: PostId) -> UserId {
        self.authors[p as usize]
    }

    /// The record key of `p`. Panics when `p` is out of range.
    pub(crate) fn rkey(&self, p: PostId) -> RecordKey<'_> {
        let key = self.rkeys[p as usize];
        if key & ODD == 0 {
            RecordKey::Tid(Tid::from_bits(key))
        } else {
            RecordKey::Other(self.odd_rkeys.get((key & !ODD) as u32))
        }
    }

    /// The time the record key of `p` claims, unix seconds, when it is a
    /// TID of a time before 2106. A shift and a division for the common
    /// key, so free per candidate.
    #[inline]
    pub(crate) fn key_secs(&self, p: PostId) -> Option<u32> {
        let key = self.rkeys[p as usize];
        let tid = if key & ODD == 0 {
            Tid::from_bits(key)
        } else {
            Tid::parse(self.odd_rkeys.get((key & !ODD) as u32)).ok()?
        };
        Some(tid.unix_secs()).filter(|&secs| secs != u32::MAX)
    }

    /// The id of the post `rkey` of `author`, if it was interned.
    pub(crate) fn find(&self, author: UserId, rkey: &str) -> Option<PostId> {
        let key = match RkeyRef::parse(rkey) {
            RkeyRef::Tid(tid) => tid.bits(),
            RkeyRef::Other(rkey) => ODD | u64::from(self.odd_rkeys.find(rkey)?),
        };
        self.slots
            .probe(hash(author, key), |p| self.is(p, author, key))
            .ok()
    }

    /// The id of the post `rkey` of `author` and whether it was new,
    /// interning it if needed.
    #[cfg(test)]
    pub(crate) fn intern(&mut self, author: UserId, rkey: &str) -> (PostId, bool) {
        self.intern_ref(author, RkeyRef::parse(rkey))
    }

    /// [`intern`](Self::intern) of a key a store handed over packed.
    pub(crate) fn intern_ref(&mut self, author: UserId, rkey: RkeyRef<'_>) -> (PostId, bool) {
        let key = match rkey {
            RkeyRef::Tid(tid) => tid.bits(),
            RkeyRef::Other(rkey) => ODD | u64::from(self.odd_rkeys.intern(rkey).0),
        };
        let (authors, rkeys) = (&self.authors, &self.rkeys);
        self.slots.reserve_one(authors.len(), |p| {
            hash(authors[p as usize], rkeys[p as usize])
        });
        let hash = hash(author, key);
        match self.slots.probe(hash, |p| self.is(p, author, key)) {
            Ok(p) => (p, false),
            Err(slot) => {
                let p = self.slots.insert(slot, hash, self.len());
                self.authors.push(author);
                self.rkeys.push(key);
                (p, true)
            }
        }
    }

    /// Starts loading what a lookup of the post with TID key `rkey` of
    /// `author` reads first.
    #[inline]
    pub(crate) fn prefetch_tid(&self, author: UserId, rkey: Tid) {
        self.slots.prefetch(hash(author, rkey.bits()));
    }

    /// Approximate heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.authors.capacity() * size_of::<UserId>()
            + self.rkeys.capacity() * size_of::<u64>()
            + self.odd_rkeys.memory_bytes()
            + self.slots.memory_bytes()
    }

    /// Releases spare capacity once building is done.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.authors.shrink_to_fit();
        self.rkeys.shrink_to_fit();
        self.odd_rkeys.shrink_to_fit();
    }

    /// The authors of the posts, by post id.
    pub(crate) fn authors(&self) -> &[UserId] {
        &self.authors
    }

    /// Whether post `p` is the post `key` of `author`.
    #[inline]
    fn is(&self, p: PostId, author: UserId, key: u64) -> bool {
        self.rkeys[p as usize] == key && self.authors[p as usize] == author
    }
}

/// The `at://` URI of post `p`; `users` holds its author.
pub(crate) fn uri(users: &DidKeys, posts: &PostKeys, p: PostId) -> String {
    let mut uri = String::new();
    write_uri(&mut uri, users, posts, p);
    uri
}

/// Appends the `at://` URI of post `p` to `out`; `users` holds its author.
pub(crate) fn write_uri(out: &mut String, users: &DidKeys, posts: &PostKeys, p: PostId) {
    use std::fmt::Write;
    out.reserve(5 + 32 + 1 + POST_COLLECTION.len() + 1 + 13);
    out.push_str("at://");
    users.write(posts.author(p), out);
    out.push('/');
    out.push_str(POST_COLLECTION);
    out.push('/');
    match posts.rkey(p) {
        RecordKey::Tid(tid) => write!(out, "{tid}").expect("writing to a String"),
        RecordKey::Other(rkey) => out.push_str(rkey),
    }
}

fn hash(author: UserId, key: u64) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write_u32(author);
    hasher.write_u64(key);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The URI of `p` when its author `n` is `did:plc:n`.
    fn uri(keys: &PostKeys, p: PostId) -> String {
        let mut users = DidKeys::with_capacity(0);
        for n in 0..=keys.author(p) {
            users.intern(&format!("did:plc:{n}"));
        }
        let mut out = String::new();
        write_uri(&mut out, &users, keys, p);
        out
    }

    #[test]
    fn tids_and_other_keys() {
        let mut keys = PostKeys::with_capacity(0);
        let tid = "3jzfcijpj2z2a";
        assert_eq!(keys.intern(7, tid), (0, true));
        assert_eq!(keys.intern(7, "self"), (1, true));
        assert_eq!(keys.intern(8, tid), (2, true), "another author's key");
        // Parses as a TID, but its top bit is set: kept as a string.
        assert_eq!(keys.intern(7, "k222222222222"), (3, true));
        assert_eq!(keys.intern(7, "c222222222222"), (4, true));
        assert_eq!(keys.intern(7, tid), (0, false));
        assert_eq!(keys.intern(7, "self"), (1, false));
        assert_eq!(keys.find(8, tid), Some(2));
        assert_eq!(keys.find(8, "self"), None);
        assert_eq!(keys.find(9, tid), None);
        assert_eq!(keys.find(7, "c222222222222"), Some(4));
        assert_eq!(keys.author(2), 8);
        assert_eq!(keys.key_secs(0), Some(1_688_137_381));
        assert_eq!(keys.key_secs(1), None);
        assert_eq!(keys.key_secs(4), None, "a time past 2106");
        assert_eq!(
            uri(&keys, 0),
            "at://did:plc:7/app.bsky.feed.post/3jzfcijpj2z2a"
        );
        assert_eq!(uri(&keys, 1), "at://did:plc:7/app.bsky.feed.post/self");
        assert_eq!(keys.rkey(4), RecordKey::Other("c222222222222"));
    }

    proptest! {
        /// Whatever the keys, each (author, key) gets one id, is found by
        /// it, and writes back to the URI it came from.
        #[test]
        fn ids_are_stable_and_uris_round_trip(
            posts in proptest::collection::vec(
                (0u32..5, prop_oneof!["[2-7a-j][2-7a-z]{12}", "[a-zA-Z0-9._:~-]{1,16}"]),
                1..200,
            )
        ) {
            let mut keys = PostKeys::with_capacity(0);
            let mut seen = std::collections::HashMap::new();
            for (author, rkey) in &posts {
                let (p, new) = keys.intern(*author, rkey);
                let before = seen.insert((*author, rkey.clone()), p);
                prop_assert_eq!(new, before.is_none());
                if let Some(before) = before {
                    prop_assert_eq!(before, p);
                }
            }
            prop_assert_eq!(keys.len(), seen.len());
            for ((author, rkey), p) in &seen {
                prop_assert_eq!(keys.find(*author, rkey), Some(*p));
                prop_assert_eq!(keys.author(*p), *author);
                prop_assert_eq!(
                    uri(&keys, *p),
                    format!("at://did:plc:{author}/app.bsky.feed.post/{rkey}")
                );
            }
        }
    }
}
