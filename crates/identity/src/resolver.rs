//! DID document resolution with a bounded, coalescing TTL cache.
//!
//! Every viewer request needs its issuer's key, and the PLC directory is a
//! shared public service: documents are cached for [`ResolverConfig::ttl`]
//! and concurrent misses for one DID share a single fetch. A signature
//! failure refetches the document ([`DidResolver::refresh`], for key
//! rotation); `refetch.rs` says when, and how forged tokens are kept from
//! driving directory traffic.
//! Failures are split into the issuer's fault ([`ResolveError::NotFound`],
//! [`ResolveError::Invalid`], [`ResolveError::Unsupported`]) and ours or the
//! network's ([`ResolveError::Unavailable`]), because a caller must answer
//! the two differently.

use std::sync::Arc;
use std::time::{Duration, Instant};

use feedmixer_atproto::{DidDocument, did_document_url};
use moka::Expiry;
use moka::future::Cache;
use moka::ops::compute::{CompResult, Op};
use reqwest::StatusCode;

use crate::metrics::{DID_CACHE_LOOKUPS, DID_RESOLUTION_DURATION, DID_RESOLUTIONS};
use crate::refetch::{self, Found, Next, Refetch};

/// The public PLC directory.
pub const DEFAULT_PLC_URL: &str = "https://plc.directory";

/// Largest DID document read, in bytes. Real ones are about 1 KiB; a bigger
/// body is refused as invalid rather than buffered.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Redirects followed per fetch: enough for an `http`→`https` or `www` hop,
/// not for a loop.
const MAX_REDIRECTS: usize = 3;

const USER_AGENT: &str = concat!("feedmixer/", env!("CARGO_PKG_VERSION"));

/// How a [`DidResolver`] fetches and caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverConfig {
    /// Base URL of the PLC directory; `did:plc:X` is fetched at `{plc_url}/did:plc:X`.
    pub plc_url: String,
    /// Limit on a whole fetch (connect, headers and body); also the connect
    /// timeout. 3 s, as the reference implementation.
    pub timeout: Duration,
    /// How long a fetched document is trusted before it is fetched again.
    pub ttl: Duration,
    /// Most documents kept; the least recently useful are evicted first.
    pub capacity: u64,
    /// How long the answer of a refetch forced by a signature failure
    /// ([`DidResolver::refresh`]) stands for further failures of the same
    /// document: a flood of badly signed tokens naming one issuer must not
    /// turn into a flood of directory requests. It never delays the first
    /// refetch after a normal fetch, so a key rotation causes no refusals.
    pub refetch_interval: Duration,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            plc_url: DEFAULT_PLC_URL.to_owned(),
            timeout: Duration::from_secs(3),
            ttl: Duration::from_secs(3600),
            capacity: 100_000,
            refetch_interval: Duration::from_secs(1),
        }
    }
}

/// A [`ResolverConfig`] that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("PLC directory URL {0:?} is not an http(s) URL")]
    PlcUrl(String),
    #[error("DID resolution timeout must be more than zero")]
    Timeout,
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// Why a DID has no usable document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Not a `did:plc` or host-only `did:web`: nothing is fetched.
    #[error("{did}: only did:plc and host-only did:web DIDs are resolved")]
    Unsupported { did: String },
    /// The directory or host says the DID does not exist (404, 410).
    #[error("{did}: DID document not found (HTTP {status})")]
    NotFound { did: String, status: u16 },
    /// A document came back but cannot be used: not JSON, too big, for
    /// another DID, or without a usable `#atproto` key.
    #[error("{did}: DID document is invalid: {reason}")]
    Invalid { did: String, reason: String },
    /// No answer could be had: connection failure, timeout, a 5xx or any
    /// other unexpected status. The DID may well be fine.
    #[error("{did}: DID document unavailable: {reason}")]
    Unavailable { did: String, reason: String },
}

impl ResolveError {
    /// Whether the failure is transient and says nothing about the DID.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ResolveError::Unavailable { .. })
    }

    /// The `outcome` label of [`DID_RESOLUTIONS`].
    fn outcome(&self) -> &'static str {
        match self {
            ResolveError::Unsupported { .. } | ResolveError::Invalid { .. } => "invalid",
            ResolveError::NotFound { .. } => "not_found",
            ResolveError::Unavailable { .. } => "unavailable",
        }
    }
}

/// The DID methods resolved, as metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Plc,
    Web,
}

impl Method {
    fn label(self) -> &'static str {
        match self {
            Method::Plc => "plc",
            Method::Web => "web",
        }
    }
}

