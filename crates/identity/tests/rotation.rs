//! Signing key rotation against a local PLC directory: a token signed with
//! a newly rotated key verifies on its first try, and forged tokens cannot
//! turn signature failures into a flood of directory fetches.

use std::sync::Arc;
use std::time::{Duration, Instant};

use feedmixer_identity::testkit::{Directory, METHOD, Mode, SERVICE, TestKey, now, plc_did};
use feedmixer_identity::{AuthError, DidResolver, ResolverConfig, VerifiedViewer, Verifier};

/// A refetch interval no test outlives: fetch counts do not depend on
/// timing.
const LONG: Duration = Duration::from_secs(60);

fn verifier(dir: &Directory, refetch_interval: Duration) -> Arc<Verifier> {
    let config = ResolverConfig {
        refetch_interval,
        ..dir.config()
    };
    Arc::new(Verifier::new(
        Arc::new(DidResolver::new(config).unwrap()),
        SERVICE,
    ))
}

/// A directory holding one did:plc with a fresh secp256k1 key, and a
/// verifier that has fetched its document once (a normal fetch).
async fn setup(refetch_interval: Duration) -> (Directory, Arc<Verifier>, String) {
    let dir = Directory::start().await;
    let did = plc_did("alice");
    let key = TestKey::k256();
    dir.put_key(&did, &key.public());
    let verifier = verifier(&dir, refetch_interval);
    check(&verifier, &key.token(&did)).await.unwrap();
    assert_eq!(dir.requests(&did), 1);
    (dir, verifier, did)
}

async fn check(verifier: &Verifier, token: &str) -> Result<VerifiedViewer, AuthError> {
    verifier.verify(token, METHOD, now()).await
}

fn assert_bad_signature(result: Result<VerifiedViewer, AuthError>) {
    match result {
        Err(AuthError::Invalid(reason)) => assert!(reason.contains("signature"), "{reason}"),
        other => panic!("expected a bad signature, got {other:?}"),
    }
}

