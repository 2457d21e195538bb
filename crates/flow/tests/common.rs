//! Test kinds for exercising the framework: a source that returns fixed
//! posts, one that fails, one that sleeps past its budget, a predicate that
//! drops by score, a sum ranker and a reversing transform.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use feedmixer_flow::params::check_range;
use feedmixer_flow::placement::{Placement, PlacementKind, Slot};
use feedmixer_flow::{
    Candidate, CandidateSource, ComponentError, Cost, Feature, FeatureKey, FeatureMap, Fetched,
    Flow, FlowOutput, Hydrator, HydratorKind, Hydrators, Kind, NoParams, ParamError, Params,
    Predicate, Ranker, Registration, Registry, RequestContext, SourceInfo, SourceScores, Transform,
};
use feedmixer_graph::{GraphBuilder, LikeGraph};
use serde::Deserialize;

pub const NOW: u32 = 1_800_000_000;

/// Posts p0..p9 by authors a0..a9, one like each.
pub fn graph() -> Arc<LikeGraph> {
    let mut b = GraphBuilder::new(NOW - 86_400);
    for i in 0..10 {
        assert!(b.add_like("did:plc:liker", &uri(i), NOW - 60));
    }
    Arc::new(b.build())
}

/// Runs `flow` on the test graph, anonymously: the result's post URIs and
/// the run.
pub async fn run(flow: &Flow, hydrators: &Hydrators) -> (Vec<String>, FlowOutput) {
    let ctx = RequestContext::new(graph(), None, NOW);
    let out = flow.run(&ctx, hydrators).await;
    let posts = out
        .posts
        .iter()
        .map(|p| ctx.graph.post_uri(p.post))
        .collect();
    (posts, out)
}

pub fn uri(i: u32) -> String {
    format!("at://did:plc:a{i}/app.bsky.feed.post/p{i}")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedParams {
    /// Post numbers with scores.
    posts: Vec<(u32, f32)>,
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    fail: bool,
}

impl Params for FixedParams {
    fn validate(&self) -> Result<(), ParamError> {
        check_range("delay_ms", self.delay_ms, 0..=10_000)
    }
}

struct Fixed(FixedParams);

#[async_trait]
impl CandidateSource for Fixed {
    async fn fetch(&self, ctx: &RequestContext) -> Result<Fetched, ComponentError> {
        if self.0.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.0.delay_ms)).await;
        }
        if self.0.fail {
            return Err(ComponentError("asked to fail".into()));
        }
        let scores: SourceScores = self
            .0
            .posts
            .iter()
            .map(|&(i, s)| (ctx.graph.post_id(&uri(i)).expect("post"), s))
            .collect();
        Ok(scores.into())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinScoreParams {
    min: f32,
}
impl Params for MinScoreParams {}

/// Keeps candidates whose best source score reaches `min`.
struct MinScore(f32);

#[async_trait]
impl Predicate for MinScore {
    async fn keep(&self, _: &RequestContext, c: &[Candidate]) -> Result<Vec<bool>, ComponentError> {
        Ok(c.iter()
            .map(|c| c.source_scores.iter().copied().fold(0.0, f32::max) >= self.0)
            .collect())
    }
}

struct Sum;

#[async_trait]
impl Ranker for Sum {
    async fn rank(
        &self,
        _: &RequestContext,
        sources: &[SourceInfo],
        c: &mut Vec<Candidate>,
    ) -> Result<(), ComponentError> {
        for c in c.iter_mut() {
            c.score = c
                .source_scores
                .iter()
                .zip(sources)
                .map(|(s, i)| s * i.weight)
                .sum();
        }
        c.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(())
    }
}

struct Reverse;

#[async_trait]
impl Transform for Reverse {
    async fn transform(
        &self,
        _: &RequestContext,
        c: &[Candidate],
    ) -> Result<Vec<Candidate>, ComponentError> {
        Ok(c.iter().rev().cloned().collect())
    }
}

struct Broken;

#[async_trait]
impl Transform for Broken {
    async fn transform(
        &self,
        _: &RequestContext,
        _: &[Candidate],
    ) -> Result<Vec<Candidate>, ComponentError> {
        Err(ComponentError("broken".into()))
    }
}

