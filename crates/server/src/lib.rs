//! The HTTP face of feedmixer: AT Protocol feed-generator endpoints, the
//! internal admin API and the operational routes ([`http`]), the path every
//! feed page takes ([`serve_feed`], [`pager`], [`explain`]), and what runs
//! beside the requests ([`runtime`]).
//!
//! **Architecture invariant:** only this crate knows HTTP. Handlers parse,
//! call into [`serve_feed`] and the flow framework, and shape the answer;
//! every error leaves through [`http::XrpcError`].

pub mod config;
pub mod explain;
pub mod http;
pub mod impressions;
pub mod metrics;
pub mod pager;
pub mod runtime;
pub mod serve_feed;

pub use config::ServiceConfig;
pub use http::{app, serve};
pub use runtime::AppState;
