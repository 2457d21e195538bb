//! Paging: a ranked list is computed once per session and cached; the
//! opaque cursor names the session and the offset of the next page, so
//! pages of one session never repeat a post.
//!
//! What a session has served is kept apart from its list, smaller and
//! longer: when the list is gone (expired or evicted), the next page is
//! recomputed without what was served, so paging neither repeats nor skips
//! a post. Both live in this process for now: a cursor taken to another
//! process continues at its offset (counted as `expired`).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use feedmixer_flow::placement::ListItem;
use hmac::{Hmac, KeyInit, Mac};
use moka::sync::Cache;
use sha2::{Digest, Sha256};

use crate::config::SessionConfig;
use crate::error::XrpcError;

/// A ranked list being paged through.
#[derive(Debug)]
pub struct Session {
    pub feed: String,
    pub viewer: Option<String>,
    /// The whole list: ranked posts with placed ones merged in.
    pub posts: Vec<ListItem>,
    /// Posts served before this list was computed, when it continues a
    /// paging whose earlier list is gone.
    pub earlier: Served,
}

/// Hashes of the posts a paging has served, in order.
pub type Served = Arc<[u64]>;

/// A post's hash in a [`Served`] set: FNV-1a, stable across processes and
/// versions, so any replica reads another's set.
pub fn served_hash(uri: &str) -> u64 {
    uri.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Session {
    /// Approximate heap bytes, for the cache's memory bound.
    fn weight(&self) -> u32 {
        let strings: usize = self.posts.iter().map(|p| p.post.len() + 32).sum();
        (strings + self.feed.len() + 64).min(u32::MAX as usize) as u32
    }
}

/// Where the next page starts: a session and an offset, authenticated.
///
/// On the wire: base64url of session (8 bytes), offset (4) and the first 8
/// bytes of HMAC-SHA256 over both plus the feed and the viewer — 27
/// characters. A cursor altered by a client, or replayed on another feed or
/// for another viewer, fails the MAC and is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub session: u64,
    pub offset: u32,
}

/// Bytes of a cursor on the wire, before base64.
const CURSOR_BYTES: usize = 20;
/// Characters of an encoded cursor.
pub const CURSOR_LEN: usize = 27;

/// What a cursor's MAC binds besides the session and offset.
#[derive(Debug, Clone, Copy)]
pub struct CursorScope<'a> {
    pub feed: &'a str,
    pub viewer: Option<&'a str>,
}

/// The key cursors are signed with. Replicas behind one load balancer need
/// the same key (`FEEDMIXER_CURSOR_KEY`); without one, a random key per
/// process.
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl CursorKey {
    /// A key derived from an operator's secret of any length.
    pub fn from_secret(secret: &str) -> Self {
        CursorKey(Sha256::digest(secret.as_bytes()).into())
    }

    pub fn random() -> Self {
        CursorKey(rand::random())
    }

    fn mac(&self, session: u64, offset: u32, scope: CursorScope<'_>) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(&session.to_be_bytes());
        mac.update(&offset.to_be_bytes());
        mac.update(scope.feed.as_bytes());
        mac.update(&[0]);
        mac.update(scope.viewer.unwrap_or("").as_bytes());
        mac
    }
}

type HmacSha256 = Hmac<Sha256>;

