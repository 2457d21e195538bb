//! AT-URIs of records (`at://DID/COLLECTION/RKEY`) and the syntax of their
//! parts.

/// Collection NSID of posts.
pub const POST_COLLECTION: &str = "app.bsky.feed.post";

/// A record AT-URI split into its parts, borrowing the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtUri<'a> {
    pub did: &'a str,
    pub collection: &'a str,
    pub rkey: &'a str,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AtUriError {
    #[error("AT-URI must start with at://")]
    Scheme,
    #[error("AT-URI must name a DID authority, a collection and a record key")]
    Shape,
}

impl<'a> AtUri<'a> {
    /// Splits `at://DID/COLLECTION/RKEY`. The authority must be a DID
    /// (handles are not stable identifiers, so records keyed by them are
    /// refused) and every part must be non-empty.
    pub fn parse(uri: &'a str) -> Result<Self, AtUriError> {
        let rest = uri.strip_prefix("at://").ok_or(AtUriError::Scheme)?;
        let mut parts = rest.split('/');
        let (Some(did), Some(collection), Some(rkey), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AtUriError::Shape);
        };
        if !is_did(did) || collection.is_empty() || rkey.is_empty() {
            return Err(AtUriError::Shape);
        }
        Ok(AtUri {
            did,
            collection,
            rkey,
        })
    }

    /// True when the record is a post (`app.bsky.feed.post`).
    pub fn is_post(&self) -> bool {
        self.collection == POST_COLLECTION
    }
}

/// The AT-URI of post `rkey` of `did`.
pub fn post_uri(did: &str, rkey: &str) -> String {
    format!("at://{did}/{POST_COLLECTION}/{rkey}")
}

/// A syntactically plausible DID: `did:METHOD:ID` with a lowercase method
/// and an identifier of the characters the DID spec allows.
pub fn is_did(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("did:") else {
        return false;
    };
    let Some((method, id)) = rest.split_once(':') else {
        return false;
    };
    !method.is_empty()
        && method.bytes().all(|b| b.is_ascii_lowercase())
        && !id.is_empty()
        && s.len() <= 2048
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'%' | b'-'))
        && !id.ends_with(':')
}

/// Record key syntax from the AT Protocol spec: 1 to 512 characters of
/// `A-Za-z0-9._:~-`, and neither `.` nor `..`.
pub fn is_record_key(rkey: &str) -> bool {
    (1..=512).contains(&rkey.len())
        && rkey != "."
        && rkey != ".."
        && rkey
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'~' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_post_uri() {
        let uri = AtUri::parse("at://did:plc:abc234/app.bsky.feed.post/3kabc").unwrap();
        assert_eq!(uri.did, "did:plc:abc234");
        assert_eq!(uri.collection, POST_COLLECTION);
        assert_eq!(uri.rkey, "3kabc");
        assert!(uri.is_post());
    }

    #[test]
    fn refuses_malformed_uris() {
        for bad in [
            "",
            "https://x/y/z",
            "at://did:plc:abc/app.bsky.feed.post",
            "at://did:plc:abc/app.bsky.feed.post/",
            "at://alice.bsky.social/app.bsky.feed.post/3k",
            "at://did:plc:abc/app.bsky.feed.post/3k/extra",
            "at://did:/app.bsky.feed.post/3k",
        ] {
            assert!(AtUri::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn did_syntax() {
        assert!(is_did("did:plc:demoviewer22222222222222"));
        assert!(is_did("did:web:example.com"));
        assert!(!is_did("did:PLC:abc"));
        assert!(!is_did("did:plc:"));
        assert!(!is_did("plc:abc"));
        assert!(!is_did("did:plc:a b"));
    }

    #[test]
    fn record_key_syntax() {
        for good in ["3l3qo2vutsw2b", "self", "a.b_c:d~e-f", &"a".repeat(512)] {
            assert!(is_record_key(good), "{good:?}");
        }
        for bad in ["", ".", "..", "a b", "a/b", &"a".repeat(513)] {
            assert!(!is_record_key(bad), "{bad:?}");
        }
    }
}
