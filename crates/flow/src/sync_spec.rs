//! `[feeds.NAME.sync]`: where a feed's candidate pool comes from when the
//! operator's own system computes it — an HTTP source fetched on a
//! schedule (and on request), validated, and swapped in whole.

use std::time::Duration;

use serde::Deserialize;

/// `[feeds.NAME.sync]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSync {
    url: String,
    #[serde(default = "defaults::interval_secs")]
    interval_secs: u64,
    #[serde(default = "defaults::max_size")]
    max_size: usize,
    #[serde(default = "defaults::timeout_secs")]
    timeout_secs: u64,
    #[serde(default = "defaults::min_interval_secs")]
    min_interval_secs: u64,
    #[serde(default)]
    allow_empty: bool,
}

mod defaults {
    pub fn interval_secs() -> u64 {
        3600
    }
    pub fn max_size() -> usize {
        10_000
    }
    pub fn timeout_secs() -> u64 {
        10
    }
    pub fn min_interval_secs() -> u64 {
        300
    }
}

/// A feed's candidate sync, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSpec {
    /// Answers post AT-URIs: a JSON array of strings, an object with
    /// `posts` (strings) or `feed` (objects with `post`), or one per line.
    pub url: String,
    /// How often the pool is fetched.
    pub interval: Duration,
    /// A fetched list longer than this is refused.
    pub max_size: usize,
    pub timeout: Duration,
    /// Requested syncs closer together than this answer 429 unless forced.
    pub min_interval: Duration,
    /// Whether an empty list may replace the pool.
    pub allow_empty: bool,
}

impl SyncSpec {
    /// Checks the spec as written; every problem is one message.
    pub fn from_raw(raw: RawSync) -> Result<SyncSpec, Vec<String>> {
        let mut problems = Vec::new();
        let scheme_ok = ["http://", "https://"].iter().any(|scheme| {
            raw.url
                .strip_prefix(scheme)
                .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
        });
        if !scheme_ok || raw.url.chars().any(char::is_whitespace) {
            problems.push(format!(
                "sync.url: {:?} is not an http:// or https:// URL with a host",
                raw.url
            ));
        }
        let mut range = |name: &str, value: u64, min: u64, max: u64| {
            if !(min..=max).contains(&value) {
                problems.push(format!("sync.{name}: {value} is not in {min}..={max}"));
            }
        };
        range("interval_secs", raw.interval_secs, 10, 7 * 86_400);
        range("max_size", raw.max_size as u64, 1, 100_000);
        range("timeout_secs", raw.timeout_secs, 1, 300);
        range("min_interval_secs", raw.min_interval_secs, 0, 86_400);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(SyncSpec {
            url: raw.url,
            interval: Duration::from_secs(raw.interval_secs),
            max_size: raw.max_size,
            timeout: Duration::from_secs(raw.timeout_secs),
            min_interval: Duration::from_secs(raw.min_interval_secs),
            allow_empty: raw.allow_empty,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Result<SyncSpec, Vec<String>> {
        SyncSpec::from_raw(toml::from_str(text).map_err(|e| vec![e.to_string()])?)
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let s = spec("url = \"https://example.com/pool\"").unwrap();
        assert_eq!(s.interval, Duration::from_secs(3600));
        assert_eq!((s.max_size, s.allow_empty), (10_000, false));
        assert_eq!(s.min_interval, Duration::from_secs(300));
    }

    #[test]
    fn bad_specs_name_every_problem() {
        let problems = spec("url = \"ftp://x\"\ninterval_secs = 1\nmax_size = 0\ntimeout_secs = 0")
            .unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("sync.url"));
        assert!(spec("url = \"http:///x\"").is_err());
        assert!(spec("url = \"http://x\"\nnope = 1").is_err());
        assert!(spec("interval_secs = 60").is_err(), "url is required");
    }
}
