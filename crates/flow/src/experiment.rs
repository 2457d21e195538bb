//! `[feeds.NAME.experiment]`: a feed's viewers split into arms, each a
//! flow and/or preset and/or params of its own, by percentage. A viewer's
//! arm is a stable hash of the experiment's name and the viewer's DID, so
//! a viewer stays in one arm on every page, every replica and every
//! restart, and renaming the experiment reshuffles everyone. Anonymous
//! viewers get the feed as configured, in no arm.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::Flow;
use crate::catalog::{Presets, resolve};
use crate::id::is_valid_name;
use crate::params::Overrides;
use crate::registry::Registry;
use crate::spec::FlowDef;
use crate::stable_hash::{mixed, stable_hash};

/// Arms an experiment may have.
const MAX_ARMS: usize = 10;

/// `[feeds.NAME.experiment]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExperiment {
    name: String,
    arms: Vec<RawArm>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArm {
    name: String,
    percent: u32,
    flow: Option<String>,
    preset: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, toml::Table>,
}

/// A feed's experiment, every arm's flow built.
pub struct Experiment {
    pub name: String,
    pub arms: Vec<Arm>,
}

/// One arm: what its viewers get instead of the feed's own flow.
pub struct Arm {
    pub name: String,
    pub percent: u32,
    pub def: Arc<FlowDef>,
    pub preset: String,
    /// The feed's params (when the arm keeps its flow) under the arm's.
    pub params: Overrides,
    pub flow: Arc<Flow>,
}

/// What an experiment is built against: the feed's own flow and params,
/// and what the catalog has.
pub struct Context<'a> {
    pub def: &'a Arc<FlowDef>,
    pub preset: &'a str,
    pub params: &'a Overrides,
    pub flows: &'a BTreeMap<String, Arc<FlowDef>>,
    pub presets: &'a Presets,
    pub registry: &'a Registry,
}

impl Experiment {
    /// Checks the experiment and builds its arms; every problem is one
    /// message.
    pub fn build(raw: RawExperiment, cx: &Context<'_>) -> Result<Experiment, Vec<String>> {
        let mut problems = Vec::new();
        if !is_valid_name(&raw.name) {
            problems.push(format!(
                "experiment.name: {:?}: use 1 to 64 of a-z, 0-9, '_' and '-'",
                raw.name
            ));
        }
        if !(2..=MAX_ARMS).contains(&raw.arms.len()) {
            problems.push(format!(
                "experiment.arms: {} arms; an experiment has 2 to {MAX_ARMS}",
                raw.arms.len()
            ));
        }
        let total: u32 = raw.arms.iter().map(|a| a.percent).sum();
        if total != 100 {
            problems.push(format!(
                "experiment.arms: the percents add up to {total}, not 100"
            ));
        }
        let mut arms = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for arm in raw.arms {
            let at = format!("experiment arm {:?}", arm.name);
            if !is_valid_name(&arm.name) {
                problems.push(format!("{at}: use 1 to 64 of a-z, 0-9, '_' and '-'"));
            }
            if !names.insert(arm.name.clone()) {
                problems.push(format!("{at}: named twice"));
            }
            if arm.flow.is_none() && arm.preset.is_none() && arm.params.is_empty() {
                problems.push(format!("{at}: give it a flow, a preset or params"));
            }
            let def = match &arm.flow {
                None => Arc::clone(cx.def),
                Some(name) => match cx.flows.get(name) {
                    Some(def) => Arc::clone(def),
                    None => {
                        problems.push(format!("{at}: flow {name:?} is not among the flows"));
                        continue;
                    }
                },
            };
            let preset_name = arm.preset.clone().unwrap_or_else(|| cx.preset.to_string());
            let Some(preset) = cx.presets.get(&preset_name) else {
                problems.push(format!(
                    "{at}: preset {preset_name:?} is not among the presets"
                ));
                continue;
            };
            let mut params = if Arc::ptr_eq(&def, cx.def) {
                cx.params.clone()
            } else {
                Overrides::new()
            };
            for (id, table) in arm.params {
                params.entry(id).or_default().extend(table);
            }
            let merged = resolve(&def, preset, &[&params]);
            match Flow::build(&def, cx.registry, &merged) {
                Ok(flow) => arms.push(Arm {
                    name: arm.name,
                    percent: arm.percent,
                    def,
                    preset: preset_name,
                    params,
                    flow: Arc::new(flow),
                }),
                Err(errors) => {
                    for (id, e) in errors {
                        problems.push(format!("{at}: params.{id}: {e}"));
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(Experiment {
                name: raw.name,
                arms,
            })
        } else {
            Err(problems)
        }
    }

    /// The arm of viewer `did`: its bucket (0..100, a stable hash of the
    /// experiment's name and the DID) falls in the arm's share, arms in
    /// the order written.
    pub fn arm_for(&self, did: &str) -> &Arm {
        let bucket = bucket(&self.name, did);
        let mut upto = 0;
        for arm in &self.arms {
            upto += arm.percent;
            if bucket < upto {
                return arm;
            }
        }
        self.arms.last().expect("an experiment has arms")
    }

    pub fn arm(&self, name: &str) -> Option<&Arm> {
        self.arms.iter().find(|arm| arm.name == name)
    }
}

/// A viewer's bucket in 0..100: the stable hash of the experiment's name
/// and the DID, mixed.
pub fn bucket(experiment: &str, did: &str) -> u32 {
    (mixed(stable_hash(&[experiment.as_bytes(), did.as_bytes()])) % 100) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_spread() {
        assert_eq!(bucket("e", "did:plc:a"), bucket("e", "did:plc:a"));
        let mut counts = [0u32; 100];
        for n in 0..20_000 {
            counts[bucket("exp", &format!("did:plc:viewer{n:06}")) as usize] += 1;
        }
        // 200 each on average; none far off.
        assert!(
            counts.iter().all(|&c| (130..=270).contains(&c)),
            "{counts:?}"
        );
        let moved = (0..1_000)
            .filter(|n| {
                let did = format!("did:plc:viewer{n:06}");
                bucket("exp", &did) != bucket("exp2", &did)
            })
            .count();
        assert!(moved > 900, "another name reshuffles: {moved}");
    }
}
