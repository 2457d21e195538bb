//! docs/flows.md is checked against the registry: every kind documented,
//! nothing documented that does not exist, each kind's param table exactly
//! as its params are declared, the features table as the hydrators
//! register them, and the tutorial flow valid.

use std::path::Path;

use feedmixer_flow::params::reference_table;
use feedmixer_flow::quality::QualityFactorConfig;
use feedmixer_flow::spec::FlowDef;
use feedmixer_flow::{Params, Registry};

fn reference() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/flows.md");
    std::fs::read_to_string(path).expect("docs/flows.md exists")
}

/// The text under `heading` (a whole line) up to the next heading.
fn section<'a>(doc: &'a str, heading: &str) -> Option<&'a str> {
    let start = doc.find(&format!("\n{heading}\n"))? + heading.len() + 2;
    let rest = &doc[start..];
    let end = rest.find("\n#").map_or(rest.len(), |i| i + 1);
    Some(&rest[..end])
}

#[test]
fn every_kind_is_documented_and_only_those() {
    let doc = reference();
    let documented: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("#### `")?.strip_suffix('`'))
        .collect();
    let mut registered: Vec<&str> = feedmixer_components::registry()
        .describe()
        .into_iter()
        .map(|(_, kind, _)| kind)
        .collect();
    let mut documented_sorted = documented.clone();
    documented_sorted.sort();
    registered.sort();
    assert_eq!(documented_sorted, registered);
}

#[test]
fn every_param_table_is_the_declared_one() {
    let doc = reference();
    let mut wrong = Vec::new();
    for kind in feedmixer_components::registry().kinds() {
        let heading = format!("#### `{}`", kind.name);
        let text = section(&doc, &heading).unwrap_or_else(|| panic!("{heading} is documented"));
        let expected = reference_table(&(kind.params)());
        let ok = if expected.is_empty() {
            !text.contains("| param |") && text.contains("No params.")
        } else {
            text.contains(&expected)
        };
        if !ok {
            wrong.push(format!(
                "{heading}: expected {}",
                if expected.is_empty() {
                    "\"No params.\" and no table\n".to_string()
                } else {
                    format!("this table:\n{expected}")
                }
            ));
        }
    }
    let qf = reference_table(&QualityFactorConfig::docs());
    if !section(&doc, "## Quality factor").is_some_and(|t| t.contains(&qf)) {
        wrong.push(format!("## Quality factor: expected this table:\n{qf}"));
    }
    assert!(
        wrong.is_empty(),
        "docs/flows.md is out of date:\n\n{}",
        wrong.join("\n")
    );
}

/// The features table as the registry has it: each feature, its
/// hydrator, what it costs, its budget and the kinds that read it.
fn features_table(registry: &Registry) -> String {
    let mut table =
        String::from("| feature | hydrator | cost | budget | read by |\n|---|---|---|---|---|\n");
    for hydrator in registry.hydrators() {
        for feature in hydrator.provides {
            let mut readers: Vec<String> = registry
                .kinds()
                .iter()
                .filter(|k| k.reads.contains(feature))
                .map(|k| format!("`{}`", k.name))
                .collect();
            if registry
                .info(feedmixer_flow::Role::Predicate, "in_pool")
                .is_ok_and(|k| k.reads.contains(feature))
            {
                readers.push("`in_pool = true`".into());
            }
            table.push_str(&format!(
                "| `{}` | `{}` | {} | {} ms | {} |\n",
                feature.name,
                hydrator.name,
                hydrator.cost.as_str(),
                hydrator.budget.as_millis(),
                readers.join(", ")
            ));
        }
    }
    table
}

#[test]
fn the_features_table_is_the_registered_one() {
    let doc = reference();
    let expected = features_table(&feedmixer_components::registry());
    let text = section(&doc, "## Features").expect("a Features section");
    assert!(
        text.contains(&expected),
        "docs/flows.md ## Features is out of date; expected:\n{expected}"
    );
}

#[test]
fn the_tutorial_flow_is_valid() {
    let doc = reference();
    let tutorial = &doc[doc.find("## Tutorial").expect("a tutorial")..];
    let start = tutorial.find("```toml").expect("a flow block") + "```toml".len();
    let block = &tutorial[start..];
    let block = &block[..block.find("```").unwrap()];
    let text: String = block
        .lines()
        .map(|l| l.trim_start())
        .collect::<Vec<_>>()
        .join("\n");
    let registry = feedmixer_components::registry();
    FlowDef::parse("slow-burn", Path::new("slow-burn.toml"), &text, &registry)
        .map_err(|e| format!("{e:?}"))
        .unwrap();
}
