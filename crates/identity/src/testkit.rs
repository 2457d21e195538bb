//! For tests of code that verifies viewers (this crate's and the
//! server's end-to-end tests): a local HTTP server playing the PLC
//! directory and a did:web host, and real ES256K / ES256 tokens signed
//! with fresh keys. Behind the `testkit` feature; never in the binary.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::ResolverConfig;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use feedmixer_atproto::PublicKey;
use k256::ecdsa::signature::Signer as _;
use k256::elliptic_curve::Generate as _;
use serde_json::{Value, json};

pub const SERVICE: &str = "did:web:feeds.example.com";
pub const METHOD: &str = "app.bsky.feed.getFeedSkeleton";

/// A well-formed did:plc (24 base32 characters) starting with `name`.
pub fn plc_did(name: &str) -> String {
    assert!(name.len() <= 24);
    format!("did:plc:{name:a<24}")
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A signing key of either curve.
pub enum TestKey {
    K256(k256::ecdsa::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

impl TestKey {
    pub fn k256() -> Self {
        TestKey::K256(k256::ecdsa::SigningKey::generate())
    }

    pub fn p256() -> Self {
        TestKey::P256(p256::ecdsa::SigningKey::generate())
    }

    pub fn public(&self) -> PublicKey {
        match self {
            TestKey::K256(k) => PublicKey::Secp256k1(*k.verifying_key()),
            TestKey::P256(k) => PublicKey::P256(*k.verifying_key()),
        }
    }

    fn alg(&self) -> &'static str {
        match self {
            TestKey::K256(_) => "ES256K",
            TestKey::P256(_) => "ES256",
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            TestKey::K256(k) => {
                let sig: k256::ecdsa::Signature = k.sign(message);
                sig.normalize_s().to_bytes().to_vec()
            }
            TestKey::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.normalize_s().to_bytes().to_vec()
            }
        }
    }

    /// The claims of a token from `iss` for `SERVICE` / `METHOD`, issued now.
    pub fn claims(iss: &str) -> Value {
        let now = now();
        json!({
            "iss": iss,
            "aud": SERVICE,
            "exp": now + 60,
            "iat": now,
            "lxm": METHOD,
            "jti": format!("{now}-{}", iss.len()),
        })
    }

    /// A token with `payload`, signed by this key.
    pub fn mint(&self, payload: &Value) -> String {
        let header = json!({"typ": "JWT", "alg": self.alg()});
        let input = format!("{}.{}", b64(&header), b64(payload));
        let signature = URL_SAFE_NO_PAD.encode(self.sign(input.as_bytes()));
        format!("{input}.{signature}")
    }
}

pub fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// `did`'s DID document, with `key` as its `#atproto` Multikey.
pub fn did_doc(did: &str, key: &PublicKey) -> Value {
    json!({
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "alsoKnownAs": ["at://viewer.example.com"],
        "verificationMethod": [{
            "id": format!("{did}#atproto"),
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": key.to_multibase(),
        }],
        "service": [{
            "id": "#atproto_pds",
            "type": "AtprotoPersonalDataServer",
            "serviceEndpoint": "https://pds.example.com",
        }],
    })
}

/// What the directory answers besides its documents.
#[derive(Debug, Clone, Copy, Default)]
pub enum Mode {
    #[default]
    Normal,
    /// Every request gets this status and an empty body.
    Status(u16),
    /// Every request waits this long before a normal answer.
    Delay(Duration),
}

#[derive(Default)]
struct Shared {
    docs: Mutex<HashMap<String, Vec<u8>>>,
    requests: Mutex<HashMap<String, usize>>,
    mode: Mutex<Mode>,
    web_did: String,
}

/// A local HTTP server playing the PLC directory (`/{did}`) and the host of
/// `did:web:localhost%3A{port}` (`/.well-known/did.json`).
pub struct Directory {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Directory {
    pub async fn start() -> Directory {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            web_did: format!("did:web:localhost%3A{}", addr.port()),
            ..Shared::default()
        });
        let app = Router::new()
            .route("/.well-known/did.json", get(serve_web))
            .route("/{did}", get(serve_plc))
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Directory { addr, shared }
    }

    pub fn plc_url(&self) -> String {
        // The trailing slash must not matter.
        format!("http://{}/", self.addr)
    }

    /// The did:web this server hosts.
    pub fn web_did(&self) -> String {
        self.shared.web_did.clone()
    }

    /// A resolver config for this directory: short timeout, no refresh limit.
    pub fn config(&self) -> ResolverConfig {
        ResolverConfig {
            plc_url: self.plc_url(),
            timeout: Duration::from_secs(2),
            ttl: Duration::from_secs(3600),
            capacity: 1000,
            min_refresh_interval: Duration::ZERO,
        }
    }

    pub fn put(&self, did: &str, body: impl Into<Vec<u8>>) {
        self.shared
            .docs
            .lock()
            .unwrap()
            .insert(did.to_owned(), body.into());
    }

    pub fn put_key(&self, did: &str, key: &PublicKey) {
        self.put(did, did_doc(did, key).to_string());
    }

    pub fn remove(&self, did: &str) {
        self.shared.docs.lock().unwrap().remove(did);
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// Requests made for `did`'s document.
    pub fn requests(&self, did: &str) -> usize {
        let requests = self.shared.requests.lock().unwrap();
        requests.get(did).copied().unwrap_or(0)
    }

    pub fn total_requests(&self) -> usize {
        self.shared.requests.lock().unwrap().values().sum()
    }
}

async fn serve_plc(State(shared): State<Arc<Shared>>, Path(did): Path<String>) -> Response {
    serve(&shared, did).await
}

async fn serve_web(State(shared): State<Arc<Shared>>) -> Response {
    let did = shared.web_did.clone();
    serve(&shared, did).await
}

async fn serve(shared: &Shared, did: String) -> Response {
    *shared
        .requests
        .lock()
        .unwrap()
        .entry(did.clone())
        .or_default() += 1;
    let mode = *shared.mode.lock().unwrap();
    match mode {
        Mode::Normal => {}
        Mode::Status(status) => return StatusCode::from_u16(status).unwrap().into_response(),
        Mode::Delay(delay) => tokio::time::sleep(delay).await,
    }
    let doc = shared.docs.lock().unwrap().get(&did).cloned();
    match doc {
        Some(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
