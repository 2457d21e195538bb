//! The opaque cursor of a page: which session, at which offset, signed
//! for one feed and one viewer, with the id of the key that signed it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::http::error::XrpcError;

/// Where the next page starts: a session and an offset, authenticated.
///
/// On the wire: base64url of the signing key's id (2 bytes), session (8),
/// offset (4) and the first 8 bytes of HMAC-SHA256 over all but the tag
/// plus the feed and the viewer — 30 characters. A cursor altered by a
/// client, or replayed on another feed or for another viewer, fails the
/// MAC and is refused; one signed by a key this process no longer has (a
/// rotation, a cursor of an older version) is told apart by its key id
/// and restarts the feed instead (see [`Decoded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub session: u64,
    pub offset: u32,
}

/// Bytes of a cursor on the wire, before base64.
const CURSOR_BYTES: usize = 22;
/// Characters of an encoded cursor.
pub const CURSOR_LEN: usize = 30;
/// Bytes and characters of the cursors before key ids (no key this
/// version has signed them).
const UNKEYED_BYTES: usize = 20;
const UNKEYED_LEN: usize = 27;

/// What a cursor's MAC binds besides the session and offset.
#[derive(Debug, Clone, Copy)]
pub struct CursorScope<'a> {
    pub feed: &'a str,
    pub viewer: Option<&'a str>,
}

/// One key cursors are signed with.
#[derive(Clone)]
pub struct CursorKey {
    secret: [u8; 32],
    /// Names the key in its cursors, so that a cursor of a key no longer
    /// held is told from a forged one.
    id: [u8; 2],
}

impl CursorKey {
    /// A key derived from an operator's (or the store's generated) secret
    /// of any length.
    pub fn from_secret(secret: &str) -> Self {
        let secret: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let id = Sha256::new()
            .chain_update(b"feedmixer cursor key id\0")
            .chain_update(secret)
            .finalize();
        CursorKey {
            secret,
            id: [id[0], id[1]],
        }
    }

    fn mac(&self, session: u64, offset: u32, scope: CursorScope<'_>) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(&self.id);
        mac.update(&session.to_be_bytes());
        mac.update(&offset.to_be_bytes());
        mac.update(scope.feed.as_bytes());
        mac.update(&[0]);
        mac.update(scope.viewer.unwrap_or("").as_bytes());
        mac
    }
}

/// The key new cursors are signed with, and the earlier ones still
/// accepted during a rotation.
#[derive(Clone)]
pub struct CursorKeys {
    signing: CursorKey,
    accepted: Vec<CursorKey>,
}

impl CursorKeys {
    pub fn new(signing: CursorKey, accepted: Vec<CursorKey>) -> Self {
        CursorKeys { signing, accepted }
    }

    fn by_id(&self, id: [u8; 2]) -> impl Iterator<Item = &CursorKey> {
        std::iter::once(&self.signing)
            .chain(&self.accepted)
            .filter(move |key| key.id == id)
    }
}

type HmacSha256 = Hmac<Sha256>;

/// A client's cursor, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    Valid(Cursor),
    /// Well formed, but signed by a key this process does not hold (the
    /// key was rotated out, or the cursor predates key ids): it cannot be
    /// verified, so the feed starts over rather than failing the viewer.
    UnknownKey,
}

