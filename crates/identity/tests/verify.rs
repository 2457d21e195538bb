//! Verification against a local PLC directory / did:web host.

use std::sync::Arc;
use std::time::{Duration, Instant};

use feedmixer_identity::testkit::{Directory, METHOD, Mode, SERVICE, TestKey, now, plc_did};
use feedmixer_identity::{
    AuthError, DidResolver, MAX_DOCUMENT_BYTES, ResolveError, ResolverConfig, VerifiedViewer,
    Verifier,
};
use serde_json::json;

fn verifier(config: ResolverConfig) -> Verifier {
    Verifier::new(Arc::new(DidResolver::new(config).unwrap()), SERVICE)
}

/// A directory holding one did:plc with a fresh secp256k1 key.
async fn setup() -> (Directory, String, TestKey) {
    let dir = Directory::start().await;
    let did = plc_did("alice");
    let key = TestKey::k256();
    dir.put_key(&did, &key.public());
    (dir, did, key)
}

async fn check(verifier: &Verifier, token: &str) -> Result<VerifiedViewer, AuthError> {
    verifier.verify(token, METHOD, now()).await
}

fn assert_invalid(result: Result<VerifiedViewer, AuthError>, needle: &str) {
    match result {
        Err(AuthError::Invalid(reason)) => {
            assert!(reason.contains(needle), "{reason:?} lacks {needle:?}")
        }
        other => panic!("expected Invalid({needle}), got {other:?}"),
    }
}

fn assert_unavailable(result: Result<VerifiedViewer, AuthError>) {
    assert!(
        matches!(&result, Err(AuthError::Unavailable(_))),
        "expected Unavailable, got {result:?}"
    );
}

/// A fresh token of `did` signed with `key` verifies as `did`, after one
/// fetch of its document.
async fn assert_verifies_with_one_fetch(dir: &Directory, did: &str, key: &TestKey) {
    let verifier = verifier(dir.config());
    assert_eq!(
        check(&verifier, &key.token(did)).await,
        Ok(VerifiedViewer { did: did.into() })
    );
    assert_eq!(dir.requests(did), 1);
}

#[tokio::test]
async fn es256k_token_of_a_plc_did_verifies() {
    let (dir, did, key) = setup().await;
    assert_verifies_with_one_fetch(&dir, &did, &key).await;
}

#[tokio::test]
async fn es256_token_of_a_localhost_did_web_verifies() {
    let dir = Directory::start().await;
    let did = dir.web_did();
    let key = TestKey::p256();
    dir.put_key(&did, &key.public());
    assert_verifies_with_one_fetch(&dir, &did, &key).await;
}

#[tokio::test]
async fn claims_are_checked_before_any_lookup() {
    let (dir, did, key) = setup().await;
    let verifier = verifier(dir.config());
    let now = now();

    let mut expired = TestKey::claims(&did);
    expired["exp"] = json!(now - 600);
    expired["iat"] = json!(now - 660);
    assert_invalid(check(&verifier, &key.mint(&expired)).await, "expired");

    let mut other_service = TestKey::claims(&did);
    other_service["aud"] = json!("did:web:other.example.com");
    assert_invalid(
        check(&verifier, &key.mint(&other_service)).await,
        "not this service",
    );

    let mut other_method = TestKey::claims(&did);
    other_method["lxm"] = json!("app.bsky.feed.sendInteractions");
    assert_invalid(check(&verifier, &key.mint(&other_method)).await, "method");

    assert_invalid(check(&verifier, "not.a.token").await, "");
    assert_invalid(check(&verifier, "").await, "three");

    assert_eq!(dir.total_requests(), 0);
}

#[tokio::test]
async fn feed_generator_audience_and_missing_lxm_are_accepted() {
    let (dir, did, key) = setup().await;
    let verifier = verifier(dir.config());
    let mut fg = TestKey::claims(&did);
    fg["aud"] = json!(format!("{SERVICE}#bsky_fg"));
    check(&verifier, &key.mint(&fg)).await.unwrap();
    let mut no_lxm = TestKey::claims(&did);
    no_lxm.as_object_mut().unwrap().remove("lxm");
    check(&verifier, &key.mint(&no_lxm)).await.unwrap();
}

#[tokio::test]
async fn tampered_payload_is_refused() {
    let (dir, did, key) = setup().await;
    let verifier = verifier(dir.config());
    let token = key.token(&did);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims = TestKey::claims(&did);
    claims["exp"] = json!(now() + 3600);
    parts[1] = feedmixer_identity::testkit::b64(&claims);
    assert_invalid(check(&verifier, &parts.join(".")).await, "signature");
    // A fresh document is not refetched.
    assert_eq!(dir.requests(&did), 1);
}

