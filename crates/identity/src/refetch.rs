//! When a signature failure refetches a DID document.
//!
//! A token that fails against a cached document may be signed with a key
//! its issuer rotated to after the document was fetched. Refusing to
//! refetch then turns every PDS key rotation into 401s, so the first
//! failure after a normal fetch always refetches, as the reference
//! verifier does. What keeps a flood of forged tokens naming one DID from
//! becoming a flood of directory requests is what happens *after* a
//! refetch:
//!
//! - failures against a document that has been replaced since (by a
//!   concurrent refetch) use the replacement and fetch nothing; the
//!   resolver runs one refetch per DID at a time, so concurrent failures
//!   share one fetch;
//! - a refetch's answer stands for [`ResolverConfig::refetch_interval`]:
//!   failures against a document a refetch just confirmed (same key), or
//!   while a refetch just found the directory unavailable, fetch nothing;
//! - a refetch that found a *new* key (a rotation in progress) allows one
//!   follow-up refetch within the interval, so a second rotation right
//!   after the first is picked up too; the follow-up's answer stands
//!   whatever it found.
//!
//! So failures for one DID cause at most two fetches per interval.
//!
//! [`ResolverConfig::refetch_interval`]: crate::ResolverConfig::refetch_interval

use std::time::{Duration, Instant};

use crate::resolver::ResolveError;

/// The last refetch forced by a signature failure while a document was
/// cached: when it ended and what it found.
#[derive(Debug, Clone)]
pub(crate) struct Refetch {
    pub(crate) at: Instant,
    pub(crate) found: Found,
    /// Whether this was the follow-up to a refetch that found a new key,
    /// which gets no follow-up of its own.
    pub(crate) follow_up: bool,
}

/// What a refetch found, compared with the document the signature failed
/// against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// The same signing key: the token is most likely forged.
    SameKey,
    /// Another signing key: the issuer rotated.
    NewKey,
    /// No answer; the cached document was kept.
    Unavailable(ResolveError),
}

/// What to do about a signature failure against the cached document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// Fetch the document again.
    Fetch {
        /// The refetch is the follow-up of [`Found::NewKey`].
        follow_up: bool,
    },
    /// Answer with the cached document: a refetch just confirmed it.
    Keep,
    /// Answer with this error: a refetch just found the directory
    /// unavailable, and trying again at once would only queue behind the
    /// same timeout.
    Fail(ResolveError),
}

/// What a signature failure against the cached document does, given the
/// last refetch of that document (`None`: fetched normally, never
/// refetched) and `now`.
pub(crate) fn next(last: Option<&Refetch>, interval: Duration, now: Instant) -> Next {
    let Some(last) = last else {
        return Next::Fetch { follow_up: false };
    };
    if now.saturating_duration_since(last.at) >= interval {
        return Next::Fetch { follow_up: false };
    }
    match &last.found {
        Found::NewKey if !last.follow_up => Next::Fetch { follow_up: true },
        Found::Unavailable(error) => Next::Fail(error.clone()),
        Found::SameKey | Found::NewKey => Next::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(1);

    fn refetch(at: Instant, found: Found, follow_up: bool) -> Refetch {
        Refetch {
            at,
            found,
            follow_up,
        }
    }

    fn unavailable() -> ResolveError {
        ResolveError::Unavailable {
            did: "did:plc:x".into(),
            reason: "HTTP 503".into(),
        }
    }

    #[test]
    fn a_normally_fetched_document_is_always_refetched() {
        assert_eq!(
            next(None, INTERVAL, Instant::now()),
            Next::Fetch { follow_up: false }
        );
    }

    #[test]
    fn a_recent_refetch_stands() {
        let at = Instant::now();
        let soon = at + INTERVAL / 2;
        let same = refetch(at, Found::SameKey, false);
        assert_eq!(next(Some(&same), INTERVAL, soon), Next::Keep);
        let down = refetch(at, Found::Unavailable(unavailable()), false);
        assert_eq!(next(Some(&down), INTERVAL, soon), Next::Fail(unavailable()));
    }

    #[test]
    fn a_new_key_allows_one_follow_up() {
        let at = Instant::now();
        let soon = at + INTERVAL / 2;
        let rotated = refetch(at, Found::NewKey, false);
        assert_eq!(
            next(Some(&rotated), INTERVAL, soon),
            Next::Fetch { follow_up: true }
        );
        // The follow-up stands, whatever it found.
        for found in [Found::NewKey, Found::SameKey] {
            let follow_up = refetch(soon, found, true);
            assert_eq!(next(Some(&follow_up), INTERVAL, soon), Next::Keep);
        }
    }

    #[test]
    fn an_old_refetch_no_longer_stands() {
        let at = Instant::now();
        let later = at + INTERVAL;
        for found in [
            Found::SameKey,
            Found::NewKey,
            Found::Unavailable(unavailable()),
        ] {
            for follow_up in [false, true] {
                let old = refetch(at, found.clone(), follow_up);
                assert_eq!(
                    next(Some(&old), INTERVAL, later),
                    Next::Fetch { follow_up: false },
                    "{found:?} {follow_up}"
                );
            }
        }
    }
}
