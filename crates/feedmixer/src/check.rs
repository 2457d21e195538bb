//! `feedmixer check [PATH...]`: validate flows, feeds and the service
//! config through the same path start-up takes, printing every problem as
//! `FILE:LINE: reason`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use feedmixer_flow::catalog::check_flow_file;
use feedmixer_flow::{Catalog, Diagnostic};
use feedmixer_server::ServiceConfig;

const DEFAULT_FLOWS: &str = "flows";
const DEFAULT_CONFIG: &str = "config/feedmixer.toml";
const CONFIG_FILE: &str = "feedmixer.toml";

/// What to check, sorted out of the command line.
#[derive(Default)]
struct Targets {
    flows_dir: Option<PathBuf>,
    config: Option<PathBuf>,
    flow_files: Vec<PathBuf>,
}

pub fn run(paths: &[PathBuf]) -> ExitCode {
    let targets = classify(paths);
    let mut problems: Vec<Diagnostic> = Vec::new();
    let mut summary = Vec::new();
    let registry = feedmixer_components::registry();

    for file in &targets.flow_files {
        problems.extend(check_flow_file(file, &registry));
        summary.push(format!("flow {}", file.display()));
    }
    if targets.flows_dir.is_some() || targets.config.is_some() || paths.is_empty() {
        let flows_dir = targets
            .flows_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_FLOWS));
        let config_path = targets
            .config
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
        match ServiceConfig::load(&config_path) {
            Err(mut found) => problems.append(&mut found),
            Ok(config) => match Catalog::load(&flows_dir, &config.feeds, &registry) {
                Ok(catalog) => summary.push(format!(
                    "{} flows in {}, {} feeds in {}",
                    catalog.flows.len(),
                    flows_dir.display(),
                    catalog.feeds.len(),
                    config.feeds.display()
                )),
                Err(mut found) => problems.append(&mut found),
            },
        }
    }

    if problems.is_empty() {
        println!("ok: {}", summary.join("; "));
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            println!("{p}");
        }
        println!("{} problem(s) found", problems.len());
        ExitCode::FAILURE
    }
}

/// A directory holding `feedmixer.toml` is a config directory, any other
/// directory holds flows; `feedmixer.toml` is the config; any other file is
/// a flow file.
fn classify(paths: &[PathBuf]) -> Targets {
    let mut targets = Targets::default();
    for path in paths {
        if path.is_dir() {
            let config = path.join(CONFIG_FILE);
            if config.is_file() {
                targets.config = Some(config);
            } else {
                targets.flows_dir = Some(path.clone());
            }
        } else if path.file_name() == Some(Path::new(CONFIG_FILE).as_os_str()) {
            targets.config = Some(path.clone());
        } else {
            targets.flow_files.push(path.clone());
        }
    }
    targets
}
