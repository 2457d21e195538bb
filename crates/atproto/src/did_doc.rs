//! DID documents, read for what a feed generator needs from them: the
//! `#atproto` signing key that verifies an account's service JWTs, and the
//! `#atproto_pds` service, where the account's repository (the publisher's
//! feed generator records) is written.

use serde::Deserialize;
use serde_json::Value;

use crate::jwt::Alg;

/// Multicodec prefix (varint of 0xE7) of a compressed secp256k1 public key.
const SECP256K1_CODEC: [u8; 2] = [0xE7, 0x01];
/// Multicodec prefix (varint of 0x1200) of a compressed P-256 public key.
const P256_CODEC: [u8; 2] = [0x80, 0x24];

/// Length of a SEC1 compressed public key on either curve.
const COMPRESSED_LEN: usize = 33;

/// Fragment of the verification method holding the account's signing key.
const ATPROTO_FRAGMENT: &str = "#atproto";

/// Fragment of the service naming the account's PDS, and its type.
const PDS_FRAGMENT: &str = "#atproto_pds";
const PDS_TYPE: &str = "AtprotoPersonalDataServer";

/// An account's signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKey {
    Secp256k1(k256::ecdsa::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("public key multibase must be base58btc (start with z)")]
    Multibase,
    #[error("public key is not valid base58btc")]
    Base58,
    #[error("public key multicodec is not secp256k1 (0xE701) or P-256 (0x8024)")]
    Multicodec,
    #[error("public key is {0} bytes, not a 33-byte compressed key")]
    Length(usize),
    #[error("public key is not a point on its curve")]
    Point,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DidDocError {
    #[error("DID document is not the expected JSON: {0}")]
    Json(String),
    #[error("DID document is for {found:?}, not {expected:?}")]
    IdMismatch { expected: String, found: String },
    #[error("DID document has no #atproto verification method")]
    NoAtprotoKey,
    #[error("#atproto verification method type {0:?} is not supported")]
    KeyType(String),
    #[error("#atproto verification method has no publicKeyMultibase")]
    NoMultibase,
    #[error("#atproto key: {0}")]
    Key(#[from] KeyError),
}

impl PublicKey {
    /// Decodes a `Multikey` `publicKeyMultibase`: `z` then base58btc of a
    /// multicodec prefix and a 33-byte compressed key.
    pub fn from_multikey(multibase: &str) -> Result<Self, KeyError> {
        let bytes = decode_base58btc(multibase)?;
        if let Some(key) = bytes.strip_prefix(&SECP256K1_CODEC) {
            Self::secp256k1(compressed(key)?)
        } else if let Some(key) = bytes.strip_prefix(&P256_CODEC) {
            Self::p256(compressed(key)?)
        } else {
            Err(KeyError::Multicodec)
        }
    }

    /// Decodes the `publicKeyMultibase` of a legacy
    /// `EcdsaSecp256k1VerificationKey2019` / `EcdsaSecp256r1VerificationKey2019`
    /// method: the SEC1 key with no multicodec prefix (compressed or not).
    fn from_legacy(curve: Alg, multibase: &str) -> Result<Self, KeyError> {
        let bytes = decode_base58btc(multibase)?;
        match curve {
            Alg::Es256k => Self::secp256k1(&bytes),
            Alg::Es256 => Self::p256(&bytes),
        }
    }

    fn secp256k1(sec1: &[u8]) -> Result<Self, KeyError> {
        k256::ecdsa::VerifyingKey::from_sec1_bytes(sec1)
            .map(PublicKey::Secp256k1)
            .map_err(|_| KeyError::Point)
    }

    fn p256(sec1: &[u8]) -> Result<Self, KeyError> {
        p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1)
            .map(PublicKey::P256)
            .map_err(|_| KeyError::Point)
    }

    /// The `Multikey` `publicKeyMultibase` of this key (the inverse of
    /// [`PublicKey::from_multikey`]).
    pub fn to_multibase(&self) -> String {
        let mut bytes = Vec::with_capacity(2 + COMPRESSED_LEN);
        match self {
            PublicKey::Secp256k1(key) => {
                bytes.extend_from_slice(&SECP256K1_CODEC);
                bytes.extend_from_slice(key.to_sec1_point(true).as_bytes());
            }
            PublicKey::P256(key) => {
                bytes.extend_from_slice(&P256_CODEC);
                bytes.extend_from_slice(key.to_sec1_point(true).as_bytes());
            }
        }
        format!("z{}", bs58::encode(bytes).into_string())
    }

    /// The JWT algorithm this key verifies.
    pub fn alg(&self) -> Alg {
        match self {
            PublicKey::Secp256k1(_) => Alg::Es256k,
            PublicKey::P256(_) => Alg::Es256,
        }
    }
}

