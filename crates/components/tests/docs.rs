//! docs/flows.md is checked against the registry: every kind documented,
//! nothing documented that does not exist, and the tutorial flow valid.

use std::path::Path;

use feedmixer_flow::spec::FlowDef;

fn reference() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/flows.md");
    std::fs::read_to_string(path).expect("docs/flows.md exists")
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
