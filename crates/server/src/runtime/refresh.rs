//! Keeps the served graph current with the store's like log.
//!
//! The graph is immutable (compact CSR arrays a walk reads without locks),
//! so new likes reach it as a new snapshot, made off the request path and
//! swapped in; requests in flight finish on the one they started with.
//! Every interval the refresher asks the store for the changes after the
//! graph's version and applies them to the current graph
//! ([`LikeGraph::with_changes`]); when the store no longer holds them, and
//! hourly anyway, it rebuilds from the whole log. Between rounds it waits
//! at least twice as long as the last one took, so following the log never
//! takes more than a third of a core.

use std::sync::Arc;
use std::time::{Duration, Instant};

use feedmixer_atproto::clock::{now_secs, secs_of_us};
use feedmixer_atproto::post_uri;
use feedmixer_graph::{GraphChange, LikeGraph};
use feedmixer_store::{Change, Changes, PostChangeKind, StoreError};
use metrics::{counter, histogram};

use crate::AppState;
use crate::metrics::{GRAPH_REBUILD_DURATION, GRAPH_REBUILDS};
use crate::runtime::bootstrap::load_graph;

/// A full rebuild from the store after this long, even when following
/// the log went fine: the window slides, and ids of posts that lost all
/// their likes leave the interners.
const MAX_AGE: Duration = Duration::from_secs(3600);

/// How long a round waits for the store to list changes: past this the
/// store counts as unreachable (readiness says degraded) until it answers.
const STORE_CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Changes applied in one update at most; more follow at once.
const MAX_CHANGES: usize = 200_000;

/// Keeps the graph current: every `interval`, applies the store's changes
/// after `version` (the version the current graph was built at) to the
/// graph, or rebuilds it from the store when the store no longer holds
/// them. Runs until the task is dropped.
pub async fn keep_graph_current(state: Arc<AppState>, interval: Duration, mut version: u64) {
    let mut built_at = Instant::now();
    let mut pause = interval;
    // Every series from the start, so a first rebuild (hourly) or failure
    // is an increase; a histogram is exported, empty, once registered.
    for kind in ["update", "rebuild"] {
        let _ = histogram!(GRAPH_REBUILD_DURATION, "kind" => kind);
        for result in ["ok", "error"] {
            counter!(GRAPH_REBUILDS, "kind" => kind, "result" => result).increment(0);
        }
    }
    loop {
        tokio::time::sleep(pause).await;
        let started = Instant::now();
        let step = if built_at.elapsed() >= MAX_AGE {
            rebuild(&state)
                .await
                .map(|(graph, v)| (graph, v, "rebuild", false))
        } else {
            follow(&state, version).await
        };
        state.set_store_reachable(step.is_ok());
        if step.is_ok()
            && let Err(e) = state.follow_feed_data().await
        {
            tracing::warn!(error = %e, "cannot check for new pools or special posts");
        }
        match step {
            Ok((Some(graph), new_version, kind, more)) => {
                let took = started.elapsed();
                counter!(GRAPH_REBUILDS, "kind" => kind, "result" => "ok").increment(1);
                histogram!(GRAPH_REBUILD_DURATION, "kind" => kind).record(took.as_secs_f64());
                tracing::debug!(
                    kind,
                    likes = graph.num_likes(),
                    ms = took.as_millis() as u64,
                    "graph updated"
                );
                state.set_graph(graph).await;
                version = new_version;
                if kind == "rebuild" {
                    built_at = Instant::now();
                }
                pause = if more {
                    Duration::ZERO
                } else {
                    interval.max(took * 2)
                };
            }
            Ok((None, _, _, _)) => pause = interval,
            Err((kind, e)) => {
                counter!(GRAPH_REBUILDS, "kind" => kind, "result" => "error").increment(1);
                tracing::error!(kind, error = %e, "graph update failed; serving the previous graph");
                // Retry soon: the store may be back any moment, and
                // readiness reports it from these rounds.
                pause = interval.max(Duration::from_secs(1));
            }
        }
    }
}

