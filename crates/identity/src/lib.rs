//! Who is asking: DID resolution and service-JWT verification.
//!
//! A viewer's PDS proxies `getFeedSkeleton` with a service JWT signed by the
//! viewer's `#atproto` key. [`Verifier`] checks it: decode and claims first
//! (cheap, no network), then the issuer's DID document through
//! [`DidResolver`] (cached), then the signature. The wire formats live in
//! `feedmixer-atproto`; this crate adds the network and the cache.
//!
//! Only this crate fetches DID documents. It emits the metrics named in
//! [`METRICS`] and nothing else; counting verification outcomes is left to
//! the caller, which knows what a failure costs the request.

mod resolver;
mod verify;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use resolver::{
    BuildError, DEFAULT_PLC_URL, DidResolver, MAX_DOCUMENT_BYTES, ResolveError, ResolverConfig,
};
pub use verify::{AuthError, VerifiedViewer, Verifier, bearer_token};

/// Counter of DID document fetches (cache misses and refreshes), labelled
/// `method` (`plc`, `web`) and `outcome` (`ok`, `not_found`, `invalid`,
/// `unavailable`).
pub const DID_RESOLUTIONS: &str = "feedmixer_did_resolutions_total";
/// Histogram of DID document fetch durations in seconds, labelled `method`.
pub const DID_RESOLUTION_DURATION: &str = "feedmixer_did_resolution_duration_seconds";
/// Counter of DID document cache lookups, labelled `result` (`hit`, `miss`).
pub const DID_CACHE_LOOKUPS: &str = "feedmixer_did_cache_lookups_total";

/// Every metric this crate emits.
pub const METRICS: [&str; 3] = [DID_RESOLUTIONS, DID_RESOLUTION_DURATION, DID_CACHE_LOOKUPS];

/// Registers units and help texts for [`METRICS`] with the installed
/// recorder. Call once, after installing it; emitting works without.
pub fn describe_metrics() {
    metrics::describe_counter!(
        DID_RESOLUTIONS,
        "DID document fetches by DID method and outcome"
    );
    metrics::describe_histogram!(
        DID_RESOLUTION_DURATION,
        metrics::Unit::Seconds,
        "Duration of DID document fetches by DID method"
    );
    metrics::describe_counter!(
        DID_CACHE_LOOKUPS,
        "DID document cache lookups by result (hit, miss)"
    );
}

/// Installs rustls' `ring` provider as the process default, unless one is
/// installed already. `reqwest` is built without a provider of its own (to
/// keep `aws-lc`'s C build out), so this must run before any HTTPS client is
/// built; [`DidResolver::new`] calls it, and other crates may too. Safe to
/// call any number of times from any thread.
pub fn install_crypto_provider() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // Err means another provider won the race or was installed first:
        // either way a default exists, which is all that matters.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
