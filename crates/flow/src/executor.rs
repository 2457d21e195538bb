//! Builds a flow's components and runs them in RecommendationFlow order:
//! eligibility -> hydrators (the features the components read; concurrent,
//! budgeted, fail-open) -> sources (concurrent, budgeted, fail-open) ->
//! merge -> predicates -> ranker -> transforms -> validations (lazily,
//! until enough results) -> result transforms -> truncation. All
//! bookkeeping lives here: gates, timing, counting, budgets, fail-open and
//! the quality factor.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use rustc_hash::FxHashMap;
use smallvec::smallvec;

use crate::catalog::unknown_component;
use crate::feature::FeatureKey;
use crate::gate::{Gate, GateInput, Value};
use crate::hydrator::{HydratorKind, Hydrators};
use crate::metrics::{FailureCounts, FailureKind, FlowMetrics, StageMetrics};
use crate::params::{Overrides, ParamError};
use crate::placement::Placement;
use crate::quality::{self, QualityFactor};
use crate::registry::{Build, Registry, Role};
use crate::spec::{FLOW_PARAMS_ID, FlowDef, StageDef, StageKind};
use crate::{
    Candidate, CandidateSource, Fetched, Predicate, RankedPost, Ranker, RequestContext, SourceInfo,
    SourceScores, Transform,
};

/// The predicate kind a source's `in_pool = true` applies to what the
/// source found.
pub const IN_POOL_KIND: &str = "in_pool";
/// The source kind that makes a flow chronological when it is its only
/// source (see [`Flow::is_chronological`]).
pub const CHRONOLOGICAL_SOURCE_KIND: &str = "new_posts";
/// The deadline and every budget of an [`Flow::offline`] flow: longer than
/// any run takes, short enough that `Instant + budget` never overflows.
const OFFLINE_BUDGET: Duration = Duration::from_secs(24 * 3600);
/// The param through which components name the languages they keep.
const LANGS_PARAM: &str = "langs";
/// The flow param that, when true, keeps the posts in the languages of
/// the request's `Accept-Language` when at least a page of them remains.
pub const VIEWER_LANGS_PARAM: &str = "viewer_langs";

/// A component with its identity, gate and metric handles.
struct Stage<T: ?Sized> {
    id: String,
    kind: StageKind,
    budget: Duration,
    gate: Option<Gate>,
    /// Sources with `in_pool = true`: the predicate their candidates pass.
    filter: Option<Arc<dyn Predicate>>,
    metrics: StageMetrics,
    component: Arc<T>,
}

impl<T: ?Sized> Clone for Stage<T> {
    fn clone(&self) -> Self {
        Stage {
            id: self.id.clone(),
            kind: self.kind,
            budget: self.budget,
            gate: self.gate.clone(),
            filter: self.filter.clone(),
            metrics: self.metrics.clone(),
            component: Arc::clone(&self.component),
        }
    }
}

/// A hydrator the flow's components need, with its metric handles.
#[derive(Clone)]
struct Hydration {
    kind: HydratorKind,
    metrics: StageMetrics,
}

/// A runnable flow: every component built with its resolved params.
#[derive(Clone)]
pub struct Flow {
    pub name: String,
    pub max_results: usize,
    deadline: Duration,
    params: BTreeMap<String, Value>,
    eligible: Option<Gate>,
    /// Every feature a component reads, each once.
    reads: Vec<FeatureKey>,
    hydrations: Vec<Hydration>,
    sources: Vec<Stage<dyn CandidateSource>>,
    source_info: Vec<SourceInfo>,
    predicates: Vec<Stage<dyn Predicate>>,
    ranker: Stage<dyn Ranker>,
    transforms: Vec<Stage<dyn Transform>>,
    validations: Vec<Stage<dyn Predicate>>,
    result_transforms: Vec<Stage<dyn Transform>>,
    metrics: FlowMetrics,
    quality: Arc<QualityFactor>,
    chronological: bool,
    languages: Vec<String>,
}

