//! Service settings (`config/feedmixer.toml`): who this service is and how
//! long it keeps what.

use std::path::{Path, PathBuf};

use feedmixer_atproto::is_did;
use feedmixer_flow::diagnostic::{self, Diagnostic};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The DID this service answers as.
    pub service_did: String,
    /// Public host name for did.json's service endpoint.
    pub hostname: String,
    /// The account that publishes the feed generator records.
    pub publisher_did: String,
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// The feeds file, relative to the config file.
    #[serde(default = "default_feeds")]
    pub feeds: PathBuf,
    #[serde(default)]
    pub sessions: SessionConfig,
    /// Bearer token for /v1/*; from FEEDMIXER_ADMIN_TOKEN, never the file.
    #[serde(skip)]
    pub admin_token: Option<String>,
    /// Secret cursors are signed with; from FEEDMIXER_CURSOR_KEY. Replicas
    /// serving one feed need the same one.
    #[serde(skip)]
    pub cursor_secret: Option<String>,
    /// Refuse every mutating route with 503 (`--read-only`).
    #[serde(skip)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    pub ttl_secs: u64,
    pub max_bytes: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            ttl_secs: 1800,
            max_bytes: 256 << 20,
        }
    }
}

fn default_retention_days() -> u32 {
    7
}

fn default_feeds() -> PathBuf {
    PathBuf::from("feeds.toml")
}

impl ServiceConfig {
    /// Reads and checks the file; the feeds path comes back resolved
    /// against the file's directory.
    pub fn load(path: &Path) -> Result<ServiceConfig, Vec<Diagnostic>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![Diagnostic::new(
                path,
                0,
                format!("cannot read the config file: {e}"),
            )]
        })?;
        let mut config: ServiceConfig =
            toml::from_str(&text).map_err(|e| vec![diagnostic::from_toml(path, &text, &e)])?;
        let mut errors = Vec::new();
        let mut check = |ok: bool, message: &str| {
            if !ok {
                errors.push(Diagnostic::new(path, 0, message.to_string()));
            }
        };
        check(is_did(&config.service_did), "service_did: not a DID");
        check(is_did(&config.publisher_did), "publisher_did: not a DID");
        if let Some(host) = config.service_did.strip_prefix("did:web:") {
            check(
                !host.contains(':'),
                "service_did: a did:web service DID names the host only",
            );
        }
        check(
            !config.hostname.is_empty() && !config.hostname.contains('/'),
            "hostname: a bare host name, like feeds.example.com",
        );
        check(
            (1..=365).contains(&config.retention_days),
            "retention_days: 1..=365",
        );
        check(
            config.sessions.ttl_secs > 0,
            "sessions.ttl_secs: must be positive",
        );
        if !errors.is_empty() {
            return Err(errors);
        }
        if config.feeds.is_relative() {
            config.feeds = path.parent().unwrap_or(Path::new(".")).join(&config.feeds);
        }
        Ok(config)
    }

    /// The AT-URI of feed `rkey` as published.
    pub fn feed_uri(&self, rkey: &str) -> String {
        format!("at://{}/app.bsky.feed.generator/{rkey}", self.publisher_did)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ServiceConfig, Vec<Diagnostic>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feedmixer.toml");
        std::fs::write(&path, text).unwrap();
        ServiceConfig::load(&path)
    }

    const GOOD: &str = r#"
service_did = "did:web:feeds.example.com"
hostname = "feeds.example.com"
publisher_did = "did:plc:abc"
"#;

    #[test]
    fn loads_with_defaults() {
        let c = load(GOOD).unwrap();
        assert_eq!(c.retention_days, 7);
        assert!(c.feeds.ends_with("feeds.toml"));
        assert_eq!(
            c.feed_uri("x"),
            "at://did:plc:abc/app.bsky.feed.generator/x"
        );
    }

    #[test]
    fn refuses_bad_values() {
        let errors = load(&GOOD.replace("did:plc:abc", "someone")).unwrap_err();
        assert!(errors[0].message.contains("publisher_did"));
        let errors = load(&format!("{GOOD}\nbogus = 1")).unwrap_err();
        assert_eq!(errors[0].line, 6, "{}", errors[0]);
    }
}