/// Where `did`'s document is fetched from. `did:web:localhost` (any port)
/// is fetched over plain HTTP, as the reference `DidWebResolver` does, so
/// local development and tests need no certificate.
fn document_url(did: &str, plc_url: &str) -> Result<(Method, String), ResolveError> {
    let unsupported = || ResolveError::Unsupported {
        did: did.to_owned(),
    };
    let (method, url) = if let Some(id) = did.strip_prefix("did:web:") {
        // `did_document_url` refuses paths (`did:web:host:path`) and
        // anything that is not a plain host with an optional `%3A` port.
        let url = did_document_url(did, plc_url).ok_or_else(unsupported)?;
        let host = id.split_once("%3A").map_or(id, |(host, _)| host);
        if host == "localhost" {
            let rest = url.strip_prefix("https://").ok_or_else(unsupported)?;
            (Method::Web, format!("http://{rest}"))
        } else {
            (Method::Web, url)
        }
    } else if did.starts_with("did:plc:") {
        let url = did_document_url(did, plc_url).ok_or_else(unsupported)?;
        (Method::Plc, url)
    } else {
        return Err(unsupported());
    };
    Ok((method, url))
}

/// A cached document, when it was fetched (its TTL counts from then), and
/// the last refetch a signature failure forced while it was cached.
#[derive(Clone)]
struct Cached {
    doc: Arc<DidDocument>,
    fetched_at: Instant,
    refetch: Option<Refetch>,
}

/// Expires a document [`ResolverConfig::ttl`] after it was fetched. An
/// update that keeps the document (recording an unavailable refetch) must
/// not extend its life, which a plain `time_to_live` would.
struct SinceFetched(Duration);

impl Expiry<String, Cached> for SinceFetched {
    fn expire_after_create(&self, _: &String, value: &Cached, _: Instant) -> Option<Duration> {
        Some(self.0.saturating_sub(value.fetched_at.elapsed()))
    }

    fn expire_after_update(
        &self,
        _: &String,
        value: &Cached,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.0.saturating_sub(value.fetched_at.elapsed()))
    }
}

/// A document and whether this call fetched it.
pub(crate) struct Lookup {
    pub(crate) doc: Arc<DidDocument>,
    /// True when served from the cache (or from another caller's fetch in
    /// flight), so it may predate a key rotation.
    pub(crate) cached: bool,
}

/// Fetches and caches DID documents (`did:plc` from the PLC directory,
/// host-only `did:web` from the host). Share one per process.
pub struct DidResolver {
    client: reqwest::Client,
    plc_url: String,
    refetch_interval: Duration,
    cache: Cache<String, Cached>,
}