/// How one component did in one run.
#[derive(Debug, Clone, PartialEq)]
pub struct StageReport {
    pub stage: StageKind,
    pub component: String,
    /// The gate's condition, when the component has one.
    pub gate: Option<String>,
    /// True when the gate was closed: the component did not run.
    pub skipped: bool,
    pub candidates_in: usize,
    /// For a source, what it proposed: ranked candidates and placed posts.
    pub candidates_out: usize,
    /// Posts a source placed at fixed positions (counted in `candidates_out`).
    pub placed: usize,
    /// Features a hydrator filled.
    pub features: Vec<&'static str>,
    pub elapsed: Duration,
    /// `None` when the component succeeded.
    pub failure: Option<String>,
    /// Posts a predicate removed (kept only when explaining).
    pub dropped: Vec<u32>,
}

/// A flow's ranked posts, best first, and how each stage did.
#[derive(Debug, Clone)]
pub struct FlowOutput {
    pub posts: Vec<RankedPost>,
    /// Posts placed at fixed positions by the sources that ran, in source
    /// order; merge them with `placement::place`.
    pub placements: Vec<Placement>,
    /// The final candidates with every source's score (only when explaining).
    pub ranked: Vec<Candidate>,
    /// False when the flow's eligibility gate turned the request away.
    pub eligible: bool,
    /// The quality factor the components saw.
    pub quality_factor: f64,
    /// The flow params the gates read.
    pub params: BTreeMap<String, Value>,
    pub stages: Vec<StageReport>,
    pub elapsed: Duration,
}

impl Flow {
    /// Builds every component of `def`, with `overrides` (by component id,
    /// and `flow` for the flow's params) merged over the flow file's.
    /// Errors name their component.
    pub fn build(
        def: &FlowDef,
        registry: &Registry,
        overrides: &Overrides,
    ) -> Result<Flow, Vec<(String, ParamError)>> {
        let mut errors = Vec::new();
        for id in overrides.keys() {
            if id != FLOW_PARAMS_ID && def.stage(id).is_none() {
                errors.push((id.clone(), unknown_component(id, def)));
            }
        }
        let params = def
            .params_with(overrides.get(FLOW_PARAMS_ID))
            .map_err(|e| errors.push((FLOW_PARAMS_ID.to_string(), e)))
            .unwrap_or_default();
        let mut builder = Builder {
            flow: &def.name,
            registry,
            overrides,
            errors: &mut errors,
            languages: Vec::new(),
        };
        let source_kinds = |k: &str| registry.sources.get(k).map(|k| k.build);
        let predicate_kinds = |k: &str| registry.predicates.get(k).map(|k| k.build);
        let transform_kinds = |k: &str| registry.transforms.get(k).map(|k| k.build);
        let built_sources: Vec<_> = def
            .sources
            .iter()
            .filter_map(|s| builder.build(s, source_kinds))
            .collect();
        let predicates = builder.build_all(&def.predicates, predicate_kinds);
        let ranker = builder.build(&def.ranker, |k| registry.rankers.get(k).map(|k| k.build));
        let transforms = builder.build_all(&def.transforms, transform_kinds);
        let validations = builder.build_all(&def.validations, predicate_kinds);
        let result_transforms = builder.build_all(&def.result_transforms, transform_kinds);
        let mut languages = std::mem::take(&mut builder.languages);
        languages.sort();
        languages.dedup();
        let hydrations = hydrations(def, registry)
            .map_err(|e| errors.push(e))
            .unwrap_or_default();
        let mut reads: Vec<FeatureKey> = Vec::new();
        for feature in def.stages().flat_map(|stage| stage_reads(stage, registry)) {
            if !reads.contains(&feature) {
                reads.push(feature);
            }
        }
        match ranker {
            Some(ranker) if errors.is_empty() => {
                let chronological = matches!(&def.sources[..], [only] if only.kind == CHRONOLOGICAL_SOURCE_KIND)
                    && built_sources.iter().all(|(info, _)| info.weight > 0.0)
                    && def.transforms.is_empty()
                    && def.result_transforms.is_empty();
                let (source_info, sources) = built_sources.into_iter().unzip();
                Ok(Flow {
                    name: def.name.clone(),
                    max_results: def.max_results,
                    deadline: def.deadline,
                    params,
                    eligible: def.eligible.clone(),
                    reads,
                    hydrations,
                    sources,
                    source_info,
                    predicates: predicates.into_iter().map(|(_, s)| s).collect(),
                    ranker: ranker.1,
                    transforms: transforms.into_iter().map(|(_, s)| s).collect(),
                    validations: validations.into_iter().map(|(_, s)| s).collect(),
                    result_transforms: result_transforms.into_iter().map(|(_, s)| s).collect(),
                    metrics: FlowMetrics::new(&def.name),
                    quality: quality::for_flow(&def.name, &def.quality_factor),
                    chronological,
                    languages,
                })
            }
            _ => Err(errors),
        }
    }

