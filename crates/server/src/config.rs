//! Service settings (`config/feedmixer.toml`): who this service is and how
//! long it keeps what.

use std::path::{Path, PathBuf};

use feedmixer_atproto::is_did;
use feedmixer_flow::diagnostic::{self, Diagnostic};
use serde::Deserialize;

/// The admin bearer token: long enough not to be guessed, and never
/// printed (its `Debug` says only that it is set).
#[derive(Clone)]
pub struct AdminToken(String);

/// Fewer characters than this are refused at start.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

impl AdminToken {
    pub fn new(token: String) -> Result<Self, String> {
        if token.chars().count() < MIN_ADMIN_TOKEN_LEN {
            return Err(format!(
                "the admin token has {} characters; at least {MIN_ADMIN_TOKEN_LEN} are needed \
                 (e.g. `openssl rand -hex 32`)",
                token.chars().count()
            ));
        }
        Ok(AdminToken(token))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

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
    pub admin_token: Option<AdminToken>,
    /// Secrets cursors are signed with, from FEEDMIXER_CURSOR_KEY and
    /// FEEDMIXER_CURSOR_KEY_PREVIOUS; unset, the store keeps a generated
    /// one (`pager::keys`).
    #[serde(skip)]
    pub cursor_secrets: crate::pager::keys::CursorSecrets,
    /// Refuse every mutating route with 503 (`--read-only`).
    #[serde(skip)]
    pub read_only: bool,
    /// Where did:plc documents are fetched (`--plc-url`,
    /// `FEEDMIXER_PLC_URL`), never the file.
    #[serde(skip, default = "default_plc_url")]
    pub plc_url: String,
    #[serde(default)]
    pub interactions: InteractionConfig,
    #[serde(default)]
    pub graph: GraphConfig,
    #[serde(default)]
    pub ingest: IngestSettings,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub impressions: crate::impressions::ImpressionConfig,
}

/// What a client may hold of the server: bounds against slow or hostile
/// clients, on every listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A connection that has not sent a whole request head within this is
    /// closed (slow clients cannot hold connections).
    pub header_read_timeout_ms: u64,
    /// Open connections at most; past it, new ones wait in the kernel's
    /// accept queue until one closes.
    pub max_connections: usize,
    /// A request head (request line and headers) larger than this is
    /// answered 431.
    pub max_header_bytes: usize,
    /// A query string longer than this is answered 414.
    pub max_query_bytes: usize,
    /// Feed pages (getFeedSkeleton, personalize) ranked at once; 0 turns
    /// shedding off. Unset: 4 per core.
    pub max_in_flight: Option<usize>,
    /// Feed pages waiting for a turn; one more is answered 503 with
    /// `Retry-After` at once. Unset: 16 per core.
    pub max_queued: Option<usize>,
}

impl HttpConfig {
    /// Feed pages ranked at once (0: no shedding).
    pub fn in_flight(&self) -> usize {
        self.per_core(self.max_in_flight, 4)
    }

    /// Feed pages that may wait for a turn.
    pub fn queued(&self) -> usize {
        self.per_core(self.max_queued, 16)
    }

    fn per_core(&self, set: Option<usize>, per_core: usize) -> usize {
        set.unwrap_or_else(|| {
            per_core * std::thread::available_parallelism().map_or(1, usize::from)
        })
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout_ms: 10_000,
            max_connections: 10_000,
            max_header_bytes: 32 * 1024,
            max_query_bytes: 8 * 1024,
            max_in_flight: None,
            max_queued: None,
        }
    }
}

/// `[ingest]`: how replicas share Jetstream ingest (one holds the store
/// lease) and when a connection counts as dead.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSettings {
    /// A lease not renewed for this long passes to a standby replica; the
    /// holder renews it every third of it.
    pub lease_ttl_secs: u64,
    /// A Jetstream connection silent this long is replaced (and a connect
    /// attempt given up). Jetstream sends several events a second, so a
    /// minute of silence means a stalled connection, not a quiet network;
    /// tests lower it so a stall costs them a second.
    pub idle_timeout_secs: u64,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            lease_ttl_secs: 15,
            idle_timeout_secs: 60,
        }
    }
}