impl Cursor {
    pub fn encode(&self, key: &CursorKey, scope: CursorScope<'_>) -> String {
        let tag = key
            .mac(self.session, self.offset, scope)
            .finalize()
            .into_bytes();
        let mut bytes = [0u8; CURSOR_BYTES];
        bytes[..8].copy_from_slice(&self.session.to_be_bytes());
        bytes[8..12].copy_from_slice(&self.offset.to_be_bytes());
        bytes[12..].copy_from_slice(&tag[..8]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(
        text: &str,
        key: &CursorKey,
        scope: CursorScope<'_>,
    ) -> Result<Cursor, XrpcError> {
        let invalid = || XrpcError::invalid_request("malformed or forged cursor");
        if text.len() != CURSOR_LEN {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let bytes: [u8; CURSOR_BYTES] = bytes.try_into().map_err(|_| invalid())?;
        let session = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
        let offset = u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes"));
        key.mac(session, offset, scope)
            .verify_truncated_left(&bytes[12..])
            .map_err(|_| invalid())?;
        Ok(Cursor { session, offset })
    }
}

/// Ranked lists behind live cursors and what each paging served, bounded
/// in bytes and time.
pub struct Sessions {
    cache: Cache<u64, Arc<Session>>,
    served: Cache<u64, Served>,
    key: CursorKey,
}

impl Sessions {
    pub fn new(config: &SessionConfig, key: CursorKey) -> Self {
        Sessions {
            key,
            cache: Cache::builder()
                .max_capacity(config.max_bytes)
                .weigher(|_, s: &Arc<Session>| s.weight())
                .time_to_live(Duration::from_secs(config.ttl_secs))
                .build(),
            served: Cache::builder()
                .max_capacity(config.max_served_bytes)
                .weigher(|_, s: &Served| (s.len() * 8 + 48).min(u32::MAX as usize) as u32)
                .time_to_live(Duration::from_secs(config.served_ttl_secs))
                .build(),
        }
    }

    /// Records that the session's pages up to `end` were served.
    pub fn record_served(&self, id: u64, session: &Session, end: usize) {
        let served: Served = session
            .earlier
            .iter()
            .copied()
            .chain(session.posts[..end].iter().map(|p| served_hash(&p.post)))
            .collect();
        self.served.insert(id, served);
    }

    /// What the paging of session `id` served, while it is remembered.
    pub fn served(&self, id: u64) -> Option<Served> {
        self.served.get(&id)
    }

    /// Stores a list under a new id.
    pub fn insert(&self, session: Arc<Session>) -> u64 {
        let id = rand::random::<u64>();
        self.cache.insert(id, session);
        id
    }

    /// The cursor text for `cursor` in `scope`.
    pub fn cursor(&self, cursor: Cursor, scope: CursorScope<'_>) -> String {
        cursor.encode(&self.key, scope)
    }

    /// Reads a client's cursor; a malformed or forged one is refused.
    pub fn decode(&self, text: &str, scope: CursorScope<'_>) -> Result<Cursor, XrpcError> {
        Cursor::decode(text, &self.key, scope)
    }

    pub fn get(&self, id: u64) -> Option<Arc<Session>> {
        self.cache.get(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEED: CursorScope<'static> = CursorScope {
        feed: "for-you",
        viewer: Some("did:plc:viewer"),
    };

    fn key() -> CursorKey {
        CursorKey::from_secret("test")
    }

    #[test]
    fn cursors_round_trip_and_stay_small() {
        let c = Cursor {
            session: u64::MAX - 7,
            offset: 150,
        };
        let text = c.encode(&key(), FEED);
        assert_eq!(text.len(), CURSOR_LEN);
        assert!(text.len() < 100);
        assert_eq!(Cursor::decode(&text, &key(), FEED).unwrap(), c);
    }

    #[test]
    fn forged_and_misplaced_cursors_are_refused() {
        let c = Cursor {
            session: 42,
            offset: 10,
        };
        let text = c.encode(&key(), FEED);
        // Another offset with the old tag: forged.
        let mut bytes = URL_SAFE_NO_PAD.decode(&text).unwrap();
        bytes[11] = 99;
        let forged = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(
            Cursor::decode(&forged, &key(), FEED).unwrap_err().error,
            "InvalidRequest"
        );
        let other_feed = CursorScope {
            feed: "trending",
            ..FEED
        };
        assert!(Cursor::decode(&text, &key(), other_feed).is_err());
        let anonymous = CursorScope {
            viewer: None,
            ..FEED
        };
        assert!(Cursor::decode(&text, &key(), anonymous).is_err());
        assert!(Cursor::decode(&text, &CursorKey::from_secret("other"), FEED).is_err());
    }

    #[test]
    fn malformed_cursors_are_refused() {
        for bad in [
            "",
            "abc",
            &"!".repeat(CURSOR_LEN),
            &"A".repeat(40),
            &"A".repeat(CURSOR_LEN),
        ] {
            let err = Cursor::decode(bad, &key(), FEED).unwrap_err();
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
            let _ = Cursor::decode(&text, &CursorKey::from_secret("k"), CursorScope { feed: "f", viewer: None });
        }

        #[test]
        fn every_cursor_round_trips(session: u64, offset: u32) {
            let key = CursorKey::from_secret("k");
            let scope = CursorScope { feed: "f", viewer: Some("did:plc:v") };
            let c = Cursor { session, offset };
            prop_assert_eq!(Cursor::decode(&c.encode(&key, scope), &key, scope).unwrap(), c);
        }
    }
}
