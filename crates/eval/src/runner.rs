//! Ranks every sampled user through a feed's real flow, as the server
//! does, with the request's clock at T, and scores the lists.
//!
//! A user's request is the server's for a viewer the graph knows: the
//! feed's flow (built with the preset, [`Feed::flow_with`]), the process's
//! hydrators, a [`RequestContext`] for the feed with the viewer, `now =
//! T` and a page of 100, then the placed posts merged in
//! ([`placement::place`]) — the first page of the feed. What differs:
//! the flow runs [offline](Flow::offline) (no budgets, quality factor 1),
//! the request carries no DID (interaction histories are not part of the
//! like log, so a viewer's sendInteractions feedback is empty) and no
//! `Accept-Language`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use feedmixer_flow::placement::{self, ListItem};
use feedmixer_flow::{
    Catalog, Feed, Flow, FlowOutput, Hydrators, Overrides, Registry, RequestContext,
};
use feedmixer_graph::{LikeGraph, PostId};
use rustc_hash::FxHashSet;

use crate::EvalError;
use crate::baseline::{Popularity, WINDOW_SECS};
use crate::metrics::{KS, PAGE, ndcg_at, percentile, recall_at};
use crate::report::{POPULARITY, Row};
use crate::split::Split;

/// The longest list scored: the largest cut-off, the server's page limit.
pub const LIST: usize = 100;

/// A feed at a preset, its flow built and made offline.
pub struct Variant {
    pub feed: String,
    pub preset: String,
    pub flow: Flow,
}

/// The variants to evaluate: each of `feeds` (none: every feed of the
/// catalog) at each of `presets` (none: the feed's own), in the order
/// given, each pair once.
pub fn variants(
    catalog: &Catalog,
    registry: &Registry,
    feeds: &[String],
    presets: &[String],
) -> Result<Vec<Variant>, EvalError> {
    let feeds: Vec<&str> = if feeds.is_empty() {
        catalog.feeds.keys().map(String::as_str).collect()
    } else {
        feeds.iter().map(String::as_str).collect()
    };
    for preset in presets {
        if !catalog.presets.contains_key(preset) {
            return Err(EvalError::UnknownPreset {
                name: preset.clone(),
                known: join(catalog.presets.keys()),
            });
        }
    }
    let mut out: Vec<Variant> = Vec::new();
    for name in feeds {
        let feed: &Arc<Feed> = catalog.feed(name).ok_or_else(|| EvalError::UnknownFeed {
            name: name.to_string(),
            known: join(catalog.feeds.keys()),
        })?;
        let own = [feed.preset.clone()];
        let presets = if presets.is_empty() {
            &own[..]
        } else {
            presets
        };
        for preset in presets {
            if out.iter().any(|v| v.feed == name && &v.preset == preset) {
                continue;
            }
            let flow = feed
                .flow_with(registry, Some(preset), &Overrides::new())
                .map_err(|reason| EvalError::Flow {
                    feed: name.to_string(),
                    preset: preset.clone(),
                    reason,
                })?;
            out.push(Variant {
                feed: name.to_string(),
                preset: preset.clone(),
                flow: flow.offline(),
            });
        }
    }
    Ok(out)
}

fn join<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names.map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// Runs feeds and the baseline over one split.
pub struct Evaluator<'a> {
    graph: Arc<LikeGraph>,
    split: &'a Split,
    hydrators: &'a Hydrators,
    /// Every post a feed could serve at T: coverage's denominator.
    servable: usize,
}

impl<'a> Evaluator<'a> {
    /// `graph` is the graph as of the split's T.
    pub fn new(graph: Arc<LikeGraph>, split: &'a Split, hydrators: &'a Hydrators) -> Self {
        let servable = (0..graph.num_posts() as PostId)
            .filter(|&p| graph.is_servable(p))
            .count();
        Evaluator {
            graph,
            split,
            hydrators,
            servable,
        }
    }

