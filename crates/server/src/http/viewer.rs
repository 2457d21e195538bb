//! Who is asking: the viewer's service JWT, verified against the issuer's
//! DID document, decides whether a request is personalized.
//!
//! No Authorization header is a logged-out viewer: the anonymous path.
//! A token that fails verification is refused with 401, so nobody reads
//! another's feed or writes another's signals. When the issuer's document
//! cannot be fetched (directory down or slow), nothing is known either way:
//! feeds fall back to the anonymous path rather than an error page.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use feedmixer_atproto::clock::now_secs;
use feedmixer_identity::{AuthError, bearer_token};
use metrics::counter;

use crate::AppState;
use crate::http::error::XrpcError;
use crate::metrics::VIEWER_AUTH;

/// What a request's Authorization header established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// No token: a logged-out viewer.
    Anonymous,
    /// The token verified; its issuer.
    Verified(String),
    /// The token could not be checked because the issuer's DID document
    /// could not be fetched.
    Unverifiable,
}

impl Viewer {
    /// The DID to personalize for, if any.
    pub fn did(&self) -> Option<&str> {
        match self {
            Viewer::Verified(did) => Some(did),
            Viewer::Anonymous | Viewer::Unverifiable => None,
        }
    }
}

/// Verifies the request's service JWT for a call of `method` (an NSID).
/// An invalid token is an error (401); everything else is a [`Viewer`].
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
) -> Result<Viewer, XrpcError> {
    let Some(header) = headers.get(AUTHORIZATION) else {
        count("anonymous");
        return Ok(Viewer::Anonymous);
    };
    let invalid = |message: String| {
        count("invalid");
        XrpcError::bad_token(message)
    };
    let token = header
        .to_str()
        .ok()
        .and_then(bearer_token)
        .ok_or_else(|| invalid("Authorization must be `Bearer <service JWT>`".into()))?;
    match state
        .verifier
        .verify(token, method, u64::from(now_secs()))
        .await
    {
        Ok(viewer) => {
            count("verified");
            Ok(Viewer::Verified(viewer.did))
        }
        Err(AuthError::Unavailable(reason)) => {
            count("unavailable");
            tracing::warn!(%reason, "viewer token not verifiable; serving the anonymous path");
            Ok(Viewer::Unverifiable)
        }
        Err(AuthError::Invalid(reason)) => {
            tracing::debug!(%reason, "viewer token refused");
            Err(invalid(reason))
        }
    }
}

fn count(outcome: &'static str) {
    counter!(VIEWER_AUTH, "outcome" => outcome).increment(1);
}
