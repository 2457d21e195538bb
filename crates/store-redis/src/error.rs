//! What can go wrong talking to Redis. Every such error reaches callers as
//! [`StoreError::Backend`], so they never depend on the `redis` crate.

use feedmixer_store::StoreError;

/// Why a Redis store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RedisStoreError {
    /// The key prefix cannot be used: empty, or holding a brace, which
    /// would change the keys' hash tags.
    #[error("invalid redis key prefix `{0}`: it must be non-empty and hold no `{{` or `}}`")]
    InvalidPrefix(String),

    /// Redis refused a command, or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),

    /// Redis answered something no version of the store's scripts returns.
    #[error("unexpected reply from redis: {0}")]
    Reply(String),

    /// The store under this prefix was written by a newer feedmixer.
    #[error(
        "the redis store under prefix `{prefix}` has schema version {found}, newer than this \
         feedmixer supports (up to {supported}); run a newer feedmixer or use another prefix"
    )]
    NewerSchema {
        prefix: String,
        found: u64,
        supported: u64,
    },
}

impl From<RedisStoreError> for StoreError {
    fn from(err: RedisStoreError) -> Self {
        StoreError::Backend(Box::new(err))
    }
}

/// For `map_err`: a Redis failure as the store's error.
pub(crate) fn backend(err: impl Into<RedisStoreError>) -> StoreError {
    err.into().into()
}
