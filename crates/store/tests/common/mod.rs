//! Helpers shared by the store's integration tests.

pub use feedmixer_store::testkit::*;