impl Cursor {
    pub fn encode(&self, keys: &CursorKeys, scope: CursorScope<'_>) -> String {
        let key = &keys.signing;
        let tag = key
            .mac(self.session, self.offset, scope)
            .finalize()
            .into_bytes();
        let mut bytes = [0u8; CURSOR_BYTES];
        bytes[..2].copy_from_slice(&key.id);
        bytes[2..10].copy_from_slice(&self.session.to_be_bytes());
        bytes[10..14].copy_from_slice(&self.offset.to_be_bytes());
        bytes[14..].copy_from_slice(&tag[..8]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a cursor: valid, signed by a key not held, or (malformed,
    /// forged, for another feed or viewer) refused.
    pub fn decode(
        text: &str,
        keys: &CursorKeys,
        scope: CursorScope<'_>,
    ) -> Result<Decoded, XrpcError> {
        let invalid = || XrpcError::invalid_request("malformed or forged cursor");
        if text.len() == UNKEYED_LEN {
            let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
            return match bytes.len() {
                UNKEYED_BYTES => Ok(Decoded::UnknownKey),
                _ => Err(invalid()),
            };
        }
        if text.len() != CURSOR_LEN {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let bytes: [u8; CURSOR_BYTES] = bytes.try_into().map_err(|_| invalid())?;
        let id = [bytes[0], bytes[1]];
        let session = u64::from_be_bytes(bytes[2..10].try_into().expect("8 bytes"));
        let offset = u32::from_be_bytes(bytes[10..14].try_into().expect("4 bytes"));
        let mut held = false;
        for key in keys.by_id(id) {
            held = true;
            if key
                .mac(session, offset, scope)
                .verify_truncated_left(&bytes[14..])
                .is_ok()
            {
                return Ok(Decoded::Valid(Cursor { session, offset }));
            }
        }
        if held {
            Err(invalid())
        } else {
            Ok(Decoded::UnknownKey)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEED: CursorScope<'static> = CursorScope {
        feed: "for-you",
        viewer: Some("did:plc:viewer"),
    };

    fn keys(secret: &str) -> CursorKeys {
        CursorKeys::new(CursorKey::from_secret(secret), Vec::new())
    }

    fn valid(text: &str, keys: &CursorKeys, scope: CursorScope<'_>) -> Cursor {
        match Cursor::decode(text, keys, scope).unwrap() {
            Decoded::Valid(cursor) => cursor,
            Decoded::UnknownKey => panic!("{text}: unknown key"),
        }
    }

    #[test]
    fn cursors_round_trip_and_stay_small() {
        let c = Cursor {
            session: u64::MAX - 7,
            offset: 150,
        };
        let text = c.encode(&keys("test"), FEED);
        assert_eq!(text.len(), CURSOR_LEN);
        assert_eq!(valid(&text, &keys("test"), FEED), c);
    }

    #[test]
    fn forged_and_misplaced_cursors_are_refused() {
        let c = Cursor {
            session: 42,
            offset: 10,
        };
        let key = keys("test");
        let text = c.encode(&key, FEED);
        // Another offset with the old tag: forged.
        let mut bytes = URL_SAFE_NO_PAD.decode(&text).unwrap();
        bytes[13] = 99;
        let forged = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(
            Cursor::decode(&forged, &key, FEED).unwrap_err().error,
            "InvalidRequest"
        );
        let other_feed = CursorScope {
            feed: "trending",
            ..FEED
        };
        assert!(Cursor::decode(&text, &key, other_feed).is_err());
        let anonymous = CursorScope {
            viewer: None,
            ..FEED
        };
        assert!(Cursor::decode(&text, &key, anonymous).is_err());
    }

    #[test]
    fn a_rotated_key_is_accepted_then_unknown() {
        let c = Cursor {
            session: 7,
            offset: 30,
        };
        let old = c.encode(&keys("old"), FEED);
        let rotating = CursorKeys::new(
            CursorKey::from_secret("new"),
            vec![CursorKey::from_secret("old")],
        );
        assert_eq!(valid(&old, &rotating, FEED), c);
        // New cursors are signed with the new key.
        let new = c.encode(&rotating, FEED);
        assert_eq!(valid(&new, &keys("new"), FEED), c);
        // After the grace period the old key is gone: start over.
        assert_eq!(
            Cursor::decode(&old, &keys("new"), FEED).unwrap(),
            Decoded::UnknownKey
        );
        // A cursor of the version before key ids, too.
        let unkeyed = URL_SAFE_NO_PAD.encode([7u8; UNKEYED_BYTES]);
        assert_eq!(
            Cursor::decode(&unkeyed, &keys("new"), FEED).unwrap(),
            Decoded::UnknownKey
        );
    }

    #[test]
    fn malformed_cursors_are_refused() {
        for bad in [
            "",
            "abc",
            &"!".repeat(CURSOR_LEN),
            &"!".repeat(UNKEYED_LEN),
            &"A".repeat(40),
        ] {
            let err = Cursor::decode(bad, &keys("test"), FEED).unwrap_err();
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
            let keys = CursorKeys::new(CursorKey::from_secret("k"), Vec::new());
            let _ = Cursor::decode(&text, &keys, CursorScope { feed: "f", viewer: None });
        }

        #[test]
        fn every_cursor_round_trips(session: u64, offset: u32) {
            let keys = CursorKeys::new(CursorKey::from_secret("k"), Vec::new());
            let scope = CursorScope { feed: "f", viewer: Some("did:plc:v") };
            let c = Cursor { session, offset };
            prop_assert_eq!(Cursor::decode(&c.encode(&keys, scope), &keys, scope).unwrap(), Decoded::Valid(c));
        }
    }
}
