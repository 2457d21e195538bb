//! Paging: a ranked list is computed once per session and cached; the
//! opaque cursor names the session and the offset of the next page, so
//! pages of one session never repeat a post.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use feedmixer_flow::placement::ListItem;
use moka::sync::Cache;

use crate::config::SessionConfig;
use crate::error::XrpcError;

/// A ranked list being paged through.
#[derive(Debug)]
pub struct Session {
    pub feed: String,
    pub viewer: Option<String>,
    /// The whole list: ranked posts with placed ones merged in.
    pub posts: Vec<ListItem>,
}

impl Session {
    /// Approximate heap bytes, for the cache's memory bound.
    fn weight(&self) -> u32 {
        let strings: usize = self.posts.iter().map(|p| p.post.len() + 32).sum();
        (strings + self.feed.len() + 64).min(u32::MAX as usize) as u32
    }
}

/// Where the next page starts. Serialized as 16 base64url characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub session: u64,
    pub offset: u32,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; 12];
        bytes[..8].copy_from_slice(&self.session.to_be_bytes());
        bytes[8..].copy_from_slice(&self.offset.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(text: &str) -> Result<Cursor, XrpcError> {
        let invalid = || XrpcError::invalid_request("malformed cursor");
        if text.len() != 16 {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let bytes: [u8; 12] = bytes.try_into().map_err(|_| invalid())?;
        let (session, offset) = bytes.split_at(8);
        Ok(Cursor {
            session: u64::from_be_bytes(session.try_into().expect("8 bytes")),
            offset: u32::from_be_bytes(offset.try_into().expect("4 bytes")),
        })
    }
}

/// Ranked lists behind live cursors, bounded in bytes and time.
pub struct Sessions {
    cache: Cache<u64, Arc<Session>>,
}

impl Sessions {
    pub fn new(config: &SessionConfig) -> Self {
        Sessions {
            cache: Cache::builder()
                .max_capacity(config.max_bytes)
                .weigher(|_, s: &Arc<Session>| s.weight())
                .time_to_live(Duration::from_secs(config.ttl_secs))
                .build(),
        }
    }

    /// Stores a new list and returns its id.
    pub fn insert(&self, session: Session) -> (u64, Arc<Session>) {
        let id = rand::random::<u64>();
        let session = Arc::new(session);
        self.cache.insert(id, session.clone());
        (id, session)
    }

    pub fn get(&self, id: u64) -> Option<Arc<Session>> {
        self.cache.get(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            session: u64::MAX - 7,
            offset: 150,
        };
        let text = c.encode();
        assert_eq!(text.len(), 16);
        assert_eq!(Cursor::decode(&text).unwrap(), c);
    }

    #[test]
    fn malformed_cursors_are_refused() {
        for bad in [
            "",
            "abc",
            "!!!!!!!!!!!!!!!!",
            "AAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAA=",
        ] {
            let err = Cursor::decode(bad).unwrap_err();
            assert_eq!(err.error, "InvalidRequest", "{bad:?}");
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_decodes_or_is_refused_without_panic(text in ".{0,40}") {
            let _ = Cursor::decode(&text);
        }

        #[test]
        fn every_cursor_round_trips(session: u64, offset: u32) {
            let c = Cursor { session, offset };
            prop_assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        }
    }
}