impl std::fmt::Debug for DidResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DidResolver")
            .field("plc_url", &self.plc_url)
            .field("cached", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

impl DidResolver {
    /// Builds the HTTP client and an empty cache. Installs the rustls
    /// crypto provider first (see [`crate::install_crypto_provider`]).
    pub fn new(config: ResolverConfig) -> Result<Self, BuildError> {
        let plc_ok = reqwest::Url::parse(&config.plc_url)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host());
        if !plc_ok {
            return Err(BuildError::PlcUrl(config.plc_url));
        }
        if config.timeout.is_zero() {
            return Err(BuildError::Timeout);
        }
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(config.timeout)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .build()
            .map_err(BuildError::Client)?;
        let cache = Cache::builder()
            .name("did_documents")
            .max_capacity(config.capacity)
            .expire_after(SinceFetched(config.ttl))
            .build();
        Ok(DidResolver {
            client,
            plc_url: config.plc_url.trim_end_matches('/').to_owned(),
            refetch_interval: config.refetch_interval,
            cache,
        })
    }

    /// `did`'s document, from the cache when it holds one younger than the
    /// TTL. Concurrent calls for an uncached DID share one fetch. Failures
    /// are not cached.
    pub async fn resolve(&self, did: &str) -> Result<Arc<DidDocument>, ResolveError> {
        self.lookup(did).await.map(|lookup| lookup.doc)
    }

    /// [`DidResolver::resolve`], also telling whether the document was
    /// fetched by this call.
    pub(crate) async fn lookup(&self, did: &str) -> Result<Lookup, ResolveError> {
        let (method, url) = document_url(did, &self.plc_url)?;
        let result = self
            .cache
            .entry_by_ref(did)
            .or_try_insert_with(self.fetch(did, method, &url))
            .await;
        let cached = result.as_ref().is_ok_and(|entry| !entry.is_fresh());
        metrics::counter!(DID_CACHE_LOOKUPS, "result" => if cached { "hit" } else { "miss" })
            .increment(1);
        match result {
            Ok(entry) => Ok(Lookup {
                doc: entry.into_value().doc,
                cached,
            }),
            Err(error) => Err(ResolveError::clone(&error)),
        }
    }

    /// Fetches `did`'s document again because a signature failed against
    /// `stale` (as returned by [`DidResolver::resolve`]): the issuer may have
    /// rotated its key. Returns the document to try again, which is `stale`
    /// itself when nothing newer is to be had.
    ///
    /// The first failure after a normal fetch always refetches. Refreshes of
    /// one DID run one after the other: one that finds `stale` already
    /// replaced (by a concurrent refresh) uses the replacement without a
    /// fetch, and a refetch's answer stands for
    /// [`ResolverConfig::refetch_interval`] (see `refetch.rs`). When the DID
    /// is now not found or invalid its cached document is dropped; when the
    /// fetch is unavailable the cached one is kept, and refreshes within the
    /// interval answer unavailable too.
    pub async fn refresh(
        &self,
        did: &str,
        stale: &Arc<DidDocument>,
    ) -> Result<Arc<DidDocument>, ResolveError> {
        let (method, url) = document_url(did, &self.plc_url)?;
        let url = &url;
        // A refetch that failed, carried past the cache update it causes
        // (keeping or dropping the document).
        let mut failure = None;
        let failure_slot = &mut failure;
        let result = self
            .cache
            .entry_by_ref(did)
            .and_try_compute_with(|current| async move {
                let current = current.map(|entry| entry.into_value());
                let follow_up = match &current {
                    Some(current) if !Arc::ptr_eq(&current.doc, stale) => {
                        tracing::trace!(did, "DID document already refetched");
                        return Ok(Op::Nop);
                    }
                    Some(current) => {
                        let last = current.refetch.as_ref();
                        match refetch::next(last, self.refetch_interval, Instant::now()) {
                            Next::Fetch { follow_up } => follow_up,
                            Next::Keep => {
                                tracing::trace!(did, "DID document refetched recently");
                                return Ok(Op::Nop);
                            }
                            Next::Fail(error) => return Err(error),
                        }
                    }
                    // Dropped or evicted since the caller looked.
                    None => false,
                };
                match self.fetch(did, method, url).await {
                    Ok(mut fetched) => {
                        let found = if fetched.doc.signing_key() == stale.signing_key() {
                            Found::SameKey
                        } else {
                            tracing::debug!(did, "DID document has a new signing key");
                            Found::NewKey
                        };
                        fetched.refetch = Some(Refetch {
                            at: fetched.fetched_at,
                            found,
                            follow_up,
                        });
                        Ok(Op::Put(fetched))
                    }
                    Err(error) if error.is_unavailable() => {
                        let Some(mut kept) = current else {
                            return Err(error);
                        };
                        kept.refetch = Some(Refetch {
                            at: Instant::now(),
                            found: Found::Unavailable(error.clone()),
                            follow_up,
                        });
                        *failure_slot = Some(error);
                        Ok(Op::Put(kept))
                    }
                    Err(error) => {
                        *failure_slot = Some(error);
                        Ok(Op::Remove)
                    }
                }
            })
            .await?;
        if let Some(error) = failure {
            return Err(error);
        }
        match result {
            CompResult::Inserted(entry)
            | CompResult::ReplacedWith(entry)
            | CompResult::Unchanged(entry) => Ok(entry.into_value().doc),
            CompResult::Removed(_) | CompResult::StillNone(_) => {
                unreachable!("an entry is removed only on a failure, and Nop only when one exists")
            }
        }
    }

    /// One fetch, timed, counted and logged.
    async fn fetch(&self, did: &str, method: Method, url: &str) -> Result<Cached, ResolveError> {
        let started = Instant::now();
        let result = self.fetch_document(did, url).await;
        let elapsed = started.elapsed();
        metrics::histogram!(DID_RESOLUTION_DURATION, "method" => method.label())
            .record(elapsed.as_secs_f64());
        let outcome = result.as_ref().map_or_else(ResolveError::outcome, |_| "ok");
        metrics::counter!(DID_RESOLUTIONS, "method" => method.label(), "outcome" => outcome)
            .increment(1);
        match &result {
            Ok(_) => tracing::trace!(did, ?elapsed, "DID document fetched"),
            Err(error) if error.is_unavailable() => {
                tracing::warn!(did, url, ?elapsed, %error, "DID document unavailable");
            }
            Err(error) => tracing::debug!(did, url, %error, "DID document refused"),
        }
        result.map(|doc| Cached {
            doc: Arc::new(doc),
            fetched_at: Instant::now(),
            refetch: None,
        })
    }

    async fn fetch_document(&self, did: &str, url: &str) -> Result<DidDocument, ResolveError> {
        let unavailable = |reason: String| ResolveError::Unavailable {
            did: did.to_owned(),
            reason,
        };
        let invalid = |reason: String| ResolveError::Invalid {
            did: did.to_owned(),
            reason,
        };
        let mut response = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unavailable(describe(&e)))?;
        match response.status() {
            StatusCode::OK => {}
            status @ (StatusCode::NOT_FOUND | StatusCode::GONE) => {
                return Err(ResolveError::NotFound {
                    did: did.to_owned(),
                    status: status.as_u16(),
                });
            }
            status => return Err(unavailable(format!("HTTP {status}"))),
        }
        if let Some(len) = response.content_length()
            && len > MAX_DOCUMENT_BYTES as u64
        {
            return Err(invalid(format!(
                "document is {len} bytes, more than {MAX_DOCUMENT_BYTES}"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unavailable(describe(&e)))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(invalid(format!(
                    "document is more than {MAX_DOCUMENT_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        DidDocument::parse(&body, did).map_err(|e| invalid(e.to_string()))
    }
}

/// A reqwest error with its causes: its own text ("error sending request")
/// rarely says what went wrong.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out: "
    } else if error.is_connect() {
        "cannot connect: "
    } else if error.is_redirect() {
        "too many redirects: "
    } else {
        ""
    };
    let mut text = format!("{kind}{error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLC: &str = "https://plc.example.com";
    const PLC_DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

    fn url(did: &str, plc: &str) -> Result<(Method, String), ResolveError> {
        document_url(did, plc)
    }

    #[test]
    fn plc_urls_ignore_a_trailing_slash() {
        let expected = (Method::Plc, format!("https://plc.example.com/{PLC_DID}"));
        assert_eq!(url(PLC_DID, PLC), Ok(expected.clone()));
        assert_eq!(url(PLC_DID, "https://plc.example.com/"), Ok(expected));
        let local = url(PLC_DID, "http://127.0.0.1:2582/").unwrap();
        assert_eq!(local.1, format!("http://127.0.0.1:2582/{PLC_DID}"));
    }

    #[test]
    fn web_urls_use_https_and_a_decoded_port() {
        assert_eq!(
            url("did:web:feeds.example.com", PLC),
            Ok((
                Method::Web,
                "https://feeds.example.com/.well-known/did.json".into()
            ))
        );
        assert_eq!(
            url("did:web:feeds.example.com%3A8443", PLC).unwrap().1,
            "https://feeds.example.com:8443/.well-known/did.json"
        );
    }

    #[test]
    fn localhost_is_fetched_over_http() {
        assert_eq!(
            url("did:web:localhost", PLC).unwrap().1,
            "http://localhost/.well-known/did.json"
        );
        assert_eq!(
            url("did:web:localhost%3A2583", PLC).unwrap().1,
            "http://localhost:2583/.well-known/did.json"
        );
        // Only the host `localhost` itself.
        for host in ["localhost.example.com", "mylocalhost", "notlocalhost%3A80"] {
            let (_, url) = url(&format!("did:web:{host}"), PLC).unwrap();
            assert!(url.starts_with("https://"), "{url}");
        }
    }

    #[test]
    fn refuses_paths_other_methods_and_malformed_dids() {
        for did in [
            "did:web:example.com:user:alice",
            "did:web:localhost%3A2583:alice",
            "did:web:example.com%2Fpath",
            "did:web:",
            "did:web:host%3A",
            "did:plc:short",
            "did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc",
            "did:example:123",
            "not a did",
            "",
        ] {
            assert_eq!(
                url(did, PLC),
                Err(ResolveError::Unsupported { did: did.into() }),
                "{did}"
            );
        }
    }

    #[test]
    fn unavailable_is_the_only_transient_error() {
        let did = || PLC_DID.to_owned();
        let reason = || "r".to_owned();
        assert!(
            ResolveError::Unavailable {
                did: did(),
                reason: reason()
            }
            .is_unavailable()
        );
        for error in [
            ResolveError::Unsupported { did: did() },
            ResolveError::NotFound {
                did: did(),
                status: 404,
            },
            ResolveError::Invalid {
                did: did(),
                reason: reason(),
            },
        ] {
            assert!(!error.is_unavailable(), "{error}");
        }
    }

    #[test]
    fn config_is_checked() {
        let bad_url = ResolverConfig {
            plc_url: "plc.directory".into(),
            ..ResolverConfig::default()
        };
        assert!(matches!(
            DidResolver::new(bad_url),
            Err(BuildError::PlcUrl(_))
        ));
        let zero = ResolverConfig {
            timeout: Duration::ZERO,
            ..ResolverConfig::default()
        };
        assert!(matches!(DidResolver::new(zero), Err(BuildError::Timeout)));
        DidResolver::new(ResolverConfig::default()).unwrap();
    }
}
