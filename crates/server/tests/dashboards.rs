//! Dashboards and alert rules only use metric names the code exports.

use std::path::Path;

use feedmixer_server::metrics::ALL;

#[test]
fn dashboards_and_alerts_use_exported_metrics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("_test.yml")
        {
            continue; // test fixtures name series on purpose
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, _) in text.match_indices("feedmixer_") {
            let name: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if name == "feedmixer_" {
                continue;
            }
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix).filter(|b| ALL.contains(b)))
                .unwrap_or(&name);
            assert!(
                ALL.contains(&base),
                "{}: {name} is not exported",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 10, "found the dashboards ({checked} names)");
}
