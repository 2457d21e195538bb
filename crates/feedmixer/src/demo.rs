//! The demo dataset: loaded into an empty store by `serve --demo`, or
//! written out as a Jetstream capture for `replay` and benchmarks.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use std::collections::{BTreeSet, HashSet};

use feedmixer_atproto::AtUri;
use feedmixer_atproto::clock::now_us;
use feedmixer_demo::{DemoSpec, did_for, generate};
use feedmixer_store::{PostRouter, RepoEvent, Store, apply_routed};
use tokio::sync::mpsc;

use crate::progress;

/// Meta key recording when the demo data was loaded.
const DEMO_LOADED: &str = "demo_loaded_us";
/// The shipped feed whose candidate pool the demo fills.
const DEMO_POOL_FEED: &str = "curated";
/// Its pool: every liked post of this many of the demo's authors.
const DEMO_POOL_AUTHORS: u64 = 100;
const BATCH: usize = 50_000;

/// Which demo dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoSize {
    Full,
    Small,
}

impl DemoSize {
    fn spec(self, now_us: u64) -> DemoSpec {
        match self {
            DemoSize::Full => DemoSpec::full(now_us),
            DemoSize::Small => DemoSpec::small(now_us),
        }
    }
}

/// Fills an empty store with the demo dataset through the same `apply`
/// path a replay takes, new posts joining the pools `router` routes them
/// to. A store that already holds likes is left alone.
pub async fn load_if_empty(
    store: &dyn Store,
    router: &dyn PostRouter,
    size: DemoSize,
    holder: &str,
) -> anyhow::Result<()> {
    // Replicas started together on one empty Redis: one loads, the others
    // follow its likes through the log.
    if !store
        .acquire_lease("demo-load", holder, std::time::Duration::from_secs(1800))
        .await?
    {
        tracing::info!("another replica loads the demo data");
        return Ok(());
    }
    // The lease is kept after loading; it expires on its own.
    load_unless_filled(store, router, size).await
}

async fn load_unless_filled(
    store: &dyn Store,
    router: &dyn PostRouter,
    size: DemoSize,
) -> anyhow::Result<()> {
    let counts = store.counts().await?;
    if counts.likes > 0 {
        tracing::info!(
            likes = counts.likes,
            "the store already holds likes; demo data not loaded"
        );
        return Ok(());
    }
    let spec = size.spec(now_us());
    let seed = spec.seed;
    tracing::info!(
        users = spec.users,
        posts = spec.posts,
        likes = spec.likes,
        "generating demo data"
    );
    let bar = progress::bar((spec.likes + spec.posts) as u64, "demo data", "events");
    let (tx, mut rx) = mpsc::channel::<Vec<RepoEvent>>(4);
    let generator = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(BATCH);
        generate(&spec, |event| {
            batch.push(event);
            if batch.len() == BATCH {
                // The receiver only goes away when loading failed.
                let _ = tx.blocking_send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
            }
        });
        let _ = tx.blocking_send(batch);
    });
    let pool_authors: HashSet<String> = (0..DEMO_POOL_AUTHORS).map(|i| did_for(seed, i)).collect();
    let mut pool = BTreeSet::new();
    let mut loaded = 0u64;
    while let Some(batch) = rx.recv().await {
        apply_routed(store, &batch, router)
            .await
            .context("loading demo data")?;
        for event in &batch {
            if let RepoEvent::LikeCreate { subject, .. } = event
                && AtUri::parse(subject).is_ok_and(|u| pool_authors.contains(u.did))
            {
                pool.insert(subject.clone());
            }
        }
        loaded += batch.len() as u64;
        bar.set_position(loaded);
    }
    generator.await.context("demo generator")?;
    let pool: Vec<String> = pool.into_iter().collect();
    store.update_pool(DEMO_POOL_FEED, &pool, &[], true).await?;
    store.set_meta(DEMO_LOADED, &now_us().to_be_bytes()).await?;
    bar.finish_and_clear();
    tracing::info!(events = loaded, "demo data loaded");
    Ok(())
}

/// Writes the demo dataset as Jetstream JSON lines; with `scale`, the full
/// dataset that many times bigger ([`DemoSpec::scaled`]).
pub fn write_capture(path: &Path, size: DemoSize, scale: Option<u32>) -> anyhow::Result<()> {
    let spec = match (size, scale) {
        (_, None) => size.spec(now_us()),
        (DemoSize::Full, Some(factor)) => DemoSpec::scaled(now_us(), factor as usize),
        (DemoSize::Small, Some(_)) => anyhow::bail!("--scale needs --size full"),
    };
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::new(file);
    let bar = progress::bar(spec.likes as u64, "demo capture", "events");
    let mut result = Ok(());
    let mut written = 0u64;
    generate(&spec, |event| {
        if result.is_ok() {
            result = writeln!(out, "{}", event.to_jetstream_json());
            written += 1;
            if written.is_multiple_of(10_000) {
                bar.set_position(written);
            }
        }
    });
    result
        .and_then(|()| out.flush())
        .with_context(|| format!("writing {}", path.display()))?;
    bar.finish_and_clear();
    eprintln!("wrote {written} events to {}", path.display());
    Ok(())
}
