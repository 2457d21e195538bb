//! Any bearer token parses or is refused, and a parsed one can have its
//! claims and signature judged without panicking.
#![no_main]

use feedmixer_atproto::{DidDocument, ExpectedClaims, ServiceJwt};
use libfuzzer_sys::fuzz_target;

/// A fixed secp256k1 `#atproto` key to verify against.
const DOC: &str = r##"{"id":"did:plc:fuzz","verificationMethod":[{"id":"#atproto","type":"Multikey","publicKeyMultibase":"zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc"}]}"##;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(jwt) = ServiceJwt::parse(token) else {
        return;
    };
    assert!(token.len() <= feedmixer_atproto::jwt::MAX_TOKEN_LEN);
    let expected = ExpectedClaims {
        service_did: "did:web:feeds.example.com",
        method: "app.bsky.feed.getFeedSkeleton",
    };
    let _ = jwt.check_claims(&expected, jwt.exp());
    let doc = DidDocument::parse(DOC.as_bytes(), "did:plc:fuzz").expect("fixed document");
    let _ = jwt.verify_signature(doc.signing_key());
});