    /// Servable posts the graph knew at T.
    pub fn servable_posts(&self) -> usize {
        self.servable
    }

    /// Ranks every sampled user through `variant`'s flow, one at a time
    /// (so each run's latency is its own); `progress` is called after
    /// each user.
    pub async fn feed(&self, variant: &Variant, progress: &mut (dyn FnMut() + Send)) -> Row {
        let mut tally = Tally::default();
        for user in &self.split.users {
            let mut ctx =
                RequestContext::new(Arc::clone(&self.graph), Some(user.id), self.split.at_secs)
                    .for_feed(&variant.feed);
            ctx.page_size = LIST;
            let started = Instant::now();
            let output = variant.flow.run(&ctx, self.hydrators).await;
            let elapsed = started.elapsed();
            let list = first_page(&self.graph, &variant.flow, &output);
            tally.add(&list, &user.held_out, elapsed);
            progress();
        }
        tally.row(&variant.feed, &variant.preset, self.servable)
    }

    /// The popularity baseline over the same users; its latency is each
    /// user's pick from the shared list (the list itself is computed
    /// once, as a shared list is).
    pub fn popularity(&self, progress: &mut (dyn FnMut() + Send)) -> Row {
        let popular = Popularity::new(&self.graph, self.split.at_secs, WINDOW_SECS);
        let mut tally = Tally::default();
        for user in &self.split.users {
            let started = Instant::now();
            let posts = popular.for_user(&self.graph, user.id, LIST);
            let elapsed = started.elapsed();
            let list: Vec<Slot> = posts
                .into_iter()
                .map(|p| (Some(p), POPULARITY.to_string()))
                .collect();
            tally.add(&list, &user.held_out, elapsed);
            progress();
        }
        tally.row(POPULARITY, "-", self.servable)
    }
}

/// A slot of a list: the post when the graph knows it, and why it is
/// there (the ids of the sources that proposed it, comma-separated, or
/// the placement's kind).
type Slot = (Option<PostId>, String);

/// The first page of [`LIST`] a flow's output gives, as the server lists
/// it: ranked posts with the sources that proposed them, placed posts
/// merged in.
fn first_page(graph: &LikeGraph, flow: &Flow, output: &FlowOutput) -> Vec<Slot> {
    let ranked: Vec<(String, String)> = output
        .posts
        .iter()
        .map(|p| (graph.post_uri(p.post), flow.proposed_by(p.sources)))
        .collect();
    placement::place(ranked, &output.placements)
        .into_iter()
        .take(LIST)
        .map(|ListItem { post, context, .. }| (graph.post_id(&post), context))
        .collect()
}

/// The sums a row is made of.
#[derive(Default)]
struct Tally {
    users: usize,
    recall: [f64; KS.len()],
    /// Of recall@30, for its standard error.
    recall_30_squares: f64,
    ndcg: [f64; KS.len()],
    served: FxHashSet<PostId>,
    empty: usize,
    listed: usize,
    slots: usize,
    by_source: BTreeMap<String, usize>,
    latencies_ms: Vec<f64>,
}

impl Tally {
    fn add(&mut self, list: &[Slot], held_out: &[PostId], elapsed: Duration) {
        let posts: Vec<Option<PostId>> = list.iter().map(|(p, _)| *p).collect();
        for (i, &k) in KS.iter().enumerate() {
            let recall = recall_at(&posts, held_out, k);
            self.recall[i] += recall;
            self.ndcg[i] += ndcg_at(&posts, held_out, k);
            if k == PAGE {
                self.recall_30_squares += recall * recall;
            }
        }
        self.users += 1;
        self.empty += usize::from(list.is_empty());
        self.listed += list.len();
        for (post, why) in list.iter().take(PAGE) {
            self.slots += 1;
            self.served.extend(*post);
            for source in why.split(',').filter(|s| !s.is_empty()) {
                *self.by_source.entry(source.to_string()).or_default() += 1;
            }
        }
        self.latencies_ms.push(elapsed.as_secs_f64() * 1000.0);
    }

