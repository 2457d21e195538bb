//! Inter-service JWTs: the bearer token a viewer's PDS mints when it proxies
//! a request to a feed generator.
//!
//! Checking one takes three steps, kept apart so a caller can resolve the
//! issuer's key only for tokens worth the lookup:
//! 1. [`ServiceJwt::parse`]: shape, header and claims decode;
//! 2. [`ServiceJwt::check_claims`]: audience, lifetime and method;
//! 3. [`ServiceJwt::verify_signature`]: ECDSA with the issuer's `#atproto`
//!    key (see [`crate::did_doc`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use k256::ecdsa::signature::Verifier as _;
use serde::Deserialize;

use crate::aturi::is_did;
use crate::did_doc::PublicKey;

/// Longest token accepted, in bytes. Real service JWTs are under 1 KiB.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Clock skew tolerated on `exp` and `iat`, in seconds.
pub const CLOCK_LEEWAY_SECS: u64 = 30;

/// Audience suffix naming the feed generator service of a DID.
pub const FEED_GENERATOR_FRAGMENT: &str = "#bsky_fg";

/// The signature algorithms AT Protocol uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// ECDSA over secp256k1 with SHA-256.
    Es256k,
    /// ECDSA over P-256 with SHA-256.
    Es256,
}

impl Alg {
    /// The JOSE name (`ES256K`, `ES256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Es256k => "ES256K",
            Alg::Es256 => "ES256",
        }
    }

    fn from_jose(name: &str) -> Option<Self> {
        match name {
            "ES256K" => Some(Alg::Es256k),
            "ES256" => Some(Alg::Es256),
            _ => None,
        }
    }
}

impl std::fmt::Display for Alg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The part of a token a decoding error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Header,
    Payload,
    Signature,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::Header => "header",
            Part::Payload => "payload",
            Part::Signature => "signature",
        })
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    // Parsing.
    #[error("token is {len} bytes, more than the {MAX_TOKEN_LEN} accepted")]
    TooLong { len: usize },
    #[error("token must have three dot-separated parts")]
    Shape,
    #[error("token {0} is not unpadded base64url")]
    Base64(Part),
    #[error("token {part} is not the expected JSON: {message}")]
    Json { part: Part, message: String },
    #[error("token type {0:?} is not JWT")]
    Type(String),
    #[error("signature algorithm {0:?} is not ES256K or ES256")]
    Algorithm(String),
    #[error("issuer {0:?} is not a DID")]
    Issuer(String),
    #[error("signature is {0} bytes, not the 64 of r||s")]
    SignatureLength(usize),
    // Claims.
    #[error("token is for {found:?}, not this service")]
    Audience { found: String },
    #[error("token expired at {exp} (now {now})")]
    Expired { exp: u64, now: u64 },
    #[error("token issued at {iat}, in the future (now {now})")]
    IssuedInFuture { iat: u64, now: u64 },
    #[error("token is for method {found:?}, not {expected:?}")]
    Method { expected: String, found: String },
    // Signature.
    #[error("token algorithm {alg} does not match the issuer's {key} key")]
    KeyMismatch { alg: Alg, key: Alg },
    #[error("signature r or s is out of range")]
    MalformedSignature,
    #[error("signature does not verify with the issuer's key")]
    BadSignature,
}

/// What a token must say to be accepted by this service for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedClaims<'a> {
    /// The feed generator's own DID; `aud` must be it or `DID#bsky_fg`.
    pub service_did: &'a str,
    /// The NSID of the method called; `lxm`, when present, must equal it.
    pub method: &'a str,
}

/// A decoded, not yet trusted, service JWT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceJwt {
    alg: Alg,
    iss: String,
    aud: String,
    exp: u64,
    iat: Option<u64>,
    lxm: Option<String>,
    jti: Option<String>,
    /// `b64url(header).b64url(payload)`, exactly as received.
    signing_input: String,
    /// Compact r||s.
    signature: [u8; 64],
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    exp: u64,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    lxm: Option<String>,
    #[serde(default)]
    jti: Option<String>,
}

