//! The cache of sources whose list is the same for every viewer (trending,
//! popular, velocity, discovery): computed from a graph snapshot and a
//! time, reused until it is `refresh_secs` old. Sources of one kind with
//! the same params share one list, across flows and across the flows
//! rebuilt for a request naming another preset.
//!
//! Computing a list reads every post of the graph (tens of milliseconds at
//! 10M likes), so it never runs on a request's thread, and once a list
//! exists no request waits for one: the request that finds it stale
//! starts the next computation in the background and serves the list it
//! has. A list holds post ids, which mean the same posts in every snapshot
//! of a graph [`Lineage`] (live likes make a new snapshot every second), so
//! a list is kept per lineage, not per snapshot; a graph rebuilt from the
//! store starts a new lineage, and [`warm_shared_lists`] computes every list for it
//! before it is served. Only a request with no list for its lineage (the
//! first one, or one on a graph no one warmed) waits, off the worker
//! threads, for the one computation all such requests share.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, LazyLock, Weak};

use feedmixer_flow::{ComponentError, RequestContext, SourceScores};
use feedmixer_graph::{LikeGraph, Lineage};
use parking_lot::Mutex;

/// How a list is made from a graph and a time (seconds).
type Compute = Box<dyn Fn(&LikeGraph, u32) -> SourceScores + Send + Sync>;

/// A stale list is served while its successor is computed for up to this
/// many refresh periods of age; past that (a source no request asked for
/// in a while) the request waits for a new one.
const STALE_PERIODS: u32 = 4;

/// A computed list and what it was computed from.
struct Cached {
    lineage: Lineage,
    computed_at: u32,
    scores: Arc<SourceScores>,
}

/// The newest lists: the newest lineage's and the one before, for the
/// requests still in flight on the previous graph when a rebuilt one is
/// swapped in.
#[derive(Default)]
struct Lists {
    newest: Option<Cached>,
    previous: Option<Cached>,
    /// A background computation is under way.
    refreshing: bool,
}

/// What a request finds for its lineage and time.
enum Found {
    Fresh(Arc<SourceScores>),
    Stale(Arc<SourceScores>),
    Missing,
}

impl Lists {
    /// With `refresh_secs` 0 (a list made for every request) nothing is
    /// ever found.
    fn find(&self, lineage: Lineage, now: u32, refresh_secs: u32) -> Found {
        let Some(c) = [&self.newest, &self.previous]
            .into_iter()
            .flatten()
            .find(|c| c.lineage == lineage)
        else {
            return Found::Missing;
        };
        // A clock that went back: the list saw likes after `now`.
        let Some(age) = now.checked_sub(c.computed_at) else {
            return Found::Missing;
        };
        if age < refresh_secs {
            Found::Fresh(c.scores.clone())
        } else if age < refresh_secs.saturating_mul(STALE_PERIODS) {
            Found::Stale(c.scores.clone())
        } else {
            Found::Missing
        }
    }

    /// Keeps `c`: the newest computation of its lineage replaces the last
    /// one; a newer lineage moves the newest to `previous`; one older than
    /// both is not kept.
    fn keep(&mut self, c: Cached) {
        let newest = self.newest.as_ref().map(|n| n.lineage);
        match newest {
            Some(n) if n == c.lineage => self.newest = Some(c),
            Some(n) if n > c.lineage => {
                if self.previous.as_ref().is_none_or(|p| p.lineage <= c.lineage) {
                    self.previous = Some(c);
                }
            }
            _ => self.previous = self.newest.replace(c),
        }
    }
}

/// One source's shared list.
pub(crate) struct SharedList {
    refresh_secs: u32,
    compute: Compute,
    lists: Mutex<Lists>,
    /// Held by the one computation under way, so requests arriving
    /// meanwhile wait for it instead of each running their own.
    computing: tokio::sync::Mutex<()>,
}

/// The lists in use, by their source's params (whose `Debug` names the
/// kind); an entry goes when the last source holding it is dropped.
static LISTS: LazyLock<Mutex<HashMap<String, Weak<SharedList>>>> = LazyLock::new(Default::default);

/// Computes, for `graph`, every list in use that has none for its lineage
/// at `now_secs`, so that requests on it find them made. Blocks for as
/// long as that takes: for a graph about to be served, off the request
/// path.
pub fn warm_shared_lists(graph: &LikeGraph, now_secs: u32) {
    let lists: Vec<Arc<SharedList>> = LISTS.lock().values().filter_map(Weak::upgrade).collect();
    for list in lists {
        list.warm(graph, now_secs);
    }
}

impl SharedList {
    /// The list of every source built with `params` (a kind's params
    /// struct), made by `compute` and reused for `refresh_secs` (0: made
    /// for every request).
    pub(crate) fn shared(
        refresh_secs: u32,
        params: &impl Debug,
        compute: impl Fn(&LikeGraph, u32) -> SourceScores + Send + Sync + 'static,
    ) -> Arc<SharedList> {
        let key = format!("{params:?}");
        let mut lists = LISTS.lock();
        if let Some(list) = lists.get(&key).and_then(Weak::upgrade) {
            return list;
        }
        lists.retain(|_, list| list.strong_count() > 0);
        let list = Arc::new(SharedList::new(refresh_secs, Box::new(compute)));
        lists.insert(key, Arc::downgrade(&list));
        list
    }

