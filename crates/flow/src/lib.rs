//! The flow framework: feeds as declarative pipelines of components.
//!
//! A flow file (TOML, under `flows/`) names candidate sources, predicates,
//! one ranker and transforms. This crate parses and validates those files
//! ([`catalog`]), builds components through the kind [`registry`], and runs
//! them in product-mixer's RecommendationFlow order ([`executor`]) with the
//! bookkeeping every component gets for free: timing, candidate counts,
//! budgets and fail-open, all recorded under one set of metric names
//! ([`metrics`]).
//!
//! **Architecture invariant:** components hold no stats, timeout or gating
//! code; the executor wraps every one of them.

pub mod candidate;
pub mod catalog;
pub mod component;
pub mod context;
pub mod diagnostic;
pub mod executor;
pub mod feedback;
pub mod gate;
pub mod id;
pub mod metrics;
pub mod params;
pub mod placement;
pub mod quality;
pub mod registry;
pub mod spec;

pub use candidate::{Candidate, RankedPost};
pub use catalog::{Catalog, Feed, FeedInfo};
pub use component::{
    CandidateSource, ComponentError, Predicate, Ranker, SourceInfo, SourceScores, Transform,
};
pub use context::{Pool, RequestContext};
pub use diagnostic::Diagnostic;
pub use executor::{Flow, FlowOutput};
pub use feedback::Feedback;
pub use id::ComponentId;
pub use params::{Overrides, ParamError, Params};
pub use registry::{Registry, Role};
