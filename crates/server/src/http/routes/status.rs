//! `GET /v1/feeds/{feed}/status` (admin): what a feed runs and how its
//! parts are doing, with a `diagnosis` — plain findings, each with the
//! first thing to do — so "why is my feed empty?" has an answer without a
//! Prometheus at hand. `feedmixer status` prints the same.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use feedmixer_atproto::clock::now_us;
use feedmixer_components::features::feed_pool::FeedPool;
use feedmixer_flow::metrics::FailureKind;
use feedmixer_flow::{FeatureKey, Role};
use feedmixer_store::REQUEST_STORE_TIMEOUT;
use serde_json::{Value, json};

use crate::AppState;
use crate::http::known_feed::KnownFeed;

/// Ingest further behind than this is a finding.
const INGEST_LAG_FINDING: Duration = Duration::from_secs(60);
/// A component failure newer than this is a finding.
const RECENT_FAILURE: Duration = Duration::from_secs(15 * 60);
/// The predicate kind that keeps only the feed's pool posts.
const IN_POOL_KIND: &str = "in_pool";

pub async fn status(State(state): State<Arc<AppState>>, KnownFeed(name): KnownFeed) -> Json<Value> {
    let catalog = state.catalog.load();
    let feed = catalog.feed(&name).expect("KnownFeed checked it");
    let flow = &feed.flow;
    let mut diagnosis = Vec::new();

    // The store first: without it the pool cannot be read either.
    let pool = tokio::time::timeout(REQUEST_STORE_TIMEOUT, state.store.pool(&name)).await;
    let pool_size = match &pool {
        Ok(Ok(posts)) => Some(posts.len()),
        _ => None,
    };
    let store_up = state.store_health.is_up() && pool_size.is_some();
    if !store_up {
        let why = match pool {
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", REQUEST_STORE_TIMEOUT.as_millis()),
            Ok(Ok(_)) => "the last refresh of the graph could not reach it".to_string(),
        };
        diagnosis.push(format!(
            "store unreachable ({why}): pages are served from the graph in memory, pools and \
             histories cannot be read; check that Redis (or the data dir's disk) is up"
        ));
    }

    let reads_pool = flow.reads(FeatureKey::of::<FeedPool>());
    let restricted = feed
        .def
        .stages()
        .any(|stage| stage.kind == IN_POOL_KIND && stage.stage.role() == Some(Role::Predicate));
    if reads_pool && pool_size == Some(0) {
        let effect = if restricted {
            "it serves nothing until the pool has posts"
        } else {
            "the parts of its flow that read the pool propose nothing"
        };
        diagnosis.push(format!(
            "pool empty: feed {name:?} runs flow {:?}, which reads the feed's candidate pool, \
             and the pool is empty, so {effect}; add posts with POST /v1/feeds/{name}/pool",
            feed.def.name
        ));
    }

    let last_sync = match &feed.sync {
        None => Value::Null,
        Some(spec) => {
            let last = tokio::time::timeout(
                REQUEST_STORE_TIMEOUT,
                crate::runtime::sync::record(state.store.as_ref(), &name),
            )
            .await;
            let refused = tokio::time::timeout(
                REQUEST_STORE_TIMEOUT,
                crate::runtime::sync::last_refused_us(state.store.as_ref(), &name),
            )
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
            match last {
                Ok(Ok(last)) => {
                    let now = now_us();
                    if let Some(at) = refused.filter(|at| {
                        last.last_attempt_us.is_none_or(|tried| *at > tried)
                            && now.saturating_sub(*at) < RECENT_FAILURE.as_micros() as u64
                    }) {
                        let allowed = last
                            .last_attempt_us
                            .unwrap_or(0)
                            .saturating_add(spec.min_interval.as_micros() as u64);
                        diagnosis.push(format!(
                            "sync rate-limited: a sync asked {} s ago was refused, the last one \
                             being less than {} s before it; the next is allowed in {} s, or \
                             POST /v1/sync with {{\"feed\": \"{name}\", \"force\": true}}",
                            now.saturating_sub(at) / 1_000_000,
                            spec.min_interval.as_secs(),
                            allowed.saturating_sub(now).div_ceil(1_000_000)
                        ));
                    }
                    if last.ok == Some(false) {
                        diagnosis.push(format!(
                            "sync failing: the last sync of the pool from {} failed ({}); the                              pool keeps its posts; fix the source, then POST /v1/sync with                              {{\"feed\": \"{name}\", \"force\": true}}",
                            spec.url,
                            last.error.as_deref().unwrap_or("no reason kept")
                        ));
                    }
                    json!({
                        "url": spec.url,
                        "at_us": last.last_attempt_us,
                        "ok": last.ok,
                        "error": last.error,
                        "size": last.size,
                        "last_success_us": last.last_success_us,
                        "next_us": last.next_us(spec),
                    })
                }
                _ => json!({"url": spec.url}),
            }
        }
    };

    let ingest = ingest(&state, &mut diagnosis).await;

    let quality = flow.quality_factor();
    let quality_factor = quality.value();
    let floor = quality.config().min;
    if quality_factor <= floor && floor < quality.config().max {
        diagnosis.push(format!(
            "quality factor at its floor ({floor}): requests of flow {:?} are slower than its \
             {} ms target, so walks run at their smallest; add replicas or lower the flow's caps",
            feed.def.name,
            quality.config().target_latency_ms
        ));
    }

    let now = now_us();
    let failures: Vec<Value> =
        flow.failures()
            .into_iter()
            .map(|(stage, component, counts)| {
                if let Some(last) = counts.last.as_ref().filter(|last| {
                    now.saturating_sub(last.at_us) < RECENT_FAILURE.as_micros() as u64
                }) {
                    let what = match last.kind {
                        FailureKind::Timeout => "ran out of its budget",
                        FailureKind::Failure => "failed",
                    };
                    diagnosis.push(format!(
                        "flow failing: component {component:?} ({}) {what} {} time(s) since start, \
                     last {} s ago: {}; it contributes nothing when it does (see the logs and \
                     feedmixer_component_failures_total)",
                        stage.as_str(),
                        counts.timeouts + counts.failures,
                        now.saturating_sub(last.at_us) / 1_000_000,
                        last.why
                    ));
                }
                json!({
                    "stage": stage.as_str(),
                    "component": component,
                    "timeouts": counts.timeouts,
                    "failures": counts.failures,
                    "last": counts.last.map(|last| json!({
                        "at_us": last.at_us,
                        "kind": last.kind.as_str(),
                        "error": last.why,
                    })),
                })
            })
            .collect();

    Json(json!({
        "feed": name,
        "flow": feed.def.name,
        "preset": feed.preset,
        "pool": {
            "size": pool_size,
            "reads_pool": reads_pool,
            "restricted_to_pool": restricted,
            // Null without a candidate sync.
            "last_sync": last_sync,
        },
        // Versioned shared lists, once they are published.
        "tranches": [],
        "ingest": ingest,
        "store": { "up": store_up, "degraded": !store_up },
        "experiment": feed.experiment.as_ref().map(|experiment| json!({
            "name": experiment.name,
            "arms": experiment.arms.iter().map(|arm| json!({
                "name": arm.name,
                "percent": arm.percent,
                "flow": arm.def.name,
                "preset": arm.preset,
            })).collect::<Vec<_>>(),
        })),
        "quality_factor": quality_factor,
        "quality_factor_floor": floor,
        "failures": failures,
        "diagnosis": diagnosis,
    }))
}

