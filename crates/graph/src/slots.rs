//! The lookup table behind the graph's id sets ([`crate::intern::Interner`],
//! [`crate::did_keys::DidKeys`], [`crate::post_keys::PostKeys`]): each set
//! keeps its keys in dense arrays by id, and this table only maps a hash
//! to the ids to compare, as `(low 32 bits of the hash, id)` pairs.
//! Open addressing with linear probing, a power-of-two size and a load of
//! at most a half.

/// Marks an empty slot.
const EMPTY: u32 = u32::MAX;

#[derive(Debug, Default, Clone)]
pub(crate) struct Slots(Vec<(u32, u32)>);

impl Slots {
    /// A table sized for `entries` ids.
    pub(crate) fn with_capacity(entries: usize) -> Self {
        Slots(vec![(0, EMPTY); table_size_for(entries)])
    }

    /// `Ok(id)` of the first id tagged with `hash` that `is` accepts, else
    /// `Err(the empty slot where it belongs)` (`Err(usize::MAX)` when the
    /// table has no slots yet).
    #[inline]
    pub(crate) fn probe(&self, hash: u64, is: impl Fn(u32) -> bool) -> Result<u32, usize> {
        if self.0.is_empty() {
            return Err(usize::MAX);
        }
        let mask = self.0.len() - 1;
        let tag = hash as u32;
        let mut slot = home(hash, self.0.len());
        loop {
            let (slot_tag, id) = self.0[slot];
            if id == EMPTY {
                return Err(slot);
            }
            if slot_tag == tag && is(id) {
                return Ok(id);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Starts loading the slot where a probe for `hash` begins, so that a
    /// probe a little later finds it in cache.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        if !self.0.is_empty() {
            crate::prefetch::prefetch(&self.0, home(hash, self.0.len()));
        }
    }

    /// The id in the slot where a probe for `hash` begins, when its tag
    /// is `hash`'s: the likely answer, whose key a caller may start
    /// loading before the probe.
    #[inline]
    pub(crate) fn likely(&self, hash: u64) -> Option<u32> {
        if self.0.is_empty() {
            return None;
        }
        let (tag, id) = self.0[home(hash, self.0.len())];
        (id != EMPTY && tag == hash as u32).then_some(id)
    }

    /// The next id of a set holding `len`, to be stored in `slot` (from
    /// [`Slots::probe`]) under `hash`. Panics past `u32::MAX - 1` ids.
    pub(crate) fn insert(&mut self, slot: usize, hash: u64, len: usize) -> u32 {
        let id = u32::try_from(len)
            .ok()
            .filter(|&id| id != EMPTY)
            .expect("more than u32::MAX - 1 ids in one set");
        self.0[slot] = (hash as u32, id);
        id
    }

    /// Makes room for one more id in a set holding `len`, rehashing the
    /// ids `0..len` with `hash_of` when the table grows. Call before the
    /// [`Slots::probe`] whose slot [`Slots::insert`] takes.
    pub(crate) fn reserve_one(&mut self, len: usize, hash_of: impl Fn(u32) -> u64) {
        if (len + 1) * 2 <= self.0.len() {
            return;
        }
        let size = table_size_for(len + 1).max(self.0.len() * 2);
        self.0 = vec![(0, EMPTY); size];
        let mask = size - 1;
        for id in 0..len as u32 {
            let hash = hash_of(id);
            let mut slot = home(hash, size);
            while self.0[slot].1 != EMPTY {
                slot = (slot + 1) & mask;
            }
            self.0[slot] = (hash as u32, id);
        }
    }

    /// Heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.0.capacity() * size_of::<(u32, u32)>()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// First slot to probe: the top bits of a multiplicative mix, so the
/// index does not reuse the bits stored as the tag.
fn home(hash: u64, slots: usize) -> usize {
    let bits = slots.trailing_zeros();
    (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
}

/// Smallest power-of-two table keeping `entries` ids at load <= 1/2.
fn table_size_for(entries: usize) -> usize {
    (entries.max(1) * 2).next_power_of_two().max(16)
}
