//! What flows through the stages.

use feedmixer_graph::{PostId, UserId};
use smallvec::SmallVec;

/// A post under consideration, with the score each source gave it (indexed
/// by the source's position in the flow; 0 when a source did not return it)
/// and the score the ranker combined.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub post: PostId,
    pub author: UserId,
    pub source_scores: SmallVec<[f32; 4]>,
    pub score: f32,
}

/// One entry of a flow's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankedPost {
    pub post: PostId,
    pub score: f32,
    /// Which sources proposed the post: bit i for the flow's source i.
    pub sources: u64,
}