    /// Whether the flow lists posts in the chronological order every
    /// replica shares: its only source is `new_posts` (with a positive
    /// weight, so the ranker keeps its order) and no transform reorders
    /// them. Such a flow pages by position ([`RequestContext::after`])
    /// instead of through cursor sessions.
    pub fn is_chronological(&self) -> bool {
        self.chronological
    }

    /// The primary language subtags the flow's sources and predicates keep
    /// (their `langs` params), sorted: what a response's
    /// `Content-Language` says. Empty for a flow of any language.
    pub fn languages(&self) -> &[String] {
        &self.languages
    }

    /// The sources and their weights, in flow order.
    pub fn sources(&self) -> &[SourceInfo] {
        &self.source_info
    }

    /// The ids of the sources whose bits are set in a ranked post's
    /// `sources`, comma-separated: what the post's feed context says.
    pub fn proposed_by(&self, sources: u64) -> String {
        let ids: Vec<&str> = self
            .source_info
            .iter()
            .enumerate()
            .filter(|(i, _)| *i < 64 && sources & (1 << i) != 0)
            .map(|(_, s)| s.id.as_str())
            .collect();
        ids.join(",")
    }

    /// Whether one of the flow's components reads `feature` (whether its
    /// gate is open or not): e.g. a flow that reads the viewer's
    /// sendInteractions history wants the app to send them.
    pub fn reads(&self, feature: FeatureKey) -> bool {
        self.reads.contains(&feature)
    }

    /// The flow's quality factor.
    /// Every component that failed or ran out of budget since the flow was
    /// built, in run order: (stage, component id, counts).
    pub fn failures(&self) -> Vec<(StageKind, String, FailureCounts)> {
        let hydrations = self
            .hydrations
            .iter()
            .map(|h| (StageKind::Hydrator, h.kind.name.to_string(), &h.metrics));
        fn stages<'a, T: ?Sized + 'a>(
            stages: impl IntoIterator<Item = &'a Stage<T>>,
        ) -> impl Iterator<Item = (StageKind, String, &'a StageMetrics)> {
            stages
                .into_iter()
                .map(|s| (s.kind, s.id.clone(), &s.metrics))
        }
        hydrations
            .chain(stages(&self.sources))
            .chain(stages(&self.predicates))
            .chain(stages([&self.ranker]))
            .chain(stages(&self.transforms))
            .chain(stages(&self.validations))
            .chain(stages(&self.result_transforms))
            .map(|(stage, id, metrics)| (stage, id, metrics.failure_counts()))
            .filter(|(_, _, counts)| counts.timeouts + counts.failures > 0)
            .collect()
    }

    pub fn quality_factor(&self) -> &QualityFactor {
        &self.quality
    }

    /// This flow for offline evaluation: no request deadline and no
    /// budgets (every hydrator and component runs to completion), and a
    /// quality factor of its own pinned at 1. A run then ranks the same
    /// whatever the machine's load, at the depth the params give, and
    /// leaves the serving flow's quality factor alone.
    pub fn offline(&self) -> Flow {
        let mut flow = self.clone();
        flow.deadline = OFFLINE_BUDGET;
        for h in &mut flow.hydrations {
            h.kind.budget = OFFLINE_BUDGET;
        }
        fn unbound<T: ?Sized>(stages: &mut [Stage<T>]) {
            for stage in stages {
                stage.budget = OFFLINE_BUDGET;
            }
        }
        unbound(&mut flow.sources);
        unbound(&mut flow.predicates);
        unbound(std::slice::from_mut(&mut flow.ranker));
        unbound(&mut flow.transforms);
        unbound(&mut flow.validations);
        unbound(&mut flow.result_transforms);
        flow.quality = Arc::new(QualityFactor::pinned(1.0));
        flow
    }

