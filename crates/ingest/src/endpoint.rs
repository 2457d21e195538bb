//! The Jetstream subscribe URL: a validated base plus the query the
//! ingester owns (`wantedCollections`, `cursor`).

use feedmixer_atproto::{LIKE_COLLECTION, POST_COLLECTION};
use tokio_tungstenite::tungstenite::http::Uri;

use crate::IngestError;

/// `ws[s]://host[:port][/prefix]/subscribe`, without a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    base: String,
}

impl Endpoint {
    /// Accepts a Jetstream base URL with or without its `/subscribe` path
    /// (and with or without a trailing `/`). A query is refused: the
    /// ingester sets `wantedCollections` and `cursor` itself.
    pub fn parse(url: &str) -> Result<Self, IngestError> {
        let bad = |reason: &str| IngestError::Url {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = url.trim().parse().map_err(|_| bad("not a URL"))?;
        let scheme = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("ws") => "ws",
            Some(s) if s.eq_ignore_ascii_case("wss") => "wss",
            _ => return Err(bad("the scheme must be ws:// or wss://")),
        };
        let authority = uri
            .authority()
            .filter(|a| !a.host().is_empty())
            .ok_or_else(|| bad("no host"))?;
        if uri.query().is_some() {
            return Err(bad(
                "remove the query: the ingester sets wantedCollections and cursor itself",
            ));
        }
        let path = uri.path().trim_end_matches('/');
        let path = if path.ends_with("/subscribe") {
            path.to_string()
        } else {
            format!("{path}/subscribe")
        };
        Ok(Endpoint {
            base: format!("{scheme}://{authority}{path}"),
        })
    }

    /// The URL to connect to: likes only, from `cursor` (`time_us`) when
    /// given, else the live tail.
    pub fn url(&self, cursor: Option<u64>) -> String {
        let mut url = format!(
            "{}?wantedCollections={LIKE_COLLECTION}&wantedCollections={POST_COLLECTION}",
            self.base
        );
        if let Some(cursor) = cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(url: &str) -> String {
        Endpoint::parse(url).unwrap().url(None)
    }

    #[test]
    fn subscribe_path_is_added_once() {
        let want = "wss://jetstream2.us-east.bsky.network/subscribe?wantedCollections=app.bsky.feed.like&wantedCollections=app.bsky.feed.post";
        assert_eq!(base("wss://jetstream2.us-east.bsky.network"), want);
        assert_eq!(base("wss://jetstream2.us-east.bsky.network/"), want);
        assert_eq!(
            base("wss://jetstream2.us-east.bsky.network/subscribe"),
            want
        );
        assert_eq!(
            base("wss://jetstream2.us-east.bsky.network/subscribe/"),
            want
        );
        assert_eq!(
            base("ws://127.0.0.1:6008/jetstream"),
            "ws://127.0.0.1:6008/jetstream/subscribe?wantedCollections=app.bsky.feed.like&wantedCollections=app.bsky.feed.post"
        );
    }

    #[test]
    fn cursor_is_appended_when_known() {
        let endpoint = Endpoint::parse("ws://localhost:1234").unwrap();
        assert_eq!(
            endpoint.url(Some(1_725_911_162_329_308)),
            "ws://localhost:1234/subscribe?wantedCollections=app.bsky.feed.like&wantedCollections=app.bsky.feed.post&cursor=1725911162329308"
        );
    }

    #[test]
    fn bad_urls_are_refused_with_a_reason() {
        for (url, reason) in [
            ("https://jetstream.example", "scheme"),
            ("jetstream.example", "scheme"),
            ("", "URL"),
            ("wss://host/subscribe?cursor=5", "query"),
            ("ws:///subscribe", "URL"),
        ] {
            let err = Endpoint::parse(url).unwrap_err().to_string();
            assert!(err.contains(reason), "{url:?}: {err}");
        }
    }
}