pub fn registry() -> Registry {
    let mut r = Registry::default();
    r.sources.add(Kind {
        name: "fixed",
        description: "fixed posts",
        reads: &[],
        params: NoParams::docs,
        build: |t| Ok(Arc::new(Fixed(FixedParams::from_table(t)?))),
    });
    r.predicates.add(Kind {
        name: "min_score",
        description: "drops low scores",
        reads: &[],
        params: NoParams::docs,
        build: |t| Ok(Arc::new(MinScore(MinScoreParams::from_table(t)?.min))),
    });
    r.rankers.add(Kind {
        name: "sum",
        description: "weighted sum",
        reads: &[],
        params: NoParams::docs,
        build: |t| {
            NoParams::from_table(t)?;
            Ok(Arc::new(Sum))
        },
    });
    r.transforms.add(Kind {
        name: "reverse",
        description: "reverses",
        reads: &[],
        params: NoParams::docs,
        build: |t| {
            NoParams::from_table(t)?;
            Ok(Arc::new(Reverse))
        },
    });
    r.transforms.add(Kind {
        name: "broken",
        description: "always fails",
        reads: &[],
        params: NoParams::docs,
        build: |t| {
            NoParams::from_table(t)?;
            Ok(Arc::new(Broken))
        },
    });
    r
}

/// A feature for the hydrator tests: how many posts `counted` proposes.
pub struct Count;

impl Feature for Count {
    type Value = u32;
    const NAME: &'static str = "count";
}

/// How the `counter` hydrator behaves, given to it as a resource.
pub struct CounterSetup {
    pub count: u32,
    pub delay_ms: u64,
    pub fail: bool,
}

struct Counter(Arc<CounterSetup>);

#[async_trait]
impl Hydrator for Counter {
    async fn hydrate(&self, _: &RequestContext) -> Result<FeatureMap, ComponentError> {
        if self.0.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.0.delay_ms)).await;
        }
        if self.0.fail {
            return Err(ComponentError("counter broke".into()));
        }
        let mut features = FeatureMap::new();
        features.insert::<Count>(Arc::new(self.0.count));
        Ok(features)
    }
}

pub const COUNTER: HydratorKind = HydratorKind {
    name: "counter",
    description: "counts",
    provides: &[FeatureKey::of::<Count>()],
    cost: Cost::InProcess,
    budget: Duration::from_millis(20),
    build: |resources| Ok(Arc::new(Counter(resources.get::<CounterSetup>()?))),
};

const READS_COUNT: &[FeatureKey] = &[FeatureKey::of::<Count>()];

/// Proposes posts p0..p(count-1), `count` from the `count` feature.
struct Counted;

#[async_trait]
impl CandidateSource for Counted {
    async fn fetch(&self, ctx: &RequestContext) -> Result<Fetched, ComponentError> {
        let n = ctx.feature::<Count>().copied().unwrap_or(0);
        let scores: SourceScores = (0..n)
            .map(|i| (ctx.graph.post_id(&uri(i)).expect("post"), 1.0))
            .collect();
        Ok(scores.into())
    }
}

/// Places post p9 at the top and proposes nothing.
struct Placer;

#[async_trait]
impl CandidateSource for Placer {
    async fn fetch(&self, _: &RequestContext) -> Result<Fetched, ComponentError> {
        Ok(Fetched {
            scores: Vec::new(),
            placements: vec![Placement {
                post: uri(9),
                slot: Slot::Top,
                kind: PlacementKind::Pinned,
            }],
        })
    }
}

/// Keeps even posts: the `in_pool` predicate of the test registry.
struct EvenOnly;

#[async_trait]
impl Predicate for EvenOnly {
    async fn keep(
        &self,
        ctx: &RequestContext,
        c: &[Candidate],
    ) -> Result<Vec<bool>, ComponentError> {
        Ok(c.iter()
            .map(|c| {
                ctx.graph
                    .post_uri(c.post)
                    .ends_with(['0', '2', '4', '6', '8'])
            })
            .collect())
    }
}

/// The test registry plus the hydrator kinds: `counted` (reads `count`),
/// `placer`, and an `in_pool` that keeps even posts; with or without the
/// `counter` hydrator that provides `count`.
pub fn registry_with_features(with_counter: bool) -> Registry {
    let mut r = registry();
    r.sources.add(Kind {
        name: "counted",
        description: "reads count",
        reads: READS_COUNT,
        params: NoParams::docs,
        build: |t| {
            NoParams::from_table(t)?;
            Ok(Arc::new(Counted))
        },
    });
    r.sources.add(Kind {
        name: "placer",
        description: "places p9",
        reads: &[],
        params: NoParams::docs,
        build: |t| {
            NoParams::from_table(t)?;
            Ok(Arc::new(Placer))
        },
    });
    r.predicates.add(Kind {
        name: "in_pool",
        description: "even posts",
        reads: &[],
        params: NoParams::docs,
        build: |t| {
            NoParams::from_table(t)?;
            Ok(Arc::new(EvenOnly))
        },
    });
    if with_counter {
        r.add(&Registration::Hydrator(COUNTER));
    }
    r
}