    fn row(mut self, feed: &str, preset: &str, servable: usize) -> Row {
        let users = self.users.max(1) as f64;
        let mean = |sum: f64| sum / users;
        let slots = self.slots.max(1) as f64;
        let mean_ms = self.latencies_ms.iter().sum::<f64>() / users;
        let recall_30_se = standard_error(self.users, self.recall[1], self.recall_30_squares);
        Row {
            feed: feed.to_string(),
            preset: preset.to_string(),
            users: self.users,
            recall_10: mean(self.recall[0]),
            recall_30: mean(self.recall[1]),
            recall_30_se,
            recall_100: mean(self.recall[2]),
            ndcg_10: mean(self.ndcg[0]),
            ndcg_30: mean(self.ndcg[1]),
            ndcg_100: mean(self.ndcg[2]),
            coverage: self.served.len() as f64 / servable.max(1) as f64,
            distinct_served: self.served.len(),
            empty_lists: self.empty,
            mean_list: self.listed as f64 / users,
            sources: self
                .by_source
                .into_iter()
                .map(|(source, n)| (source, n as f64 / slots))
                .collect(),
            p50_ms: percentile(&mut self.latencies_ms, 50.0),
            p99_ms: percentile(&mut self.latencies_ms, 99.0),
            mean_ms,
        }
    }
}

/// The standard error of the mean of `n` values from their sum and sum
/// of squares (sample variance; 0 below two values).
fn standard_error(n: usize, sum: f64, squares: f64) -> f64 {
    if n < 2 {
        return 0.0;
    }
    let n = n as f64;
    let variance = ((squares - sum * sum / n) / (n - 1.0)).max(0.0);
    (variance / n).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(post: PostId, why: &str) -> Slot {
        (Some(post), why.to_string())
    }

    #[test]
    fn a_tally_averages_over_users_and_counts_the_first_page() {
        let mut t = Tally::default();
        let ms = Duration::from_millis;
        // User 1: 31 slots, hits at 0 and 30 (outside the first page).
        let mut list: Vec<Slot> = (0..31).map(|p| slot(p, "walk")).collect();
        list[0].1 = "walk,trending".into();
        list[1] = (None, "pinned".into());
        t.add(&list, &[0, 30], ms(2));
        // User 2: nothing.
        t.add(&[], &[5], ms(4));
        let row = t.row("f", "p", 100);
        assert_eq!(row.users, 2);
        assert_eq!(row.recall_10, 0.25, "(1/2 + 0) / 2");
        assert_eq!(row.recall_30, 0.25);
        assert_eq!(row.recall_100, 0.5, "(2/2 + 0) / 2");
        assert_eq!(row.empty_lists, 1);
        assert_eq!(row.mean_list, 15.5);
        // First page: posts 0, 2..=29 (slot 1 is an unknown placed post).
        assert_eq!(row.distinct_served, 29);
        assert_eq!(row.coverage, 0.29);
        assert_eq!(row.sources["walk"], 29.0 / 30.0);
        assert_eq!(row.sources["trending"], 1.0 / 30.0);
        assert_eq!(row.sources["pinned"], 1.0 / 30.0);
        assert_eq!((row.p50_ms, row.p99_ms, row.mean_ms), (2.0, 4.0, 3.0));
        // recall@30 of 1/2 and 0: sample variance 1/8, se = sqrt(1/16).
        assert!(
            (row.recall_30_se - 0.25).abs() < 1e-12,
            "{}",
            row.recall_30_se
        );
    }

    #[test]
    fn standard_errors() {
        assert_eq!(standard_error(1, 0.5, 0.25), 0.0);
        assert_eq!(standard_error(4, 4.0, 4.0), 0.0, "all equal");
        // 0, 0, 1, 1: variance 1/3, se = sqrt(1/12).
        assert!((standard_error(4, 2.0, 2.0) - (1.0f64 / 12.0).sqrt()).abs() < 1e-12);
    }
}
