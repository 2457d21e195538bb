//! Everything a server serves: the flow files of a directory and the feeds
//! that use them, validated together. One path for `feedmixer check`,
//! start-up and reload.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{self, Diagnostic, line_of};
use crate::executor::Flow;
use crate::experiment::{self, Arm, Experiment, RawExperiment};
use crate::id::is_valid_name;
use crate::params::{Overrides, ParamError};
use crate::registry::Registry;
use crate::rules::{PostRules, PostWords, RawRules};
use crate::spec::{FLOW_PARAMS_ID, FlowDef};
use crate::sync_spec::{RawSync, SyncSpec};
use feedmixer_atproto::{RepoEvent, post_uri};

/// A feed as configured: its record key and what describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedInfo {
    pub rkey: String,
    pub flow: String,
    pub display_name: String,
    pub description: String,
    /// The avatar image (`avatar = "FILE"`, relative to the feeds file),
    /// checked at load: it exists, is a PNG or JPEG, and fits the record.
    pub avatar: Option<PathBuf>,
}

/// A servable feed: its flow built with its preset and params.
pub struct Feed {
    pub info: FeedInfo,
    /// Which new posts join the feed's pool at ingest (`[feeds.NAME.match]`).
    pub rules: Option<PostRules>,
    /// Where the feed's pool is fetched from (`[feeds.NAME.sync]`).
    pub sync: Option<SyncSpec>,
    /// The feed's viewers split into arms (`[feeds.NAME.experiment]`).
    pub experiment: Option<Experiment>,
    pub def: Arc<FlowDef>,
    /// The feed's preset name.
    pub preset: String,
    pub params: Overrides,
    pub presets: Arc<Presets>,
    pub flow: Arc<Flow>,
}

/// Named param sets (`config/presets.toml`), by preset name.
pub type Presets = BTreeMap<String, Preset>;

/// One preset: tables keyed by component kind (applied to every component
/// of that kind a flow has) and `flow` for the flow's params (those the
/// flow declares). A preset is generic across flows, so what a flow lacks
/// is passed over.
pub type Preset = BTreeMap<String, toml::Table>;

/// The preset every feed uses unless it names another.
pub const DEFAULT_PRESET: &str = "default";

