//! The cache of sources whose list is the same for every viewer (trending,
//! popular, velocity, discovery): computed from a graph snapshot and a
//! time, reused until it is `refresh_secs` old or the graph is replaced.
//! Sources of one kind with the same params share one list, across flows
//! and across the flows rebuilt for a request naming another preset.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, LazyLock, Weak};

use feedmixer_flow::{RequestContext, SourceScores};
use feedmixer_graph::LikeGraph;
use parking_lot::Mutex;

/// A computed list and what it was computed from.
struct Cached {
    /// The snapshot, held weakly so a replaced graph is freed at once. A
    /// `Weak` keeps its allocation, so no later snapshot can take the
    /// same address while it is held.
    graph: Weak<LikeGraph>,
    computed_at: u32,
    scores: Arc<SourceScores>,
}

/// One source's shared list.
pub(crate) struct SharedList {
    refresh_secs: u32,
    cache: Mutex<Option<Cached>>,
}

/// The lists in use, by their source's params (whose `Debug` names the
/// kind); an entry goes when the last source holding it is dropped.
static LISTS: LazyLock<Mutex<HashMap<String, Weak<SharedList>>>> = LazyLock::new(Default::default);

impl SharedList {
    /// The list of every source built with `params` (a kind's params
    /// struct), reused for `refresh_secs`.
    pub(crate) fn shared(refresh_secs: u32, params: &impl Debug) -> Arc<SharedList> {
        let key = format!("{params:?}");
        let mut lists = LISTS.lock();
        if let Some(list) = lists.get(&key).and_then(Weak::upgrade) {
            return list;
        }
        lists.retain(|_, list| list.strong_count() > 0);
        let list = Arc::new(SharedList::new(refresh_secs));
        lists.insert(key, Arc::downgrade(&list));
        list
    }

    /// A list of its own, reused for `refresh_secs` (0: computed on every
    /// request).
    fn new(refresh_secs: u32) -> Self {
        SharedList {
            refresh_secs,
            cache: Mutex::new(None),
        }
    }

    /// The list for `ctx`: the cached one if it was computed from the same
    /// graph snapshot less than `refresh_secs` before `ctx.now_secs` (and
    /// not after it), else `compute(graph, now_secs)`, which is then
    /// cached. The lock is held while computing, so concurrent requests
    /// wait for one computation instead of each running their own.
    pub(crate) fn get(
        &self,
        ctx: &RequestContext,
        compute: impl FnOnce(&LikeGraph, u32) -> SourceScores,
    ) -> Arc<SourceScores> {
        let mut cache = self.cache.lock();
        if let Some(c) = cache.as_ref() {
            let fresh =
                ctx.now_secs >= c.computed_at && ctx.now_secs - c.computed_at < self.refresh_secs;
            if fresh && Weak::ptr_eq(&c.graph, &Arc::downgrade(&ctx.graph)) {
                return c.scores.clone();
            }
        }
        let scores = Arc::new(compute(&ctx.graph, ctx.now_secs));
        *cache = Some(Cached {
            graph: Arc::downgrade(&ctx.graph),
            computed_at: ctx.now_secs,
            scores: scores.clone(),
        });
        scores
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NOW, ctx, graph, post};

    /// A list that records how often it was computed.
    fn counting(list: &SharedList, ctx: &RequestContext, runs: &mut u32) -> Arc<SourceScores> {
        list.get(ctx, |g, now| {
            *runs += 1;
            vec![(0, now as f32 + g.num_posts() as f32)]
        })
    }

    #[test]
    fn reuses_the_list_until_stale_or_the_graph_changes() {
        let a = post("x", 1);
        let g = graph(&[("u1", &a, 60)]);
        let list = SharedList::new(30);
        let mut runs = 0;
        let mut c = ctx(&g, None);
        let first = counting(&list, &c, &mut runs);
        c.now_secs = NOW + 29;
        assert!(Arc::ptr_eq(&first, &counting(&list, &c, &mut runs)));
        assert_eq!(runs, 1);
        c.now_secs = NOW + 30;
        let second = counting(&list, &c, &mut runs);
        assert_eq!((runs, second[0].1), (2, (NOW + 30) as f32 + 1.0));
        c.now_secs = NOW;
        counting(&list, &c, &mut runs);
        assert_eq!(runs, 3, "a clock that went back recomputes");
        let other = graph(&[("u1", &a, 60)]);
        counting(&list, &ctx(&other, None), &mut runs);
        assert_eq!(runs, 4, "a new graph snapshot recomputes");
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    struct TestParams(&'static str, u32);

    #[test]
    fn sources_with_the_same_params_share_one_list_until_the_last_goes() {
        let first = SharedList::shared(30, &TestParams("share", 1));
        let same = SharedList::shared(30, &TestParams("share", 1));
        let other = SharedList::shared(30, &TestParams("share", 2));
        assert!(Arc::ptr_eq(&first, &same));
        assert!(!Arc::ptr_eq(&first, &other));
        let a = post("x", 1);
        let g = graph(&[("u1", &a, 60)]);
        let mut runs = 0;
        counting(&first, &ctx(&g, None), &mut runs);
        counting(&same, &ctx(&g, None), &mut runs);
        assert_eq!(runs, 1, "computed once for both");
        let weak = Arc::downgrade(&first);
        drop((first, same));
        assert!(weak.upgrade().is_none());
        let again = SharedList::shared(30, &TestParams("share", 1));
        counting(&again, &ctx(&g, None), &mut runs);
        assert_eq!(runs, 2, "a list nobody held is made anew");
    }

    #[test]
    fn zero_refresh_computes_every_time_and_a_replaced_graph_is_freed() {
        let a = post("x", 1);
        let g = graph(&[("u1", &a, 60)]);
        let list = SharedList::new(0);
        let mut runs = 0;
        counting(&list, &ctx(&g, None), &mut runs);
        counting(&list, &ctx(&g, None), &mut runs);
        assert_eq!(runs, 2);
        let weak = Arc::downgrade(&g);
        drop(g);
        assert!(
            weak.upgrade().is_none(),
            "the cache does not keep the graph"
        );
    }
}
