//! Every metric name the server records, the Prometheus recorder, and
//! [`ALL`]: every name the process exports, this crate's and those of the
//! crates it runs (store, identity, ingest, flow), each of which names its
//! own in its `metrics` module.

use std::sync::{LazyLock, OnceLock};

use feedmixer_graph::LikeGraph;
use metrics::{counter, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// HTTP requests by `route` (the matched pattern, never the raw path) and `status`.
pub const HTTP_REQUESTS: &str = "feedmixer_http_requests_total";
/// HTTP request time by `route`, seconds.
pub const HTTP_DURATION: &str = "feedmixer_http_request_duration_seconds";
/// Always 1, labelled with the `version` running.
pub const BUILD_INFO: &str = "feedmixer_build_info";
/// 1 while feeds are served, 0 while the graph loads.
pub const READY: &str = "feedmixer_ready";
/// Size of the live graph.
pub const GRAPH_USERS: &str = "feedmixer_graph_users";
pub const GRAPH_POSTS: &str = "feedmixer_graph_posts";
/// Posts of the post index in the graph's window that may be served.
pub const GRAPH_INDEXED_POSTS: &str = "feedmixer_graph_indexed_posts";
pub const GRAPH_LIKES: &str = "feedmixer_graph_likes";
/// Inactive accounts the graph hides.
pub const GRAPH_HIDDEN_ACCOUNTS: &str = "feedmixer_graph_hidden_accounts";
pub const GRAPH_MEMORY: &str = "feedmixer_graph_memory_bytes";
/// Cursors signed by a key this process does not hold (rotated out, or
/// from before key ids): the feed started over at its first page.
pub const CURSOR_RESTARTS: &str = "feedmixer_cursor_restarts_total";
/// Requests answered from a cached ranked list vs recomputed, by `result`.
pub const SESSION_LOOKUPS: &str = "feedmixer_session_lookups_total";
/// Reloads of flows and feeds by `result` (`ok`, `error`: rejected, the
/// running catalog kept).
pub const CONFIG_RELOADS: &str = "feedmixer_config_reloads_total";
/// Graph updates by `kind` (`update`: changes applied; `rebuild`: from
/// the store) and `result` (`ok`, `error`).
pub const GRAPH_REBUILDS: &str = "feedmixer_graph_rebuilds_total";
/// Time to make a new graph, seconds, by `kind`.
pub const GRAPH_REBUILD_DURATION: &str = "feedmixer_graph_rebuild_duration_seconds";
/// What pruning removed, by `what` (`likes`, `tombstones`, `accounts`).
pub const PRUNED: &str = "feedmixer_pruned_total";
/// Verification outcomes by `outcome`: `anonymous` (no token), `verified`,
/// `invalid` (refused with 401), `unavailable` (served anonymously).
pub const VIEWER_AUTH: &str = "feedmixer_viewer_auth_total";
/// Interactions received, by `event` (the lexicon name, or `unknown` for
/// events without an item or with a token we do not know: skipped).
pub const INTERACTIONS: &str = "feedmixer_interactions_total";

/// Feed pages answered 503 at once because the ranking queue was full
/// (`[http] max_in_flight`, `max_queued`).
pub const SHED: &str = "feedmixer_http_shed_total";

/// Candidate syncs of feed pools, by `feed` and `outcome` (`ok`,
/// `failed`).
pub const POOL_SYNCS: &str = "feedmixer_pool_syncs_total";

/// Pages written to the impression log, by `outcome` (`written`).
pub const IMPRESSIONS: &str = "feedmixer_impressions_total";
/// Pages the impression log dropped: its queue was full or a write failed.
pub const IMPRESSIONS_DROPPED: &str = "feedmixer_impressions_dropped_total";

/// Feed pages served to viewers in an experiment, by `feed` and `arm`.
pub const EXPERIMENT_PAGES: &str = "feedmixer_experiment_pages_total";
/// Interactions on posts served in an experiment's arm (from the
/// feedContext clients echo), by `feed`, `arm` and `event`.
pub const EXPERIMENT_INTERACTIONS: &str = "feedmixer_experiment_interactions_total";

/// Every experiment arm's series at zero, so dashboards and rates see an
/// arm before its first page.
pub fn experiments_init(catalog: &feedmixer_flow::Catalog) {
    for (feed, experiment) in catalog
        .feeds
        .iter()
        .filter_map(|(name, feed)| Some((name, feed.experiment.as_ref()?)))
    {
        for arm in &experiment.arms {
            let labels = [("feed", feed.clone()), ("arm", arm.name.clone())];
            metrics::counter!(EXPERIMENT_PAGES, &labels).increment(0);
            for event in feedmixer_atproto::INTERACTION_EVENTS {
                let mut with_event = labels.to_vec();
                with_event.push(("event", event.name().to_string()));
                metrics::counter!(EXPERIMENT_INTERACTIONS, &with_event).increment(0);
            }
        }
    }
}

/// The names above.
const OWN: &[&str] = &[
    HTTP_REQUESTS,
    HTTP_DURATION,
    BUILD_INFO,
    READY,
    GRAPH_USERS,
    GRAPH_POSTS,
    GRAPH_INDEXED_POSTS,
    GRAPH_LIKES,
    GRAPH_HIDDEN_ACCOUNTS,
    GRAPH_MEMORY,
    SESSION_LOOKUPS,
    CURSOR_RESTARTS,
    CONFIG_RELOADS,
    GRAPH_REBUILDS,
    GRAPH_REBUILD_DURATION,
    PRUNED,
    VIEWER_AUTH,
    INTERACTIONS,
    SHED,
    POOL_SYNCS,
    IMPRESSIONS,
    IMPRESSIONS_DROPPED,
    EXPERIMENT_PAGES,
    EXPERIMENT_INTERACTIONS,
];

/// Every metric name this process exports, for checks of dashboards and
/// alert rules against the code.
pub static ALL: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    [
        OWN,
        feedmixer_store::metrics::ALL,
        feedmixer_identity::metrics::ALL,
        feedmixer_ingest::metrics::ALL,
        feedmixer_flow::metrics::ALL,
    ]
    .concat()
});