    /// Runs the flow with the process's `hydrators`. Never fails: a
    /// component or hydrator that errors or runs out of budget is counted
    /// and skipped, and the request still answers. The components see the
    /// flow's current quality factor; the run's latency (and any component
    /// failure) feeds it back, unless the eligibility gate turned the
    /// request away (a fast path that says nothing about load). A hydrator
    /// failure does not count as a failure there: it is the store's, not
    /// the flow's load.
    pub async fn run(&self, ctx: &RequestContext, hydrators: &Hydrators) -> FlowOutput {
        let started = Instant::now();
        let deadline = started + self.deadline;
        let quality_factor = self.quality.value();
        let mut ctx = RequestContext {
            quality_factor,
            ..ctx.clone()
        };
        let input = GateInput {
            viewer_likes: ctx.viewer_like_count(),
            quality_factor,
            anonymous: ctx.viewer.is_none(),
            params: &self.params,
        };
        let eligible = self.eligible.as_ref().is_none_or(|g| g.is_open(&input));
        let reports = if eligible {
            self.hydrate(&mut ctx, hydrators, deadline).await
        } else {
            Vec::new()
        };
        let mut run = Run {
            ctx: &ctx,
            input: &input,
            reports,
            deadline,
            placements: Vec::new(),
        };
        if !eligible {
            return self.output(run, Vec::new(), false, started);
        }
        let hydration_reports = run.reports.len();

        let mut candidates = self.fetch(&mut run).await;
        for stage in &self.predicates {
            run.filter(stage, &mut candidates, usize::MAX).await;
        }
        if self.params.get(VIEWER_LANGS_PARAM) == Some(&Value::Bool(true)) {
            keep_viewer_languages(&ctx, &mut candidates);
        }
        run.rank(&self.ranker, &self.source_info, &mut candidates)
            .await;
        for stage in &self.transforms {
            run.transform(stage, &mut candidates).await;
        }
        for stage in &self.validations {
            run.filter(stage, &mut candidates, self.max_results).await;
        }
        for stage in &self.result_transforms {
            run.transform(stage, &mut candidates).await;
        }
        candidates.truncate(self.max_results);

        let failed = run.reports[hydration_reports..]
            .iter()
            .any(|r| r.failure.is_some());
        let output = self.output(run, candidates, true, started);
        self.quality.record(output.elapsed, failed);
        output
    }

    fn output(
        &self,
        run: Run<'_>,
        candidates: Vec<Candidate>,
        eligible: bool,
        started: Instant,
    ) -> FlowOutput {
        let posts = candidates
            .iter()
            .map(|c| RankedPost {
                post: c.post,
                score: c.score,
                sources: c
                    .source_scores
                    .iter()
                    .take(64)
                    .enumerate()
                    .filter(|(_, s)| **s > 0.0)
                    .fold(0u64, |bits, (i, _)| bits | 1 << i),
            })
            .collect();
        let elapsed = started.elapsed();
        self.metrics.record(elapsed);
        FlowOutput {
            posts,
            placements: run.placements,
            ranked: if run.ctx.explain {
                candidates
            } else {
                Vec::new()
            },
            eligible,
            quality_factor: run.ctx.quality_factor,
            params: self.params.clone(),
            stages: run.reports,
            elapsed,
        }
    }

