//! Builds a flow's components and runs them in RecommendationFlow order:
//! sources (concurrent, budgeted, fail-open) -> merge -> predicates ->
//! ranker -> transforms -> truncation. All bookkeeping lives here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use rustc_hash::FxHashMap;
use smallvec::smallvec;

use crate::catalog::unknown_component;
use crate::metrics::{FailureKind, FlowMetrics, StageMetrics};
use crate::params::{Overrides, ParamError};
use crate::quality::{self, QualityFactor};
use crate::registry::{Build, Registry, Role};
use crate::spec::{FlowDef, StageDef};
use crate::{
    Candidate, CandidateSource, ComponentError, Predicate, RankedPost, Ranker, RequestContext,
    SourceInfo, Transform,
};

/// A component with its identity and its metric handles.
struct Stage<T: ?Sized> {
    id: String,
    budget: Duration,
    metrics: StageMetrics,
    component: Arc<T>,
}

impl<T: ?Sized> Clone for Stage<T> {
    fn clone(&self) -> Self {
        Stage {
            id: self.id.clone(),
            budget: self.budget,
            metrics: self.metrics.clone(),
            component: Arc::clone(&self.component),
        }
    }
}

/// A runnable flow: every component built with its resolved params.
#[derive(Clone)]
pub struct Flow {
    pub name: String,
    pub max_results: usize,
    sources: Vec<Stage<dyn CandidateSource>>,
    source_info: Vec<SourceInfo>,
    predicates: Vec<Stage<dyn Predicate>>,
    ranker: Stage<dyn Ranker>,
    transforms: Vec<Stage<dyn Transform>>,
    metrics: FlowMetrics,
    quality: Arc<QualityFactor>,
}

/// How one component did in one run.
#[derive(Debug, Clone, PartialEq)]
pub struct StageReport {
    pub stage: Role,
    pub component: String,
    pub candidates_in: usize,
    pub candidates_out: usize,
    pub elapsed: Duration,
    /// `None` when the component succeeded.
    pub failure: Option<String>,
}

/// A flow's ranked posts, best first, and how each stage did.
#[derive(Debug, Clone)]
pub struct FlowOutput {
    pub posts: Vec<RankedPost>,
    /// The quality factor the components saw.
    pub quality_factor: f64,
    pub stages: Vec<StageReport>,
    pub elapsed: Duration,
}

impl Flow {
    /// Builds every component of `def`, with `overrides` (by component id)
    /// merged over the flow file's params. Errors name their component.
    pub fn build(
        def: &FlowDef,
        registry: &Registry,
        overrides: &Overrides,
    ) -> Result<Flow, Vec<(String, ParamError)>> {
        let mut errors = Vec::new();
        for id in overrides.keys() {
            if def.stage(id).is_none() {
                errors.push((id.clone(), unknown_component(id, def)));
            }
        }
        let mut builder = Builder {
            flow: &def.name,
            overrides,
            errors: &mut errors,
        };
        let sources: Vec<_> = def
            .sources
            .iter()
            .filter_map(|s| builder.build(s, |k| registry.sources.get(k).map(|k| k.build)))
            .collect();
        let predicates: Vec<_> = def
            .predicates
            .iter()
            .filter_map(|s| builder.build(s, |k| registry.predicates.get(k).map(|k| k.build)))
            .collect();
        let ranker = builder.build(&def.ranker, |k| registry.rankers.get(k).map(|k| k.build));
        let transforms: Vec<_> = def
            .transforms
            .iter()
            .filter_map(|s| builder.build(s, |k| registry.transforms.get(k).map(|k| k.build)))
            .collect();
        let source_info = def
            .sources
            .iter()
            .map(|s| {
                let resolved = overrides
                    .get(s.id.as_str())
                    .and_then(|o| s.with_overrides(o).ok());
                SourceInfo {
                    id: s.id.to_string(),
                    weight: resolved.map_or(s.weight, |r| r.weight),
                }
            })
            .collect();
        match ranker {
            Some(ranker) if errors.is_empty() => Ok(Flow {
                name: def.name.clone(),
                max_results: def.max_results,
                sources,
                source_info,
                predicates,
                ranker,
                transforms,
                metrics: FlowMetrics::new(&def.name),
                quality: quality::for_flow(&def.name, &def.quality_factor),
            }),
            _ => Err(errors),
        }
    }

    /// The sources and their weights, in flow order.
    pub fn sources(&self) -> &[SourceInfo] {
        &self.source_info
    }

    /// The flow's quality factor.
    pub fn quality_factor(&self) -> &QualityFactor {
        &self.quality
    }

