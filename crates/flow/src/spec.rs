//! Flow files: parse, check the envelope of every stage, keep each stage's
//! params with the line of every key so later errors can point at them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{self, Diagnostic, line_of};
use crate::executor::{IN_POOL_KIND, stage_hydrators};
use crate::gate::{self, Gate, Value};
use crate::id::ComponentId;
use crate::params::{ParamError, Params, check_range};
use crate::quality::QualityFactorConfig;
use crate::registry::{Registry, Role};

/// A source's default time budget.
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(200);
/// The whole-request deadline unless the flow says otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_millis(1000);
/// How many posts a flow keeps after ranking unless it says otherwise.
pub const DEFAULT_MAX_RESULTS: usize = 500;

/// Where a component sits in the flow; names the `stage` metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StageKind {
    /// The hydrators the flow's components need: no table in the file,
    /// they run because a component reads what they provide.
    Hydrator,
    Source,
    Predicate,
    Ranker,
    Transform,
    Validation,
    ResultTransform,
}

impl StageKind {
    /// The kind registry a stage's components come from (hydrators have
    /// their own).
    pub fn role(self) -> Option<Role> {
        match self {
            StageKind::Hydrator => None,
            StageKind::Source => Some(Role::Source),
            StageKind::Predicate | StageKind::Validation => Some(Role::Predicate),
            StageKind::Ranker => Some(Role::Ranker),
            StageKind::Transform | StageKind::ResultTransform => Some(Role::Transform),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StageKind::Hydrator => "hydrator",
            StageKind::Source => "source",
            StageKind::Predicate => "predicate",
            StageKind::Ranker => "ranker",
            StageKind::Transform => "transform",
            StageKind::Validation => "validation",
            StageKind::ResultTransform => "result_transform",
        }
    }
}

impl std::fmt::Display for StageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The id overrides use for the flow's own `[params]`; no component may
/// take it.
pub const FLOW_PARAMS_ID: &str = "flow";

/// A parsed, envelope-checked flow file. Params are kept as tables: they
/// are parsed by each kind when the flow is built, possibly after feed or
/// request overrides were merged in.
#[derive(Debug, Clone)]
pub struct FlowDef {
    pub name: String,
    pub file: PathBuf,
    pub description: String,
    pub max_results: usize,
    /// Past this the flow stops where it is and answers with what it has.
    pub deadline: Duration,
    pub quality_factor: QualityFactorConfig,
    /// The flow's own params, read by gates; overridable like any param.
    pub params: BTreeMap<String, Value>,
    /// When closed, the flow answers nothing for the request (and the
    /// request does not move the quality factor).
    pub eligible: Option<Gate>,
    pub sources: Vec<StageDef>,
    pub predicates: Vec<StageDef>,
    pub ranker: StageDef,
    pub transforms: Vec<StageDef>,
    pub validations: Vec<StageDef>,
    pub result_transforms: Vec<StageDef>,
}

/// One stage of a flow file: the engine's envelope plus the kind's params.
#[derive(Debug, Clone)]
pub struct StageDef {
    pub stage: StageKind,
    pub id: ComponentId,
    pub kind: String,
    /// Sources only: the ranker's weight for this source's scores.
    pub weight: f32,
    /// Sources only: past this the source contributes nothing.
    pub budget: Duration,
    /// When closed, the component is skipped for the request.
    pub gate: Option<Gate>,
    /// Sources only: keep only candidates in the feed's pool (when it has one).
    pub in_pool: bool,
    pub params: toml::Table,
    /// Line of the stage's table, and of each of its keys.
    pub line: usize,
    pub key_lines: BTreeMap<String, usize>,
}

/// Envelope keys the engine owns; everything else is the kind's.
const ENVELOPE: [&str; 6] = ["id", "kind", "weight", "budget_ms", "gate", "in_pool"];

type RawTable = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    #[serde(default)]
    description: String,
    #[serde(default)]
    max_results: Option<Spanned<i64>>,
    #[serde(default)]
    deadline_ms: Option<Spanned<i64>>,
    #[serde(default)]
    quality_factor: Option<Spanned<RawTable>>,
    #[serde(default)]
    params: Option<Spanned<RawTable>>,
    #[serde(default)]
    eligible: Option<Spanned<String>>,
    #[serde(default)]
    sources: Vec<Spanned<RawTable>>,
    #[serde(default)]
    predicates: Vec<Spanned<RawTable>>,
    #[serde(default)]
    ranker: Option<Spanned<RawTable>>,
    #[serde(default)]
    transforms: Vec<Spanned<RawTable>>,
    #[serde(default)]
    validations: Vec<Spanned<RawTable>>,
    #[serde(default)]
    result_transforms: Vec<Spanned<RawTable>>,
}

