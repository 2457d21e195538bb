//! Test kinds for exercising the framework: a source that returns fixed
//! posts, one that fails, one that sleeps past its budget, a predicate that
//! drops by score, a sum ranker and a reversing transform.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use feedmixer_flow::params::check_range;
use feedmixer_flow::registry::Kind;
use feedmixer_flow::{
    Candidate, CandidateSource, ComponentError, ParamError, Params, Predicate, Ranker, Registry,
    RequestContext, SourceInfo, SourceScores, Transform,
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
    async fn fetch(&self, ctx: &RequestContext) -> Result<SourceScores, ComponentError> {
        if self.0.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.0.delay_ms)).await;
        }
        if self.0.fail {
            return Err(ComponentError("asked to fail".into()));
        }
        Ok(self
            .0
            .posts
            .iter()
            .map(|&(i, s)| (ctx.graph.post_id(&uri(i)).expect("post"), s))
            .collect())
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}
impl Params for NoParams {}

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
        build: |t| Ok(Arc::new(Fixed(FixedParams::from_table(t)?))),
    });
    r.predicates.add(Kind {
        name: "min_score",
        description: "drops low scores",
        build: |t| Ok(Arc::new(MinScore(MinScoreParams::from_table(t)?.min))),
    });
    r.rankers.add(Kind {
        name: "sum",
        description: "weighted sum",
        build: |t| {
            NoParams::from_table(t)?;
            Ok(Arc::new(Sum))
        },
    });
    r.transforms.add(Kind {
        name: "reverse",
        description: "reverses",
        build: |t| {
            NoParams::from_table(t)?;
            Ok(Arc::new(Reverse))
        },
    });
    r.transforms.add(Kind {
        name: "broken",
        description: "always fails",
        build: |t| {
            NoParams::from_table(t)?;
            Ok(Arc::new(Broken))
        },
    });
    r
}
