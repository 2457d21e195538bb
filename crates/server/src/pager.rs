//! Paging: a ranked list is computed once per session and cached; the
//! opaque cursor names the session and the offset of the next page, so
//! pages of one session never repeat a post.
//!
//! What a session has served is kept apart from its list, smaller and
//! longer: when the list is gone (expired or evicted), the next page is
//! recomputed without what was served, so paging neither repeats nor skips
//! a post. With a shared store both are kept in its cache
//! (`Store::cache_set`), so a cursor continues on any replica; when the
//! store cannot be reached, a page is recomputed and continues at the
//! cursor's offset (counted as `expired`).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use feedmixer_flow::placement::ListItem;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use feedmixer_store::{Store, StoreHealth};
use moka::sync::Cache;

use crate::config::SessionConfig;
use crate::http::error::XrpcError;

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

impl Session {
    /// Approximate heap bytes, for the in-memory cache's bound.
    fn weight(&self) -> u32 {
        let strings: usize = self
            .posts
            .iter()
            .map(|p| p.post.len() + p.context.len() + 32)
            .sum();
        (strings + self.earlier.len() * 8 + self.feed.len() + 64).min(u32::MAX as usize) as u32
    }
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

/// Ranked lists behind live cursors and what each paging served.
///
/// Lists never change once made, so each process keeps the ones it made or
/// read in memory, decoded. With a shared store (Redis) they are also
/// written there, for the other replicas, and what pagings served lives
/// only there (it changes with every page); with a store no other process
/// sees, both stay in memory and nothing is encoded.
pub struct Sessions {
    store: Arc<dyn Store>,
    health: StoreHealth,
    list_ttl: Duration,
    served_ttl: Duration,
    key: CursorKey,
    lists: Cache<u64, Arc<Session>>,
    /// What pagings served, when the store is not shared.
    served: Cache<u64, Served>,
}

/// The `op`s of the store calls sessions make, as [`StoreHealth`] counts
/// their failures.
const STORE_LIST: &str = "store_list";
const STORE_SERVED: &str = "store_served";
const READ_CURSOR_STATE: &str = "read_cursor_state";

impl Sessions {
    pub fn new(
        config: &SessionConfig,
        key: CursorKey,
        store: Arc<dyn Store>,
        health: StoreHealth,
    ) -> Self {
        let list_ttl = Duration::from_secs(config.ttl_secs);
        let served_ttl = Duration::from_secs(config.served_ttl_secs);
        health.register_ops(&[STORE_LIST, STORE_SERVED, READ_CURSOR_STATE]);
        Sessions {
            store,
            health,
            list_ttl,
            served_ttl,
            key,
            lists: Cache::builder()
                .max_capacity(config.max_bytes)
                .weigher(|_, s: &Arc<Session>| s.weight())
                .time_to_live(list_ttl)
                .build(),
            served: Cache::builder()
                .max_capacity(config.max_served_bytes)
                .weigher(|_, s: &Served| (s.len() * 8 + 48).min(u32::MAX as usize) as u32)
                .time_to_live(served_ttl)
                .build(),
        }
    }

    /// An id for a paging whose list is not kept (yet).
    pub fn new_id(&self) -> u64 {
        rand::random::<u64>()
    }

    /// Keeps a list under a new id. When the shared store cannot take it,
    /// other replicas recompute the list for its cursors.
    pub async fn insert(&self, session: Arc<Session>) -> u64 {
        let id = self.new_id();
        if self.store.shared() {
            let bytes = codec::encode_session(&session);
            self.health
                .call(
                    STORE_LIST,
                    self.store.cache_set(&list_key(id), &bytes, self.list_ttl),
                )
                .await;
        }
        self.lists.insert(id, session);
        id
    }

    /// The list of session `id`, while it lives.
    pub async fn get(&self, id: u64) -> Option<Arc<Session>> {
        if let Some(session) = self.lists.get(&id) {
            return Some(session);
        }
        if !self.store.shared() {
            return None;
        }
        let bytes = self.read(&list_key(id)).await?;
        let session = codec::decode_session(&bytes)
            .inspect_err(|e| tracing::warn!(error = %e, "unreadable ranked list; recomputing"))
            .ok()?;
        let session = Arc::new(session);
        self.lists.insert(id, Arc::clone(&session));
        Some(session)
    }

