//! Any feeds file, `[feeds.NAME.match]` rules included, loads against the
//! shipped flows and presets or is refused with problems located in it.
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use feedmixer_flow::{Catalog, Registry};
use libfuzzer_sys::fuzz_target;

static REGISTRY: LazyLock<Registry> = LazyLock::new(feedmixer_components::registry);
static SHIPPED: LazyLock<Catalog> = LazyLock::new(|| {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Catalog::load(
        &root.join("flows"),
        &root.join("config/feeds.toml"),
        &REGISTRY,
    )
    .expect("the shipped flows and feeds load")
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/fuzz-feeds.toml");
    match SHIPPED.with_feeds_text(&file, text, &REGISTRY) {
        Ok(catalog) => {
            for (rkey, feed) in &catalog.feeds {
                assert!(feedmixer_atproto::is_record_key(rkey));
                assert!(SHIPPED.flows.contains_key(&feed.info.flow));
            }
        }
        Err(problems) => {
            assert!(!problems.is_empty());
            let lines = text.lines().count() + 1;
            assert!(problems.iter().all(|p| p.line <= lines));
        }
    }
});
