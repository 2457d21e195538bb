//! Candidate sync: feeds with `[feeds.NAME.sync]` get their pool from the
//! operator's own system. Every replica checks each second whether a
//! feed's sync is due (its interval passed, or `POST /v1/sync` queued a
//! request); the one that takes the feed's store lease fetches the list,
//! validates it (post AT-URIs, at most `max_size`, not empty unless
//! allowed) and swaps it in whole, in one store call. Any failure keeps
//! the pool as it was. What happened is kept in the store, so every
//! replica's status shows it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use feedmixer_atproto::AtUri;
use feedmixer_atproto::clock::now_us;
use feedmixer_flow::sync_spec::SyncSpec;
use feedmixer_store::Store;
use metrics::counter;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::metrics::POOL_SYNCS;

/// How often each replica looks for due syncs.
const TICK: Duration = Duration::from_secs(1);
/// The lease outlives the fetch's timeout by this much.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// What the last sync of a feed did (store meta `sync.state.FEED`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncRecord {
    /// When the last sync started.
    pub last_attempt_us: Option<u64>,
    /// When a sync last replaced the pool.
    pub last_success_us: Option<u64>,
    /// Whether the last sync replaced the pool.
    pub ok: Option<bool>,
    /// Why the last sync failed.
    pub error: Option<String>,
    /// Posts the last good sync put in the pool.
    pub size: Option<u64>,
}

impl SyncRecord {
    /// When the next scheduled sync is due.
    pub fn next_us(&self, spec: &SyncSpec) -> u64 {
        self.last_attempt_us
            .map_or(0, |t| t.saturating_add(spec.interval.as_micros() as u64))
    }
}

/// A sync asked for through `POST /v1/sync` (store meta
/// `sync.request.FEED`), done by whichever replica takes the lease next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub requested_us: u64,
    pub force: bool,
}

fn record_key(feed: &str) -> String {
    format!("sync.state.{feed}")
}

fn request_key(feed: &str) -> String {
    format!("sync.request.{feed}")
}

fn refused_key(feed: &str) -> String {
    format!("sync.refused.{feed}")
}

/// Notes that a sync of `feed` was asked for and refused as too soon (the
/// status reports it until the next sync).
pub async fn note_refused(
    store: &dyn Store,
    feed: &str,
) -> Result<(), feedmixer_store::StoreError> {
    store
        .set_meta(&refused_key(feed), now_us().to_string().as_bytes())
        .await
}

/// When a sync of `feed` was last refused as too soon, if ever.
pub async fn last_refused_us(
    store: &dyn Store,
    feed: &str,
) -> Result<Option<u64>, feedmixer_store::StoreError> {
    Ok(store
        .get_meta(&refused_key(feed))
        .await?
        .and_then(|bytes| std::str::from_utf8(&bytes).ok()?.parse().ok()))
}

fn lease_name(feed: &str) -> String {
    format!("sync:{feed}")
}

/// The feed's last sync; empty when it never ran (or its record does not
/// decode: the next sync writes a good one).
pub async fn record(
    store: &dyn Store,
    feed: &str,
) -> Result<SyncRecord, feedmixer_store::StoreError> {
    Ok(store
        .get_meta(&record_key(feed))
        .await?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default())
}

async fn pending(
    store: &dyn Store,
    feed: &str,
) -> Result<Option<SyncRequest>, feedmixer_store::StoreError> {
    // A done request is overwritten with `null` (meta has no delete).
    Ok(store
        .get_meta(&request_key(feed))
        .await?
        .and_then(|bytes| serde_json::from_slice::<Option<SyncRequest>>(&bytes).ok())
        .flatten())
}

/// Queues a sync of `feed` for the next tick of whichever replica.
pub async fn request(
    store: &dyn Store,
    feed: &str,
    force: bool,
) -> Result<(), feedmixer_store::StoreError> {
    let request = SyncRequest {
        requested_us: now_us(),
        force,
    };
    let bytes = serde_json::to_vec(&request).expect("a request serializes");
    store.set_meta(&request_key(feed), &bytes).await
}