impl FlowDef {
    /// Parses flow `name` from `text` (read from `file`), collecting every
    /// problem rather than stopping at the first.
    pub fn parse(
        name: &str,
        file: &Path,
        text: &str,
        registry: &Registry,
    ) -> Result<Self, Vec<Diagnostic>> {
        let raw: RawFlow =
            toml::from_str(text).map_err(|e| vec![diagnostic::from_toml(file, text, &e)])?;
        let mut errors = Vec::new();
        let params = match raw.params {
            None => BTreeMap::new(),
            Some(table) => parse_flow_params(file, text, table, &mut errors),
        };
        let eligible = raw.eligible.and_then(|text_gate| {
            let line = line_of(text, text_gate.span().start);
            Gate::parse(text_gate.get_ref(), &params)
                .map_err(|e| errors.push(Diagnostic::new(file, line, format!("eligible: {e}"))))
                .ok()
        });
        let mut stages = StageParser {
            file,
            text,
            registry,
            params: &params,
            ids: BTreeSet::new(),
            errors: &mut errors,
        };
        let no_sources = raw.sources.is_empty();
        let sources = stages.parse_all(StageKind::Source, raw.sources);
        let predicates = stages.parse_all(StageKind::Predicate, raw.predicates);
        let transforms = stages.parse_all(StageKind::Transform, raw.transforms);
        let validations = stages.parse_all(StageKind::Validation, raw.validations);
        let result_transforms = stages.parse_all(StageKind::ResultTransform, raw.result_transforms);
        let ranker = match raw.ranker {
            Some(table) => stages.parse(StageKind::Ranker, table),
            None => {
                stages
                    .errors
                    .push(Diagnostic::new(file, 0, "a flow needs a [ranker]"));
                None
            }
        };
        if no_sources {
            errors.push(Diagnostic::new(
                file,
                0,
                "a flow needs at least one [[sources]] entry",
            ));
        }
        let max_results = match raw.max_results {
            None => DEFAULT_MAX_RESULTS,
            Some(value) => {
                let line = line_of(text, value.span().start);
                match check_range("max_results", *value.get_ref(), 1..=10_000) {
                    Ok(()) => *value.get_ref() as usize,
                    Err(e) => {
                        errors.push(Diagnostic::new(file, line, e.to_string()));
                        DEFAULT_MAX_RESULTS
                    }
                }
            }
        };
        let deadline = match raw.deadline_ms {
            None => DEFAULT_DEADLINE,
            Some(value) => {
                let line = line_of(text, value.span().start);
                match check_range("deadline_ms", *value.get_ref(), 1..=60_000) {
                    Ok(()) => Duration::from_millis(*value.get_ref() as u64),
                    Err(e) => {
                        errors.push(Diagnostic::new(file, line, e.to_string()));
                        DEFAULT_DEADLINE
                    }
                }
            }
        };
        let quality_factor = match raw.quality_factor {
            None => QualityFactorConfig::default(),
            Some(table) => {
                let (table, line, key_lines) = split_spans(text, table);
                QualityFactorConfig::from_table(table).unwrap_or_else(|e| {
                    let line = e
                        .field
                        .as_ref()
                        .and_then(|f| key_lines.get(f))
                        .copied()
                        .unwrap_or(line);
                    errors.push(Diagnostic::new(file, line, format!("quality_factor: {e}")));
                    QualityFactorConfig::default()
                })
            }
        };
        match ranker {
            Some(ranker) if errors.is_empty() => Ok(FlowDef {
                name: name.to_string(),
                file: file.to_path_buf(),
                description: raw.description,
                max_results,
                deadline,
                quality_factor,
                params,
                eligible,
                sources,
                predicates,
                ranker,
                transforms,
                validations,
                result_transforms,
            }),
            _ => Err(errors),
        }
    }

    /// Every stage, in execution order.
    pub fn stages(&self) -> impl Iterator<Item = &StageDef> {
        self.sources
            .iter()
            .chain(&self.predicates)
            .chain(std::iter::once(&self.ranker))
            .chain(&self.transforms)
            .chain(&self.validations)
            .chain(&self.result_transforms)
    }

    /// The flow's params with `overrides` (the `flow` entry of an
    /// override set) applied, each checked against its declared type.
    pub fn params_with(
        &self,
        overrides: Option<&toml::Table>,
    ) -> Result<BTreeMap<String, Value>, ParamError> {
        let mut params = self.params.clone();
        for (key, value) in overrides.into_iter().flatten() {
            let declared = params.get(key).ok_or_else(|| {
                let known: Vec<&str> = self.params.keys().map(String::as_str).collect();
                ParamError::new(
                    key,
                    format!(
                        "flow {:?} declares no such param (its params: {})",
                        self.name,
                        known.join(", ")
                    ),
                )
            })?;
            let value = Value::from_toml(value)
                .filter(|v| std::mem::discriminant(v) == std::mem::discriminant(declared))
                .ok_or_else(|| ParamError::new(key, format!("expected a value like {declared}")))?;
            params.insert(key.clone(), value);
        }
        Ok(params)
    }