/// Where ingest is: this process's ingester when it runs one, else how old
/// the store's cursor is (another replica ingests).
async fn ingest(state: &AppState, diagnosis: &mut Vec<String>) -> Value {
    let now = now_us();
    let lag_seconds = |time_us: Option<u64>| time_us.map(|t| now.saturating_sub(t) as f64 / 1e6);
    let (connected, role, lag, rate) = match state.ingest_status() {
        Some((status, role)) => (
            Some(status.connected),
            role,
            lag_seconds(status.last_time_us),
            Some(status.events_per_sec),
        ),
        None => {
            let cursor = tokio::time::timeout(
                REQUEST_STORE_TIMEOUT,
                state.store.get_meta(feedmixer_ingest::CURSOR_KEY),
            )
            .await;
            let cursor_us = match cursor {
                Ok(Ok(Some(bytes))) => std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|text| text.trim().parse::<u64>().ok()),
                _ => None,
            };
            (None, "elsewhere", lag_seconds(cursor_us), None)
        }
    };
    if connected == Some(false) {
        diagnosis.push(
            "ingest disconnected: this replica's Jetstream connection is down (it reconnects by \
             itself); check --jetstream-url and that Jetstream answers"
                .to_string(),
        );
    }
    if let Some(lag) = lag.filter(|lag| *lag > INGEST_LAG_FINDING.as_secs_f64()) {
        diagnosis.push(format!(
            "ingest behind: the newest event applied is {lag:.0} s old, so new likes and posts \
             are missing from pages; check the ingester's log and feedmixer_ingest_* metrics"
        ));
    }
    json!({
        "connected": connected,
        "role": role,
        "lag_seconds": lag,
        "events_per_sec": rate,
    })
}