impl ServiceJwt {
    /// Decodes `HEADER.PAYLOAD.SIGNATURE` (unpadded base64url each) without
    /// judging the claims or the signature. Repeated JSON keys are refused,
    /// so a claim cannot mean one thing here and another to a signer.
    pub fn parse(token: &str) -> Result<ServiceJwt, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::TooLong { len: token.len() });
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Shape);
        };

        let header: Header = decode_json(header_b64, Part::Header)?;
        if let Some(typ) = header.typ
            && !typ.eq_ignore_ascii_case("JWT")
        {
            return Err(JwtError::Type(typ));
        }
        let alg = Alg::from_jose(&header.alg).ok_or(JwtError::Algorithm(header.alg))?;

        let claims: Claims = decode_json(payload_b64, Part::Payload)?;
        if !is_did(&claims.iss) {
            return Err(JwtError::Issuer(claims.iss));
        }

        let raw_signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| JwtError::Base64(Part::Signature))?;
        let signature: [u8; 64] = raw_signature
            .as_slice()
            .try_into()
            .map_err(|_| JwtError::SignatureLength(raw_signature.len()))?;

        Ok(ServiceJwt {
            alg,
            iss: claims.iss,
            aud: claims.aud,
            exp: claims.exp,
            iat: claims.iat,
            lxm: claims.lxm,
            jti: claims.jti,
            signing_input: token[..header_b64.len() + 1 + payload_b64.len()].to_owned(),
            signature,
        })
    }

    /// Checks the audience, the lifetime (with [`CLOCK_LEEWAY_SECS`] of
    /// skew) and the method. A token without `lxm` is accepted: some PDSes
    /// omit it.
    pub fn check_claims(
        &self,
        expected: &ExpectedClaims<'_>,
        now_secs: u64,
    ) -> Result<(), JwtError> {
        let aud_ok = !expected.service_did.is_empty()
            && self
                .aud
                .strip_prefix(expected.service_did)
                .is_some_and(|rest| rest.is_empty() || rest == FEED_GENERATOR_FRAGMENT);
        if !aud_ok {
            return Err(JwtError::Audience {
                found: self.aud.clone(),
            });
        }
        if now_secs > self.exp.saturating_add(CLOCK_LEEWAY_SECS) {
            return Err(JwtError::Expired {
                exp: self.exp,
                now: now_secs,
            });
        }
        if let Some(iat) = self.iat
            && iat > now_secs.saturating_add(CLOCK_LEEWAY_SECS)
        {
            return Err(JwtError::IssuedInFuture { iat, now: now_secs });
        }
        if let Some(lxm) = &self.lxm
            && lxm != expected.method
        {
            return Err(JwtError::Method {
                expected: expected.method.to_owned(),
                found: lxm.clone(),
            });
        }
        Ok(())
    }

    /// Verifies the ECDSA signature (SHA-256 of the signing input) with the
    /// issuer's key, whose curve must match `alg`. High-S signatures are
    /// accepted, as the reference verifier does: `s` is normalized first.
    pub fn verify_signature(&self, key: &PublicKey) -> Result<(), JwtError> {
        let message = self.signing_input.as_bytes();
        match (self.alg, key) {
            (Alg::Es256k, PublicKey::Secp256k1(key)) => {
                let signature = k256::ecdsa::Signature::from_slice(&self.signature)
                    .map_err(|_| JwtError::MalformedSignature)?
                    .normalize_s();
                key.verify(message, &signature)
                    .map_err(|_| JwtError::BadSignature)
            }
            (Alg::Es256, PublicKey::P256(key)) => {
                // Parsed here only to tell a malformed signature (r or s out
                // of range) from a bad one. ring's assembly verifies in a
                // fraction of RustCrypto's time (a verified feed request
                // pays this on every page); it accepts high-S as is.
                p256::ecdsa::Signature::from_slice(&self.signature)
                    .map_err(|_| JwtError::MalformedSignature)?;
                let point = key.to_sec1_point(false);
                ring::signature::UnparsedPublicKey::new(
                    &ring::signature::ECDSA_P256_SHA256_FIXED,
                    point.as_bytes(),
                )
                .verify(message, &self.signature)
                .map_err(|_| JwtError::BadSignature)
            }
            (alg, key) => Err(JwtError::KeyMismatch {
                alg,
                key: key.alg(),
            }),
        }
    }

    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The issuer: the viewer's DID.
    pub fn iss(&self) -> &str {
        &self.iss
    }

    pub fn aud(&self) -> &str {
        &self.aud
    }

    pub fn exp(&self) -> u64 {
        self.exp
    }

    pub fn iat(&self) -> Option<u64> {
        self.iat
    }

    /// The lexicon method the token was minted for, when stated.
    pub fn lxm(&self) -> Option<&str> {
        self.lxm.as_deref()
    }

    pub fn jti(&self) -> Option<&str> {
        self.jti.as_deref()
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(b64: &str, part: Part) -> Result<T, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| JwtError::Base64(part))?;
    serde_json::from_slice(&bytes).map_err(|e| JwtError::Json {
        part,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::did_doc::DidDocument;
    use crate::testkit::{METHOD, SERVICE, TestKey};
    use proptest::prelude::*;
    use serde_json::json;

    const VIEWER: &str = "did:plc:viewer2222222222222222";
    const NOW: u64 = 1_750_000_000;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn claims() -> serde_json::Value {
        with(
            TestKey::claims_at(VIEWER, NOW),
            "jti",
            json!("0123456789abcdef"),
        )
    }

    fn expected() -> ExpectedClaims<'static> {
        ExpectedClaims {
            service_did: SERVICE,
            method: METHOD,
        }
    }

    /// Parses, checks the claims at `NOW` and verifies against `key`.
    fn accept(token: &str, key: &PublicKey) -> Result<ServiceJwt, JwtError> {
        let jwt = ServiceJwt::parse(token)?;
        jwt.check_claims(&expected(), NOW)?;
        jwt.verify_signature(key)?;
        Ok(jwt)
    }

    fn with(
        mut payload: serde_json::Value,
        key: &str,
        value: serde_json::Value,
    ) -> serde_json::Value {
        payload[key] = value;
        payload
    }

    fn without(mut payload: serde_json::Value, key: &str) -> serde_json::Value {
        payload.as_object_mut().unwrap().remove(key);
        payload
    }

    #[test]
    fn accepts_valid_es256k_and_es256_tokens() {
        for key in [TestKey::k256(), TestKey::p256()] {
            let token = key.mint(&claims());
            let jwt = accept(&token, &key.public()).unwrap();
            assert_eq!(jwt.alg().as_str(), key.alg());
            assert_eq!(jwt.iss(), VIEWER);
            assert_eq!(jwt.aud(), SERVICE);
            assert_eq!(jwt.exp(), NOW + 60);
            assert_eq!(jwt.iat(), Some(NOW));
            assert_eq!(jwt.lxm(), Some(METHOD));
            assert_eq!(jwt.jti(), Some("0123456789abcdef"));
        }
    }

    #[test]
    fn key_from_a_did_document_verifies() {
        let key = TestKey::k256();
        let doc = json!({
            "id": VIEWER,
            "verificationMethod": [{
                "id": format!("{VIEWER}#atproto"),
                "type": "Multikey",
                "controller": VIEWER,
                "publicKeyMultibase": key.public().to_multibase(),
            }],
        });
        let doc = DidDocument::parse(doc.to_string().as_bytes(), VIEWER).unwrap();
        let token = key.mint(&claims());
        let jwt = accept(&token, doc.signing_key()).unwrap();
        assert_eq!(jwt.iss(), doc.id());
    }

    #[test]
    fn lifetime_is_checked_with_leeway() {
        let key = TestKey::k256();
        let jwt = ServiceJwt::parse(&key.mint(&claims())).unwrap();
        let exp = NOW + 60;
        assert_eq!(
            jwt.check_claims(&expected(), exp + CLOCK_LEEWAY_SECS),
            Ok(())
        );
        assert_eq!(
            jwt.check_claims(&expected(), exp + CLOCK_LEEWAY_SECS + 1),
            Err(JwtError::Expired {
                exp,
                now: exp + CLOCK_LEEWAY_SECS + 1
            })
        );
        // Issued a little ahead of our clock: fine; far ahead: refused.
        assert_eq!(
            jwt.check_claims(&expected(), NOW - CLOCK_LEEWAY_SECS),
            Ok(())
        );
        let early = NOW - CLOCK_LEEWAY_SECS - 1;
        assert_eq!(
            jwt.check_claims(&expected(), early),
            Err(JwtError::IssuedInFuture {
                iat: NOW,
                now: early
            })
        );
    }

    #[test]
    fn refuses_expired_and_future_tokens() {
        let key = TestKey::p256();
        let expired = with(claims(), "exp", json!(NOW - 120));
        assert!(matches!(
            accept(&key.mint(&expired), &key.public()),
            Err(JwtError::Expired { .. })
        ));
        let future = with(claims(), "iat", json!(NOW + 600));
        assert!(matches!(
            accept(&key.mint(&future), &key.public()),
            Err(JwtError::IssuedInFuture { .. })
        ));
    }

    #[test]
    fn iat_is_optional_exp_is_not() {
        let key = TestKey::k256();
        let no_iat = without(claims(), "iat");
        assert_eq!(
            accept(&key.mint(&no_iat), &key.public()).unwrap().iat(),
            None
        );
        let no_exp = without(claims(), "exp");
        assert!(matches!(
            ServiceJwt::parse(&key.mint(&no_exp)),
            Err(JwtError::Json {
                part: Part::Payload,
                ..
            })
        ));
    }

    #[test]
    fn audience_is_the_service_did_or_its_feed_generator_service() {
        let key = TestKey::k256();
        let fg = with(claims(), "aud", json!(format!("{SERVICE}#bsky_fg")));
        assert!(accept(&key.mint(&fg), &key.public()).is_ok());
        for aud in [
            "did:web:other.example.com",
            "did:web:feeds.example.com#atproto_pds",
            "did:web:feeds.example.com.evil",
            "did:web:feeds.example.co",
            "",
        ] {
            let payload = with(claims(), "aud", json!(aud));
            assert_eq!(
                accept(&key.mint(&payload), &key.public()).unwrap_err(),
                JwtError::Audience { found: aud.into() },
                "{aud:?}"
            );
        }
    }

    #[test]
    fn method_must_match_when_present() {
        let key = TestKey::k256();
        let wrong = with(claims(), "lxm", json!("app.bsky.feed.sendInteractions"));
        assert_eq!(
            accept(&key.mint(&wrong), &key.public()).unwrap_err(),
            JwtError::Method {
                expected: METHOD.into(),
                found: "app.bsky.feed.sendInteractions".into()
            }
        );
        let absent = without(claims(), "lxm");
        assert_eq!(
            accept(&key.mint(&absent), &key.public()).unwrap().lxm(),
            None
        );
    }

    #[test]
    fn tampered_payload_fails_the_signature() {
        for key in [TestKey::k256(), TestKey::p256()] {
            let token = key.mint(&claims());
            let forged_payload = with(claims(), "iss", json!("did:plc:attacker22222222222222"));
            let mut parts: Vec<&str> = token.split('.').collect();
            let forged = b64(forged_payload.to_string().as_bytes());
            parts[1] = &forged;
            let forged = parts.join(".");
            assert_eq!(
                accept(&forged, &key.public()).unwrap_err(),
                JwtError::BadSignature
            );
        }
    }

    #[test]
    fn signature_from_another_key_fails() {
        for (signer, other) in [
            (TestKey::k256(), TestKey::k256()),
            (TestKey::p256(), TestKey::p256()),
        ] {
            let token = signer.mint(&claims());
            assert_eq!(
                accept(&token, &other.public()).unwrap_err(),
                JwtError::BadSignature
            );
        }
    }

    #[test]
    fn algorithm_must_match_the_key_curve() {
        let (k, p) = (TestKey::k256(), TestKey::p256());
        // Signed with the P-256 key but labelled ES256K.
        let header = json!({"typ": "JWT", "alg": "ES256K"});
        let token = p.mint_with(&header, &claims(), |s| s);
        assert_eq!(
            accept(&token, &p.public()).unwrap_err(),
            JwtError::KeyMismatch {
                alg: Alg::Es256k,
                key: Alg::Es256
            }
        );
        let token = k.mint(&claims());
        assert_eq!(
            accept(&token, &p.public()).unwrap_err(),
            JwtError::KeyMismatch {
                alg: Alg::Es256k,
                key: Alg::Es256
            }
        );
    }

    /// Replaces s by n - s: the same signature, in its high-S form.
    fn high_s_k256(sig: [u8; 64]) -> [u8; 64] {
        let sig = k256::ecdsa::Signature::from_slice(&sig).unwrap();
        let (r, s) = sig.split_scalars();
        let high = k256::ecdsa::Signature::from_scalars(r.to_bytes(), (-s).to_bytes()).unwrap();
        assert_ne!(high, sig);
        assert_eq!(high.normalize_s(), sig);
        high.to_bytes().into()
    }

    fn high_s_p256(sig: [u8; 64]) -> [u8; 64] {
        let sig = p256::ecdsa::Signature::from_slice(&sig).unwrap();
        let (r, s) = sig.split_scalars();
        let high = p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-s).to_bytes()).unwrap();
        assert_ne!(high, sig);
        high.to_bytes().into()
    }

    #[test]
    fn high_s_signatures_are_accepted() {
        let key = TestKey::k256();
        let header = json!({"typ": "JWT", "alg": "ES256K"});
        let token = key.mint_with(&header, &claims(), high_s_k256);
        accept(&token, &key.public()).unwrap();
        // k256 alone refuses high-S: the normalization is what accepts it.
        let jwt = ServiceJwt::parse(&token).unwrap();
        let high = k256::ecdsa::Signature::from_slice(&jwt.signature).unwrap();
        let PublicKey::Secp256k1(vk) = key.public() else {
            unreachable!()
        };
        assert!(vk.verify(jwt.signing_input.as_bytes(), &high).is_err());
        let key = TestKey::p256();
        let header = json!({"typ": "JWT", "alg": "ES256"});
        let token = key.mint_with(&header, &claims(), high_s_p256);
        accept(&token, &key.public()).unwrap();
    }

    #[test]
    fn out_of_range_signature_is_malformed() {
        let key = TestKey::k256();
        let header = json!({"typ": "JWT", "alg": "ES256K"});
        let zero = key.mint_with(&header, &claims(), |_| [0; 64]);
        assert_eq!(
            accept(&zero, &key.public()).unwrap_err(),
            JwtError::MalformedSignature
        );
        let max = key.mint_with(&header, &claims(), |_| [0xff; 64]);
        assert_eq!(
            accept(&max, &key.public()).unwrap_err(),
            JwtError::MalformedSignature
        );
    }

    #[test]
    fn header_is_checked() {
        let key = TestKey::k256();
        let no_typ = json!({"alg": "ES256K"});
        assert!(accept(&key.mint_with(&no_typ, &claims(), |s| s), &key.public()).is_ok());
        let cases = [
            (
                json!({"typ": "at+jwt", "alg": "ES256K"}),
                JwtError::Type("at+jwt".into()),
            ),
            (
                json!({"typ": "JWT", "alg": "none"}),
                JwtError::Algorithm("none".into()),
            ),
            (
                json!({"typ": "JWT", "alg": "HS256"}),
                JwtError::Algorithm("HS256".into()),
            ),
            (
                json!({"typ": "JWT", "alg": "es256k"}),
                JwtError::Algorithm("es256k".into()),
            ),
        ];
        for (header, error) in cases {
            assert_eq!(
                ServiceJwt::parse(&key.mint_with(&header, &claims(), |s| s)),
                Err(error)
            );
        }
        let no_alg = json!({"typ": "JWT"});
        assert!(matches!(
            ServiceJwt::parse(&key.mint_with(&no_alg, &claims(), |s| s)),
            Err(JwtError::Json {
                part: Part::Header,
                ..
            })
        ));
    }

    #[test]
    fn payload_is_checked() {
        let key = TestKey::k256();
        let handle = with(claims(), "iss", json!("alice.bsky.social"));
        assert_eq!(
            ServiceJwt::parse(&key.mint(&handle)),
            Err(JwtError::Issuer("alice.bsky.social".into()))
        );
        for payload in [
            with(claims(), "exp", json!(-1)),
            with(claims(), "exp", json!("soon")),
            with(claims(), "aud", json!([SERVICE])),
            with(claims(), "lxm", json!(1)),
            without(claims(), "iss"),
            without(claims(), "aud"),
            json!([]),
        ] {
            assert!(
                matches!(
                    ServiceJwt::parse(&key.mint(&payload)),
                    Err(JwtError::Json {
                        part: Part::Payload,
                        ..
                    })
                ),
                "{payload}"
            );
        }
        // The same claim twice is ambiguous: refused.
        let header = b64(br#"{"alg":"ES256K"}"#);
        let payload = format!(
            r#"{{"iss":"{VIEWER}","aud":"{SERVICE}","aud":"did:web:x","exp":{}}}"#,
            NOW + 60
        );
        let token = format!("{header}.{}.{}", b64(payload.as_bytes()), b64(&[1; 64]));
        assert!(matches!(
            ServiceJwt::parse(&token),
            Err(JwtError::Json {
                part: Part::Payload,
                ..
            })
        ));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let key = TestKey::k256();
        let token = key.mint(&claims());
        let parts: Vec<&str> = token.split('.').collect();
        let (h, p, s) = (parts[0], parts[1], parts[2]);

        assert_eq!(ServiceJwt::parse(""), Err(JwtError::Shape));
        assert_eq!(ServiceJwt::parse(&format!("{h}.{p}")), Err(JwtError::Shape));
        assert_eq!(
            ServiceJwt::parse(&format!("{h}.{p}.{s}.")),
            Err(JwtError::Shape)
        );
        assert_eq!(
            ServiceJwt::parse(&format!("{h}.{p}.{s}.{s}")),
            Err(JwtError::Shape)
        );

        assert_eq!(
            ServiceJwt::parse(&format!("{h}=.{p}.{s}")),
            Err(JwtError::Base64(Part::Header))
        );
        assert_eq!(
            ServiceJwt::parse(&format!("{h}.{p}*.{s}")),
            Err(JwtError::Base64(Part::Payload))
        );
        // Standard alphabet rather than URL-safe.
        let std_sig = s.replace('-', "+").replace('_', "/");
        if std_sig != s {
            assert_eq!(
                ServiceJwt::parse(&format!("{h}.{p}.{std_sig}")),
                Err(JwtError::Base64(Part::Signature))
            );
        }
        assert_eq!(
            ServiceJwt::parse(&format!("{h}.{p}.")),
            Err(JwtError::SignatureLength(0))
        );
        assert_eq!(
            ServiceJwt::parse(&format!("{h}.{p}.{}", b64(&[7; 65]))),
            Err(JwtError::SignatureLength(65))
        );
        let not_json = b64(b"not json");
        assert!(matches!(
            ServiceJwt::parse(&format!("{not_json}.{p}.{s}")),
            Err(JwtError::Json {
                part: Part::Header,
                ..
            })
        ));
        assert!(matches!(
            ServiceJwt::parse(&format!("{h}.{not_json}.{s}")),
            Err(JwtError::Json {
                part: Part::Payload,
                ..
            })
        ));

        let huge = format!("{h}.{}.{s}", "A".repeat(MAX_TOKEN_LEN));
        assert_eq!(
            ServiceJwt::parse(&huge),
            Err(JwtError::TooLong { len: huge.len() })
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(token in ".{0,600}") {
            let _ = ServiceJwt::parse(&token);
        }

        #[test]
        fn parse_never_panics_on_token_like_input(
            parts in proptest::collection::vec("[A-Za-z0-9_=+/-]{0,120}", 0..5)
        ) {
            let _ = ServiceJwt::parse(&parts.join("."));
        }

        #[test]
        fn parse_never_panics_on_encoded_json_parts(
            header in ".{0,80}", payload in ".{0,200}", sig in proptest::collection::vec(any::<u8>(), 0..70)
        ) {
            let token = format!("{}.{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()), b64(&sig));
            if let Ok(jwt) = ServiceJwt::parse(&token) {
                let _ = jwt.check_claims(&expected(), NOW);
            }
        }
    }
}