/// Latency buckets shared by every `_seconds` histogram: 100 us to 10 s,
/// finer where feed latency targets sit (5-50 ms).
const BUCKETS: [f64; 21] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.035,
    0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Graph rebuild time: 10 ms to 5 min.
const REBUILD_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 300.0,
];

/// Installs the process-wide Prometheus recorder once and returns its
/// handle (tests call this many times in one process).
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .expect("buckets are not empty")
                // A full match wins over the suffix: rebuilds of big graphs
                // take longer than any request.
                .set_buckets_for_metric(
                    Matcher::Full(GRAPH_REBUILD_DURATION.into()),
                    &REBUILD_BUCKETS,
                )
                .expect("buckets are not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}

pub fn set_ready(ready: bool) {
    gauge!(READY).set(if ready { 1.0 } else { 0.0 });
}

pub fn graph_size(graph: &LikeGraph) {
    gauge!(GRAPH_USERS).set(graph.num_users() as f64);
    gauge!(GRAPH_POSTS).set(graph.num_posts() as f64);
    gauge!(GRAPH_INDEXED_POSTS).set(graph.num_indexed_posts() as f64);
    gauge!(GRAPH_LIKES).set(graph.num_likes() as f64);
    gauge!(GRAPH_HIDDEN_ACCOUNTS).set(graph.num_hidden_accounts() as f64);
    gauge!(GRAPH_MEMORY).set(graph.memory_bytes() as f64);
}

/// Exports the counters of rare events at 0, so their first increase
/// shows.
pub fn rare_counters_init() {
    counter!(CURSOR_RESTARTS).increment(0);
    counter!(SHED).increment(0);
}

pub fn cursor_restarted() {
    counter!(CURSOR_RESTARTS).increment(1);
}

pub fn session_lookup(result: &'static str) {
    counter!(SESSION_LOOKUPS, "result" => result).increment(1);
}

/// Exports both reload series at 0, so a first rejection is an increase.
pub fn config_reloads_init() {
    counter!(CONFIG_RELOADS, "result" => "ok").increment(0);
    counter!(CONFIG_RELOADS, "result" => "error").increment(0);
}

pub fn config_reload(ok: bool) {
    let result = if ok { "ok" } else { "error" };
    counter!(CONFIG_RELOADS, "result" => result).increment(1);
}