    /// Runs the hydrators the flow needs concurrently, each within its
    /// budget, and puts what they loaded in `ctx`; returns their reports.
    async fn hydrate(
        &self,
        ctx: &mut RequestContext,
        hydrators: &Hydrators,
        deadline: Instant,
    ) -> Vec<StageReport> {
        if self.hydrations.is_empty() {
            return Vec::new();
        }
        let request = &*ctx;
        let results = join_all(self.hydrations.iter().map(|h| async move {
            let t = Instant::now();
            let budget = h
                .kind
                .budget
                .min(deadline.saturating_duration_since(Instant::now()));
            let result = match hydrators.get(h.kind.name) {
                Some(hydrator) => {
                    match tokio::time::timeout(budget, hydrator.hydrate(request)).await {
                        Ok(Ok(filled)) => Ok(filled),
                        Ok(Err(e)) => Err((FailureKind::Failure, e.0)),
                        Err(_) => Err((FailureKind::Timeout, over_budget(h.kind.budget, t))),
                    }
                }
                None => Err((FailureKind::Failure, "not built in this process".into())),
            };
            (t, result)
        }))
        .await;
        let mut features = std::mem::take(&mut ctx.features);
        let mut reports = Vec::with_capacity(results.len());
        for (h, (t, result)) in self.hydrations.iter().zip(results) {
            let mut report = StageReport::new(StageKind::Hydrator, h.kind.name);
            report.elapsed = t.elapsed();
            h.metrics.record(report.elapsed, 0, 0);
            match result {
                Ok(filled) => {
                    report.features = filled
                        .keys()
                        .filter(|k| h.kind.provides.contains(k))
                        .map(|k| k.name)
                        .collect();
                    let stray = features.merge(filled, h.kind.provides);
                    debug_assert!(stray.is_empty(), "{} filled {stray:?}", h.kind.name);
                }
                Err((kind, why)) => {
                    h.metrics.failed(kind, &why);
                    report.failure = Some(why);
                }
            }
            reports.push(report);
        }
        ctx.features = features;
        reports
    }

