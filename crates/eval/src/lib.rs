//! Offline evaluation of feeds on a like log: `feedmixer eval`.
//!
//! One global split time T cuts the log: the graph, and everything a flow
//! reads, is what was known before T; each sampled user's first likes
//! after T are held out ([`split`]). Every feed is then ranked for every
//! sampled user through its real flow, as the server runs it, with the
//! request's clock at T ([`runner`]), and scored against the held-out
//! likes: recall@k and nDCG@k, coverage, the share of results from each
//! source and ranking latency ([`metrics`], [`report`]), always beside a
//! popularity baseline ([`baseline`]).
//!
//! This crate knows no store and no capture format: the binary builds the
//! graph as of T from the store and hands over the likes after T.
//! docs/eval.md describes the method and its choices.

pub mod baseline;
pub mod error;
pub mod metrics;
pub mod report;
pub mod runner;
pub mod split;

pub use baseline::Popularity;
pub use error::EvalError;
pub use report::Row;
pub use runner::{Evaluator, Variant, variants};
pub use split::{EvalUser, HeldOut, Rules, Split, SplitStats, split_time};