    pub fn stage(&self, id: &str) -> Option<&StageDef> {
        self.stages().find(|s| s.id.as_str() == id)
    }
}

impl StageDef {
    /// Where to report a param error: the key's line, or the table's.
    pub fn diagnostic(&self, file: &Path, err: &ParamError) -> Diagnostic {
        let line = err
            .field
            .as_ref()
            .and_then(|f| self.key_lines.get(f.split(['.', '[']).next().unwrap_or(f)))
            .copied()
            .unwrap_or(self.line);
        Diagnostic::new(
            file,
            line,
            format!("{} {:?}: {err}", self.stage, self.id.as_str()),
        )
    }

    /// The stage with `overrides` merged over its params and envelope.
    pub fn with_overrides(&self, overrides: &toml::Table) -> Result<StageDef, ParamError> {
        let mut stage = self.clone();
        for (key, value) in overrides {
            match key.as_str() {
                "id" | "kind" | "gate" | "in_pool" => {
                    return Err(ParamError::new(key, "cannot be overridden"));
                }
                "weight" => stage.weight = parse_weight(value)?,
                "budget_ms" => stage.budget = parse_budget(value)?,
                _ => {
                    stage.params.insert(key.clone(), value.clone());
                }
            }
        }
        Ok(stage)
    }
}

fn parse_weight(value: &toml::Value) -> Result<f32, ParamError> {
    let weight = match value {
        toml::Value::Float(f) => *f,
        toml::Value::Integer(i) => *i as f64,
        _ => return Err(ParamError::new("weight", "expected a number")),
    };
    check_range("weight", weight, 0.0..=1000.0)?;
    Ok(weight as f32)
}

fn parse_budget(value: &toml::Value) -> Result<Duration, ParamError> {
    let toml::Value::Integer(ms) = value else {
        return Err(ParamError::new(
            "budget_ms",
            "expected an integer number of milliseconds",
        ));
    };
    check_range("budget_ms", *ms, 1..=10_000)?;
    Ok(Duration::from_millis(*ms as u64))
}

/// The `[params]` table: names usable in gates, each a boolean or a number.
fn parse_flow_params(
    file: &Path,
    text: &str,
    table: Spanned<RawTable>,
    errors: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Value> {
    let (table, _, key_lines) = split_spans(text, table);
    let mut params = BTreeMap::new();
    for (key, value) in table {
        let line = key_lines.get(&key).copied().unwrap_or(0);
        let named = crate::id::is_valid_name(&key) && !key.contains('-');
        if !named || gate::CONTEXT_VARS.contains(&key.as_str()) {
            errors.push(Diagnostic::new(
                file,
                line,
                format!(
                    "params: {key:?}: use a-z, 0-9 and '_', not a context variable ({})",
                    gate::CONTEXT_VARS.join(", ")
                ),
            ));
            continue;
        }
        match Value::from_toml(&value) {
            Some(v) => {
                params.insert(key, v);
            }
            None => errors.push(Diagnostic::new(
                file,
                line,
                format!("params: {key}: a flow param is a boolean or a number"),
            )),
        }
    }
    params
}

/// A spanned table as a plain one, with the line of the table and of each key.
fn split_spans(
    text: &str,
    table: Spanned<RawTable>,
) -> (toml::Table, usize, BTreeMap<String, usize>) {
    let line = line_of(text, table.span().start);
    let mut key_lines = BTreeMap::new();
    let mut values = toml::Table::new();
    for (key, value) in table.into_inner() {
        key_lines.insert(key.get_ref().clone(), line_of(text, key.span().start));
        values.insert(key.into_inner(), value.into_inner());
    }
    (values, line, key_lines)
}

struct StageParser<'a> {
    file: &'a Path,
    text: &'a str,
    registry: &'a Registry,
    params: &'a BTreeMap<String, Value>,
    ids: BTreeSet<ComponentId>,
    errors: &'a mut Vec<Diagnostic>,
}