/// Verifies `tokens` all at once, each in its own task.
async fn check_concurrently(
    verifier: &Arc<Verifier>,
    tokens: Vec<String>,
) -> Vec<Result<VerifiedViewer, AuthError>> {
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let verifier = verifier.clone();
            tokio::spawn(async move { check(&verifier, &token).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test]
async fn a_rotated_key_verifies_on_its_first_try_right_after_a_fetch() {
    let (dir, verifier, did) = setup(LONG).await;
    let rotated = TestKey::k256();
    dir.put_key(&did, &rotated.public());
    assert_eq!(
        check(&verifier, &rotated.token(&did)).await,
        Ok(VerifiedViewer { did: did.clone() })
    );
    assert_eq!(dir.requests(&did), 2);
    // The new document is cached.
    check(&verifier, &rotated.token(&did)).await.unwrap();
    assert_eq!(dir.requests(&did), 2);
}

#[tokio::test]
async fn concurrent_tokens_of_a_rotated_key_share_one_fetch() {
    let (dir, verifier, did) = setup(LONG).await;
    let rotated = TestKey::k256();
    dir.put_key(&did, &rotated.public());
    dir.set_mode(Mode::Delay(Duration::from_millis(200)));
    let tokens = (0..32).map(|_| rotated.token(&did)).collect();
    for result in check_concurrently(&verifier, tokens).await {
        assert_eq!(result, Ok(VerifiedViewer { did: did.clone() }));
    }
    assert_eq!(dir.requests(&did), 2);
}

#[tokio::test]
async fn concurrent_bad_signatures_share_one_fetch() {
    let (dir, verifier, did) = setup(LONG).await;
    dir.set_mode(Mode::Delay(Duration::from_millis(200)));
    let forger = TestKey::k256();
    let tokens = (0..32).map(|_| forger.token(&did)).collect();
    for result in check_concurrently(&verifier, tokens).await {
        assert_bad_signature(result);
    }
    assert_eq!(dir.requests(&did), 2);
}

#[tokio::test]
async fn concurrent_failures_during_an_outage_share_one_fetch() {
    let (dir, verifier, did) = setup(LONG).await;
    dir.set_mode(Mode::Status(503));
    let forger = TestKey::k256();
    let tokens = (0..32).map(|_| forger.token(&did)).collect();
    for result in check_concurrently(&verifier, tokens).await {
        assert!(
            matches!(result, Err(AuthError::Unavailable(_))),
            "{result:?}"
        );
    }
    // And the failed refetch stands for the interval.
    let result = check(&verifier, &forger.token(&did)).await;
    assert!(
        matches!(result, Err(AuthError::Unavailable(_))),
        "{result:?}"
    );
    assert_eq!(dir.requests(&did), 2);
}

#[tokio::test]
async fn forged_tokens_refetch_once_per_interval() {
    let (dir, verifier, did) = setup(LONG).await;
    let forger = TestKey::k256();
    for _ in 0..50 {
        assert_bad_signature(check(&verifier, &forger.token(&did)).await);
    }
    assert_eq!(dir.requests(&did), 2);
}

#[tokio::test]
async fn a_steady_stream_of_forged_tokens_is_bounded() {
    let interval = Duration::from_millis(100);
    let (dir, verifier, did) = setup(interval).await;
    let forger = TestKey::k256();
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < interval * 5 {
        assert_bad_signature(check(&verifier, &forger.token(&did)).await);
        sent += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    // The key never changed: each refetch's answer stands for the interval,
    // so at most one refetch starts per interval, the first at once.
    let refetches = dir.requests(&did) - 1;
    let bound = (elapsed.as_millis() / interval.as_millis()) as usize + 1;
    assert!(
        (1..=bound).contains(&refetches),
        "{refetches} refetches for {sent} tokens in {elapsed:?}"
    );
}

#[tokio::test]
async fn a_second_rotation_right_after_the_first_is_picked_up_then_refetches_stop() {
    let (dir, verifier, did) = setup(LONG).await;
    let second = TestKey::k256();
    dir.put_key(&did, &second.public());
    check(&verifier, &second.token(&did)).await.unwrap();
    assert_eq!(dir.requests(&did), 2);
    // That refetch found a new key, so one follow-up is allowed.
    let third = TestKey::p256();
    dir.put_key(&did, &third.public());
    check(&verifier, &third.token(&did)).await.unwrap();
    assert_eq!(dir.requests(&did), 3);
    // The follow-up's answer stands for the interval, whatever comes.
    let fourth = TestKey::k256();
    dir.put_key(&did, &fourth.public());
    let forger = TestKey::p256();
    for token in [fourth.token(&did), forger.token(&did), fourth.token(&did)] {
        assert!(matches!(
            check(&verifier, &token).await,
            Err(AuthError::Invalid(_))
        ));
    }
    assert_eq!(dir.requests(&did), 3);
    check(&verifier, &third.token(&did)).await.unwrap();
}

#[tokio::test]
async fn an_unavailable_refetch_does_not_extend_the_documents_life() {
    let ttl = Duration::from_millis(400);
    let dir = Directory::start().await;
    let did = plc_did("alice");
    let key = TestKey::k256();
    dir.put_key(&did, &key.public());
    let verifier = Arc::new(Verifier::new(
        Arc::new(
            DidResolver::new(ResolverConfig {
                ttl,
                refetch_interval: LONG,
                ..dir.config()
            })
            .unwrap(),
        ),
        SERVICE,
    ));
    check(&verifier, &key.token(&did)).await.unwrap();
    // No earlier than the document's fetch, so the wait below outlasts its TTL.
    let fetched = Instant::now();
    tokio::time::sleep(ttl / 2).await;
    // A refetch that fails keeps the document, but only until its TTL.
    dir.set_mode(Mode::Status(503));
    let forger = TestKey::k256();
    assert!(check(&verifier, &forger.token(&did)).await.is_err());
    dir.set_mode(Mode::Normal);
    tokio::time::sleep((ttl + Duration::from_millis(50)).saturating_sub(fetched.elapsed())).await;
    check(&verifier, &key.token(&did)).await.unwrap();
    assert_eq!(dir.requests(&did), 3);
}
