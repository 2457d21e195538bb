//! The few XRPC calls publishing makes to the publisher's PDS: sign in,
//! then read, write and delete records and upload a blob as that account.
//! Every failure names its method; an XRPC error answer (`{error,
//! message}`) is reported as the PDS gave it, with the password and the
//! session token taken out wherever they appear.

use std::fmt;
use std::time::Duration;

use anyhow::{Context, anyhow};
use feedmixer_atproto::Blob;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const USER_AGENT: &str = concat!("feedmixer/", env!("CARGO_PKG_VERSION"));

/// A whole call, an avatar upload included.
const TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest text of a PDS error kept in a message.
const MAX_ERROR_TEXT: usize = 500;

/// A secret (the account's password, a session token): never printed,
/// its `Debug` says only that it is there.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// An XRPC error answer.
#[derive(Debug)]
pub struct XrpcError {
    pub method: &'static str,
    pub status: u16,
    /// The error name (`RecordNotFound`, `AuthenticationRequired`...);
    /// empty when the body was not an XRPC error.
    pub error: String,
    pub message: String,
}

impl fmt::Display for XrpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} answered HTTP {}", self.method, self.status)?;
        match (self.error.is_empty(), self.message.is_empty()) {
            (true, true) => Ok(()),
            (false, true) => write!(f, ": {}", self.error),
            (true, false) => write!(f, ": {}", self.message),
            (false, false) => write!(f, ": {}: {}", self.error, self.message),
        }
    }
}

impl std::error::Error for XrpcError {}

enum CallError {
    Xrpc(XrpcError),
    Other(anyhow::Error),
}

impl From<CallError> for anyhow::Error {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Xrpc(e) => anyhow::Error::new(e),
            CallError::Other(e) => e,
        }
    }
}

/// A signed-in account.
#[derive(Debug)]
pub struct Session {
    pub did: String,
    pub handle: String,
    access: Secret,
}

/// A record as stored: its CID and its value.
#[derive(Debug, Deserialize)]
pub struct StoredRecord {
    #[serde(default)]
    pub cid: Option<String>,
    pub value: Value,
}

/// A PDS, by its base URL.
pub struct Pds {
    client: reqwest::Client,
    base: String,
}

