//! Any flow file parses or is refused with problems located in the file.
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use feedmixer_flow::Registry;
use feedmixer_flow::spec::FlowDef;
use libfuzzer_sys::fuzz_target;

static REGISTRY: LazyLock<Registry> = LazyLock::new(feedmixer_components::registry);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(problems) = FlowDef::parse("fuzz", Path::new("fuzz.toml"), text, &REGISTRY) {
        assert!(!problems.is_empty());
        let lines = text.lines().count() + 1;
        assert!(problems.iter().all(|p| p.line <= lines));
    }
});