/// How the served graph follows the like log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphConfig {
    /// How often the store is checked for new likes; a rebuild follows
    /// when there are some (waiting at least twice the last rebuild).
    pub refresh_interval_ms: u64,
}

impl Default for GraphConfig {
    fn default() -> Self {
        GraphConfig {
            refresh_interval_ms: 500,
        }
    }
}

/// How much of each viewer's sendInteractions history is kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InteractionConfig {
    /// Entries per viewer (newest kept; one per post and event).
    pub max_per_viewer: usize,
    /// Entries older than this are dropped.
    pub ttl_hours: u32,
}

impl Default for InteractionConfig {
    fn default() -> Self {
        InteractionConfig {
            max_per_viewer: 2_000,
            ttl_hours: 168,
        }
    }
}

impl InteractionConfig {
    pub fn limits(&self) -> feedmixer_store::InteractionLimits {
        feedmixer_store::InteractionLimits {
            max_per_viewer: self.max_per_viewer,
            ttl_us: u64::from(self.ttl_hours) * 3_600_000_000,
        }
    }
}

fn default_plc_url() -> String {
    feedmixer_identity::DEFAULT_PLC_URL.to_string()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// How long a ranked list stays cached behind its cursors.
    pub ttl_secs: u64,
    /// Memory for ranked lists in each process (with Redis, they are also
    /// kept there, under Redis' own memory bound).
    pub max_bytes: u64,
    /// How long what a paging served is remembered: a cursor older than
    /// its list but younger than this continues without repeats or gaps.
    pub served_ttl_secs: u64,
    pub max_served_bytes: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            ttl_secs: 1800,
            max_bytes: 64 << 20,
            served_ttl_secs: 86_400,
            max_served_bytes: 16 << 20,
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
        check(
            (1..=3_600).contains(&config.ingest.lease_ttl_secs),
            "ingest.lease_ttl_secs: 1..=3600",
        );
        check(
            (1..=3_600).contains(&config.ingest.idle_timeout_secs),
            "ingest.idle_timeout_secs: 1..=3600",
        );
        check(
            (50..=3_600_000).contains(&config.graph.refresh_interval_ms),
            "graph.refresh_interval_ms: 50..=3600000",
        );
        check(
            (1..=100_000).contains(&config.interactions.max_per_viewer),
            "interactions.max_per_viewer: 1..=100000",
        );
        check(
            (1..=8_760).contains(&config.interactions.ttl_hours),
            "interactions.ttl_hours: 1..=8760",
        );
        check(
            (100..=600_000).contains(&config.http.header_read_timeout_ms),
            "http.header_read_timeout_ms: 100..=600000",
        );
        check(
            (1..=1_000_000).contains(&config.http.max_connections),
            "http.max_connections: 1..=1000000",
        );
        check(
            (8_192..=1_048_576).contains(&config.http.max_header_bytes),
            "http.max_header_bytes: 8192..=1048576",
        );
        check(
            (256..=1_048_576).contains(&config.http.max_query_bytes),
            "http.max_query_bytes: 256..=1048576",
        );
        check(
            config.http.max_in_flight.is_none_or(|n| n <= 100_000),
            "http.max_in_flight: 0..=100000 (0: no shedding)",
        );
        check(
            config.http.max_queued.is_none_or(|n| n <= 1_000_000),
            "http.max_queued: 0..=1000000",
        );
        check(
            config.sessions.served_ttl_secs >= config.sessions.ttl_secs,
            "sessions.served_ttl_secs: must be at least sessions.ttl_secs",
        );
        for problem in config.impressions.problems() {
            errors.push(Diagnostic::new(path, 0, problem));
        }
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
        assert_eq!(c.ingest.idle_timeout_secs, 60);
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
        let errors = load(&format!("{GOOD}\n[ingest]\nidle_timeout_secs = 0")).unwrap_err();
        assert!(
            errors[0].message.contains("idle_timeout_secs"),
            "{}",
            errors[0]
        );
        let errors = load(&format!("{GOOD}\nbogus = 1")).unwrap_err();
        assert_eq!(errors[0].line, 6, "{}", errors[0]);
    }
}
