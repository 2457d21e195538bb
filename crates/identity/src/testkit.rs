//! For tests of code that verifies viewers (this crate's and the
//! server's end-to-end tests): a local HTTP server playing the PLC
//! directory and a did:web host, and (from `feedmixer_atproto::testkit`)
//! real ES256K / ES256 tokens signed with fresh keys. Behind the `testkit`
//! feature; never in the binary.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::ResolverConfig;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use feedmixer_atproto::{PublicKey, clock};
use serde_json::{Value, json};

pub use feedmixer_atproto::testkit::{METHOD, SERVICE, TestKey, b64};

/// A well-formed did:plc (24 base32 characters) starting with `name`.
pub fn plc_did(name: &str) -> String {
    assert!(name.len() <= 24);
    format!("did:plc:{name:a<24}")
}

/// Unix seconds now, as `Verifier::verify` takes them.
pub fn now() -> u64 {
    u64::from(clock::now_secs())
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

    /// A resolver config for this directory: a short timeout, otherwise as
    /// in production (so tests see the real refetch interval).
    pub fn config(&self) -> ResolverConfig {
        ResolverConfig {
            plc_url: self.plc_url(),
            timeout: Duration::from_secs(2),
            ttl: Duration::from_secs(3600),
            capacity: 1000,
            refetch_interval: ResolverConfig::default().refetch_interval,
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