/// `graph` with the store's `changes` applied, less what is older than
/// `window_start` (unix seconds): what following the log makes of a graph.
pub fn with_store_changes(graph: &LikeGraph, window_start: u32, changes: &[Change]) -> LikeGraph {
    // The URIs of the posts the changes name, beside them.
    let uris: Vec<String> = changes
        .iter()
        .map(|c| match c {
            Change::Post(c) => post_uri(&c.did, &c.rkey),
            Change::Like(_) => String::new(),
        })
        .collect();
    let changes: Vec<GraphChange<'_>> = changes
        .iter()
        .zip(&uris)
        .map(|(c, uri)| match c {
            Change::Like(c) if c.added => GraphChange::Added {
                user: &c.did,
                post: &c.subject,
                ts: secs_of_us(c.time_us),
            },
            Change::Like(c) => GraphChange::Removed {
                user: &c.did,
                post: &c.subject,
                ts: secs_of_us(c.time_us),
            },
            Change::Post(c) => match &c.kind {
                PostChangeKind::Added(post) => GraphChange::PostAdded {
                    post: uri,
                    indexed_us: c.time_us,
                    info: post,
                },
                PostChangeKind::Removed => GraphChange::PostRemoved { post: uri },
                PostChangeKind::AccountDeleted => GraphChange::AccountRemoved { user: &c.did },
                PostChangeKind::AccountHidden => GraphChange::AccountHidden { user: &c.did },
                PostChangeKind::AccountRevealed => GraphChange::AccountRevealed { user: &c.did },
            },
        })
        .collect();
    graph.with_changes(window_start, &changes)
}

/// What one round produced: the new graph (none when nothing changed), the
/// version it reflects, how it was made, and whether more changes wait.
type Step = Result<(Option<LikeGraph>, u64, &'static str, bool), (&'static str, StoreError)>;

/// Applies the changes after `version`, or rebuilds when they are gone.
async fn follow(state: &Arc<AppState>, version: u64) -> Step {
    let asked = tokio::time::timeout(
        STORE_CALL_TIMEOUT,
        state.store.changes_since(version, MAX_CHANGES),
    )
    .await
    .unwrap_or_else(|_| {
        Err(StoreError::Backend(
            "the store did not answer in time".into(),
        ))
    });
    let changes = match asked {
        Ok(Changes::Since(changes)) => changes,
        Ok(Changes::Trimmed) => {
            tracing::info!(
                version,
                "the store no longer holds the changes after the graph; rebuilding"
            );
            return rebuild(state)
                .await
                .map(|(graph, v)| (graph, v, "rebuild", false));
        }
        Err(e) => return Err(("update", e)),
    };
    let Some(last) = changes.last().map(Change::seq) else {
        // Nothing new, unless the store went back: it lost writes (a Redis
        // restored from an older file), and only a rebuild shows what it
        // holds now.
        let now = state
            .store
            .likes_version()
            .await
            .map_err(|e| ("update", e))?;
        if now < version {
            tracing::warn!(
                graph = version,
                store = now,
                "the store's log went back; rebuilding"
            );
            return rebuild(state)
                .await
                .map(|(graph, v)| (graph, v, "rebuild", false));
        }
        return Ok((None, version, "update", false));
    };
    let more = changes.len() == MAX_CHANGES;
    let graph = state.graph.load_full();
    let window_start = window_start(state);
    let updated =
        tokio::task::spawn_blocking(move || with_store_changes(&graph, window_start, &changes))
            .await
            .map_err(|e| ("update", StoreError::from(e)))?;
    Ok((Some(updated), last, "update", more))
}

fn window_start(state: &AppState) -> u32 {
    now_secs().saturating_sub(state.config.retention_days.saturating_mul(86_400))
}

/// Builds a new graph from the store on a blocking thread (CPU work that
/// would otherwise stall a runtime worker serving requests), with the
/// store's version read before the scan: changes the scan already saw
/// are applied again later, which changes nothing.
async fn rebuild(
    state: &Arc<AppState>,
) -> Result<(Option<LikeGraph>, u64), (&'static str, StoreError)> {
    let fail = |e| ("rebuild", e);
    let version = state.store.likes_version().await.map_err(fail)?;
    let state = Arc::clone(state);
    let handle = tokio::runtime::Handle::current();
    let graph = tokio::task::spawn_blocking(move || {
        handle.block_on(load_graph(
            state.store.as_ref(),
            state.config.retention_days,
            now_secs(),
            &mut |_| {},
        ))
    })
    .await
    .map_err(|e| fail(StoreError::from(e)))?
    .map_err(fail)?;
    Ok((Some(graph), version))
}
