//! Users numbered by DID, a `did:plc` kept as its 15 decoded bytes.
//!
//! Nearly every Bluesky account is a `did:plc:` followed by 24 characters
//! of lowercase base32: 120 bits. Kept as a `u128`, a user costs 16 bytes
//! and its lookup compares one integer in a dense array, where the string
//! took 32 bytes, its offset and a second memory access to compare. The
//! DID is written back when one is needed by name (rarely: a block list,
//! an explanation).
//!
//! Any other DID (`did:web:`, a `did:plc:` of another length) keeps its
//! string in a side [`Interner`], and the user stores that string's number
//! with a bit above the 120 set.

use std::hash::Hasher;

use feedmixer_atproto::DidRef;
use feedmixer_atproto::packed::write_plc;
use rustc_hash::FxHasher;

use crate::graph::UserId;
use crate::intern::Interner;
use crate::slots::Slots;

/// Set in a user's key when the rest is a number in `other`.
const OTHER: u128 = 1 << 120;

/// An append-only set of DIDs numbered `0..len` in insertion order.
#[derive(Debug, Default, Clone)]
pub(crate) struct DidKeys {
    /// Per user: the `did:plc` bits, or `OTHER | n` for the `n`th of `other`.
    keys: Vec<u128>,
    /// DIDs that are not `did:plc` of 24 base32 characters.
    other: Interner,
    slots: Slots,
}

impl DidKeys {
    pub(crate) fn with_capacity(users: usize) -> Self {
        DidKeys {
            keys: Vec::with_capacity(users),
            other: Interner::default(),
            slots: Slots::with_capacity(users),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Appends the DID of `u` to `out`. Panics when `u` is out of range.
    pub(crate) fn write(&self, u: UserId, out: &mut String) {
        let key = self.keys[u as usize];
        if key & OTHER != 0 {
            out.push_str(self.other.get((key & !OTHER) as u32));
            return;
        }
        write_plc(key, out);
    }

    /// The id of `did`, if it was interned.
    pub(crate) fn find(&self, did: &str) -> Option<UserId> {
        let key = match DidRef::parse(did) {
            DidRef::Plc(key) => key,
            DidRef::Other(did) => OTHER | u128::from(self.other.find(did)?),
        };
        self.slots
            .probe(hash(key), |u| self.keys[u as usize] == key)
            .ok()
    }

    /// The id of `did` and whether it was new, interning it if needed.
    pub(crate) fn intern(&mut self, did: &str) -> (UserId, bool) {
        self.intern_ref(DidRef::parse(did))
    }

    /// [`intern`](Self::intern) of a DID a store handed over packed.
    pub(crate) fn intern_ref(&mut self, did: DidRef<'_>) -> (UserId, bool) {
        let key = match did {
            DidRef::Plc(key) => key,
            DidRef::Other(did) => OTHER | u128::from(self.other.intern(did).0),
        };
        let keys = &self.keys;
        self.slots
            .reserve_one(keys.len(), |u| hash(keys[u as usize]));
        let hash = hash(key);
        match self.slots.probe(hash, |u| self.keys[u as usize] == key) {
            Ok(u) => (u, false),
            Err(slot) => {
                let u = self.slots.insert(slot, hash, self.len());
                self.keys.push(key);
                (u, true)
            }
        }
    }

    /// Starts loading what a lookup of the `did:plc` of `bits` reads
    /// first (see [`crate::GraphBuilder::add_packed_likes`]).
    #[inline]
    pub(crate) fn prefetch_plc(&self, bits: u128) {
        self.slots.prefetch(hash(bits));
    }

    /// Starts loading the key a lookup of `bits` likely compares, once
    /// [`prefetch_plc`](Self::prefetch_plc) loaded its slot.
    #[inline]
    pub(crate) fn prefetch_plc_key(&self, bits: u128) {
        if let Some(u) = self.slots.likely(hash(bits)) {
            crate::prefetch::prefetch(&self.keys, u as usize);
        }
    }

    /// Approximate heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.keys.capacity() * size_of::<u128>()
            + self.other.memory_bytes()
            + self.slots.memory_bytes()
    }

    /// Releases spare capacity once building is done.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.keys.shrink_to_fit();
        self.other.shrink_to_fit();
    }
}

fn hash(key: u128) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write_u128(key);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn did(keys: &DidKeys, u: UserId) -> String {
        let mut out = String::new();
        keys.write(u, &mut out);
        out
    }

    #[test]
    fn plc_and_other_dids() {
        let mut keys = DidKeys::with_capacity(0);
        let plc = "did:plc:vd3dnd6iiclka2zhrsdqa7kt";
        assert_eq!(keys.intern(plc), (0, true));
        assert_eq!(keys.intern("did:web:example.com"), (1, true));
        // Too short, and a character outside base32: kept as strings.
        assert_eq!(keys.intern("did:plc:a"), (2, true));
        assert_eq!(keys.intern("did:plc:vd3dnd6iiclka2zhrsdqa7k1"), (3, true));
        assert_eq!(keys.intern(plc), (0, false));
        assert_eq!(keys.find("did:web:example.com"), Some(1));
        assert_eq!(keys.find("did:plc:b"), None);
        assert_eq!(keys.find("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"), None);
        for (u, expected) in [
            plc,
            "did:web:example.com",
            "did:plc:a",
            "did:plc:vd3dnd6iiclka2zhrsdqa7k1",
        ]
        .iter()
        .enumerate()
        {
            assert_eq!(did(&keys, u as UserId), *expected);
        }
        assert!(keys.memory_bytes() > 0);
    }

    proptest! {
        /// Whatever the DIDs, each gets one id, is found by it, and writes
        /// back to itself.
        #[test]
        fn ids_are_stable_and_dids_round_trip(
            dids in proptest::collection::vec(
                prop_oneof!["did:plc:[a-z2-7]{24}", "did:plc:[a-z0-9]{1,30}", "did:web:[a-z.]{1,12}"],
                1..200,
            )
        ) {
            let mut keys = DidKeys::with_capacity(0);
            let mut seen = std::collections::HashMap::new();
            for d in &dids {
                let (u, new) = keys.intern(d);
                let before = seen.insert(d.clone(), u);
                prop_assert_eq!(new, before.is_none());
                if let Some(before) = before {
                    prop_assert_eq!(before, u);
                }
            }
            prop_assert_eq!(keys.len(), seen.len());
            for (d, u) in &seen {
                prop_assert_eq!(keys.find(d), Some(*u));
                prop_assert_eq!(&did(&keys, *u), d);
            }
        }
    }
}
