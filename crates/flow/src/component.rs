//! The four component roles. Components compute; the executor around them
//! times, counts, enforces budgets and fails open.

use async_trait::async_trait;
use feedmixer_graph::PostId;

use crate::placement::Placement;
use crate::{Candidate, RequestContext};

/// Why a component could not produce its result. The executor counts it
/// and carries on without the component.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ComponentError(pub String);

/// Posts a source proposes, each with the source's own score (higher is
/// better; scales differ between sources, the ranker normalizes).
pub type SourceScores = Vec<(PostId, f32)>;

/// What a source found: posts to rank and, rarely, posts to place at
/// fixed positions instead of ranking them (pinned, sponsored).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Fetched {
    pub scores: SourceScores,
    pub placements: Vec<Placement>,
}

impl From<SourceScores> for Fetched {
    fn from(scores: SourceScores) -> Self {
        Fetched {
            scores,
            placements: Vec::new(),
        }
    }
}

/// Produces candidates. Sources run concurrently, each within its budget.
#[async_trait]
pub trait CandidateSource: Send + Sync {
    async fn fetch(&self, ctx: &RequestContext) -> Result<Fetched, ComponentError>;
}

/// Decides, per candidate, whether it stays.
#[async_trait]
pub trait Predicate: Send + Sync {
    /// Returns one verdict per candidate, `true` to keep it.
    async fn keep(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<bool>, ComponentError>;
}

/// How the ranker sees a source: its weight from the flow file.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub id: String,
    pub weight: f32,
}

/// Orders candidates: sets `score` and sorts, best first.
#[async_trait]
pub trait Ranker: Send + Sync {
    async fn rank(
        &self,
        ctx: &RequestContext,
        sources: &[SourceInfo],
        candidates: &mut Vec<Candidate>,
    ) -> Result<(), ComponentError>;
}

/// Reshapes a ranked list (diversity, reordering, dropping).
#[async_trait]
pub trait Transform: Send + Sync {
    /// Returns the new list; on error the executor keeps the input as is.
    async fn transform(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<Candidate>, ComponentError>;
}
