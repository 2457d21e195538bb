//! AT Protocol vocabulary shared by every feedmixer crate: identifiers
//! (DIDs, AT-URIs, TIDs), the Jetstream events the like graph and the post
//! index are built from (with the part of a post record they keep), the
//! service JWTs (with the DID document keys that verify them) that
//! identify a feed's viewer, and the feed generator records that announce
//! the feeds.
//!
//! Only this crate knows the wire shapes of the protocol; the rest of the
//! workspace deals in the validated types defined here.

pub mod aturi;
pub mod clock;
pub mod did_doc;
pub mod generator;
pub mod interaction;
pub mod jetstream;
pub mod jwt;
pub mod packed;
pub mod post;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tid;

pub use aturi::{AtUri, AtUriError, POST_COLLECTION, is_did, is_record_key, post_uri};
pub use did_doc::{DidDocError, DidDocument, KeyError, PublicKey, did_document_url};
pub use generator::{AvatarError, Blob, GENERATOR_COLLECTION, GeneratorRecord, RecordError};
pub use interaction::{INTERACTION_EVENTS, InteractionEvent};
pub use jetstream::{LIKE_COLLECTION, ParseError, RepoEvent};
pub use jwt::{Alg, ExpectedClaims, JwtError, ServiceJwt};
pub use packed::{DidRef, RkeyRef, SubjectRef};
pub use post::{
    Embed, MAX_LABELS, MAX_LANGS, MAX_TAGS, Media, Post, ReplyRefs, is_language_tag,
    primary_language, primary_subtag,
};
pub use tid::{Tid, TidError};