    /// Runs every open source concurrently within its budget and merges
    /// what they found, one candidate per post, in source order; the posts
    /// sources place go to the run's placements, in source order. Posts
    /// the graph knows as removed (deleted, or of a deleted account) are
    /// dropped here, so no source can serve them.
    async fn fetch(&self, run: &mut Run<'_>) -> Vec<Candidate> {
        let ctx = run.ctx;
        let open: Vec<bool> = self.sources.iter().map(|s| run.is_open(s)).collect();
        let budgets: Vec<Duration> = self.sources.iter().map(|s| run.budget(s)).collect();
        let results = join_all(self.sources.iter().zip(&open).zip(budgets).map(
            |((stage, &open), budget)| async move {
                let t = Instant::now();
                let result = if open {
                    let fetched = async {
                        let mut fetched = stage.component.fetch(ctx).await?;
                        if let Some(filter) = &stage.filter {
                            keep_passing(ctx, filter.as_ref(), &mut fetched.scores).await?;
                        }
                        Ok::<_, crate::ComponentError>(fetched)
                    };
                    Some(tokio::time::timeout(budget, fetched).await)
                } else {
                    None
                };
                (t, result)
            },
        ))
        .await;

        let n_sources = self.sources.len();
        let found_total: usize = results
            .iter()
            .filter_map(|(_, result)| match result {
                Some(Ok(Ok(fetched))) => Some(fetched.scores.len()),
                _ => None,
            })
            .sum();
        let mut index: FxHashMap<u32, usize> =
            FxHashMap::with_capacity_and_hasher(found_total, Default::default());
        let mut candidates: Vec<Candidate> = Vec::with_capacity(found_total);
        for (position, (stage, (t, result))) in self.sources.iter().zip(results).enumerate() {
            let Fetched {
                scores: found,
                placements,
            } = match result {
                None => {
                    run.reports
                        .push(report(stage, 0, 0, Duration::ZERO, None, true));
                    continue;
                }
                Some(Ok(Ok(fetched))) => fetched,
                Some(Ok(Err(e))) => {
                    run.finish(stage, t, 0, 0, Some(e.0));
                    continue;
                }
                Some(Err(_)) => {
                    let why = over_budget(stage.budget, t);
                    stage.metrics.failed(FailureKind::Timeout, &why);
                    run.reports
                        .push(report(stage, 0, 0, t.elapsed(), Some(why), false));
                    continue;
                }
            };
            let placed = placements.len();
            run.finish(stage, t, 0, found.len() + placed, None).placed = placed;
            // A deleted post (or one of a deleted account) is never served,
            // whatever proposed it.
            let graph = &ctx.graph;
            run.placements
                .extend(placements.into_iter().filter(|placement| {
                    graph
                        .post_id(&placement.post)
                        .is_none_or(|p| graph.is_servable(p))
                }));
            for (post, score) in found {
                if !graph.is_servable(post) {
                    continue;
                }
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

/// Keeps the candidates in the request's languages when at least a page
/// of them (`ctx.page_size`) remains; otherwise keeps them all, so a
/// viewer whose languages the feed has little of still gets a full page.
fn keep_viewer_languages(ctx: &RequestContext, candidates: &mut Vec<Candidate>) {
    if ctx.accept_languages.is_empty() {
        return;
    }
    let wanted: Vec<_> = ctx
        .accept_languages
        .iter()
        .filter_map(|tag| ctx.graph.lang_id(tag))
        .collect();
    let in_language = |c: &Candidate| ctx.graph.post_info(c.post).in_any(&wanted);
    if candidates.iter().filter(|c| in_language(c)).count() >= ctx.page_size {
        candidates.retain(in_language);
    }
}

/// One run's state: the context, the gate input, the deadline and the
/// reports so far.
struct Run<'a> {
    ctx: &'a RequestContext,
    input: &'a GateInput<'a>,
    reports: Vec<StageReport>,
    deadline: Instant,
    placements: Vec<Placement>,
}

impl Run<'_> {
    fn is_open<T: ?Sized>(&self, stage: &Stage<T>) -> bool {
        stage.gate.as_ref().is_none_or(|g| g.is_open(self.input))
    }

    /// Whether a stage after the sources runs. It does not past the
    /// request's deadline (counted as a timeout: the flow answers with what
    /// it has) nor when its gate is closed; either way it is reported as
    /// skipped and passes its `candidates` on untouched.
    fn enter<T: ?Sized>(&mut self, stage: &Stage<T>, candidates: usize) -> bool {
        let why = if Instant::now() >= self.deadline {
            let why = "past the request deadline";
            stage.metrics.failed(FailureKind::Timeout, why);
            Some(why.to_string())
        } else if !self.is_open(stage) {
            None
        } else {
            return true;
        };
        self.reports.push(report(
            stage,
            candidates,
            candidates,
            Duration::ZERO,
            why,
            true,
        ));
        false
    }

    /// A source's budget, cut short by the request's deadline.
    fn budget<T: ?Sized>(&self, stage: &Stage<T>) -> Duration {
        stage
            .budget
            .min(self.deadline.saturating_duration_since(Instant::now()))
    }

    /// Records a finished component run and reports it.
    fn finish<T: ?Sized>(
        &mut self,
        stage: &Stage<T>,
        started: Instant,
        candidates_in: usize,
        candidates_out: usize,
        failure: Option<String>,
    ) -> &mut StageReport {
        let elapsed = started.elapsed();
        stage.metrics.record(elapsed, candidates_in, candidates_out);
        if let Some(why) = &failure {
            stage.metrics.failed(FailureKind::Failure, why);
        }
        self.reports.push(report(
            stage,
            candidates_in,
            candidates_out,
            elapsed,
            failure,
            false,
        ));
        self.reports.last_mut().expect("just pushed")
    }

    /// Applies a predicate. With `enough` below the list's length the
    /// predicate sees the list in batches and stops once `enough` are kept
    /// (validation predicates are applied lazily); what it has not seen
    /// stays.
    async fn filter(
        &mut self,
        stage: &Stage<dyn Predicate>,
        candidates: &mut Vec<Candidate>,
        enough: usize,
    ) {
        if !self.enter(stage, candidates.len()) {
            return;
        }
        let t = Instant::now();
        let before = candidates.len();
        let batch = enough.clamp(1, before.max(1));
        // Verdicts for the candidates seen, in order; the unseen (and a
        // failed batch) are kept. Filtering in place allocates nothing per
        // candidate.
        let mut verdicts: Vec<bool> = Vec::with_capacity(before);
        let mut kept = 0;
        let mut failure = None;
        while verdicts.len() < before && kept < enough && failure.is_none() {
            let seen = verdicts.len();
            let chunk = &candidates[seen..(seen + batch).min(before)];
            match stage.component.keep(self.ctx, chunk).await {
                Ok(batch_verdicts) if batch_verdicts.len() == chunk.len() => {
                    kept += batch_verdicts.iter().filter(|&&keep| keep).count();
                    verdicts.extend(batch_verdicts);
                }
                Ok(batch_verdicts) => {
                    failure = Some(format!(
                        "returned {} verdicts for {} candidates",
                        batch_verdicts.len(),
                        chunk.len()
                    ));
                }
                Err(e) => failure = Some(e.0),
            }
        }
        verdicts.resize(before, true);
        let explain = self.ctx.explain;
        let mut dropped = Vec::new();
        let mut n_dropped = 0;
        let mut verdict = verdicts.into_iter();
        candidates.retain(|c| {
            let keep = verdict.next().unwrap_or(true);
            if !keep {
                n_dropped += 1;
                if explain {
                    dropped.push(c.post);
                }
            }
            keep
        });
        stage.metrics.dropped(n_dropped);
        let report = self.finish(stage, t, before, candidates.len(), failure);
        if explain {
            report.dropped = dropped;
        }
    }

    async fn rank(
        &mut self,
        stage: &Stage<dyn Ranker>,
        sources: &[SourceInfo],
        candidates: &mut Vec<Candidate>,
    ) {
        if !self.enter(stage, candidates.len()) {
            return;
        }
        let t = Instant::now();
        let before = candidates.len();
        let failure = stage
            .component
            .rank(self.ctx, sources, candidates)
            .await
            .err()
            .map(|e| e.0);
        self.finish(stage, t, before, candidates.len(), failure);
    }

    async fn transform(&mut self, stage: &Stage<dyn Transform>, candidates: &mut Vec<Candidate>) {
        if !self.enter(stage, candidates.len()) {
            return;
        }
        let t = Instant::now();
        let before = candidates.len();
        let failure = match stage.component.transform(self.ctx, candidates).await {
            Ok(out) => {
                *candidates = out;
                None
            }
            Err(e) => Some(e.0),
        };
        self.finish(stage, t, before, candidates.len(), failure);
    }
}

impl StageReport {
    /// A report of `component` with nothing recorded yet.
    fn new(stage: StageKind, component: &str) -> StageReport {
        StageReport {
            stage,
            component: component.to_string(),
            gate: None,
            skipped: false,
            candidates_in: 0,
            candidates_out: 0,
            placed: 0,
            features: Vec::new(),
            elapsed: Duration::ZERO,
            failure: None,
            dropped: Vec::new(),
        }
    }
}

fn report<T: ?Sized>(
    stage: &Stage<T>,
    candidates_in: usize,
    candidates_out: usize,
    elapsed: Duration,
    failure: Option<String>,
    skipped: bool,
) -> StageReport {
    StageReport {
        gate: stage.gate.as_ref().map(|g| g.text().to_string()),
        skipped,
        candidates_in,
        candidates_out,
        elapsed,
        failure,
        ..StageReport::new(stage.kind, &stage.id)
    }
}

/// Why a component's or hydrator's run, started at `t`, was cut off: its
/// own budget, or the request's deadline cutting that short.
fn over_budget(budget: Duration, t: Instant) -> String {
    if t.elapsed() + Duration::from_millis(1) >= budget {
        format!("over its {} ms budget", budget.as_millis())
    } else {
        "past the request deadline".to_string()
    }
}

/// Keeps the scores of the posts `filter` keeps.
async fn keep_passing(
    ctx: &RequestContext,
    filter: &dyn Predicate,
    scores: &mut SourceScores,
) -> Result<(), crate::ComponentError> {
    let candidates: Vec<Candidate> = scores
        .iter()
        .map(|&(post, _)| Candidate {
            post,
            author: ctx.graph.post_author(post),
            source_scores: smallvec![],
            score: 0.0,
        })
        .collect();
    let keep = filter.keep(ctx, &candidates).await?;
    if keep.len() != scores.len() {
        return Err(crate::ComponentError(format!(
            "its pool filter returned {} verdicts for {} candidates",
            keep.len(),
            scores.len()
        )));
    }
    let mut verdicts = keep.into_iter();
    scores.retain(|_| verdicts.next().unwrap_or(true));
    Ok(())
}

/// The hydrators `def`'s components need, each once, by name; the error
/// names a stage reading a feature no hydrator provides (the loader reports
/// that with its line first).
fn hydrations(def: &FlowDef, registry: &Registry) -> Result<Vec<Hydration>, (String, ParamError)> {
    let mut needed: Vec<HydratorKind> = Vec::new();
    for stage in def.stages() {
        let providers = stage_hydrators(stage, registry).map_err(|e| (stage.id.to_string(), e))?;
        for provider in providers {
            if !needed.iter().any(|h| h.name == provider.name) {
                needed.push(provider);
            }
        }
    }
    needed.sort_by_key(|h| h.name);
    Ok(needed
        .into_iter()
        .map(|kind| Hydration {
            metrics: StageMetrics::new(&def.name, StageKind::Hydrator.as_str(), kind.name),
            kind,
        })
        .collect())
}

/// The hydrators providing the features a stage's component reads (its
/// `in_pool` filter's included), or an error naming the first feature
/// nothing provides.
pub(crate) fn stage_hydrators(
    stage: &StageDef,
    registry: &Registry,
) -> Result<Vec<HydratorKind>, ParamError> {
    stage_reads(stage, registry)
        .into_iter()
        .map(|feature| {
            registry.provider(feature).copied().ok_or_else(|| {
                ParamError::new(
                    "kind",
                    format!(
                        "{:?} reads feature {:?}, which no hydrator provides",
                        stage.kind, feature.name
                    ),
                )
            })
        })
        .collect()
}

/// The features a stage's component reads, its `in_pool` filter's included.
fn stage_reads(stage: &StageDef, registry: &Registry) -> Vec<FeatureKey> {
    let mut reads: Vec<FeatureKey> = stage
        .stage
        .role()
        .and_then(|role| registry.info(role, &stage.kind).ok())
        .map(|k| k.reads.to_vec())
        .unwrap_or_default();
    if stage.in_pool
        && let Ok(filter) = registry.info(Role::Predicate, IN_POOL_KIND)
    {
        reads.extend_from_slice(filter.reads);
    }
    reads
}

struct Builder<'a> {
    flow: &'a str,
    registry: &'a Registry,
    overrides: &'a Overrides,
    errors: &'a mut Vec<(String, ParamError)>,
    /// The `langs` of the sources and predicates built so far.
    languages: Vec<String>,
}

impl Builder<'_> {
    fn build_all<T: ?Sized>(
        &mut self,
        defs: &[StageDef],
        lookup: impl Fn(&str) -> Result<Build<T>, String> + Copy,
    ) -> Vec<(SourceInfo, Stage<T>)> {
        defs.iter().filter_map(|d| self.build(d, lookup)).collect()
    }

