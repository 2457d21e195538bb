//! Who is asking: DID resolution and service-JWT verification.
//!
//! A viewer's PDS proxies `getFeedSkeleton` with a service JWT signed by the
//! viewer's `#atproto` key. [`Verifier`] checks it: decode and claims first
//! (cheap, no network), then the issuer's DID document through
//! [`DidResolver`] (cached), then the signature. The wire formats live in
//! `feedmixer-atproto`; this crate adds the network and the cache.
//!
//! Only this crate fetches DID documents. It emits the metrics named in
//! [`metrics::ALL`] and nothing else; counting verification outcomes is left to
//! the caller, which knows what a failure costs the request.

pub mod metrics;
mod refetch;
mod resolver;
mod verify;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use metrics::{DID_CACHE_LOOKUPS, DID_RESOLUTION_DURATION, DID_RESOLUTIONS, describe_metrics};
pub use resolver::{
    BuildError, DEFAULT_PLC_URL, DidResolver, MAX_DOCUMENT_BYTES, ResolveError, ResolverConfig,
};
pub use verify::{AuthError, VerifiedViewer, Verifier, bearer_token};

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
