//! The four component roles. Components compute; the executor around them
//! times, counts, enforces budgets and fails open.

use async_trait::async_trait;
use feedmixer_graph::PostId;

use crate::{Candidate, RequestContext};

/// Why a component could not produce its result. The executor counts it
/// and carries on without the component.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ComponentError(pub String);

/// Posts a source proposes, each with the source's own score (higher is
/// better; scales differ between sources, the ranker normalizes).
pub type SourceScores = Vec<(PostId, f32)>;

/// Produces candidates. Sources run concurrently, each within its budget.
#[async_trait]
pub trait CandidateSource: Send + Sync {
    async fn fetch(&self, ctx: &RequestContext) -> Result<SourceScores, ComponentError>;

    /// Posts the source places at fixed positions instead of ranking them
    /// (pinned, sponsored). Most sources place nothing.
    fn placements(&self, _ctx: &RequestContext) -> Vec<crate::placement::Placement> {
        Vec::new()
    }
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