    /// Builds one stage with its overrides; also returns how the ranker
    /// sees it (meaningful for sources).
    fn build<T: ?Sized>(
        &mut self,
        def: &StageDef,
        lookup: impl Fn(&str) -> Result<Build<T>, String>,
    ) -> Option<(SourceInfo, Stage<T>)> {
        let id = def.id.to_string();
        let resolved = match self.overrides.get(&id) {
            Some(o) => def.with_overrides(o),
            None => Ok(def.clone()),
        };
        let built =
            resolved.and_then(|stage| {
                if matches!(stage.stage, StageKind::Source | StageKind::Predicate)
                    && let Some(toml::Value::Array(langs)) = stage.params.get(LANGS_PARAM)
                {
                    self.languages.extend(langs.iter().filter_map(|tag| {
                        Some(feedmixer_atproto::primary_language(tag.as_str()?))
                    }));
                }
                let build = lookup(&stage.kind).map_err(|message| ParamError {
                    field: None,
                    message,
                })?;
                let component = build(stage.params.clone())?;
                let filter = if stage.in_pool {
                    let kind = self
                        .registry
                        .predicates
                        .get(IN_POOL_KIND)
                        .map_err(|message| ParamError::new("in_pool", message))?;
                    Some((kind.build)(toml::Table::new())?)
                } else {
                    None
                };
                Ok((stage, component, filter))
            });
        match built {
            Ok((stage, component, filter)) => Some((
                SourceInfo {
                    id: id.clone(),
                    weight: stage.weight,
                },
                Stage {
                    metrics: StageMetrics::new(self.flow, def.stage.as_str(), &id),
                    id,
                    kind: def.stage,
                    budget: stage.budget,
                    gate: stage.gate,
                    filter,
                    component,
                },
            )),
            Err(e) => {
                self.errors.push((id, e));
                None
            }
        }
    }
}
