//! The flow framework: feeds as declarative pipelines of components.
//!
//! A flow file (TOML, under `flows/`) names candidate sources, predicates,
//! one ranker and transforms. This crate parses and validates those files
//! ([`catalog`]), builds components through the kind [`registry`] (kinds
//! register themselves), runs the [hydrators](hydrator) that load the
//! [features](feature) the components read, and runs the components in
//! product-mixer's RecommendationFlow order ([`executor`]) with the
//! bookkeeping every one of them gets for free: timing, candidate counts,
//! budgets and fail-open, all recorded under one set of metric names
//! ([`metrics`]).
//!
//! **Architecture invariant:** components hold no stats, timeout or gating
//! code, and never fetch: the executor wraps every one of them, and what
//! they read per request comes from hydrators as features.

pub mod candidate;
pub mod catalog;
pub mod component;
pub mod context;
pub mod diagnostic;
pub mod executor;
pub mod experiment;
pub mod feature;
pub mod gate;
pub mod hydrator;
pub mod id;
pub mod metrics;
pub mod params;
pub mod placement;
pub mod quality;
pub mod registry;
pub mod rules;
pub mod spec;
pub mod stable_hash;
pub mod sync_spec;

pub use candidate::{Candidate, RankedPost};
pub use catalog::{Catalog, Feed, FeedInfo};
pub use component::{
    CandidateSource, ComponentError, Fetched, Predicate, Ranker, SourceInfo, SourceScores,
    Transform,
};
pub use context::{Position, RequestContext};
pub use diagnostic::Diagnostic;
pub use executor::{Flow, FlowOutput};
pub use feature::{Feature, FeatureKey, FeatureMap};
pub use hydrator::{BuildError, Cost, Hydrator, HydratorKind, Hydrators, Reload, Resources};
pub use id::ComponentId;
pub use params::{NoParams, Overrides, ParamDoc, ParamError, Params};
pub use registry::{Kind, Registration, Registry, Role};

/// For [`register!`]: the registration slice lives here, so kinds in any
/// crate reach it through this crate.
#[doc(hidden)]
pub use linkme;
