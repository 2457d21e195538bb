//! Identifiers in the fixed-width form stores and the graph keep them.
//!
//! Nearly every DID on Bluesky is a `did:plc:` with 24 characters of
//! base32 (120 bits), nearly every record key a TID (64 bits), and nearly
//! every liked subject a post, `at://DID/app.bsky.feed.post/RKEY`. Kept as
//! those numbers, a like is a few integers instead of about 150 bytes of
//! text that every reader must split, check and hash again. The rare
//! identifier of another form stays text ([`DidRef::Other`],
//! [`RkeyRef::Other`], [`SubjectRef::Other`]).
//!
//! Every form writes back to exactly the text it was parsed from:
//! `parse(s).to_string() == s` for every string `s`.

use std::fmt;

use crate::aturi::{AtUri, POST_COLLECTION};
use crate::tid::Tid;

const PLC_PREFIX: &str = "did:plc:";
/// Characters after the prefix of a `did:plc`.
const PLC_CHARS: usize = 24;
/// RFC 4648 base32, lowercase: digit value = index.
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// The top bit of a TID: the spec keeps it 0, so a key with it set is
/// kept as text (it would not be a TID of this millennium anyway).
const TID_TOP_BIT: u64 = 1 << 63;

/// A DID: a `did:plc` of 24 base32 characters as its 120 bits (the top 8
/// of the `u128` are 0), any other DID as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DidRef<'a> {
    Plc(u128),
    Other(&'a str),
}

impl<'a> DidRef<'a> {
    /// The packed form of `did` when it has one, else the text. Does not
    /// check that `did` is a DID at all (see [`crate::is_did`]).
    pub fn parse(did: &'a str) -> Self {
        plc_bits(did).map_or(DidRef::Other(did), DidRef::Plc)
    }

    /// Appends the DID's text to `out`.
    pub fn write(self, out: &mut String) {
        match self {
            DidRef::Plc(bits) => write_plc(bits, out),
            DidRef::Other(did) => out.push_str(did),
        }
    }
}

impl fmt::Display for DidRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DidRef::Plc(bits) => {
                let mut out = String::with_capacity(PLC_PREFIX.len() + PLC_CHARS);
                write_plc(*bits, &mut out);
                f.write_str(&out)
            }
            DidRef::Other(did) => f.write_str(did),
        }
    }
}

/// The 120 bits of a `did:plc:` with 24 lowercase base32 characters.
pub fn plc_bits(did: &str) -> Option<u128> {
    let id = did.strip_prefix(PLC_PREFIX)?.as_bytes();
    if id.len() != PLC_CHARS {
        return None;
    }
    id.iter().try_fold(0u128, |bits, &b| {
        let digit = match b {
            b'a'..=b'z' => b - b'a',
            b'2'..=b'7' => b - b'2' + 26,
            _ => return None,
        };
        Some((bits << 5) | u128::from(digit))
    })
}

/// Appends the `did:plc:` of `bits` (from [`plc_bits`]) to `out`.
pub fn write_plc(bits: u128, out: &mut String) {
    out.reserve(PLC_PREFIX.len() + PLC_CHARS);
    out.push_str(PLC_PREFIX);
    for i in (0..PLC_CHARS).rev() {
        out.push(BASE32[((bits >> (5 * i)) & 31) as usize] as char);
    }
}

/// A record key: a TID (top bit 0) as its bits, anything else as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RkeyRef<'a> {
    Tid(Tid),
    Other(&'a str),
}

impl<'a> RkeyRef<'a> {
    pub fn parse(rkey: &'a str) -> Self {
        tid_bits(rkey).map_or(RkeyRef::Other(rkey), |bits| {
            RkeyRef::Tid(Tid::from_bits(bits))
        })
    }

    /// Appends the key's text to `out`.
    pub fn write(self, out: &mut String) {
        use fmt::Write;
        match self {
            RkeyRef::Tid(tid) => write!(out, "{tid}").expect("writing to a String"),
            RkeyRef::Other(rkey) => out.push_str(rkey),
        }
    }
}

impl fmt::Display for RkeyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RkeyRef::Tid(tid) => tid.fmt(f),
            RkeyRef::Other(rkey) => f.write_str(rkey),
        }
    }
}

/// The bits of `rkey` when it is a TID with the top bit 0 (so it writes
/// back to the same text, and the bit is free for a marker).
pub fn tid_bits(rkey: &str) -> Option<u64> {
    Tid::parse(rkey)
        .ok()
        .map(Tid::bits)
        .filter(|bits| bits & TID_TOP_BIT == 0)
}

/// What a like points at: a post as its author and record key, anything
/// else (a feed generator, a list, text that is no AT-URI) as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectRef<'a> {
    Post {
        author: DidRef<'a>,
        rkey: RkeyRef<'a>,
    },
    Other(&'a str),
}

impl<'a> SubjectRef<'a> {
    /// A post when `uri` is `at://DID/app.bsky.feed.post/RKEY` (as
    /// [`AtUri::parse`] takes it), else the text.
    pub fn parse(uri: &'a str) -> Self {
        if let Some(post) = Self::parse_common(uri) {
            return post;
        }
        match AtUri::parse(uri) {
            Ok(parts) if parts.is_post() => SubjectRef::Post {
                author: DidRef::parse(parts.did),
                rkey: RkeyRef::parse(parts.rkey),
            },
            _ => SubjectRef::Other(uri),
        }
    }

