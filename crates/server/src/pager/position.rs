//! The cursor of a chronological feed: the last served post's place in
//! the order every replica shares, `INDEXED_US::AT_URI`. Nothing is
//! stored behind it and nothing needs signing: a made-up position only
//! asks for the posts older than it, which anyone may page to.

use feedmixer_atproto::AtUri;
use feedmixer_flow::Position;

use crate::http::error::XrpcError;

const SEPARATOR: &str = "::";

/// The cursor text of `position`.
pub fn encode(position: &Position) -> String {
    format!("{}{SEPARATOR}{}", position.indexed_us, position.uri)
}

/// The position a cursor names; a cursor of another shape (a session
/// cursor, garbage) is a bad request.
pub fn decode(text: &str) -> Result<Position, XrpcError> {
    let invalid = || XrpcError::invalid_request("malformed cursor for a chronological feed");
    let (time, uri) = text.split_once(SEPARATOR).ok_or_else(invalid)?;
    let indexed_us: u64 = time.parse().map_err(|_| invalid())?;
    if !AtUri::parse(uri).is_ok_and(|u| u.is_post()) {
        return Err(invalid());
    }
    Ok(Position {
        indexed_us,
        uri: uri.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_shapes() {
        let position = Position {
            indexed_us: 1_725_911_162_329_308,
            uri: "at://did:plc:abc/app.bsky.feed.post/3l3qo2vutsw2b".into(),
        };
        let text = encode(&position);
        assert_eq!(
            text,
            "1725911162329308::at://did:plc:abc/app.bsky.feed.post/3l3qo2vutsw2b"
        );
        assert_eq!(decode(&text).unwrap(), position);
        for bad in [
            "",
            "abcdefghijklmnopqrstuvwxyz0",
            "12::",
            "x::at://did:plc:abc/app.bsky.feed.post/3",
            "12::at://did:plc:abc/app.bsky.feed.like/3",
            "-1::at://did:plc:abc/app.bsky.feed.post/3",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }
}
