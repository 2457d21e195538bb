//! AT Protocol vocabulary shared by every feedmixer crate: identifiers
//! (DIDs, AT-URIs, TIDs) and the Jetstream events the like graph is built from.
//!
//! Only this crate knows the wire shapes of the protocol; the rest of the
//! workspace deals in the validated types defined here.

pub mod aturi;
pub mod jetstream;
pub mod tid;

pub use aturi::{AtUri, AtUriError, POST_COLLECTION, is_did};
pub use jetstream::{LIKE_COLLECTION, LikeEvent, ParseError};
pub use tid::{Tid, TidError};