impl Pds {
    /// `base` must be an https URL with a host (`https://pds.example.com`),
    /// or plain http to this machine (`http://127.0.0.1:2583`): the
    /// password must not cross a network unencrypted.
    pub fn new(base: &str) -> anyhow::Result<Pds> {
        let url = reqwest::Url::parse(base).with_context(|| format!("PDS URL {base:?}"))?;
        let local = url.host_str().is_some_and(|host| {
            host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        match url.scheme() {
            "https" if url.has_host() => {}
            "http" if local => {}
            "http" if url.has_host() => anyhow::bail!(
                "PDS URL {base:?}: plain http only to this machine (localhost, 127.0.0.0/8, [::1]); use https"
            ),
            _ => anyhow::bail!("PDS URL {base:?} is not an https URL with a host"),
        }
        feedmixer_identity::install_crypto_provider();
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TIMEOUT)
            // A redirect would resend the password elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client")?;
        Ok(Pds {
            client,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, method: &str) -> String {
        format!("{}/xrpc/{method}", self.base)
    }

    /// `com.atproto.server.createSession` with a handle or DID and its
    /// (app) password.
    pub async fn create_session(
        &self,
        identifier: &str,
        password: &Secret,
    ) -> anyhow::Result<Session> {
        const METHOD: &str = "com.atproto.server.createSession";
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Output {
            access_jwt: String,
            did: String,
            #[serde(default)]
            handle: String,
        }
        let request = self
            .client
            .post(self.url(METHOD))
            .json(&json!({"identifier": identifier, "password": password.expose()}));
        let out: Output = self.call(METHOD, request, &[password]).await?;
        Ok(Session {
            did: out.did,
            handle: out.handle,
            access: Secret(out.access_jwt),
        })
    }

    /// `com.atproto.repo.getRecord`; `None` when the PDS answers
    /// `RecordNotFound`.
    pub async fn get_record(
        &self,
        session: &Session,
        repo: &str,
        collection: &str,
        rkey: &str,
    ) -> anyhow::Result<Option<StoredRecord>> {
        const METHOD: &str = "com.atproto.repo.getRecord";
        let mut url = reqwest::Url::parse(&self.url(METHOD)).context("the PDS URL")?;
        url.query_pairs_mut()
            .append_pair("repo", repo)
            .append_pair("collection", collection)
            .append_pair("rkey", rkey);
        let request = self.client.get(url).bearer_auth(session.access.expose());
        match self.call(METHOD, request, &[&session.access]).await {
            Ok(record) => Ok(Some(record)),
            Err(CallError::Xrpc(e)) if e.error == "RecordNotFound" => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// `com.atproto.repo.uploadBlob`: the blob as the PDS names it.
    pub async fn upload_blob(
        &self,
        session: &Session,
        bytes: Vec<u8>,
        mime_type: &str,
    ) -> anyhow::Result<Blob> {
        const METHOD: &str = "com.atproto.repo.uploadBlob";
        #[derive(Deserialize)]
        struct Output {
            blob: Blob,
        }
        let request = self
            .client
            .post(self.url(METHOD))
            .bearer_auth(session.access.expose())
            .header(reqwest::header::CONTENT_TYPE, mime_type)
            .body(bytes);
        let out: Output = self.call(METHOD, request, &[&session.access]).await?;
        Ok(out.blob)
    }

    /// `com.atproto.repo.putRecord`, compared and swapped with the record
    /// of CID `swap` when given.
    pub async fn put_record(
        &self,
        session: &Session,
        repo: &str,
        collection: &str,
        rkey: &str,
        record: &Value,
        swap: Option<&str>,
    ) -> anyhow::Result<()> {
        const METHOD: &str = "com.atproto.repo.putRecord";
        let mut body =
            json!({"repo": repo, "collection": collection, "rkey": rkey, "record": record});
        if let Some(cid) = swap {
            body["swapRecord"] = json!(cid);
        }
        let request = self
            .client
            .post(self.url(METHOD))
            .bearer_auth(session.access.expose())
            .json(&body);
        let _: Value = self.call(METHOD, request, &[&session.access]).await?;
        Ok(())
    }

    /// `com.atproto.repo.deleteRecord`, compared and swapped like
    /// [`Pds::put_record`].
    pub async fn delete_record(
        &self,
        session: &Session,
        repo: &str,
        collection: &str,
        rkey: &str,
        swap: Option<&str>,
    ) -> anyhow::Result<()> {
        const METHOD: &str = "com.atproto.repo.deleteRecord";
        let mut body = json!({"repo": repo, "collection": collection, "rkey": rkey});
        if let Some(cid) = swap {
            body["swapRecord"] = json!(cid);
        }
        let request = self
            .client
            .post(self.url(METHOD))
            .bearer_auth(session.access.expose())
            .json(&body);
        let _: Value = self.call(METHOD, request, &[&session.access]).await?;
        Ok(())
    }

    /// Sends `request` and decodes a 2xx answer as `T`; any other answer
    /// becomes an [`XrpcError`] with `secrets` removed from its text.
    async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        request: reqwest::RequestBuilder,
        secrets: &[&Secret],
    ) -> Result<T, CallError> {
        let response = request.send().await.map_err(|e| {
            CallError::Other(anyhow!(
                "{method}: cannot reach the PDS at {}: {}",
                self.base,
                describe(&e)
            ))
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            CallError::Other(anyhow!("{method}: reading the answer: {}", describe(&e)))
        })?;
        if status.is_success() {
            // Some methods answer 200 with an empty body.
            let body: &[u8] = if body.is_empty() { b"{}" } else { &body };
            return serde_json::from_slice(body).map_err(|e| {
                CallError::Other(anyhow!(
                    "{method}: the answer is not the expected JSON: {e}"
                ))
            });
        }
        #[derive(Deserialize, Default)]
        struct ErrorBody {
            #[serde(default)]
            error: String,
            #[serde(default)]
            message: String,
        }
        let parsed: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
        let clean = |text: &str| clip(&redact(text, secrets));
        let message = if parsed.error.is_empty() && parsed.message.is_empty() {
            clean(String::from_utf8_lossy(&body).trim())
        } else {
            clean(&parsed.message)
        };
        Err(CallError::Xrpc(XrpcError {
            method,
            status: status.as_u16(),
            error: clean(&parsed.error),
            message,
        }))
    }
}

/// `text` with every secret in it replaced.
fn redact(text: &str, secrets: &[&Secret]) -> String {
    secrets
        .iter()
        .map(|s| s.expose())
        .filter(|s| !s.is_empty())
        .fold(text.to_owned(), |text, secret| {
            text.replace(secret, "[redacted]")
        })
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_TEXT) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// A reqwest error with its causes (its own text rarely says what failed).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug_and_errors() {
        let password = Secret::new("hunter2-app-password".into());
        assert_eq!(format!("{password:?}"), "Secret(redacted)");
        let session = Session {
            did: "did:plc:x".into(),
            handle: "x.test".into(),
            access: Secret::new("eyJ.token".into()),
        };
        assert!(!format!("{session:?}").contains("eyJ.token"));
        assert_eq!(
            redact(
                "bad password hunter2-app-password for eyJ.token",
                &[&password, &session.access]
            ),
            "bad password [redacted] for [redacted]"
        );
        assert_eq!(redact("x", &[&Secret::new(String::new())]), "x");
    }

    #[test]
    fn errors_read_as_the_pds_gave_them() {
        let e = XrpcError {
            method: "com.atproto.server.createSession",
            status: 401,
            error: "AuthenticationRequired".into(),
            message: "Invalid identifier or password".into(),
        };
        assert_eq!(
            e.to_string(),
            "com.atproto.server.createSession answered HTTP 401: AuthenticationRequired: Invalid identifier or password"
        );
        let e = XrpcError {
            error: String::new(),
            message: String::new(),
            status: 502,
            ..e
        };
        assert_eq!(
            e.to_string(),
            "com.atproto.server.createSession answered HTTP 502"
        );
        assert_eq!(clip(&"é".repeat(600)).chars().count(), MAX_ERROR_TEXT + 3);
    }

    #[test]
    fn pds_urls_are_https_or_local() {
        for bad in [
            "ftp://pds.example.com",
            "not a url",
            "http://pds.example.com",
            "http://10.0.0.1:2583",
            "http://localhost.example.com",
            "https://",
        ] {
            assert!(Pds::new(bad).is_err(), "{bad}");
        }
        for good in [
            "http://127.0.0.1:2583",
            "http://127.0.0.2",
            "http://localhost:2583/",
            "http://[::1]:2583",
        ] {
            assert!(Pds::new(good).is_ok(), "{good}");
        }
        let pds = Pds::new("https://pds.example.com/").unwrap();
        assert_eq!(
            pds.url("com.atproto.repo.putRecord"),
            "https://pds.example.com/xrpc/com.atproto.repo.putRecord"
        );
    }
}
