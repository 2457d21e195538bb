//! End to end: viewers identified by real service JWTs (ES256K and ES256,
//! fresh keys), their DID documents served by a local stand-in for the PLC
//! directory and a did:web host; sendInteractions changing what the next
//! page shows.

mod support;

use feedmixer_identity::testkit::{Directory, Mode, TestKey, now};
use serde_json::{Value, json};
use support::*;

/// The shipped config's service DID: tokens must be addressed to it.
const SERVICE: &str = "did:web:localhost";
const SKELETON: &str = "app.bsky.feed.getFeedSkeleton";
const INTERACTIONS: &str = "app.bsky.feed.sendInteractions";
const SEND: &str = "/xrpc/app.bsky.feed.sendInteractions";

fn claims(iss: &str, lxm: &str) -> Value {
    let now = now();
    json!({"iss": iss, "aud": SERVICE, "exp": now + 60, "iat": now, "lxm": lxm})
}

/// A server on the small demo with `dir` as its PLC directory, and the
/// demo viewer's key registered there.
async fn setup(dir: &Directory) -> (tempfile::TempDir, Server, TestKey) {
    let data = tempfile::tempdir().unwrap();
    let key = TestKey::k256();
    dir.put_key(VIEWER, &key.public());
    let plc = dir.plc_url();
    let server = Server::start(
        data.path(),
        &["--demo", "--demo-size", "small", "--plc-url", &plc],
    )
    .await;
    (data, server, key)
}

