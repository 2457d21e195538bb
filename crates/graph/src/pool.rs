//! A pool of walk scratches, so concurrent requests each get one without
//! allocating: a scratch is the size of the graph's id spaces, far too big
//! to build per request, and one per thread would tie it to the runtime.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, PoisonError};

use crate::walk::WalkScratch;

/// Scratches free for use. Grows to the peak number of concurrent walks and
/// keeps them.
#[derive(Debug, Default)]
pub struct ScratchPool {
    free: Mutex<Vec<WalkScratch>>,
}

impl ScratchPool {
    pub fn new() -> Self {
        Self::default()
    }

    /// A scratch for one walk; it goes back to the pool when the guard drops.
    pub fn get(&self) -> ScratchGuard<'_> {
        let scratch = self.lock().pop().unwrap_or_default();
        ScratchGuard {
            pool: self,
            scratch: Some(scratch),
        }
    }

    /// Scratches currently free (not lent out).
    pub fn idle(&self) -> usize {
        self.lock().len()
    }

    /// A panic while holding the lock leaves the list intact, so poisoning
    /// is ignored rather than failing every later request.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<WalkScratch>> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A scratch lent from a [`ScratchPool`].
#[derive(Debug)]
pub struct ScratchGuard<'a> {
    pool: &'a ScratchPool,
    /// Always `Some` until dropped.
    scratch: Option<WalkScratch>,
}

impl Deref for ScratchGuard<'_> {
    type Target = WalkScratch;
    fn deref(&self) -> &WalkScratch {
        self.scratch.as_ref().expect("scratch present until drop")
    }
}

impl DerefMut for ScratchGuard<'_> {
    fn deref_mut(&mut self) -> &mut WalkScratch {
        self.scratch.as_mut().expect("scratch present until drop")
    }
}

impl Drop for ScratchGuard<'_> {
    fn drop(&mut self) {
        if let Some(scratch) = self.scratch.take() {
            self.pool.lock().push(scratch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lends_and_takes_back() {
        let pool = ScratchPool::new();
        {
            let _a = pool.get();
            let _b = pool.get();
            assert_eq!(pool.idle(), 0);
        }
        assert_eq!(pool.idle(), 2);
        let _c = pool.get();
        assert_eq!(pool.idle(), 1);
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<ScratchPool>();
        check::<crate::LikeGraph>();
        check::<WalkScratch>();
    }
}
