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

/// Marks an empty table slot.
const EMPTY: u32 = u32::MAX;

/// An append-only set of strings numbered `0..len` in insertion order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Interner {
    /// All strings, concatenated.
    arena: String,
    /// `ends[i]` is where string `i` ends in `arena` (it starts where `i - 1` ends).
    ends: Vec<usize>,
    /// Open-addressing table (linear probing, power-of-two size, load <= 1/2)
    /// of `(low 32 bits of the hash, id)`.
    slots: Vec<(u32, u32)>,
}

impl Interner {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The string numbered `id`. Panics when `id` is out of range.
    pub(crate) fn get(&self, id: u32) -> &str {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.arena[start..self.ends[i]]
    }

    /// The id of `s`, if it was interned.
    pub(crate) fn find(&self, s: &str) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        self.probe(s, hash(s)).ok()
    }

    /// The id of `s` and whether it was new, interning it if needed.
    pub(crate) fn intern(&mut self, s: &str) -> (u32, bool) {
        if (self.len() + 1) * 2 > self.slots.len() {
            self.rehash(table_size_for(self.len() + 1).max(self.slots.len() * 2));
        }
        let hash = hash(s);
        match self.probe(s, hash) {
            Ok(id) => (id, false),
            Err(slot) => {
                let id = u32::try_from(self.len())
                    .ok()
                    .filter(|&id| id != EMPTY)
                    .expect("more than u32::MAX - 1 interned strings");
                self.arena.push_str(s);
                self.ends.push(self.arena.len());
                self.slots[slot] = (hash as u32, id);
                (id, true)
            }
        }
    }

    /// Approximate heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.arena.capacity()
            + self.ends.capacity() * size_of::<usize>()
            + self.slots.capacity() * size_of::<(u32, u32)>()
    }

    /// Releases spare capacity once building is done.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.arena.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    /// `Ok(id)` when `s` is present, else `Err(empty slot where it belongs)`.
    fn probe(&self, s: &str, hash: u64) -> Result<u32, usize> {
        let mask = self.slots.len() - 1;
        let tag = hash as u32;
        let mut slot = self.home(hash);
        loop {
            let (slot_tag, id) = self.slots[slot];
            if id == EMPTY {
                return Err(slot);
            }
            if slot_tag == tag && self.get(id) == s {
                return Ok(id);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// First slot to probe: the top bits of a multiplicative mix, so the
    /// index does not reuse the bits stored as the tag.
    fn home(&self, hash: u64) -> usize {
        let bits = self.slots.len().trailing_zeros();
        (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
    }

    fn rehash(&mut self, size: usize) {
        debug_assert!(size.is_power_of_two() && size >= 2);
        self.slots = vec![(0, EMPTY); size];
        let mask = size - 1;
        for id in 0..self.len() as u32 {
            let hash = hash(self.get(id));
            let mut slot = self.home(hash);
            while self.slots[slot].1 != EMPTY {
                slot = (slot + 1) & mask;
            }
            self.slots[slot] = (hash as u32, id);
        }
    }
}

fn hash(s: &str) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(s.as_bytes());
    hasher.finish()
}

/// Smallest power-of-two table keeping `strings` entries at load <= 1/2.
fn table_size_for(strings: usize) -> usize {
    (strings.max(1) * 2).next_power_of_two().max(16)
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
