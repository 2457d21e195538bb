//! Sessions as bytes in the store: length-prefixed fields, little
//! endian, a version byte first.

use std::sync::Arc;

use feedmixer_flow::placement::{ListItem, PlacementKind};

use crate::pager::sessions::{Served, Session};

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

#[cfg(test)]
mod tests {
    use super::*;
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
            let back = decode_session(&encode_session(&s)).unwrap();
            prop_assert_eq!(back.feed, s.feed);
            prop_assert_eq!(back.viewer, s.viewer);
            prop_assert_eq!(back.posts, s.posts);
            prop_assert_eq!(back.earlier, s.earlier);
        }

        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = decode_session(&bytes);
            let _ = decode_served(&bytes);
        }
    }

    #[test]
    fn served_sets_round_trip_and_truncation_is_refused() {
        let bytes = encode_served(&[1, 2, u64::MAX]);
        assert_eq!(&*decode_served(&bytes).unwrap(), &[1, 2, u64::MAX]);
        assert!(decode_served(&bytes[..bytes.len() - 1]).is_err());
        let s = session(vec![("at://x".into(), 1, "walk".into())], vec![7], None);
        let bytes = encode_session(&s);
        for cut in 0..bytes.len() {
            assert!(decode_session(&bytes[..cut]).is_err(), "{cut}");
        }
    }
}