    fn new(refresh_secs: u32, compute: Compute) -> Self {
        SharedList {
            refresh_secs,
            compute,
            lists: Mutex::new(Lists::default()),
            computing: tokio::sync::Mutex::new(()),
        }
    }

    /// Computes the list for `graph` at `now_secs` here unless it has one
    /// for its lineage it may serve.
    fn warm(&self, graph: &LikeGraph, now_secs: u32) {
        if self.refresh_secs > 0 && matches!(self.find(graph, now_secs), Found::Missing) {
            self.compute_and_keep(graph, now_secs);
        }
    }

    /// What this list has kept for `graph`'s lineage at `now`.
    fn find(&self, graph: &LikeGraph, now: u32) -> Found {
        self.lists.lock().find(graph.lineage(), now, self.refresh_secs)
    }

    /// The list for `ctx`: one computed for its graph's lineage less than
    /// `refresh_secs` before `ctx.now_secs` (and not after it); else a
    /// stale one while the next is computed in the background; else a new
    /// one, waited for.
    pub(crate) async fn get(
        self: &Arc<Self>,
        ctx: &RequestContext,
    ) -> Result<Arc<SourceScores>, ComponentError> {
        let (graph, now) = (&ctx.graph, ctx.now_secs);
        match self.find(graph, now) {
            Found::Fresh(scores) => return Ok(scores),
            Found::Stale(scores) => {
                self.refresh_in_background(graph, now);
                return Ok(scores);
            }
            Found::Missing => {}
        }
        // A task of its own, so that a request that stops waiting (its
        // budget ran out) does not stop the computation others wait for.
        let list = Arc::clone(self);
        let graph = Arc::clone(graph);
        joined(tokio::spawn(async move { list.make(graph, now, false).await }).await)?
    }

    /// Starts computing the list for `graph` at `now` unless a computation
    /// is under way.
    fn refresh_in_background(self: &Arc<Self>, graph: &Arc<LikeGraph>, now: u32) {
        {
            let mut lists = self.lists.lock();
            if lists.refreshing {
                return;
            }
            lists.refreshing = true;
        }
        let list = Arc::clone(self);
        let graph = Arc::clone(graph);
        tokio::spawn(async move {
            let made = list.make(graph, now, true).await;
            list.lists.lock().refreshing = false;
            if let Err(e) = made {
                tracing::warn!(error = %e.0, "a shared list was not refreshed; serving the last");
            }
        });
    }

    /// The list for `graph` at `now`, computed on the blocking pool and
    /// kept, unless the computation this one waited for made it (fresh,
    /// or also stale unless `refreshing`).
    async fn make(
        self: &Arc<Self>,
        graph: Arc<LikeGraph>,
        now: u32,
        refreshing: bool,
    ) -> Result<Arc<SourceScores>, ComponentError> {
        let _one = self.computing.lock().await;
        match self.find(&graph, now) {
            Found::Fresh(scores) => return Ok(scores),
            Found::Stale(scores) if !refreshing => return Ok(scores),
            _ => {}
        }
        let list = Arc::clone(self);
        joined(tokio::task::spawn_blocking(move || list.compute_and_keep(&graph, now)).await)
    }

    /// Computes the list for `graph` at `now` here, and keeps it unless it
    /// is made for every request.
    fn compute_and_keep(&self, graph: &LikeGraph, now: u32) -> Arc<SourceScores> {
        let scores = Arc::new((self.compute)(graph, now));
        if self.refresh_secs > 0 {
            self.lists.lock().keep(Cached {
                lineage: graph.lineage(),
                computed_at: now,
                scores: scores.clone(),
            });
        }
        scores
    }
}

