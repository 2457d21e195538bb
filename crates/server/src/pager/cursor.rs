//! The opaque cursor of a page: which session, at which offset, signed
//! for one feed and one viewer.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::http::error::XrpcError;

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