fn decode_base58btc(multibase: &str) -> Result<Vec<u8>, KeyError> {
    let encoded = multibase.strip_prefix('z').ok_or(KeyError::Multibase)?;
    // A compressed or uncompressed key and its prefix fit in 67 bytes, whose
    // base58 is at most 92 characters: refuse longer input before decoding.
    if encoded.len() > 100 {
        return Err(KeyError::Length(encoded.len()));
    }
    bs58::decode(encoded)
        .into_vec()
        .map_err(|_| KeyError::Base58)
}

fn compressed(key: &[u8]) -> Result<&[u8], KeyError> {
    if key.len() == COMPRESSED_LEN {
        Ok(key)
    } else {
        Err(KeyError::Length(key.len()))
    }
}

/// Where a DID's document is fetched from: `PLC_URL/DID` for `did:plc`,
/// `https://HOST/.well-known/did.json` for a host-only `did:web` (a port is
/// written `%3A`). `None` for other methods and malformed identifiers.
pub fn did_document_url(did: &str, plc_url: &str) -> Option<String> {
    if let Some(id) = did.strip_prefix("did:plc:") {
        let plc_shaped =
            id.len() == 24 && id.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'));
        return plc_shaped.then(|| format!("{}/{did}", plc_url.trim_end_matches('/')));
    }
    let id = did.strip_prefix("did:web:")?;
    let (host, port) = match id.split_once("%3A") {
        Some((host, port)) => (host, Some(port)),
        None => (id, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    (host_ok && port_ok).then(|| match port {
        Some(port) => format!("https://{host}:{port}/.well-known/did.json"),
        None => format!("https://{host}/.well-known/did.json"),
    })
}

/// The parts of a DID document feedmixer uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DidDocument {
    id: String,
    signing_key: PublicKey,
    pds: Option<String>,
}

#[derive(Deserialize)]
struct RawDocument {
    id: String,
    /// Kept loose: methods other than `#atproto` may have any shape.
    #[serde(default, rename = "verificationMethod")]
    verification_method: Vec<Value>,
    /// Looser still: only the PDS entry is read, and a document whose
    /// services are malformed still verifies its account's tokens.
    #[serde(default)]
    service: Value,
}

impl DidDocument {
    /// Parses a DID document, which must be `expected_did`'s, and decodes
    /// its `#atproto` signing key (id `#atproto` or `DID#atproto`). Only
    /// the first method with that id counts. The PDS is read too, but a
    /// document without a usable one still parses (see
    /// [`DidDocument::pds_endpoint`]).
    pub fn parse(json: &[u8], expected_did: &str) -> Result<DidDocument, DidDocError> {
        let raw: RawDocument =
            serde_json::from_slice(json).map_err(|e| DidDocError::Json(e.to_string()))?;
        if raw.id != expected_did {
            return Err(DidDocError::IdMismatch {
                expected: expected_did.to_owned(),
                found: raw.id,
            });
        }
        let method = raw
            .verification_method
            .iter()
            .find(|m| {
                m.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| is_atproto_method_id(id, &raw.id))
            })
            .ok_or(DidDocError::NoAtprotoKey)?;
        let kind = method.get("type").and_then(Value::as_str).unwrap_or("");
        let multibase = || {
            method
                .get("publicKeyMultibase")
                .and_then(Value::as_str)
                .ok_or(DidDocError::NoMultibase)
        };
        let signing_key = match kind {
            "Multikey" => PublicKey::from_multikey(multibase()?)?,
            "EcdsaSecp256k1VerificationKey2019" => {
                PublicKey::from_legacy(Alg::Es256k, multibase()?)?
            }
            "EcdsaSecp256r1VerificationKey2019" => {
                PublicKey::from_legacy(Alg::Es256, multibase()?)?
            }
            other => return Err(DidDocError::KeyType(other.to_owned())),
        };
        let pds = pds_endpoint(&raw.service, &raw.id);
        Ok(DidDocument {
            id: raw.id,
            signing_key,
            pds,
        })
    }

    /// The DID the document describes.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The `#atproto` key, which signs the account's service JWTs.
    pub fn signing_key(&self) -> &PublicKey {
        &self.signing_key
    }

    /// The account's PDS: the `serviceEndpoint` of the first service with
    /// id `#atproto_pds` (or `DID#atproto_pds`), when that service has type
    /// `AtprotoPersonalDataServer` and an http(s) URL with a host for
    /// endpoint (any trailing `/` removed). `None` otherwise.
    pub fn pds_endpoint(&self) -> Option<&str> {
        self.pds.as_deref()
    }
}