/// A task's outcome: its panic goes on in the caller, as if it had run
/// there; a cancelled task (the runtime shutting down) is an error.
fn joined<T>(outcome: Result<T, tokio::task::JoinError>) -> Result<T, ComponentError> {
    outcome.map_err(|e| {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic())
        }
        ComponentError("the list's computation was cancelled".into())
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::testing::{NOW, ctx, eventually, graph, post};

    /// A list whose computations are counted: each scores one post with
    /// its time.
    fn counting(refresh_secs: u32) -> (Arc<SharedList>, Arc<AtomicU32>) {
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let compute = move |g: &LikeGraph, now: u32| {
            counted.fetch_add(1, Ordering::SeqCst);
            vec![(0, now as f32 + g.num_posts() as f32)]
        };
        (Arc::new(SharedList::new(refresh_secs, Box::new(compute))), runs)
    }

    #[tokio::test]
    async fn serves_the_stale_list_while_the_next_is_computed() {
        let a = post("x", 1);
        let g = graph(&[("u1", &a, 60)]);
        let (list, runs) = counting(30);
        let mut c = ctx(&g, None);
        let first = list.get(&c).await.unwrap();
        c.now_secs = NOW + 29;
        assert!(Arc::ptr_eq(&first, &list.get(&c).await.unwrap()));
        assert_eq!(runs.load(Ordering::SeqCst), 1);

        c.now_secs = NOW + 30;
        let stale = list.get(&c).await.unwrap();
        assert!(Arc::ptr_eq(&first, &stale), "served at once, stale");
        // Kept once the background computation is done.
        eventually("the next list kept", || async {
            !Arc::ptr_eq(&list.get(&c).await.unwrap(), &first)
        })
        .await;
        let next = list.get(&c).await.unwrap();
        assert_eq!(next[0].1, (NOW + 30) as f32 + 1.0);
        assert_eq!(runs.load(Ordering::SeqCst), 2, "one background computation");

        c.now_secs = NOW;
        list.get(&c).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3, "a clock that went back waits for a new list");
        c.now_secs = NOW + STALE_PERIODS * 30;
        let waited = list.get(&c).await.unwrap();
        assert_eq!(waited[0].1, c.now_secs as f32 + 1.0, "too old to serve: waited for");
    }

    #[tokio::test]
    async fn a_list_is_kept_per_lineage_and_for_the_one_before() {
        let (a, b) = (post("x", 1), post("x", 2));
        let g = graph(&[("u1", &a, 60)]);
        let (list, runs) = counting(30);
        list.get(&ctx(&g, None)).await.unwrap();
        // A later snapshot of the same lineage reads the same list.
        let (u2, b_ref) = ("did:plc:u2".to_string(), b.clone());
        let updated = Arc::new(g.with_changes(
            0,
            &[feedmixer_graph::GraphChange::Added {
                user: &u2,
                post: &b_ref,
                ts: NOW - 10,
            }],
        ));
        list.get(&ctx(&updated, None)).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // A rebuilt graph is a new lineage: computed for it, and the old
        // lineage's list still serves requests in flight on the old graph.
        let rebuilt = graph(&[("u1", &a, 60), ("u2", &b, 10)]);
        let fresh = list.get(&ctx(&rebuilt, None)).await.unwrap();
        assert_eq!(fresh[0].1, NOW as f32 + 2.0);
        list.get(&ctx(&g, None)).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn warm_makes_the_lists_of_a_new_graph_before_requests_come() {
        let a = post("x", 1);
        let (list, runs) = counting(30);
        let g = graph(&[("u1", &a, 60)]);
        list.warm(&g, NOW);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        list.warm(&g, NOW + 1);
        assert_eq!(runs.load(Ordering::SeqCst), 1, "a list already made is not remade");
        list.get(&ctx(&g, None)).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1, "the request found it made");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_requests_share_one_computation_that_outlives_them() {
        let a = post("x", 1);
        let g = graph(&[("u1", &a, 60)]);
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let slow = move |_: &LikeGraph, now: u32| {
            counted.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50));
            vec![(0, now as f32)]
        };
        let list = Arc::new(SharedList::new(30, Box::new(slow)));
        // One request gives up at once; its computation goes on.
        let c = ctx(&g, None);
        assert!(
            tokio::time::timeout(Duration::from_millis(1), list.get(&c))
                .await
                .is_err()
        );
        let waiting: Vec<_> = (0..8)
            .map(|_| {
                let (list, c) = (list.clone(), ctx(&g, None));
                tokio::spawn(async move { list.get(&c).await.unwrap() })
            })
            .collect();
        for w in waiting {
            assert_eq!(w.await.unwrap()[0].1, NOW as f32);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    struct TestParams(&'static str, u32);

    #[tokio::test]
    async fn sources_with_the_same_params_share_one_list_until_the_last_goes() {
        let runs = Arc::new(AtomicU32::new(0));
        let make = |n| {
            let runs = runs.clone();
            SharedList::shared(30, &TestParams("share", n), move |_, _| {
                runs.fetch_add(1, Ordering::SeqCst);
                Vec::new()
            })
        };
        let (first, same, other) = (make(1), make(1), make(2));
        assert!(Arc::ptr_eq(&first, &same));
        assert!(!Arc::ptr_eq(&first, &other));
        let a = post("x", 1);
        let g = graph(&[("u1", &a, 60)]);
        first.get(&ctx(&g, None)).await.unwrap();
        same.get(&ctx(&g, None)).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1, "computed once for both");
        let weak = Arc::downgrade(&first);
        drop((first, same));
        assert!(weak.upgrade().is_none());
        make(1).get(&ctx(&g, None)).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2, "a list nobody held is made anew");
    }

    #[tokio::test]
    async fn zero_refresh_computes_every_time_and_keeps_no_graph() {
        let a = post("x", 1);
        let g = graph(&[("u1", &a, 60)]);
        let (list, runs) = counting(0);
        list.get(&ctx(&g, None)).await.unwrap();
        list.get(&ctx(&g, None)).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        let weak = Arc::downgrade(&g);
        drop(g);
        assert!(weak.upgrade().is_none(), "the cache does not keep the graph");
    }
}
