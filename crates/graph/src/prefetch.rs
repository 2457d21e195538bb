//! Software prefetch: a hint to start loading a cache line now that a later
//! iteration will need. The walk's cost is random reads (score slots, the
//! first edges of each co-liker); issuing them a few iterations ahead
//! overlaps their latency.

/// Starts loading the cache line holding `slice[index]`, if in bounds.
/// A no-op on targets without the instruction.
#[inline(always)]
pub(crate) fn prefetch<T>(slice: &[T], index: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(item) = slice.get(index) {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: prefetching is a hint that never faults or changes memory,
        // and the pointer comes from a live reference anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((item as *const T).cast()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (slice, index);
}
