//! The in-process like graph every serving replica holds, and the
//! computations over it: the LinkLonk random walk (personalized candidates)
//! and the lists that are the same for every viewer: recent-like
//! aggregations (trending, popularity, velocity) and discovery (fresh posts
//! with well-connected likers).
//!
//! The graph is compact and immutable: DIDs and posts (author and record
//! key, not the URI string) are interned to dense `u32` ids, and likes are kept as time-ordered CSR adjacency in both
//! directions (8 bytes per like per direction), so "the N newest" is a
//! slice and "likes since t" a binary search. Build one with
//! [`GraphBuilder`], share it behind an `Arc`, and replace it to refresh.
//!
//! A walk's cost is memory latency, so it runs on dense per-worker arrays
//! ([`WalkScratch`], lent by a [`ScratchPool`]) with table-driven decay and
//! allocates nothing but its result.

mod builder;
mod decay;
mod did_keys;
mod discovery;
#[cfg(test)]
mod fixture;
mod graph;
mod intern;
mod merge;
mod pool;
mod post_keys;
mod posts;
mod prefetch;
mod rank;
mod recent;
mod slots;
mod update;
mod velocity;
mod walk;

pub use builder::{GraphBuilder, PackedLike};
pub use discovery::{DiscoveryParams, discovery_scores, post_created_secs};
pub use graph::{Edge, LikeGraph, Lineage, PostId, UserId};
pub use pool::{ScratchGuard, ScratchPool};
pub use posts::{LangId, PostInfo};
pub use recent::{like_counts_in, recent_like_scores, recent_like_scores_with_floor};
pub use update::GraphChange;
pub use velocity::like_velocity_scores;
pub use walk::{WalkParams, WalkScratch, walk, walk_edges_bound};
