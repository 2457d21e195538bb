//! The store's one error type, shared by every backend.

use std::path::PathBuf;

/// Why a store operation failed. Backend details are carried as text and a
/// boxed error, so callers never depend on the backend's crate.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another store in this one) holds the data dir.
    #[error("data dir {} is in use by another feedmixer process", dir.display())]
    InUse { dir: PathBuf },

    /// The data dir or its lock file cannot be created or opened.
    #[error("cannot use data dir {}: {source}", dir.display())]
    DataDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The store was written by a newer feedmixer; opening it could
    /// misread or damage it.
    #[error(
        "the store in {} has schema version {found}, newer than this feedmixer supports \
         (up to {supported}); run a newer feedmixer or use another data dir",
        dir.display()
    )]
    NewerSchema {
        dir: PathBuf,
        found: u64,
        supported: u64,
    },

    /// Stored bytes that no version of the store writes.
    #[error("store is corrupt: {0}")]
    Corrupt(String),

    /// [`crate::Store::set_meta`] was asked to write one of the store's own
    /// keys.
    #[error("meta key `{0}` is reserved for the store itself")]
    ReservedMetaKey(String),

    /// A pool operation was given an empty feed name: the store keeps no
    /// pool for it.
    #[error("a feed pool needs a non-empty feed name")]
    EmptyFeedName,

    /// A pool update was given an empty post URI: the store never stores
    /// one.
    #[error("a feed pool cannot hold an empty post URI")]
    EmptyPostUri,

    /// Special posts that break their bounds or name something other than
    /// a post (the message names the entry).
    #[error("invalid special posts: {0}")]
    InvalidSpecialPosts(String),

    /// An interaction with no viewer or no item, which no backend keeps.
    #[error("invalid interaction: {0}")]
    InvalidInteraction(String),

    /// A lease with an empty name or holder, which no backend keeps.
    #[error("invalid lease: {0}")]
    InvalidLease(String),

    /// A counter call named no group (or one with a brace) or an empty
    /// field.
    #[error("invalid counter: {0}")]
    InvalidCounter(String),

    /// A capture being replayed could not be read (not: a line in it could
    /// not be decoded, which the replay counts and skips).
    #[error("cannot read the capture: {0}")]
    Capture(#[source] std::io::Error),

    /// The storage engine failed (I/O, a full disk, a damaged file).
    #[error("storage backend failed: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),

    /// The blocking task running a store operation panicked or was
    /// cancelled by a runtime shutdown.
    #[error("store task failed: {0}")]
    Task(String),
}

impl From<tokio::task::JoinError> for StoreError {
    fn from(err: tokio::task::JoinError) -> Self {
        StoreError::Task(err.to_string())
    }
}

/// Every redb error is a backend failure; the few that mean something to
/// callers (a locked file) are mapped where they can occur.
macro_rules! backend_errors {
    ($($ty:ty),+ $(,)?) => {
        $(impl From<$ty> for StoreError {
            fn from(err: $ty) -> Self {
                StoreError::Backend(Box::new(err))
            }
        })+
    };
}

backend_errors!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
);