impl StageParser<'_> {
    fn check_params(&self, stage: &StageDef) -> Result<(), ParamError> {
        let params = stage.params.clone();
        let registry = self.registry;
        let built = match stage.stage.role() {
            Some(Role::Source) => registry
                .sources
                .get(&stage.kind)
                .map(|k| (k.build)(params).map(drop)),
            Some(Role::Predicate) => registry
                .predicates
                .get(&stage.kind)
                .map(|k| (k.build)(params).map(drop)),
            Some(Role::Ranker) => registry
                .rankers
                .get(&stage.kind)
                .map(|k| (k.build)(params).map(drop)),
            Some(Role::Transform) => registry
                .transforms
                .get(&stage.kind)
                .map(|k| (k.build)(params).map(drop)),
            None => Err(format!("a flow file has no {} stages", stage.stage)),
        };
        built.map_err(|message| ParamError {
            field: None,
            message,
        })?
    }

    /// Every feature the stage reads needs a hydrator that provides it, and
    /// `in_pool` needs the predicate it applies.
    fn check_features(&self, stage: &StageDef) -> Result<(), ParamError> {
        if stage.in_pool && self.registry.predicates.get(IN_POOL_KIND).is_err() {
            return Err(ParamError::new(
                "in_pool",
                format!("needs the {IN_POOL_KIND:?} predicate kind, which this build lacks"),
            ));
        }
        stage_hydrators(stage, self.registry).map(drop)
    }

    fn parse_all(&mut self, role: StageKind, tables: Vec<Spanned<RawTable>>) -> Vec<StageDef> {
        tables
            .into_iter()
            .filter_map(|t| self.parse(role, t))
            .collect()
    }

    fn parse(&mut self, stage_kind: StageKind, table: Spanned<RawTable>) -> Option<StageDef> {
        let role = stage_kind;
        let (values, line, key_lines) = split_spans(self.text, table);
        let at = |key: &str| key_lines.get(key).copied().unwrap_or(line);
        let mut fail = |line: usize, message: String| {
            self.errors.push(Diagnostic::new(self.file, line, message));
        };

        let Some(kind) = values
            .get("kind")
            .and_then(|k| k.as_str())
            .map(str::to_string)
        else {
            fail(line, format!("{role}: `kind = \"...\"` is required"));
            return None;
        };
        let known = match role.role() {
            Some(r) => self.registry.info(r, &kind).map(drop),
            None => Err(format!("a flow file has no {role} stages")),
        };
        if let Err(message) = known {
            fail(at("kind"), message);
            return None;
        }
        let id = match values.get("id") {
            None => kind.clone(),
            Some(toml::Value::String(id)) => id.clone(),
            Some(_) => {
                fail(at("id"), format!("{role} {kind:?}: id: expected a string"));
                return None;
            }
        };
        let id = match ComponentId::new(&id) {
            Ok(id) => id,
            Err(message) => {
                fail(at("id"), format!("{role} {kind:?}: {message}"));
                return None;
            }
        };
        if id.as_str() == FLOW_PARAMS_ID {
            fail(
                at("id"),
                format!(
                    "{role} {kind:?}: the id {FLOW_PARAMS_ID:?} is reserved for the flow's params"
                ),
            );
            return None;
        }
        if !self.ids.insert(id.clone()) {
            fail(
                at("id"),
                format!(
                    "{role} {:?}: duplicate id; give each component of a flow its own `id`",
                    id.as_str()
                ),
            );
            return None;
        }

        let mut stage = StageDef {
            stage: stage_kind,
            id,
            kind,
            weight: 1.0,
            budget: DEFAULT_BUDGET,
            gate: None,
            in_pool: false,
            params: toml::Table::new(),
            line,
            key_lines,
        };
        for (key, value) in values {
            let result = match key.as_str() {
                "id" | "kind" => Ok(()),
                "gate" => match value.as_str() {
                    Some(text) => Gate::parse(text, self.params)
                        .map(|g| stage.gate = Some(g))
                        .map_err(|m| {
                            ParamError::new("gate", m.trim_start_matches("gate: ").to_string())
                        }),
                    None => Err(ParamError::new("gate", "expected a condition string")),
                },
                "weight" | "budget_ms" | "in_pool" if role != StageKind::Source => Err(
                    ParamError::new(&key, "only sources take a weight, a budget or in_pool"),
                ),
                "in_pool" => match value.as_bool() {
                    Some(b) => {
                        stage.in_pool = b;
                        Ok(())
                    }
                    None => Err(ParamError::new("in_pool", "expected true or false")),
                },
                "weight" => parse_weight(&value).map(|w| stage.weight = w),
                "budget_ms" => parse_budget(&value).map(|b| stage.budget = b),
                _ => {
                    stage.params.insert(key, value);
                    Ok(())
                }
            };
            if let Err(e) = result {
                let diagnostic = stage.diagnostic(self.file, &e);
                self.errors.push(diagnostic);
            }
        }
        debug_assert!(ENVELOPE.iter().all(|k| !stage.params.contains_key(*k)));
        // Build once with the file's params: this is where each kind checks
        // its params, so every stage's problems are found in one pass.
        if let Err(e) = self
            .check_params(&stage)
            .and_then(|()| self.check_features(&stage))
        {
            let diagnostic = stage.diagnostic(self.file, &e);
            self.errors.push(diagnostic);
            return None;
        }
        Some(stage)
    }
}
