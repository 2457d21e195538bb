//! String interning to dense `u32` ids and back: the strings the graph's
//! compact keys cannot hold (DIDs other than `did:plc`, record keys other
//! than TIDs).
//!
//! Every string lives once, in one arena `String`; the lookup table holds
//! only `(hash tag, id)` pairs. A `HashMap<Box<str>, u32>` would keep a
//! second copy plus a heap block and a pointer per string, which at the
//! sizes a replica holds is most of the graph's memory.
//!
//! Interning bounds build speed (a lookup is three cache misses: slot,
//! `ends`, arena). Keeping the arena offset in the slot saves one miss but
//! measured only ~5 % faster for 14 % more graph memory, so it is not done.

use std::hash::Hasher;

use rustc_hash::FxHasher;

use crate::slots::Slots;

/// An append-only set of strings numbered `0..len` in insertion order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Interner {
    /// All strings, concatenated.
    arena: String,
    /// `ends[i]` is where string `i` ends in `arena` (it starts where `i - 1` ends).
    ends: Vec<usize>,
    slots: Slots,
}

impl Interner {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The string numbered `id`. Panics when `id` is out of range.
    pub(crate) fn get(&self, id: u32) -> &str {
        string_at(&self.arena, &self.ends, id)
    }

    /// The id of `s`, if it was interned.
    pub(crate) fn find(&self, s: &str) -> Option<u32> {
        self.slots.probe(hash(s), |id| self.get(id) == s).ok()
    }

    /// The id of `s` and whether it was new, interning it if needed.
    pub(crate) fn intern(&mut self, s: &str) -> (u32, bool) {
        self.slots.reserve_one(self.ends.len(), |id| {
            hash(string_at(&self.arena, &self.ends, id))
        });
        let hash = hash(s);
        match self.slots.probe(hash, |id| self.get(id) == s) {
            Ok(id) => (id, false),
            Err(slot) => {
                let id = self.slots.insert(slot, hash, self.len());
                self.arena.push_str(s);
                self.ends.push(self.arena.len());
                (id, true)
            }
        }
    }

    /// Approximate heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.arena.capacity()
            + self.ends.capacity() * size_of::<usize>()
            + self.slots.memory_bytes()
    }

    /// Releases spare capacity once building is done.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.arena.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

/// String `id` of `arena` cut at `ends`: [`Interner::get`] on the parts,
/// for the rehash, which borrows the table mutably.
fn string_at<'a>(arena: &'a str, ends: &[usize], id: u32) -> &'a str {
    let i = id as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] };
    &arena[start..ends[i]]
}

fn hash(s: &str) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(s.as_bytes());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_and_finds() {
        let mut interner = Interner::default();
        assert_eq!(interner.find("a"), None);
        assert_eq!(interner.intern("alpha"), (0, true));
        assert_eq!(interner.intern("beta"), (1, true));
        assert_eq!(interner.intern("alpha"), (0, false));
        assert_eq!(interner.intern(""), (2, true));
        assert_eq!(interner.find("beta"), Some(1));
        assert_eq!(interner.find(""), Some(2));
        assert_eq!(interner.find("gamma"), None);
        assert_eq!(interner.get(0), "alpha");
        assert_eq!(interner.get(1), "beta");
        assert_eq!(interner.get(2), "");
        assert_eq!(interner.len(), 3);
    }

    #[test]
    fn survives_growth() {
        let mut interner = Interner::default();
        for i in 0..10_000u32 {
            assert_eq!(interner.intern(&format!("did:plc:{i}")), (i, true));
        }
        for i in 0..10_000u32 {
            let s = format!("did:plc:{i}");
            assert_eq!(interner.find(&s), Some(i));
            assert_eq!(interner.get(i), s);
        }
        assert!(interner.slots.len() >= 20_000);
        assert!(interner.memory_bytes() > 0);
    }
}