    /// Runs the flow. Never fails: a component that errors or runs out of
    /// budget is counted and skipped, and the request still answers. The
    /// components see the flow's current quality factor; the run's latency
    /// (and any component failure) feeds it back.
    pub async fn run(&self, ctx: &RequestContext) -> FlowOutput {
        let started = Instant::now();
        let quality_factor = self.quality.value();
        let ctx = &RequestContext {
            quality_factor,
            ..ctx.clone()
        };
        let mut reports = Vec::with_capacity(
            self.sources.len() + self.predicates.len() + 1 + self.transforms.len(),
        );

        let mut candidates = self.fetch(ctx, &mut reports).await;

        for stage in &self.predicates {
            let t = Instant::now();
            let before = candidates.len();
            let verdicts = stage.component.keep(ctx, &candidates).await.and_then(|v| {
                if v.len() == before {
                    Ok(v)
                } else {
                    Err(ComponentError(format!(
                        "returned {} verdicts for {before} candidates",
                        v.len()
                    )))
                }
            });
            let failure = match verdicts {
                Ok(verdicts) => {
                    let mut keep = verdicts.into_iter();
                    candidates.retain(|_| keep.next().unwrap_or(true));
                    stage.metrics.dropped(before - candidates.len());
                    None
                }
                Err(e) => Some(e),
            };
            reports.push(stage.finish(Role::Predicate, t, before, candidates.len(), failure));
        }

        let t = Instant::now();
        let before = candidates.len();
        let failure = self
            .ranker
            .component
            .rank(ctx, &self.source_info, &mut candidates)
            .await
            .err();
        reports.push(
            self.ranker
                .finish(Role::Ranker, t, before, candidates.len(), failure),
        );

        for stage in &self.transforms {
            let t = Instant::now();
            let before = candidates.len();
            let failure = match stage.component.transform(ctx, &candidates).await {
                Ok(out) => {
                    candidates = out;
                    None
                }
                Err(e) => Some(e),
            };
            reports.push(stage.finish(Role::Transform, t, before, candidates.len(), failure));
        }

        candidates.truncate(self.max_results);
        let posts = candidates
            .iter()
            .map(|c| RankedPost {
                post: c.post,
                score: c.score,
            })
            .collect();
        let elapsed = started.elapsed();
        self.metrics.record(elapsed);
        let failed = reports.iter().any(|r| r.failure.is_some());
        self.quality.record(elapsed, failed);
        FlowOutput {
            posts,
            quality_factor,
            stages: reports,
            elapsed,
        }
    }

    /// Runs every source concurrently within its budget and merges what
    /// they found, one candidate per post, in source order.
    async fn fetch(&self, ctx: &RequestContext, reports: &mut Vec<StageReport>) -> Vec<Candidate> {
        let results = join_all(self.sources.iter().map(|stage| async move {
            let t = Instant::now();
            let result = tokio::time::timeout(stage.budget, stage.component.fetch(ctx)).await;
            (t, result)
        }))
        .await;

        let n_sources = self.sources.len();
        let mut index: FxHashMap<u32, usize> = FxHashMap::default();
        let mut candidates: Vec<Candidate> = Vec::new();
        for (position, (stage, (t, result))) in self.sources.iter().zip(results).enumerate() {
            let found = match result {
                Ok(Ok(found)) => found,
                Ok(Err(e)) => {
                    reports.push(stage.finish(Role::Source, t, 0, 0, Some(e)));
                    continue;
                }
                Err(_) => {
                    stage.metrics.failed(FailureKind::Timeout);
                    reports.push(StageReport {
                        stage: Role::Source,
                        component: stage.id.clone(),
                        candidates_in: 0,
                        candidates_out: 0,
                        elapsed: t.elapsed(),
                        failure: Some(format!("over its {} ms budget", stage.budget.as_millis())),
                    });
                    continue;
                }
            };
            reports.push(stage.finish(Role::Source, t, 0, found.len(), None));
            for (post, score) in found {
                let slot = *index.entry(post).or_insert_with(|| {
                    candidates.push(Candidate {
                        post,
                        author: ctx.graph.post_author(post),
                        source_scores: smallvec![0.0; n_sources],
                        score: 0.0,
                    });
                    candidates.len() - 1
                });
                let entry = &mut candidates[slot].source_scores[position];
                *entry = entry.max(score);
            }
        }
        candidates
    }
}

impl<T: ?Sized> Stage<T> {
    /// Records a finished component run and reports it.
    fn finish(
        &self,
        role: Role,
        started: Instant,
        candidates_in: usize,
        candidates_out: usize,
        failure: Option<ComponentError>,
    ) -> StageReport {
        let elapsed = started.elapsed();
        self.metrics.record(elapsed, candidates_in, candidates_out);
        if failure.is_some() {
            self.metrics.failed(FailureKind::Failure);
        }
        StageReport {
            stage: role,
            component: self.id.clone(),
            candidates_in,
            candidates_out,
            elapsed,
            failure: failure.map(|e| e.0),
        }
    }
}

struct Builder<'a> {
    flow: &'a str,
    overrides: &'a Overrides,
    errors: &'a mut Vec<(String, ParamError)>,
}

impl Builder<'_> {
    fn build<T: ?Sized>(
        &mut self,
        def: &StageDef,
        lookup: impl Fn(&str) -> Result<Build<T>, String>,
    ) -> Option<Stage<T>> {
        let id = def.id.to_string();
        let resolved = match self.overrides.get(&id) {
            Some(o) => def.with_overrides(o),
            None => Ok(def.clone()),
        };
        let built = resolved.and_then(|stage| {
            let build = lookup(&stage.kind).map_err(|message| ParamError {
                field: None,
                message,
            })?;
            Ok((stage.budget, build(stage.params)?))
        });
        match built {
            Ok((budget, component)) => Some(Stage {
                metrics: StageMetrics::new(self.flow, def.role, &id),
                id,
                budget,
                component,
            }),
            Err(e) => {
                self.errors.push((id, e));
                None
            }
        }
    }
}
