//! HTTP: the router and, in one place, its layers ([`app`]); one module
//! per route ([`routes`]); the one error type ([`XrpcError`]); who is
//! asking ([`viewer`]); the `{feed}` of admin routes (`known_feed`); the
//! admin token (`auth`) and the request metrics (`track`) as middleware.

pub mod accept_language;
pub mod app;
mod auth;
pub mod error;
mod known_feed;
mod listener;
pub mod routes;
pub mod shed;
mod track;
pub mod viewer;

pub use app::{app, serve};
pub use error::XrpcError;