    /// Records that the session's pages up to `end` were served.
    pub async fn record_served(&self, id: u64, session: &Session, end: usize) {
        let served: Served = session
            .earlier
            .iter()
            .copied()
            .chain(session.posts[..end].iter().map(|p| served_hash(&p.post)))
            .collect();
        if !self.store.shared() {
            self.served.insert(id, served);
            return;
        }
        let bytes = codec::encode_served(&served);
        self.health
            .call(
                STORE_SERVED,
                self.store
                    .cache_set(&served_key(id), &bytes, self.served_ttl),
            )
            .await;
    }

    /// What the paging of session `id` served, while it is remembered.
    pub async fn served(&self, id: u64) -> Option<Served> {
        if !self.store.shared() {
            return self.served.get(&id);
        }
        let bytes = self.read(&served_key(id)).await?;
        codec::decode_served(&bytes)
            .inspect_err(|e| tracing::warn!(error = %e, "unreadable served set"))
            .ok()
    }

    async fn read(&self, key: &str) -> Option<Vec<u8>> {
        self.health
            .call(READ_CURSOR_STATE, self.store.cache_get(key))
            .await
            .flatten()
    }

    /// The cursor text for `cursor` in `scope`.
    pub fn cursor(&self, cursor: Cursor, scope: CursorScope<'_>) -> String {
        cursor.encode(&self.key, scope)
    }

    /// Reads a client's cursor; a malformed or forged one is refused.
    pub fn decode(&self, text: &str, scope: CursorScope<'_>) -> Result<Cursor, XrpcError> {
        Cursor::decode(text, &self.key, scope)
    }
}

fn list_key(id: u64) -> String {
    format!("session:{id:016x}")
}

fn served_key(id: u64) -> String {
    format!("served:{id:016x}")
}

mod codec {
    //! Sessions as bytes in the store: length-prefixed fields, little
    //! endian, a version byte first.

    use std::sync::Arc;

    use feedmixer_flow::placement::{ListItem, PlacementKind};

    use super::{Served, Session};

    const VERSION: u8 = 1;

    #[derive(Debug, thiserror::Error)]
    #[error("cursor state: {0}")]
    pub struct CodecError(&'static str);

    pub fn encode_session(session: &Session) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + session.posts.len() * 120);
        out.push(VERSION);
        put_str(&mut out, &session.feed);
        match &session.viewer {
            Some(viewer) => {
                out.push(1);
                put_str(&mut out, viewer);
            }
            None => out.push(0),
        }
        put_hashes(&mut out, &session.earlier);
        out.extend_from_slice(&(session.posts.len() as u32).to_le_bytes());
        for item in &session.posts {
            put_str(&mut out, &item.post);
            out.push(match item.placed {
                None => 0,
                Some(PlacementKind::Pinned) => 1,
                Some(PlacementKind::Rotating) => 2,
                Some(PlacementKind::Sponsored) => 3,
            });
            put_str(&mut out, &item.context);
        }
        out
    }

    pub fn decode_session(bytes: &[u8]) -> Result<Session, CodecError> {
        let mut r = Reader(bytes);
        if r.u8()? != VERSION {
            return Err(CodecError("unknown version"));
        }
        let feed = r.string()?;
        let viewer = match r.u8()? {
            0 => None,
            1 => Some(r.string()?),
            _ => return Err(CodecError("bad viewer flag")),
        };
        let earlier = r.hashes()?;
        let n = r.u32()? as usize;
        let mut posts = Vec::with_capacity(n.min(r.0.len()));
        for _ in 0..n {
            let post = r.string()?;
            let placed = match r.u8()? {
                0 => None,
                1 => Some(PlacementKind::Pinned),
                2 => Some(PlacementKind::Rotating),
                3 => Some(PlacementKind::Sponsored),
                _ => return Err(CodecError("bad placement")),
            };
            let context = r.string()?;
            posts.push(ListItem {
                post,
                placed,
                context,
            });
        }
        r.end()?;
        Ok(Session {
            feed,
            viewer,
            posts,
            earlier,
        })
    }