/// Overrides resolved in order: flow file < preset < feed < request.
pub fn resolve(def: &FlowDef, preset: &Preset, layers: &[&Overrides]) -> Overrides {
    let mut merged = Overrides::new();
    for (key, table) in preset {
        if key == FLOW_PARAMS_ID {
            let declared: toml::Table = table
                .iter()
                .filter(|(k, _)| def.params.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !declared.is_empty() {
                merged.entry(key.clone()).or_default().extend(declared);
            }
            continue;
        }
        for stage in def.stages().filter(|s| &s.kind == key) {
            merged
                .entry(stage.id.to_string())
                .or_default()
                .extend(table.clone());
        }
    }
    for layer in layers {
        for (id, table) in *layer {
            merged.entry(id.clone()).or_default().extend(table.clone());
        }
    }
    merged
}

impl Feed {
    /// The feed's flow rebuilt for one request: another preset and/or
    /// request overrides over the feed's own (internal routes only). The
    /// error names the bad param.
    pub fn flow_with(
        &self,
        registry: &Registry,
        preset: Option<&str>,
        request: &Overrides,
    ) -> Result<Flow, String> {
        self.flow_in(None, registry, preset, request)
    }

    /// The arm viewer `viewer` is in, when the feed has an experiment
    /// (anonymous viewers are in none).
    pub fn arm_for(&self, viewer: Option<&str>) -> Option<&Arm> {
        Some(self.experiment.as_ref()?.arm_for(viewer?))
    }

    /// The flow an arm's viewers get (the feed's own without an arm).
    pub fn arm_flow<'a>(&'a self, arm: Option<&'a Arm>) -> &'a Arc<Flow> {
        arm.map_or(&self.flow, |arm| &arm.flow)
    }

    /// [`Feed::flow_with`] for the viewers of `arm` (the feed's own flow,
    /// preset and params without one).
    pub fn flow_in(
        &self,
        arm: Option<&Arm>,
        registry: &Registry,
        preset: Option<&str>,
        request: &Overrides,
    ) -> Result<Flow, String> {
        let (def, base_preset, params, flow) = match arm {
            None => (&self.def, self.preset.as_str(), &self.params, &self.flow),
            Some(arm) => (&arm.def, arm.preset.as_str(), &arm.params, &arm.flow),
        };
        if request.is_empty() && preset.is_none_or(|p| p == base_preset) {
            return Ok(Flow::clone(flow));
        }
        let name = preset.unwrap_or(base_preset);
        let preset = self
            .presets
            .get(name)
            .ok_or_else(|| unknown_preset(name, &self.presets))?;
        let merged = resolve(def, preset, &[params, request]);
        Flow::build(def, registry, &merged).map_err(|errors| {
            errors
                .iter()
                .map(|(id, e)| format!("params.{id}: {e}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// The flows and feeds being served.
pub struct Catalog {
    pub flows: BTreeMap<String, Arc<FlowDef>>,
    pub feeds: BTreeMap<String, Arc<Feed>>,
    pub presets: Arc<Presets>,
}

fn unknown_preset(name: &str, presets: &Presets) -> String {
    let known: Vec<&str> = presets.keys().map(String::as_str).collect();
    format!("unknown preset {name:?} (presets: {})", known.join(", "))
}

/// The presets file: the `presets.toml` beside the feeds file. Absent, only
/// an empty `default` exists.
pub fn presets_file(feeds_file: &Path) -> PathBuf {
    feeds_file.with_file_name("presets.toml")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPresets {
    #[serde(default)]
    presets: BTreeMap<String, Preset>,
}

/// Every preset must build with every flow it touches: a bad preset is a
/// load error, not a surprise on the first request that names it.
fn check_presets(
    file: &Path,
    presets: &Presets,
    flows: &BTreeMap<String, Arc<FlowDef>>,
    registry: &Registry,
    errors: &mut Vec<Diagnostic>,
) {
    for (name, preset) in presets {
        for def in flows.values() {
            if let Err(found) = Flow::build(def, registry, &resolve(def, preset, &[])) {
                for (id, err) in found {
                    errors.push(Diagnostic::new(
                        file,
                        0,
                        format!("preset {name:?} on flow {:?}: {id}: {err}", def.name),
                    ));
                }
            }
        }
    }
}

fn load_presets(file: &Path, errors: &mut Vec<Diagnostic>) -> Presets {
    let mut presets = match std::fs::read_to_string(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Presets::new(),
        Err(e) => {
            errors.push(Diagnostic::new(
                file,
                0,
                format!("cannot read the presets file: {e}"),
            ));
            Presets::new()
        }
        Ok(text) => match toml::from_str::<RawPresets>(&text) {
            Ok(raw) => raw.presets,
            Err(e) => {
                errors.push(diagnostic::from_toml(file, &text, &e));
                Presets::new()
            }
        },
    };
    presets.entry(DEFAULT_PRESET.to_string()).or_default();
    presets
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeeds {
    #[serde(default)]
    feeds: BTreeMap<Spanned<String>, Spanned<RawFeed>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    flow: Spanned<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    avatar: Option<Spanned<PathBuf>>,
    #[serde(default)]
    preset: Option<Spanned<String>>,
    #[serde(default)]
    params: BTreeMap<Spanned<String>, Spanned<toml::Table>>,
    #[serde(default, rename = "match")]
    rules: Option<Spanned<RawRules>>,
    #[serde(default)]
    sync: Option<Spanned<RawSync>>,
    #[serde(default)]
    experiment: Option<Spanned<RawExperiment>>,
}

impl Catalog {
    /// Loads every `*.toml` of `flows_dir` as a flow named by its file stem,
    /// then the feeds of `feeds_file`. Every problem of every file is
    /// reported at once.
    pub fn load(
        flows_dir: &Path,
        feeds_file: &Path,
        registry: &Registry,
    ) -> Result<Catalog, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let mut flows = BTreeMap::new();
        for file in flow_files(flows_dir, &mut errors) {
            if let Some(def) = load_flow(&file, registry, &mut errors) {
                flows.insert(def.name.clone(), Arc::new(def));
            }
        }
        let presets = Arc::new(load_presets(&presets_file(feeds_file), &mut errors));
        check_presets(
            &presets_file(feeds_file),
            &presets,
            &flows,
            registry,
            &mut errors,
        );
        let feeds = load_feeds(feeds_file, &flows, &presets, registry, &mut errors);
        checked(
            Catalog {
                flows,
                feeds,
                presets,
            },
            errors,
        )
    }

    /// These flows and presets with the feeds of `text` instead, as if
    /// it were the feeds file `file`: how a feeds file is checked without
    /// touching the disk (fuzzing, tools).
    pub fn with_feeds_text(
        &self,
        file: &Path,
        text: &str,
        registry: &Registry,
    ) -> Result<Catalog, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let feeds = parse_feeds(
            file,
            text,
            &self.flows,
            &self.presets,
            registry,
            &mut errors,
        );
        checked(
            Catalog {
                flows: self.flows.clone(),
                feeds,
                presets: self.presets.clone(),
            },
            errors,
        )
    }

    pub fn feed(&self, rkey: &str) -> Option<&Arc<Feed>> {
        self.feeds.get(rkey)
    }

    /// The feeds with rules judged at ingest, and their rules.
    pub fn post_rules(&self) -> impl Iterator<Item = (&str, &PostRules)> {
        self.feeds
            .iter()
            .filter_map(|(rkey, feed)| Some((rkey.as_str(), feed.rules.as_ref()?)))
    }

    /// For every feed with rules, the AT-URIs of the posts created in
    /// `events` that its rules take (feeds that take none are left out).
    pub fn route(&self, events: &[RepoEvent]) -> Vec<(String, Vec<String>)> {
        let rules: Vec<(&str, &PostRules)> = self.post_rules().collect();
        if rules.is_empty() {
            return Vec::new();
        }
        let mut routed: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for event in events {
            let RepoEvent::PostCreate {
                did, rkey, post, ..
            } = event
            else {
                continue;
            };
            let words = PostWords::of(post);
            for (feed, rules) in &rules {
                if rules.matches_words(did, post, &words) {
                    routed.entry(feed).or_default().push(post_uri(did, rkey));
                }
            }
        }
        routed
            .into_iter()
            .map(|(feed, posts)| (feed.to_string(), posts))
            .collect()
    }
}

/// The catalog when nothing was wrong, else every problem by file and line.
fn checked(catalog: Catalog, mut errors: Vec<Diagnostic>) -> Result<Catalog, Vec<Diagnostic>> {
    if errors.is_empty() {
        Ok(catalog)
    } else {
        errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        Err(errors)
    }
}

/// Checks one flow file on its own (for `feedmixer check FILE`).
pub fn check_flow_file(file: &Path, registry: &Registry) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    load_flow(file, registry, &mut errors);
    errors
}

/// The flow files of a directory, sorted.
fn flow_files(dir: &Path, errors: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(Diagnostic::new(
                dir,
                0,
                format!("cannot read the flows directory: {e}"),
            ));
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
        // Editors' lock and backup files (`.#x.toml`) are not flows.
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

fn load_flow(file: &Path, registry: &Registry, errors: &mut Vec<Diagnostic>) -> Option<FlowDef> {
    let name = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if !is_valid_name(name) {
        errors.push(Diagnostic::new(
            file,
            0,
            "a flow file is named after its flow: use 1 to 64 of a-z, 0-9, '_' and '-', then .toml",
        ));
        return None;
    }
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            errors.push(Diagnostic::new(file, 0, format!("cannot read: {e}")));
            return None;
        }
    };
    FlowDef::parse(name, file, &text, registry)
        .map_err(|mut found| errors.append(&mut found))
        .ok()
}

fn load_feeds(
    file: &Path,
    flows: &BTreeMap<String, Arc<FlowDef>>,
    presets: &Arc<Presets>,
    registry: &Registry,
    errors: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Arc<Feed>> {
    match std::fs::read_to_string(file) {
        Ok(text) => parse_feeds(file, &text, flows, presets, registry, errors),
        Err(e) => {
            errors.push(Diagnostic::new(
                file,
                0,
                format!("cannot read the feeds file: {e}"),
            ));
            BTreeMap::new()
        }
    }
}

/// An optional table of a feed (`match`, `sync`, `experiment`) checked
/// by `check`: `Ok(None)` when absent, `Err` when `check` found problems,
/// which go to `problems` with the table's line.
fn checked_table<R, T>(
    raw: Option<Spanned<R>>,
    at: &impl Fn(std::ops::Range<usize>) -> usize,
    check: impl FnOnce(R) -> Result<T, Vec<String>>,
    problems: &mut impl FnMut(usize, Vec<String>),
) -> Result<Option<T>, ()> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let line = at(raw.span());
    check(raw.into_inner())
        .map(Some)
        .map_err(|found| problems(line, found))
}

fn parse_feeds(
    file: &Path,
    text: &str,
    flows: &BTreeMap<String, Arc<FlowDef>>,
    presets: &Arc<Presets>,
    registry: &Registry,
    errors: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Arc<Feed>> {
    let raw: RawFeeds = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            errors.push(diagnostic::from_toml(file, text, &e));
            return BTreeMap::new();
        }
    };
    let mut feeds = BTreeMap::new();
    for (rkey, feed) in raw.feeds {
        let at = |span: std::ops::Range<usize>| line_of(text, span.start);
        let feed_line = at(rkey.span());
        let rkey = rkey.into_inner();
        if !feedmixer_atproto::is_record_key(&rkey) {
            errors.push(Diagnostic::new(
                file,
                feed_line,
                format!("feed {rkey:?}: a feed's record key uses 1 to 512 of A-Z, a-z, 0-9, '.', '_', '~', ':' and '-'"),
            ));
            continue;
        }
        let feed = feed.into_inner();
        let flow_name = feed.flow.get_ref();
        let Some(def) = flows.get(flow_name) else {
            let known: Vec<&str> = flows.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            errors.push(Diagnostic::new(
                file,
                at(feed.flow.span()),
                format!("feed {rkey:?}: flow {flow_name:?} is not among the valid flows ({known})"),
            ));
            continue;
        };
        let mut params = Overrides::new();
        let mut param_lines = BTreeMap::new();
        for (id, table) in feed.params {
            param_lines.insert(id.get_ref().clone(), at(table.span()));
            params.insert(id.into_inner(), table.into_inner());
        }
        let (preset_name, preset_line) = match &feed.preset {
            Some(p) => (p.get_ref().clone(), at(p.span())),
            None => (DEFAULT_PRESET.to_string(), feed_line),
        };
        let Some(preset) = presets.get(&preset_name) else {
            errors.push(Diagnostic::new(
                file,
                preset_line,
                format!("feed {rkey:?}: {}", unknown_preset(&preset_name, presets)),
            ));
            continue;
        };
        let mut table_problems = |line: usize, problems: Vec<String>| {
            for problem in problems {
                errors.push(Diagnostic::new(
                    file,
                    line,
                    format!("feed {rkey:?}: {problem}"),
                ));
            }
        };
        let Ok(rules) = checked_table(feed.rules, &at, PostRules::from_raw, &mut table_problems)
        else {
            continue;
        };
        let Ok(sync) = checked_table(feed.sync, &at, SyncSpec::from_raw, &mut table_problems)
        else {
            continue;
        };
        let avatar = match &feed.avatar {
            None => None,
            Some(path) => match check_avatar(file, path.get_ref()) {
                Ok(found) => Some(found),
                Err(reason) => {
                    errors.push(Diagnostic::new(
                        file,
                        at(path.span()),
                        format!(
                            "feed {rkey:?}: avatar {:?}: {reason}",
                            path.get_ref().display().to_string()
                        ),
                    ));
                    continue;
                }
            },
        };
        let cx = experiment::Context {
            def,
            preset: &preset_name,
            params: &params,
            flows,
            presets,
            registry,
        };
        let Ok(experiment) = checked_table(
            feed.experiment,
            &at,
            |raw| Experiment::build(raw, &cx),
            &mut table_problems,
        ) else {
            continue;
        };
        let resolved = resolve(def, preset, &[&params]);
        match Flow::build(def, registry, &resolved) {
            Ok(flow) => {
                let info = FeedInfo {
                    display_name: feed.display_name.unwrap_or_else(|| rkey.clone()),
                    rkey: rkey.clone(),
                    flow: flow_name.clone(),
                    description: feed.description,
                    avatar,
                };
                feeds.insert(
                    rkey,
                    Arc::new(Feed {
                        info,
                        rules,
                        sync,
                        experiment,
                        def: def.clone(),
                        preset: preset_name,
                        params,
                        presets: presets.clone(),
                        flow: Arc::new(flow),
                    }),
                );
            }
            Err(found) => {
                for (id, err) in found {
                    let line = param_lines.get(&id).copied().unwrap_or(feed_line);
                    errors.push(Diagnostic::new(
                        file,
                        line,
                        format!("feed {rkey:?}: params.{id}: {err}"),
                    ));
                }
            }
        }
    }
    feeds
}

/// The avatar `path` names (relative to the feeds file), when it is an
/// image a feed generator record can carry.
fn check_avatar(feeds_file: &Path, path: &Path) -> Result<PathBuf, String> {
    use std::io::Read;
    let full = feeds_file.parent().unwrap_or(Path::new(".")).join(path);
    let mut head = Vec::with_capacity(8);
    let size = std::fs::File::open(&full)
        .and_then(|file| {
            let size = file.metadata()?.len();
            file.take(8).read_to_end(&mut head)?;
            Ok(size)
        })
        .map_err(|e| format!("cannot read {}: {e}", full.display()))?;
    feedmixer_atproto::generator::check_avatar(size, &head).map_err(|e| e.to_string())?;
    Ok(full)
}

/// A param error on a component that is not part of the flow.
pub(crate) fn unknown_component(id: &str, def: &FlowDef) -> ParamError {
    let ids: Vec<&str> = def.stages().map(|s| s.id.as_str()).collect();
    ParamError {
        field: None,
        message: format!(
            "flow {:?} has no component {id:?} (its components: {})",
            def.name,
            ids.join(", ")
        ),
    }
}
