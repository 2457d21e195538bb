//! `feedmixer replay FILE`: backfill the store from a Jetstream capture,
//! new posts joining the pools of the feeds whose rules take them.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use feedmixer_server::ServiceConfig;
use feedmixer_server::runtime::post_routing::CatalogRouting;
use feedmixer_store::{NoRouting, PostRouter, ReplayReport, Store, replay};

use crate::store_args::StoreArgs;

use crate::{progress, serve};

pub async fn run(
    file: &Path,
    store: &StoreArgs,
    flows: &Path,
    config: &Path,
) -> anyhow::Result<()> {
    let router = router(flows, config)?;
    let store = store.open().await?;
    let report = replay_file(store.as_ref(), router.as_ref(), file).await?;
    let s = &report.stats;
    println!(
        "replayed {}: {} lines, {} like and post events, {} ignored, {} malformed",
        file.display(),
        report.lines,
        report.events,
        report.ignored,
        report.malformed
    );
    println!(
        "  likes created {}, posts created {}, duplicates {}, likes deleted {}, posts deleted {}, \
         deletes of unknown records {}, stale {}, accounts deleted {} ({} likes, {} posts removed), \
         accounts hidden {}, revealed {}",
        s.created,
        s.posts_created,
        s.duplicates,
        s.deleted,
        s.posts_deleted,
        s.missing_deletes,
        s.stale,
        s.accounts_deleted,
        s.likes_removed_by_account,
        s.posts_removed_by_account,
        s.accounts_hidden,
        s.accounts_revealed
    );
    for (line, reason) in &report.first_errors {
        println!("  {}:{line}: {reason}", file.display());
    }
    Ok(())
}

/// Events per store batch. Every batch rewrites the B-tree pages it
/// touches and syncs once, and likes by DID touch pages all over the file,
/// so bigger batches write less per like: on the 1M-like bench capture
/// (embedded store) 10k took 35.4 s, 100k 20.6 s (140 MB resident), 400k
/// 23.9 s (328 MB).
const REPLAY_BATCH: usize = 100_000;

/// Replays the capture `file` into `store` with a progress bar: malformed
/// lines are skipped and counted in the report.
pub(crate) async fn replay_file(
    store: &dyn Store,
    router: &dyn PostRouter,
    file: &Path,
) -> anyhow::Result<ReplayReport> {
    let input = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress::bytes_bar(size, "replay");
    let reader = BufReader::with_capacity(1 << 20, input);
    let mut progress = |bytes: u64| bar.set_position(bytes);
    let report = replay(store, router, reader, REPLAY_BATCH, &mut progress)
        .await
        .with_context(|| format!("replaying {}", file.display()))?;
    bar.finish_and_clear();
    Ok(report)
}

/// The feed rules of the service config, when there is one: a capture
/// replayed outside a deployment (a benchmark's) fills no pools.
fn router(flows: &Path, config: &Path) -> anyhow::Result<Box<dyn PostRouter>> {
    if !config.exists() {
        eprintln!(
            "no {}: posts join no feed's pool (pass --config to apply the feeds' rules)",
            config.display()
        );
        return Ok(Box::new(NoRouting));
    }
    let config = serve::load_or_report(ServiceConfig::load(config))?;
    let (_, catalog) = serve::load_catalog(flows, &config)?;
    Ok(Box::new(CatalogRouting(Arc::new(catalog))))
}