fn is_atproto_method_id(id: &str, did: &str) -> bool {
    is_fragment_id(id, did, ATPROTO_FRAGMENT)
}

/// `id` is `fragment` relative to the document or absolute for `did`.
fn is_fragment_id(id: &str, did: &str, fragment: &str) -> bool {
    id == fragment || id.strip_prefix(did).is_some_and(|f| f == fragment)
}

fn pds_endpoint(services: &Value, did: &str) -> Option<String> {
    let service = services.as_array()?.iter().find(|s| {
        s.get("id")
            .and_then(Value::as_str)
            .is_some_and(|id| is_fragment_id(id, did, PDS_FRAGMENT))
    })?;
    if service.get("type").and_then(Value::as_str) != Some(PDS_TYPE) {
        return None;
    }
    let endpoint = service.get("serviceEndpoint")?.as_str()?;
    let rest = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let plain = !host.is_empty()
        && !host.contains('@')
        && !endpoint.contains(['?', '#'])
        && !endpoint.contains(char::is_whitespace);
    plain.then(|| endpoint.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::TestKey;
    use serde_json::json;

    const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

    fn doc_with(method: serde_json::Value) -> Vec<u8> {
        json!({
            "@context": [
                "https://www.w3.org/ns/did/v1",
                "https://w3id.org/security/multikey/v1",
            ],
            "id": DID,
            "alsoKnownAs": ["at://alice.example.com"],
            "verificationMethod": [
                {"id": format!("{DID}#other"), "type": "JsonWebKey2020", "publicKeyJwk": {}},
                method,
            ],
            "service": [{
                "id": "#atproto_pds",
                "type": "AtprotoPersonalDataServer",
                "serviceEndpoint": "https://pds.example.com",
            }],
        })
        .to_string()
        .into_bytes()
    }

    fn multikey(id: &str, key: &PublicKey) -> serde_json::Value {
        json!({
            "id": id,
            "type": "Multikey",
            "controller": DID,
            "publicKeyMultibase": key.to_multibase(),
        })
    }

    #[test]
    fn finds_the_pds() {
        let key = TestKey::k256().public();
        let doc = DidDocument::parse(&doc_with(multikey("#atproto", &key)), DID).unwrap();
        assert_eq!(doc.pds_endpoint(), Some("https://pds.example.com"));

        let with_services = |services: serde_json::Value| {
            let mut doc: serde_json::Value =
                serde_json::from_slice(&doc_with(multikey("#atproto", &key))).unwrap();
            doc["service"] = services;
            DidDocument::parse(doc.to_string().as_bytes(), DID).unwrap()
        };
        let pds = |id: &str, kind: &str, endpoint: serde_json::Value| json!({"id": id, "type": kind, "serviceEndpoint": endpoint});
        const T: &str = "AtprotoPersonalDataServer";
        // Either id form; the first matching id counts; a trailing slash goes.
        let doc = with_services(json!([
            pds(
                "#bsky_fg",
                "BskyFeedGenerator",
                json!("https://feeds.example.com")
            ),
            pds(
                &format!("{DID}#atproto_pds"),
                T,
                json!("http://127.0.0.1:2583/")
            ),
            pds("#atproto_pds", T, json!("https://second.example.com")),
        ]));
        assert_eq!(doc.pds_endpoint(), Some("http://127.0.0.1:2583"));
        for services in [
            json!(null),
            json!({"id": "#atproto_pds"}),
            json!([]),
            json!([pds(
                "#bsky_fg",
                "BskyFeedGenerator",
                json!("https://x.example")
            )]),
            json!([pds(
                "#atproto_pds",
                "SomethingElse",
                json!("https://x.example")
            )]),
            json!([pds(
                "did:plc:someoneelse22222222222#atproto_pds",
                T,
                json!("https://x.example")
            )]),
            json!([pds("#atproto_pds", T, json!({"uri": "https://x.example"}))]),
            json!([pds("#atproto_pds", T, json!("ftp://x.example"))]),
            json!([pds("#atproto_pds", T, json!("https://"))]),
            json!([pds("#atproto_pds", T, json!("https://user@x.example"))]),
            json!([pds("#atproto_pds", T, json!("https://x.example/?q=1"))]),
            json!([{"id": "#atproto_pds", "type": T}]),
        ] {
            // The document still parses: its key verifies tokens.
            let doc = with_services(services.clone());
            assert_eq!(doc.signing_key(), &key);
            assert_eq!(doc.pds_endpoint(), None, "{services}");
        }
    }

    #[test]
    fn document_urls() {
        let plc = "https://plc.example.com/";
        assert_eq!(
            did_document_url(DID, plc).as_deref(),
            Some("https://plc.example.com/did:plc:ewvi7nxzyoun6zhxrhs64oiz")
        );
        assert_eq!(
            did_document_url("did:web:feeds.example.com", plc).as_deref(),
            Some("https://feeds.example.com/.well-known/did.json")
        );
        assert_eq!(
            did_document_url("did:web:localhost%3A8080", plc).as_deref(),
            Some("https://localhost:8080/.well-known/did.json")
        );
        for bad in [
            "did:plc:short",
            "did:plc:EWVI7NXZYOUN6ZHXRHS64OIZ",
            "did:plc:ewvi7nxzyoun6zhxrhs64oi1",
            "did:web:example.com:user:alice",
            "did:web:example.com%2Fpath",
            "did:web:evil.com%40good.com",
            "did:web:",
            "did:web:a..b",
            "did:web:host%3A",
            "did:web:host%3A80x",
            "did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc",
        ] {
            assert_eq!(did_document_url(bad, plc), None, "{bad}");
        }
    }

    #[test]
    fn multibase_round_trips_on_both_curves() {
        for key in [TestKey::k256().public(), TestKey::p256().public()] {
            let encoded = key.to_multibase();
            assert_eq!(PublicKey::from_multikey(&encoded), Ok(key));
        }
        // The did:key prefixes the spec's examples start with.
        assert!(TestKey::k256().public().to_multibase().starts_with("zQ3s"));
        assert!(TestKey::p256().public().to_multibase().starts_with("zDn"));
    }

    #[test]
    fn decodes_the_spec_example_multikeys() {
        // From the AT Protocol cryptography spec's examples.
        let key =
            PublicKey::from_multikey("zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc").unwrap();
        assert_eq!(key.alg(), Alg::Es256k);
        let key =
            PublicKey::from_multikey("zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo").unwrap();
        assert_eq!(key.alg(), Alg::Es256);
    }

    #[test]
    fn finds_the_atproto_key_by_either_id_form() {
        let key = TestKey::k256().public();
        for id in ["#atproto".to_owned(), format!("{DID}#atproto")] {
            let doc = DidDocument::parse(&doc_with(multikey(&id, &key)), DID).unwrap();
            assert_eq!(doc.id(), DID);
            assert_eq!(doc.signing_key(), &key);
        }
    }

    #[test]
    fn ignores_methods_of_other_ids() {
        let key = TestKey::k256().public();
        for id in [
            "did:plc:someoneelse22222222222#atproto".to_owned(),
            format!("{DID}#atproto_label"),
            "atproto".to_owned(),
        ] {
            assert_eq!(
                DidDocument::parse(&doc_with(multikey(&id, &key)), DID),
                Err(DidDocError::NoAtprotoKey),
                "{id}"
            );
        }
        let bare = json!({"id": DID}).to_string();
        assert_eq!(
            DidDocument::parse(bare.as_bytes(), DID),
            Err(DidDocError::NoAtprotoKey)
        );
    }

    #[test]
    fn refuses_a_document_for_another_did() {
        let key = TestKey::k256().public();
        assert_eq!(
            DidDocument::parse(&doc_with(multikey("#atproto", &key)), "did:plc:someoneelse"),
            Err(DidDocError::IdMismatch {
                expected: "did:plc:someoneelse".into(),
                found: DID.into()
            })
        );
    }

    #[test]
    fn reads_legacy_key_types() {
        let k = TestKey::k256().public();
        let p = TestKey::p256().public();
        let raw = |key: &PublicKey, compress: bool| {
            let sec1 = match key {
                PublicKey::Secp256k1(v) => v.to_sec1_point(compress).as_bytes().to_vec(),
                PublicKey::P256(v) => v.to_sec1_point(compress).as_bytes().to_vec(),
            };
            format!("z{}", bs58::encode(sec1).into_string())
        };
        for compress in [true, false] {
            for (kind, key) in [
                ("EcdsaSecp256k1VerificationKey2019", k),
                ("EcdsaSecp256r1VerificationKey2019", p),
            ] {
                let method = json!({
                    "id": "#atproto",
                    "type": kind,
                    "controller": DID,
                    "publicKeyMultibase": raw(&key, compress),
                });
                let doc = DidDocument::parse(&doc_with(method), DID).unwrap();
                assert_eq!(doc.signing_key(), &key);
            }
        }
        // A secp256k1 point read as P-256 is (almost surely) not on the curve,
        // and at best a different key: never the same one.
        let method = json!({
            "id": "#atproto",
            "type": "EcdsaSecp256r1VerificationKey2019",
            "publicKeyMultibase": raw(&k, true),
        });
        match DidDocument::parse(&doc_with(method), DID) {
            Err(DidDocError::Key(KeyError::Point)) => {}
            Ok(doc) => assert_ne!(doc.signing_key(), &k),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn refuses_bad_keys() {
        let key = TestKey::k256().public();
        let good = key.to_multibase();
        let bytes = bs58::decode(&good[1..]).into_vec().unwrap();
        let enc = |b: &[u8]| format!("z{}", bs58::encode(b).into_string());

        let cases: Vec<(String, KeyError)> = vec![
            (format!("m{}", &good[1..]), KeyError::Multibase),
            ("".into(), KeyError::Multibase),
            ("z0OIl".into(), KeyError::Base58),
            (
                enc(&[&[0xED, 0x01][..], &bytes[2..]].concat()),
                KeyError::Multicodec,
            ),
            (enc(&bytes[..34]), KeyError::Length(32)),
            (enc(&[&bytes[..], &[0][..]].concat()), KeyError::Length(34)),
            (
                enc(&[&[0xE7, 0x01, 0x05][..], &[0; 32][..]].concat()),
                KeyError::Point,
            ),
            (format!("z{}", "2".repeat(500)), KeyError::Length(500)),
        ];
        for (multibase, error) in cases {
            assert_eq!(
                PublicKey::from_multikey(&multibase),
                Err(error.clone()),
                "{multibase}"
            );
            let method =
                json!({"id": "#atproto", "type": "Multikey", "publicKeyMultibase": multibase});
            assert_eq!(
                DidDocument::parse(&doc_with(method), DID),
                Err(DidDocError::Key(error))
            );
        }
    }

    #[test]
    fn refuses_unusable_methods_and_documents() {
        let method = json!({"id": "#atproto", "type": "JsonWebKey2020", "publicKeyJwk": {}});
        assert_eq!(
            DidDocument::parse(&doc_with(method), DID),
            Err(DidDocError::KeyType("JsonWebKey2020".into()))
        );
        let method = json!({"id": "#atproto", "type": "Multikey"});
        assert_eq!(
            DidDocument::parse(&doc_with(method), DID),
            Err(DidDocError::NoMultibase)
        );
        for bad in [
            &b"not json"[..],
            b"[]",
            br#"{"verificationMethod": []}"#,
            br#"{"id": 5}"#,
        ] {
            assert!(matches!(
                DidDocument::parse(bad, DID),
                Err(DidDocError::Json(_))
            ));
        }
    }
}
