//! For tests of code that verifies service JWTs (this crate's, the
//! identity crate's and the server's end-to-end tests): fresh signing keys
//! of either curve and real ES256K / ES256 tokens signed with them. Behind
//! the `testkit` feature; never in the binary.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use k256::ecdsa::signature::Signer as _;
use k256::elliptic_curve::Generate as _;
use serde_json::{Value, json};

use crate::PublicKey;
use crate::clock;

/// The audience (`aud`) of the tokens [`TestKey::claims`] describes.
pub const SERVICE: &str = "did:web:feeds.example.com";
/// The method (`lxm`) of the tokens [`TestKey::claims`] describes.
pub const METHOD: &str = "app.bsky.feed.getFeedSkeleton";

/// A signing key of either curve, for minting test tokens.
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

    /// The JWT `alg` of this key's curve.
    pub fn alg(&self) -> &'static str {
        match self {
            TestKey::K256(_) => "ES256K",
            TestKey::P256(_) => "ES256",
        }
    }

    /// Low-S r||s over `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        match self {
            TestKey::K256(k) => {
                let sig: k256::ecdsa::Signature = k.sign(message);
                sig.normalize_s().to_bytes().into()
            }
            TestKey::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.normalize_s().to_bytes().into()
            }
        }
    }

    /// The claims of a token from `iss` for [`SERVICE`] / [`METHOD`],
    /// issued at `now` (Unix seconds) and valid for a minute.
    pub fn claims_at(iss: &str, now: u64) -> Value {
        json!({
            "iss": iss,
            "aud": SERVICE,
            "exp": now + 60,
            "iat": now,
            "lxm": METHOD,
            "jti": format!("{now}-{}", iss.len()),
        })
    }

    /// [`TestKey::claims_at`] the wall clock's now.
    pub fn claims(iss: &str) -> Value {
        Self::claims_at(iss, u64::from(clock::now_secs()))
    }

    /// A fresh token from `iss` ([`TestKey::claims`]), signed by this key.
    pub fn token(&self, iss: &str) -> String {
        self.mint(&Self::claims(iss))
    }

    /// A token with `payload`, signed by this key.
    pub fn mint(&self, payload: &Value) -> String {
        let header = json!({"typ": "JWT", "alg": self.alg()});
        self.mint_with(&header, payload, |s| s)
    }

    /// A token with `header` and `payload`, signed by this key, with the
    /// signature passed through `tweak` (to make it high-S, say).
    pub fn mint_with(
        &self,
        header: &Value,
        payload: &Value,
        tweak: impl FnOnce([u8; 64]) -> [u8; 64],
    ) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let signature = tweak(self.sign(input.as_bytes()));
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// `value` as JSON in unpadded base64url, as a token part.
pub fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The header of an unmasked, final text frame of `len` payload bytes
/// (RFC 6455 section 5.2), as a server sends it: for Jetstream stand-ins
/// that write broken frames past their WebSocket library.
pub fn text_frame_header(len: u64) -> Vec<u8> {
    let mut header = vec![0x81];
    match len {
        0..=125 => header.push(len as u8),
        126..=0xFFFF => {
            header.push(126);
            header.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            header.push(127);
            header.extend_from_slice(&len.to_be_bytes());
        }
    }
    header
}

/// The header of a text frame carrying `text` and the first half of it: a
/// stream cut, or stalled, mid-frame.
pub fn half_text_frame(text: &str) -> Vec<u8> {
    let mut frame = text_frame_header(text.len() as u64);
    frame.extend_from_slice(&text.as_bytes()[..text.len() / 2]);
    frame
}