#[tokio::test]
async fn a_verified_viewer_gets_their_feed_and_bad_tokens_get_401() {
    let dir = Directory::start().await;
    let (_data, server, key) = setup(&dir).await;

    let (status, anonymous) = server.skeleton("for-you", 30, None).await;
    assert_eq!(status, 200);
    let token = key.mint(&claims(VIEWER, SKELETON));
    let (status, personal) = server.skeleton_as(&token, "for-you", 30, None).await;
    assert_eq!(status, 200, "{personal}");
    // The same page /v1/personalize computes for the viewer: the token
    // made the request personal.
    let (_, expected) = server
        .admin_post(
            "/v1/personalize",
            &json!({"user_did": VIEWER, "feed": "for-you", "limit": 30}),
        )
        .await;
    assert_eq!(posts(&personal), posts(&expected));
    assert_ne!(posts(&personal), posts(&anonymous));

    // The aud may name the service endpoint; lxm may be missing.
    let mut with_fragment = claims(VIEWER, SKELETON);
    with_fragment["aud"] = json!(format!("{SERVICE}#bsky_fg"));
    let mut without_lxm = claims(VIEWER, SKELETON);
    without_lxm.as_object_mut().unwrap().remove("lxm");
    for payload in [with_fragment, without_lxm] {
        let (status, page) = server
            .skeleton_as(&key.mint(&payload), "for-you", 30, None)
            .await;
        assert_eq!(status, 200, "{payload}");
        assert_eq!(posts(&page), posts(&expected));
    }

    // An ES256 (P-256) viewer on did:web.
    let web_key = TestKey::p256();
    let web_did = dir.web_did();
    dir.put_key(&web_did, &web_key.public());
    let (status, _) = server
        .skeleton_as(
            &web_key.mint(&claims(&web_did, SKELETON)),
            "for-you",
            10,
            None,
        )
        .await;
    assert_eq!(status, 200);

    let expired = {
        let mut c = claims(VIEWER, SKELETON);
        c["iat"] = json!(now() - 600);
        c["exp"] = json!(now() - 300);
        key.mint(&c)
    };
    let wrong_aud = {
        let mut c = claims(VIEWER, SKELETON);
        c["aud"] = json!("did:web:someone-else.example.com");
        key.mint(&c)
    };
    let wrong_lxm = key.mint(&claims(VIEWER, INTERACTIONS));
    let tampered = {
        // The viewer's signature over someone else's identity.
        let good = key.mint(&claims(VIEWER, SKELETON));
        let parts: Vec<&str> = good.split('.').collect();
        let forged =
            feedmixer_identity::testkit::b64(&claims("did:plc:someoneelse2222222222222", SKELETON));
        format!("{}.{forged}.{}", parts[0], parts[2])
    };
    let other_key = TestKey::k256().mint(&claims(VIEWER, SKELETON));
    let unknown_did = key.mint(&claims("did:plc:nobodyknowsme22222222222", SKELETON));
    for (what, token) in [
        ("expired", expired),
        ("wrong aud", wrong_aud),
        ("wrong lxm", wrong_lxm),
        ("tampered payload", tampered),
        ("another key", other_key),
        ("unknown DID", unknown_did),
        ("not a JWT", "hello".to_string()),
    ] {
        let (status, body) = server.skeleton_as(&token, "for-you", 10, None).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"], "BadJwt", "{what}");
        assert!(body["message"].as_str().unwrap().len() > 5, "{what}");
    }

    let metrics = server.metrics().await;
    assert!(metrics.contains(r#"feedmixer_viewer_auth_total{outcome="verified"}"#));
    assert!(metrics.contains(r#"feedmixer_viewer_auth_total{outcome="invalid"}"#));
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_and_a_directory_outage_serves_anonymously() {
    let dir = Directory::start().await;
    let (_data, server, key) = setup(&dir).await;
    let (_, anonymous) = server.skeleton("for-you", 20, None).await;
    let (status, _) = server
        .skeleton_as(&key.mint(&claims(VIEWER, SKELETON)), "for-you", 20, None)
        .await;
    assert_eq!(status, 200);

    // The viewer rotates their key right after their document was fetched:
    // the cached document is stale, and one refetch finds the new key, so
    // the first token signed with it is accepted.
    let rotated = TestKey::k256();
    dir.put_key(VIEWER, &rotated.public());
    let before = dir.requests(VIEWER);
    let (status, page) = server
        .skeleton_as(
            &rotated.mint(&claims(VIEWER, SKELETON)),
            "for-you",
            20,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(dir.requests(VIEWER), before + 1);

    // The directory fails: a viewer it never resolved is served the
    // anonymous page, not an error.
    dir.set_mode(Mode::Status(503));
    let stranger = TestKey::k256();
    let stranger_did = "did:plc:stranger2222222222222222";
    let (status, page) = server
        .skeleton_as(
            &stranger.mint(&claims(stranger_did, SKELETON)),
            "for-you",
            20,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(posts(&page), posts(&anonymous));

    // A cursor minted for a verified paging, sent when the token cannot be
    // checked: the paging starts over anonymously instead of failing.
    let personal_cursor = {
        dir.set_mode(Mode::Normal);
        let (_, page) = server
            .skeleton_as(&rotated.mint(&claims(VIEWER, SKELETON)), "for-you", 5, None)
            .await;
        page["cursor"].as_str().unwrap().to_string()
    };
    dir.set_mode(Mode::Status(503));
    let (status, page) = server
        .skeleton_as(
            &stranger.mint(&claims(stranger_did, SKELETON)),
            "for-you",
            20,
            Some(&personal_cursor),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(posts(&page), posts(&anonymous));
    // Anyone else sending it is refused.
    let (status, _) = server.skeleton("for-you", 20, Some(&personal_cursor)).await;
    assert_eq!(status, 400);

    let metrics = server.metrics().await;
    assert!(metrics.contains(r#"feedmixer_viewer_auth_total{outcome="unavailable"} 2"#));
}

#[tokio::test]
async fn interactions_need_a_valid_token_and_change_the_next_page() {
    let dir = Directory::start().await;
    let (_data, server, key) = setup(&dir).await;
    let skeleton_token = key.mint(&claims(VIEWER, SKELETON));
    let (_, first) = server
        .skeleton_as(&skeleton_token, "for-you", 10, None)
        .await;
    let first = posts(&first);
    assert_eq!(first.len(), 10);

    let seen: Vec<Value> = first[..5]
        .iter()
        .map(|post| json!({"item": post, "event": "app.bsky.feed.defs#interactionSeen"}))
        .collect();
    let less = json!({"item": first[5], "event": "app.bsky.feed.defs#requestLess"});
    let body = json!({
        "feed": feed_uri("for-you"),
        "interactions": seen.iter().cloned().chain([less]).collect::<Vec<_>>(),
    });

    // Without a token, with a token for another method, or a bad one: 401,
    // and nothing is stored.
    let (status, _) = server.post_as(None, SEND, &body).await;
    assert_eq!(status, 401);
    let (status, _) = server.post_as(Some(&skeleton_token), SEND, &body).await;
    assert_eq!(status, 401);
    let (status, _) = server
        .post_as(
            Some(&TestKey::k256().mint(&claims(VIEWER, INTERACTIONS))),
            SEND,
            &body,
        )
        .await;
    assert_eq!(status, 401);
    let (_, again) = server
        .skeleton_as(&skeleton_token, "for-you", 10, None)
        .await;
    assert_eq!(posts(&again), first);

    // Malformed: refused whole.
    let token = key.mint(&claims(VIEWER, INTERACTIONS));
    let (status, err) = server
        .post_as(
            Some(&token),
            SEND,
            &json!({"interactions": [{"item": "not a uri", "event": "app.bsky.feed.defs#requestLess"}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"], "InvalidRequest");
    let (status, _) = server
        .post_as(Some(&token), SEND, &json!({"nope": 1}))
        .await;
    assert_eq!(status, 400);

    let (status, answer) = server.post_as(Some(&token), SEND, &body).await;
    assert_eq!((status, answer), (200, json!({})));
    let (_, next) = server
        .skeleton_as(&skeleton_token, "for-you", 10, None)
        .await;
    let next = posts(&next);
    for gone in &first[..6] {
        assert!(!next.contains(gone), "{gone} was seen or requested less");
    }
    assert_eq!(next[..4], first[6..], "the rest moves up");
    let metrics = server.metrics().await;
    assert!(metrics.contains(r#"feedmixer_interactions_total{event="interactionSeen"} 5"#));
}

#[tokio::test]
async fn past_the_ranking_queue_a_feed_page_gets_503_with_retry_after_at_once() {
    let dir = Directory::start().await;
    let key = TestKey::k256();
    dir.put_key(VIEWER, &key.public());
    let (_config_dir, config) = config_with("[http]\nmax_in_flight = 1\nmax_queued = 0");
    let data = tempfile::tempdir().unwrap();
    let plc = dir.plc_url();
    let server = Server::start(
        data.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--demo",
            "--demo-size",
            "small",
            "--plc-url",
            &plc,
        ],
    )
    .await;
    // A verified page whose viewer's document takes seconds to come holds
    // the only turn while it waits for it.
    dir.set_mode(Mode::Delay(std::time::Duration::from_secs(3)));
    let token = key.mint(&claims(VIEWER, SKELETON));
    let held = server.skeleton_as(&token, "for-you", 10, None);
    let refused = async {
        while dir.requests(VIEWER) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let url = server.url(&format!(
            "/xrpc/app.bsky.feed.getFeedSkeleton?feed={}&limit=10",
            feed_uri("trending")
        ));
        let answer = server.client.get(url).send().await.unwrap();
        let retry_after = answer.headers().get("retry-after").cloned();
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap();
        (status, retry_after, body)
    };
    let ((held_status, _), (status, retry_after, body)) = tokio::join!(held, refused);
    assert_eq!(held_status, 200);
    assert_eq!((status, body["error"].as_str()), (503, Some("Overloaded")));
    assert_eq!(retry_after.unwrap(), "1");
    // The turn is free again; describeFeedGenerator never needed one.
    dir.set_mode(Mode::Normal);
    assert_eq!(server.skeleton("trending", 10, None).await.0, 200);
    assert_eq!(
        server
            .get("/xrpc/app.bsky.feed.describeFeedGenerator")
            .await
            .0,
        200
    );
    assert_eq!(
        metric(&server.metrics().await, "feedmixer_http_shed_total"),
        1.0
    );
}