    pub fn encode_served(served: &[u64]) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + served.len() * 8);
        out.push(VERSION);
        put_hashes(&mut out, served);
        out
    }

    pub fn decode_served(bytes: &[u8]) -> Result<Served, CodecError> {
        let mut r = Reader(bytes);
        if r.u8()? != VERSION {
            return Err(CodecError("unknown version"));
        }
        let served = r.hashes()?;
        r.end()?;
        Ok(served)
    }

    fn put_str(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    fn put_hashes(out: &mut Vec<u8>, hashes: &[u64]) {
        out.extend_from_slice(&(hashes.len() as u32).to_le_bytes());
        for h in hashes {
            out.extend_from_slice(&h.to_le_bytes());
        }
    }

    struct Reader<'a>(&'a [u8]);

    impl Reader<'_> {
        fn take(&mut self, n: usize) -> Result<&[u8], CodecError> {
            if self.0.len() < n {
                return Err(CodecError("truncated"));
            }
            let (head, rest) = self.0.split_at(n);
            self.0 = rest;
            Ok(head)
        }

        fn u8(&mut self) -> Result<u8, CodecError> {
            Ok(self.take(1)?[0])
        }

        fn u32(&mut self) -> Result<u32, CodecError> {
            Ok(u32::from_le_bytes(
                self.take(4)?.try_into().expect("4 bytes"),
            ))
        }

        fn string(&mut self) -> Result<String, CodecError> {
            let n = self.u32()? as usize;
            String::from_utf8(self.take(n)?.to_vec()).map_err(|_| CodecError("not UTF-8"))
        }

        fn hashes(&mut self) -> Result<Arc<[u64]>, CodecError> {
            let n = self.u32()? as usize;
            let bytes = self.take(n.checked_mul(8).ok_or(CodecError("too long"))?)?;
            Ok(bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect())
        }

        fn end(&self) -> Result<(), CodecError> {
            if self.0.is_empty() {
                Ok(())
            } else {
                Err(CodecError("trailing bytes"))
            }
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
mod codec_tests {
    use super::*;
    use feedmixer_flow::placement::PlacementKind;
    use proptest::prelude::*;

    fn session(
        posts: Vec<(String, u8, String)>,
        earlier: Vec<u64>,
        viewer: Option<String>,
    ) -> Session {
        Session {
            feed: "for-you".into(),
            viewer,
            earlier: earlier.into(),
            posts: posts
                .into_iter()
                .map(|(post, placed, context)| ListItem {
                    post,
                    placed: [
                        None,
                        Some(PlacementKind::Pinned),
                        Some(PlacementKind::Rotating),
                        Some(PlacementKind::Sponsored),
                    ][placed as usize % 4],
                    context,
                })
                .collect(),
        }
    }

    proptest! {
        #[test]
        fn sessions_round_trip(
            posts in proptest::collection::vec((".{0,30}", 0u8..4, ".{0,10}"), 0..20),
            earlier in proptest::collection::vec(any::<u64>(), 0..20),
            viewer in proptest::option::of("did:plc:[a-z]{4}"),
        ) {
            let s = session(posts, earlier, viewer);
            let back = codec::decode_session(&codec::encode_session(&s)).unwrap();
            prop_assert_eq!(back.feed, s.feed);
            prop_assert_eq!(back.viewer, s.viewer);
            prop_assert_eq!(back.posts, s.posts);
            prop_assert_eq!(back.earlier, s.earlier);
        }

        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = codec::decode_session(&bytes);
            let _ = codec::decode_served(&bytes);
        }
    }

    #[test]
    fn served_sets_round_trip_and_truncation_is_refused() {
        let bytes = codec::encode_served(&[1, 2, u64::MAX]);
        assert_eq!(&*codec::decode_served(&bytes).unwrap(), &[1, 2, u64::MAX]);
        assert!(codec::decode_served(&bytes[..bytes.len() - 1]).is_err());
        let s = session(vec![("at://x".into(), 1, "walk".into())], vec![7], None);
        let bytes = codec::encode_session(&s);
        for cut in 0..bytes.len() {
            assert!(codec::decode_session(&bytes[..cut]).is_err(), "{cut}");
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