    /// The one shape nearly every like has, `at://did:plc:<24>/app.bsky.
    /// feed.post/<TID>`, checked by its fixed lengths, without the general
    /// parser's splitting and DID checks.
    fn parse_common(uri: &'a str) -> Option<Self> {
        const DID_END: usize = 5 + PLC_PREFIX.len() + PLC_CHARS;
        const RKEY_START: usize = DID_END + 1 + POST_COLLECTION.len() + 1;
        if uri.len() != RKEY_START + crate::tid::TID_LEN || !uri.is_ascii() {
            return None;
        }
        let bytes = uri.as_bytes();
        let well_formed = uri.starts_with("at://")
            && bytes[DID_END] == b'/'
            && &uri[DID_END + 1..RKEY_START - 1] == POST_COLLECTION
            && bytes[RKEY_START - 1] == b'/';
        if !well_formed {
            return None;
        }
        Some(SubjectRef::Post {
            author: DidRef::Plc(plc_bits(&uri[5..DID_END])?),
            rkey: RkeyRef::Tid(Tid::from_bits(tid_bits(&uri[RKEY_START..])?)),
        })
    }

    /// Appends the subject's AT-URI (or text) to `out`.
    pub fn write(self, out: &mut String) {
        match self {
            SubjectRef::Post { author, rkey } => {
                out.push_str("at://");
                author.write(out);
                out.push('/');
                out.push_str(POST_COLLECTION);
                out.push('/');
                rkey.write(out);
            }
            SubjectRef::Other(uri) => out.push_str(uri),
        }
    }
}

impl fmt::Display for SubjectRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.write(&mut out);
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn common_forms_pack() {
        let plc = "did:plc:vd3dnd6iiclka2zhrsdqa7kt";
        assert!(matches!(DidRef::parse(plc), DidRef::Plc(_)));
        assert_eq!(DidRef::parse(plc).to_string(), plc);
        for other in [
            "did:web:example.com",
            "did:plc:a",
            "did:plc:vd3dnd6iiclka2zhrsdqa7k1",
            "did:plc:VD3DND6IICLKA2ZHRSDQA7KT",
        ] {
            assert_eq!(DidRef::parse(other), DidRef::Other(other));
        }
        assert!(matches!(RkeyRef::parse("3jzfcijpj2z2a"), RkeyRef::Tid(_)));
        // Parses as a TID, but its top bit is set.
        assert_eq!(
            RkeyRef::parse("k222222222222"),
            RkeyRef::Other("k222222222222")
        );
        let post = "at://did:plc:vd3dnd6iiclka2zhrsdqa7kt/app.bsky.feed.post/3jzfcijpj2z2a";
        assert!(matches!(
            SubjectRef::parse(post),
            SubjectRef::Post {
                author: DidRef::Plc(_),
                rkey: RkeyRef::Tid(_)
            }
        ));
        let generator = "at://did:plc:vd3dnd6iiclka2zhrsdqa7kt/app.bsky.feed.generator/x";
        assert_eq!(SubjectRef::parse(generator), SubjectRef::Other(generator));
        assert_eq!(
            SubjectRef::parse("at://s\0ubject"),
            SubjectRef::Other("at://s\0ubject")
        );
    }

    proptest! {
        /// Every string writes back to itself, whichever form it took.
        #[test]
        fn every_form_round_trips(
            did in prop_oneof!["did:plc:[a-z2-7]{24}", "did:[a-z]{1,4}:[a-z0-9.]{1,30}", "\\PC{0,20}"],
            rkey in prop_oneof!["[2-7a-j][2-7a-z]{12}", "[a-zA-Z0-9._:~-]{1,16}", "\\PC{0,20}"],
            collection in prop_oneof![Just(POST_COLLECTION.to_owned()), "[a-z.]{1,20}"],
        ) {
            prop_assert_eq!(DidRef::parse(&did).to_string(), did.clone());
            prop_assert_eq!(RkeyRef::parse(&rkey).to_string(), rkey.clone());
            let uri = format!("at://{did}/{collection}/{rkey}");
            prop_assert_eq!(SubjectRef::parse(&uri).to_string(), uri.clone());
        }

        /// The common shape's shortcut agrees with the general parser,
        /// also on text of its exact length that is not that shape.
        #[test]
        fn the_common_shape_parses_as_the_general_parser_does(
            uri in prop_oneof![
                "at://did:plc:[a-z2-7]{24}/app\\.bsky\\.feed\\.post/[2-7a-z]{13}",
                "at://did:plc:[a-z2-9]{24}/app\\.bsky\\.feed\\.p[a-z]st/[2-7a-z]{13}",
                "\\PC{70}",
                "[a-z:/.]{70}",
            ],
        ) {
            let general = match AtUri::parse(&uri) {
                Ok(parts) if parts.is_post() => SubjectRef::Post {
                    author: DidRef::parse(parts.did),
                    rkey: RkeyRef::parse(parts.rkey),
                },
                _ => SubjectRef::Other(&uri),
            };
            prop_assert_eq!(SubjectRef::parse(&uri), general);
        }
    }
}