#[tokio::test]
async fn signature_of_another_key_is_refused_after_one_refresh() {
    let (dir, did, key) = setup().await;
    let verifier = verifier(dir.config());
    let forger = TestKey::k256();
    // Uncached: the document was just fetched, so no refresh.
    assert_invalid(check(&verifier, &forger.token(&did)).await, "signature");
    assert_eq!(dir.requests(&did), 1);
    // Cached: one refetch, in case the key rotated, then refused.
    assert_invalid(check(&verifier, &forger.token(&did)).await, "signature");
    assert_eq!(dir.requests(&did), 2);
    // Another curve than the document's key, right after a refetch found
    // the same key: that answer stands, refused without a fetch.
    let p256_forger = TestKey::p256();
    assert_invalid(
        check(&verifier, &p256_forger.token(&did)).await,
        "does not match",
    );
    assert_eq!(dir.requests(&did), 2);
    // The real key still works, from the cache.
    check(&verifier, &key.token(&did)).await.unwrap();
    assert_eq!(dir.requests(&did), 2);
}

#[tokio::test]
async fn another_curve_after_a_normal_fetch_is_refetched_then_refused() {
    let (dir, did, key) = setup().await;
    let verifier = verifier(dir.config());
    check(&verifier, &key.token(&did)).await.unwrap();
    let p256_forger = TestKey::p256();
    assert_invalid(
        check(&verifier, &p256_forger.token(&did)).await,
        "does not match",
    );
    assert_eq!(dir.requests(&did), 2);
}

#[tokio::test]
async fn rotated_key_is_picked_up_with_one_refetch() {
    let (dir, did, old) = setup().await;
    let verifier = verifier(dir.config());
    check(&verifier, &old.token(&did)).await.unwrap();
    assert_eq!(dir.requests(&did), 1);

    let new = TestKey::p256();
    dir.put_key(&did, &new.public());
    check(&verifier, &new.token(&did)).await.unwrap();
    assert_eq!(dir.requests(&did), 2);
    // The new document is now the cached one.
    check(&verifier, &new.token(&did)).await.unwrap();
    assert_eq!(dir.requests(&did), 2);
}

#[tokio::test]
async fn unknown_and_tombstoned_dids_are_invalid() {
    let dir = Directory::start().await;
    let verifier = verifier(dir.config());
    let key = TestKey::k256();
    let did = plc_did("nobody");
    assert_invalid(check(&verifier, &key.token(&did)).await, "not found");
    dir.set_mode(Mode::Status(410));
    assert_invalid(check(&verifier, &key.token(&did)).await, "410");
}

#[tokio::test]
async fn unsupported_dids_are_invalid_without_a_request() {
    let dir = Directory::start().await;
    let verifier = verifier(dir.config());
    let key = TestKey::k256();
    for did in [
        "did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc".to_owned(),
        format!("{}:alice", dir.web_did()),
        "did:plc:tooshort".to_owned(),
    ] {
        assert_invalid(check(&verifier, &key.token(&did)).await, "only did:plc");
    }
    assert_eq!(dir.total_requests(), 0);
}

#[tokio::test]
async fn unusable_documents_are_invalid() {
    let dir = Directory::start().await;
    let resolver = DidResolver::new(dir.config()).unwrap();
    let key = TestKey::k256().public();
    let did = plc_did("broken");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"<html>not json</html>".to_vec(), "JSON"),
        (
            feedmixer_identity::testkit::did_doc(&plc_did("someoneelse"), &key)
                .to_string()
                .into_bytes(),
            "someoneelse",
        ),
        (json!({"id": did}).to_string().into_bytes(), "#atproto"),
        (
            {
                let mut doc = feedmixer_identity::testkit::did_doc(&did, &key);
                doc["padding"] = json!("x".repeat(MAX_DOCUMENT_BYTES));
                doc.to_string().into_bytes()
            },
            "bytes",
        ),
    ];
    for (body, needle) in cases {
        dir.put(&did, body);
        match resolver.resolve(&did).await {
            Err(ResolveError::Invalid { reason, .. }) => {
                assert!(reason.contains(needle), "{reason:?} lacks {needle:?}")
            }
            other => panic!("expected Invalid({needle}), got {other:?}"),
        }
    }
}

#[tokio::test]
async fn directory_errors_are_unavailable() {
    let (dir, did, key) = setup().await;
    let verifier = verifier(dir.config());
    for status in [500, 503, 429, 403] {
        dir.set_mode(Mode::Status(status));
        assert_unavailable(check(&verifier, &key.token(&did)).await);
    }
    // Failures are not cached: once the directory is back, it works.
    dir.set_mode(Mode::Normal);
    check(&verifier, &key.token(&did)).await.unwrap();
}

