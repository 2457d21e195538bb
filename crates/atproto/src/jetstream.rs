//! Jetstream events, reduced to what the like graph needs.

/// Collection NSID of like records.
pub const LIKE_COLLECTION: &str = "app.bsky.feed.like";

/// One change to the like graph, as decoded from a Jetstream event.
///
/// Likes are keyed by `(did, rkey)`: that is how Jetstream identifies the
/// record in both its create and its delete events, so a repeated create is
/// one like and a delete finds the like it undoes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LikeEvent {
    /// `did` liked the post `subject` (an `at://` URI of an
    /// `app.bsky.feed.post`).
    Create {
        did: String,
        rkey: String,
        subject: String,
        time_us: u64,
    },
    /// `did` removed its like record `rkey`.
    Delete { did: String, rkey: String, time_us: u64 },
    /// The account was deleted: every like it made goes.
    AccountDeleted { did: String, time_us: u64 },
}

impl LikeEvent {
    /// The Jetstream `time_us` of the event.
    pub fn time_us(&self) -> u64 {
        match self {
            LikeEvent::Create { time_us, .. }
            | LikeEvent::Delete { time_us, .. }
            | LikeEvent::AccountDeleted { time_us, .. } => *time_us,
        }
    }

    /// The DID of the account the event belongs to.
    pub fn did(&self) -> &str {
        match self {
            LikeEvent::Create { did, .. }
            | LikeEvent::Delete { did, .. }
            | LikeEvent::AccountDeleted { did, .. } => did,
        }
    }
}

/// Why a Jetstream line could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("not a JSON object: {0}")]
    Json(String),
    #[error("missing or invalid field `{0}`")]
    Field(&'static str),
}