/// Syncs every feed that has a sync, when due, until the task is dropped.
pub async fn keep_pools_synced(state: Arc<AppState>, holder: String) {
    let client = match http_client() {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client: candidate sync is off");
            return;
        }
    };
    // Every synced feed's series exist from the start, at zero.
    for (feed, _) in state
        .catalog
        .load()
        .feeds
        .iter()
        .filter(|(_, f)| f.sync.is_some())
    {
        for outcome in ["ok", "failed"] {
            counter!(POOL_SYNCS, "feed" => feed.clone(), "outcome" => outcome).increment(0);
        }
    }
    loop {
        let catalog = state.catalog.load_full();
        for (feed, spec) in catalog
            .feeds
            .iter()
            .filter_map(|(name, feed)| Some((name, feed.sync.as_ref()?)))
        {
            if let Err(e) = sync_if_due(&state, &client, &holder, feed, spec).await {
                tracing::warn!(feed, error = %e, "candidate sync could not run; trying again");
            }
        }
        tokio::time::sleep(TICK).await;
    }
}

fn http_client() -> reqwest::Result<reqwest::Client> {
    feedmixer_identity::install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!(
            "feedmixer/",
            env!("CARGO_PKG_VERSION"),
            " (candidate sync)"
        ))
        .build()
}

async fn sync_if_due(
    state: &AppState,
    client: &reqwest::Client,
    holder: &str,
    feed: &str,
    spec: &SyncSpec,
) -> Result<(), feedmixer_store::StoreError> {
    let store = state.store.as_ref();
    let asked = pending(store, feed).await?;
    if asked.is_none() && now_us() < record(store, feed).await?.next_us(spec) {
        return Ok(());
    }
    let lease = lease_name(feed);
    if !store
        .acquire_lease(&lease, holder, spec.timeout + LEASE_MARGIN)
        .await?
    {
        return Ok(());
    }
    // Another replica may have synced between the reads and the lease.
    let mut last = record(store, feed).await?;
    let asked = pending(store, feed).await?;
    if asked.is_some() || now_us() >= last.next_us(spec) {
        let started = now_us();
        last.last_attempt_us = Some(started);
        let outcome = sync_once(state, client, feed, spec).await;
        match &outcome {
            Ok(size) => {
                last.ok = Some(true);
                last.error = None;
                last.size = Some(*size);
                last.last_success_us = Some(now_us());
            }
            Err(why) => {
                last.ok = Some(false);
                last.error = Some(why.clone());
            }
        }
        let bytes = serde_json::to_vec(&last).expect("a record serializes");
        store.set_meta(&record_key(feed), &bytes).await?;
        // A request made while this sync ran stays for the next one.
        if asked.is_some_and(|asked| asked.requested_us <= started)
            && pending(store, feed)
                .await?
                .is_none_or(|now| now.requested_us <= started)
        {
            store.set_meta(&request_key(feed), b"null").await?;
        }
        let label = if outcome.is_ok() { "ok" } else { "failed" };
        counter!(POOL_SYNCS, "feed" => feed.to_string(), "outcome" => label).increment(1);
        match outcome {
            Ok(size) => tracing::info!(feed, size, url = %spec.url, "synced the feed's pool"),
            Err(why) => tracing::warn!(
                feed,
                url = %spec.url,
                error = %why,
                "candidate sync failed; the pool keeps its posts"
            ),
        }
    }
    store.release_lease(&lease, holder).await
}

/// Fetches, checks and swaps in the feed's pool; its new size, or why
/// nothing changed.
async fn sync_once(
    state: &AppState,
    client: &reqwest::Client,
    feed: &str,
    spec: &SyncSpec,
) -> Result<u64, String> {
    let started = Instant::now();
    let response = client
        .get(&spec.url)
        .timeout(spec.timeout)
        .send()
        .await
        .map_err(|e| format!("fetching {}: {e}", spec.url))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{} answered {status}", spec.url));
    }
    let body = response
        .text()
        .await
        .map_err(|e| format!("reading {}: {e}", spec.url))?;
    let posts = parse_list(&body)?;
    check_list(&posts, spec)?;
    let stats = state
        .store
        .update_pool(feed, &posts, &[], true)
        .await
        .map_err(|e| format!("writing the pool: {e}"))?;
    state
        .feed_data_changed(feed)
        .await
        .map_err(|e| format!("reloading the pool: {e}"))?;
    tracing::debug!(
        feed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "pool swapped"
    );
    Ok(stats.size)
}