#[tokio::test]
async fn directory_down_is_unavailable() {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let verifier = verifier(ResolverConfig {
        plc_url: format!("http://{addr}"),
        ..ResolverConfig::default()
    });
    let key = TestKey::k256();
    let did = plc_did("alice");
    let result = check(&verifier, &key.token(&did)).await;
    assert_unavailable(result.clone());
    let Err(error) = result else { unreachable!() };
    assert!(error.to_string().contains("connect"), "{error}");
}

#[tokio::test]
async fn slow_directory_times_out_as_unavailable() {
    let (dir, did, key) = setup().await;
    dir.set_mode(Mode::Delay(Duration::from_secs(5)));
    let verifier = verifier(ResolverConfig {
        timeout: Duration::from_millis(300),
        ..dir.config()
    });
    let started = Instant::now();
    let result = check(&verifier, &key.token(&did)).await;
    assert_unavailable(result.clone());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let Err(error) = result else { unreachable!() };
    assert!(error.to_string().contains("timed out"), "{error}");
}

#[tokio::test]
async fn unavailable_refresh_keeps_the_cached_document() {
    let (dir, did, key) = setup().await;
    let verifier = verifier(dir.config());
    check(&verifier, &key.token(&did)).await.unwrap();
    dir.set_mode(Mode::Status(502));
    // The forged token may be a rotated key we cannot fetch: unavailable.
    let forger = TestKey::k256();
    assert_unavailable(check(&verifier, &forger.token(&did)).await);
    // The cached document still serves the real key.
    check(&verifier, &key.token(&did)).await.unwrap();
    assert_eq!(dir.requests(&did), 2);
}

#[tokio::test]
async fn deleted_did_is_dropped_from_the_cache_on_refresh() {
    let (dir, did, key) = setup().await;
    let verifier = verifier(dir.config());
    check(&verifier, &key.token(&did)).await.unwrap();
    dir.remove(&did);
    let forger = TestKey::k256();
    assert_invalid(check(&verifier, &forger.token(&did)).await, "not found");
    // The old document is gone: even the old key is refused now.
    assert_invalid(check(&verifier, &key.token(&did)).await, "not found");
    assert_eq!(dir.requests(&did), 3);
}

#[tokio::test]
async fn repeated_verifications_hit_the_cache() {
    let (dir, did, key) = setup().await;
    let verifier = verifier(dir.config());
    for _ in 0..50 {
        check(&verifier, &key.token(&did)).await.unwrap();
    }
    assert_eq!(dir.requests(&did), 1);
}

#[tokio::test]
async fn concurrent_first_lookups_share_one_fetch() {
    let (dir, did, key) = setup().await;
    dir.set_mode(Mode::Delay(Duration::from_millis(200)));
    let verifier = Arc::new(verifier(dir.config()));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let verifier = verifier.clone();
            let token = key.token(&did);
            tokio::spawn(async move { check(&verifier, &token).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(dir.requests(&did), 1);
}

#[tokio::test]
async fn explicit_refresh_refetches_once_then_reuses_the_answer() {
    let (dir, did, key) = setup().await;
    let resolver = DidResolver::new(ResolverConfig {
        refetch_interval: Duration::from_secs(60),
        ..dir.config()
    })
    .unwrap();
    let first = resolver.resolve(&did).await.unwrap();
    assert_eq!(dir.requests(&did), 1);
    // Fetched normally just now: a refresh still refetches.
    let rotated = TestKey::k256();
    dir.put_key(&did, &rotated.public());
    let second = resolver.refresh(&did, &first).await.unwrap();
    assert_eq!(second.signing_key(), &rotated.public());
    assert_eq!(dir.requests(&did), 2);
    // A refresh against the replaced document uses the replacement.
    let again = resolver.refresh(&did, &first).await.unwrap();
    assert!(Arc::ptr_eq(&again, &second));
    assert_eq!(dir.requests(&did), 2);
    // The cache now serves the new document.
    assert!(Arc::ptr_eq(&resolver.resolve(&did).await.unwrap(), &second));
    assert_eq!(dir.requests(&did), 2);
    // The refetch found a new key: one follow-up is allowed, and it stands.
    let third = resolver.refresh(&did, &second).await.unwrap();
    assert_eq!(third.signing_key(), &rotated.public());
    assert_eq!(dir.requests(&did), 3);
    let kept = resolver.refresh(&did, &third).await.unwrap();
    assert!(Arc::ptr_eq(&kept, &third));
    assert_eq!(dir.requests(&did), 3);
    // The original key is not what the cache holds any more.
    assert_ne!(kept.signing_key(), &key.public());
}
