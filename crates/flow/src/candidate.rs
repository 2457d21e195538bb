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

/// `candidates` with each score multiplied by `factor(candidate)`, re-sorted
/// best first; stable, so equal scores keep their order. For transforms
/// that lift or sink posts by a per-candidate factor.
pub fn rescored(candidates: &[Candidate], factor: impl Fn(&Candidate) -> f32) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = candidates
        .iter()
        .map(|c| Candidate {
            score: c.score * factor(c),
            ..c.clone()
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}
