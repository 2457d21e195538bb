//! `feedmixer replay FILE`: backfill the store from a Jetstream capture.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::Context;
use feedmixer_store::replay;

use crate::store_args::StoreArgs;

use crate::progress;

pub async fn run(file: &Path, store: &StoreArgs) -> anyhow::Result<()> {
    let store = store.open().await?;
    let input = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress::bytes_bar(size, "replay");
    let reader = BufReader::with_capacity(1 << 20, input);
    let mut progress = |bytes: u64| bar.set_position(bytes);
    let report = replay(store.as_ref(), reader, 10_000, &mut progress).await?;
    bar.finish_and_clear();
    let s = &report.stats;
    println!(
        "replayed {}: {} lines, {} like events, {} ignored, {} malformed",
        file.display(),
        report.lines,
        report.events,
        report.ignored,
        report.malformed
    );
    println!(
        "  likes created {}, duplicates {}, deleted {}, deletes of unknown likes {}, stale {}, \
         accounts deleted {} ({} likes removed)",
        s.created,
        s.duplicates,
        s.deleted,
        s.missing_deletes,
        s.stale,
        s.accounts_deleted,
        s.likes_removed_by_account
    );
    for (line, reason) in &report.first_errors {
        println!("  {}:{line}: {reason}", file.display());
    }
    Ok(())
}
