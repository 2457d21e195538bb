//! The in-process like graph every serving replica holds, and the
//! computations over it: the LinkLonk random walk (personalized candidates)
//! and recent-like aggregations (popularity, velocity).
//!
//! The graph is compact and immutable: DIDs and post URIs are interned to
//! dense `u32` ids, and likes are kept as time-ordered CSR adjacency in both
//! directions (8 bytes per like per direction), so "the N newest" is a
//! slice and "likes since t" a binary search. Build one with
//! [`GraphBuilder`], share it behind an `Arc`, and replace it to refresh.
//!
//! A walk's cost is memory latency, so it runs on dense per-worker arrays
//! ([`WalkScratch`], lent by a [`ScratchPool`]) with table-driven decay and
//! allocates nothing but its result.

mod builder;
mod decay;
#[cfg(test)]
mod fixture;
mod graph;
mod intern;
mod pool;
mod prefetch;
mod rank;
mod recent;
mod walk;

pub use builder::GraphBuilder;
pub use graph::{Edge, LikeGraph, PostId, UserId};
pub use pool::{ScratchGuard, ScratchPool};
pub use recent::{like_counts_in, recent_like_scores};
pub use walk::{WalkParams, WalkScratch, walk};