/// The post URIs of a source's answer: a JSON array of strings, an object
/// with `posts` (strings) or `feed` (objects with `post`, as a feed
/// skeleton), or one URI per line (blank lines and `#` comments skipped).
fn parse_list(body: &str) -> Result<Vec<String>, String> {
    let trimmed = body.trim_start();
    if !(trimmed.starts_with('[') || trimmed.starts_with('{')) {
        return Ok(body
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_owned)
            .collect());
    }
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let items = match &value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(object) => match (object.get("posts"), object.get("feed")) {
            (Some(serde_json::Value::Array(items)), _) => items,
            (_, Some(serde_json::Value::Array(items))) => items,
            _ => return Err("a JSON answer needs an array `posts` or `feed`".into()),
        },
        _ => unreachable!("starts with [ or {{"),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .or_else(|| item.get("post").and_then(|p| p.as_str()))
                .map(str::to_owned)
                .ok_or_else(|| format!("item {i} is neither a string nor an object with `post`"))
        })
        .collect()
}

/// Refuses a list that must not replace the pool.
fn check_list(posts: &[String], spec: &SyncSpec) -> Result<(), String> {
    if posts.len() > spec.max_size {
        return Err(format!(
            "{} posts, more than max_size {}",
            posts.len(),
            spec.max_size
        ));
    }
    if posts.is_empty() && !spec.allow_empty {
        return Err("the source answered no posts (set allow_empty = true to allow it)".into());
    }
    if let Some((i, bad)) = posts
        .iter()
        .enumerate()
        .find(|(_, p)| !AtUri::parse(p).is_ok_and(|u| u.is_post()))
    {
        return Err(format!("item {i}: {bad:?} is not a post AT-URI"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SyncSpec {
        SyncSpec::from_raw(toml::from_str("url = \"http://127.0.0.1:1/x\"\nmax_size = 2").unwrap())
            .unwrap()
    }

    const A: &str = "at://did:plc:a/app.bsky.feed.post/3k";
    const B: &str = "at://did:plc:b/app.bsky.feed.post/3l";

    #[test]
    fn every_answer_shape_parses() {
        let want = vec![A.to_string(), B.to_string()];
        assert_eq!(parse_list(&format!("[\"{A}\", \"{B}\"]")).unwrap(), want);
        assert_eq!(
            parse_list(&format!("{{\"posts\": [\"{A}\", \"{B}\"]}}")).unwrap(),
            want
        );
        assert_eq!(
            parse_list(&format!(
                "{{\"feed\": [{{\"post\": \"{A}\"}}, {{\"post\": \"{B}\"}}]}}"
            ))
            .unwrap(),
            want
        );
        assert_eq!(
            parse_list(&format!("# today\n{A}\n\n  {B}  \n")).unwrap(),
            want
        );
        assert!(parse_list("{\"nope\": 1}").is_err());
        assert!(parse_list("[1]").is_err());
        assert!(parse_list("[\"x\"").is_err());
    }

    #[test]
    fn lists_are_checked_before_they_replace_a_pool() {
        let s = spec();
        assert!(check_list(&[A.into(), B.into()], &s).is_ok());
        assert!(
            check_list(&[A.into(), B.into(), A.into()], &s)
                .unwrap_err()
                .contains("max_size")
        );
        assert!(check_list(&[], &s).unwrap_err().contains("allow_empty"));
        assert!(check_list(&["at://did:plc:a/app.bsky.feed.like/3k".into()], &s).is_err());
        assert!(check_list(&["https://bsky.app".into()], &s).is_err());
    }
}
