//! Service JWT verification: who the viewer of a feed request is.
//!
//! Order matters for cost and for abuse: the token is decoded and its
//! claims (audience, lifetime, method) checked before any network access,
//! so tokens not meant for this service never reach the PLC directory.

use std::sync::Arc;

use feedmixer_atproto::{ExpectedClaims, JwtError, ServiceJwt};

use crate::resolver::{DidResolver, ResolveError};

/// A viewer whose token verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedViewer {
    /// The token's issuer, whose `#atproto` key signed it.
    pub did: String,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token is bad: malformed, not for this service or method,
    /// expired, badly signed, or its issuer has no usable DID document.
    /// Asking again with the same token will not help.
    #[error("invalid service token: {0}")]
    Invalid(String),
    /// The issuer's DID document could not be fetched; the token may be
    /// fine.
    #[error("cannot verify service token: {0}")]
    Unavailable(String),
}

impl AuthError {
    /// Whether the failure is transient and says nothing about the token.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, AuthError::Unavailable(_))
    }
}

impl From<JwtError> for AuthError {
    fn from(error: JwtError) -> Self {
        AuthError::Invalid(error.to_string())
    }
}

impl From<ResolveError> for AuthError {
    fn from(error: ResolveError) -> Self {
        if error.is_unavailable() {
            AuthError::Unavailable(error.to_string())
        } else {
            AuthError::Invalid(error.to_string())
        }
    }
}

/// Verifies the service JWTs sent to one feed generator.
#[derive(Debug, Clone)]
pub struct Verifier {
    resolver: Arc<DidResolver>,
    service_did: String,
}

impl Verifier {
    /// A verifier accepting tokens whose audience is `service_did` (or
    /// `service_did#bsky_fg`), with issuer keys from `resolver`.
    pub fn new(resolver: Arc<DidResolver>, service_did: impl Into<String>) -> Self {
        Verifier {
            resolver,
            service_did: service_did.into(),
        }
    }

    pub fn service_did(&self) -> &str {
        &self.service_did
    }

    pub fn resolver(&self) -> &Arc<DidResolver> {
        &self.resolver
    }

    /// Checks `token` for a call of `method` (an NSID) at `now_secs` (Unix
    /// time): decode, claims, issuer's document, signature.
    ///
    /// When the signature fails against a cached document, the document is
    /// refetched once and the signature tried again: the issuer may have
    /// rotated its key since it was cached, and its new token must not be
    /// refused. [`DidResolver::refresh`] coalesces those refetches per DID
    /// and lets a refetch's answer stand briefly, so forged tokens cannot
    /// drive directory traffic.
    pub async fn verify(
        &self,
        token: &str,
        method: &str,
        now_secs: u64,
    ) -> Result<VerifiedViewer, AuthError> {
        let jwt = ServiceJwt::parse(token)?;
        let expected = ExpectedClaims {
            service_did: &self.service_did,
            method,
        };
        jwt.check_claims(&expected, now_secs)?;
        let lookup = self.resolver.lookup(jwt.iss()).await?;
        match jwt.verify_signature(lookup.doc.signing_key()) {
            Ok(()) => {}
            // Only these depend on which key is current; a malformed
            // signature is malformed under any key of the token's curve.
            Err(error @ (JwtError::BadSignature | JwtError::KeyMismatch { .. }))
                if lookup.cached =>
            {
                let doc = self.resolver.refresh(jwt.iss(), &lookup.doc).await?;
                if Arc::ptr_eq(&doc, &lookup.doc) {
                    // Nothing newer: the same key would fail the same way.
                    return Err(error.into());
                }
                jwt.verify_signature(doc.signing_key())?;
            }
            Err(error) => return Err(error.into()),
        }
        Ok(VerifiedViewer {
            did: jwt.iss().to_owned(),
        })
    }
}

/// The token of an `Authorization: Bearer TOKEN` header value; the scheme
/// is case-insensitive (RFC 9110). `None` for other schemes or no token.
pub fn bearer_token(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.trim().split_once(' ')?;
    let token = token.trim_start();
    let token_ok = !token.is_empty() && !token.contains(char::is_whitespace);
    (scheme.eq_ignore_ascii_case("Bearer") && token_ok).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer_token("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        for bad in [
            "",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Basic abc",
            "Bearerabc",
            "Token abc",
        ] {
            assert_eq!(bearer_token(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn resolve_errors_map_by_cause() {
        let unavailable = ResolveError::Unavailable {
            did: "did:plc:x".into(),
            reason: "timed out".into(),
        };
        assert!(AuthError::from(unavailable).is_unavailable());
        let not_found = ResolveError::NotFound {
            did: "did:plc:x".into(),
            status: 404,
        };
        assert!(matches!(AuthError::from(not_found), AuthError::Invalid(_)));
    }
}
