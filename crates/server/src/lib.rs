//! The HTTP face of feedmixer: AT Protocol feed-generator endpoints, the
//! internal admin API and the operational routes.
//!
//! **Architecture invariant:** only this crate knows HTTP. Handlers parse,
//! call into [`serve_feed`] and the flow framework, and shape the answer;
//! every error leaves through [`error::XrpcError`].

pub mod app;
mod auth;
pub mod bootstrap;
pub mod config;
pub mod error;
pub mod explain;
pub mod metrics;
pub mod pager;
pub mod prune;
pub mod refresh;
pub mod reload;
pub mod routes;
pub mod serve_feed;
pub mod state;
pub mod viewer;

pub use app::{app, serve};
pub use config::ServiceConfig;
pub use state::AppState;
