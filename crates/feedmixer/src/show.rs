//! `feedmixer flows FEED [--preset P]`: the flow a feed runs, with every
//! param resolved (flow file < preset < feed params), as TOML.

use std::fmt::Write;
use std::path::Path;

use anyhow::{anyhow, bail};
use feedmixer_flow::Catalog;
use feedmixer_flow::catalog::resolve;
use feedmixer_flow::spec::{FLOW_PARAMS_ID, FlowDef, StageKind};
use feedmixer_server::ServiceConfig;

pub fn run(
    feed: Option<&str>,
    preset: Option<&str>,
    flows: &Path,
    config: &Path,
) -> anyhow::Result<()> {
    let config = ServiceConfig::load(config).map_err(report)?;
    let registry = feedmixer_components::registry();
    let catalog = Catalog::load(flows, &config.feeds, &registry).map_err(report)?;
    let Some(rkey) = feed else {
        for (rkey, feed) in &catalog.feeds {
            println!(
                "{rkey:<20} flow {:<16} preset {}",
                feed.info.flow, feed.preset
            );
        }
        return Ok(());
    };
    let feed = catalog.feed(rkey).ok_or_else(|| {
        let known: Vec<&str> = catalog.feeds.keys().map(String::as_str).collect();
        anyhow!("unknown feed {rkey:?} (feeds: {})", known.join(", "))
    })?;
    let preset_name = preset.unwrap_or(&feed.preset);
    let Some(preset) = catalog.presets.get(preset_name) else {
        bail!("unknown preset {preset_name:?}");
    };
    let overrides = resolve(&feed.def, preset, &[&feed.params]);
    // Building checks the resolved params exactly as serving would.
    feedmixer_flow::Flow::build(&feed.def, &registry, &overrides).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|(id, e)| format!("{id}: {e}")).collect();
        anyhow!("{}", lines.join("\n"))
    })?;
    print!("{}", render(&feed.def, rkey, preset_name, &overrides)?);
    Ok(())
}

pub(crate) fn report(errors: Vec<feedmixer_flow::Diagnostic>) -> anyhow::Error {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    anyhow!("{}", lines.join("\n"))
}

fn render(
    def: &FlowDef,
    feed: &str,
    preset: &str,
    overrides: &feedmixer_flow::Overrides,
) -> anyhow::Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "# feed {feed:?}: flow {:?} ({}), preset {preset:?}",
        def.name,
        def.file.display()
    )?;
    writeln!(out, "max_results = {}", def.max_results)?;
    if let Some(gate) = &def.eligible {
        writeln!(out, "eligible = {:?}", gate.text())?;
    }
    let params = def
        .params_with(overrides.get(FLOW_PARAMS_ID))
        .map_err(|e| anyhow!("{e}"))?;
    if !params.is_empty() {
        writeln!(out, "\n[params]")?;
        for (k, v) in &params {
            writeln!(out, "{k} = {v}")?;
        }
    }
    for stage in def.stages() {
        let resolved = match overrides.get(stage.id.as_str()) {
            Some(o) => stage.with_overrides(o).map_err(|e| anyhow!("{e}"))?,
            None => stage.clone(),
        };
        let header = match stage.stage {
            StageKind::Ranker => "[ranker]".to_string(),
            kind => format!("[[{}s]]", kind.as_str()),
        };
        writeln!(
            out,
            "\n{header}\nid = {:?}\nkind = {:?}",
            resolved.id.as_str(),
            resolved.kind
        )?;
        if stage.stage == StageKind::Source {
            writeln!(
                out,
                "weight = {}\nbudget_ms = {}",
                resolved.weight,
                resolved.budget.as_millis()
            )?;
        }
        if let Some(gate) = &resolved.gate {
            writeln!(out, "gate = {:?}", gate.text())?;
        }
        out.push_str(&toml::to_string(&resolved.params)?);
    }
    Ok(out)
}
