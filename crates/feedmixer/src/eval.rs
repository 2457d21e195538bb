//! `feedmixer eval`: offline evaluation of feeds on a like log — a
//! Jetstream capture (replayed into a throwaway store first, as `replay`
//! would) or the configured store. The method is `feedmixer-eval`'s and
//! docs/eval.md's; this wires it: the split time from the store's likes,
//! the graph as of it, the held-out likes after it, the server's
//! hydrators, then every feed and preset and the baseline, one table.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use feedmixer_atproto::clock::rfc3339;
use feedmixer_eval::{Evaluator, HeldOut, Row, Rules, Split, report, split_time, variants};
use feedmixer_graph::LikeGraph;
use feedmixer_server::ServiceConfig;
use feedmixer_server::runtime::bootstrap::load_graph_before;
use feedmixer_server::runtime::feed_data::FeedData;
use feedmixer_server::runtime::post_routing::CatalogRouting;
use feedmixer_server::runtime::state::build_hydrators;
use feedmixer_store::{EmbeddedStore, Store, StoreHealth};

use crate::store_args::StoreArgs;
use crate::{progress, replay, serve};

/// Offline evaluation of feeds on a like log.
///
/// One split time T cuts the log (by default leaving the newest 10 % of
/// its likes after it). The graph and everything the flows read are what
/// was stored before T. Each user's first `--holdout` K likes after T of
/// posts known at T are held out; users with likes before T and at least
/// `--min-holdout` held-out likes are sampled (seeded). Each feed, at each preset, ranks
/// 100 posts for every sampled user through its real flow with the clock
/// at T (offline: no budgets, quality factor 1), scored by recall@k and
/// nDCG@k (k = 10, 30, 100) against the held-out likes; coverage is the
/// distinct posts of the users' first 30 over every servable post known at
/// T; sources are the share of first-30 slots each source proposed;
/// latency is each flow run's wall time. The `popularity` row is the
/// baseline: the most-liked posts of the 24 h before T, minus what the
/// user liked or wrote. Details: docs/eval.md.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A Jetstream JSONL capture (as `demo-capture` writes it) to evaluate
    /// on; it is replayed into a throwaway store first, malformed lines
    /// skipped and counted as `replay` does. Without it: the store of
    /// `--data-dir` or `--redis-url`.
    #[arg(long, conflicts_with_all = ["data_dir", "redis_url", "redis_cluster_nodes"])]
    capture: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    /// Feeds to evaluate, comma-separated (default: every configured feed).
    #[arg(long, value_delimiter = ',')]
    feeds: Vec<String>,
    /// Presets to run every feed with, comma-separated (default: each
    /// feed's own).
    #[arg(long, value_delimiter = ',')]
    presets: Vec<String>,
    /// Users to sample.
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// Held-out likes per user, at most: their first K after the split.
    #[arg(long, default_value_t = Rules::default().holdout)]
    holdout: usize,
    /// Held-out likes a user needs to be sampled (1: every user who liked
    /// again after the split; K: only users with K).
    #[arg(long, default_value_t = Rules::default().min_holdout)]
    min_holdout: usize,
    /// Seed of the user sample: the same seed, log and sizes give the same
    /// users and the same metrics.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The share of the log's likes before the split.
    #[arg(long, default_value_t = 0.9)]
    split_quantile: f64,
    /// The split time instead, unix seconds.
    #[arg(long, conflicts_with = "split_quantile")]
    split_at: Option<u32>,
    /// Likes a user needs before the split to be sampled.
    #[arg(long, default_value_t = Rules::default().min_history)]
    min_history: usize,
    /// One JSON object per row and line on stdout (the rest on stderr).
    #[arg(long)]
    json: bool,
    /// Directory of flow files.
    #[arg(long, default_value = "flows")]
    flows: PathBuf,
    /// Service config file (retention, the feeds file beside it).
    #[arg(long, default_value = "config/feedmixer.toml")]
    config: PathBuf,
}

pub async fn run(args: EvalArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = serve::load_or_report(ServiceConfig::load(&args.config))?;
    let (registry, catalog) = serve::load_catalog(&args.flows, &config)?;
    // Before any work: unknown feeds and presets are the caller's mistake.
    let variants = variants(&catalog, &registry, &args.feeds, &args.presets)?;
    let catalog = Arc::new(catalog);
    let feeds: Vec<String> = catalog.feeds.keys().cloned().collect();

    let (_scratch, store) = open_log(&args, &catalog).await?;
    let at = match args.split_at {
        Some(at) => at,
        None => split_time(&like_times(store.as_ref()).await?, args.split_quantile)?,
    };
    let graph = graph_at(store.as_ref(), config.retention_days, at).await?;
    let split = held_out(store.as_ref(), &graph, at, &args).await?;
    let hydrators = build_hydrators(&registry, &config, &store, &StoreHealth::new())
        .context("building the hydrators")?;
    FeedData::new(Arc::clone(&store))
        .load(&hydrators, &feeds)
        .await
        .context("loading the feeds' pools and special posts")?;

    let evaluator = Evaluator::new(Arc::clone(&graph), &split, &hydrators);
    let summary = summary(&split, &graph, &evaluator);
    if args.json {
        eprint!("{summary}");
    } else {
        print!("{summary}");
    }
    let runs = (variants.len() + 1) * split.users.len();
    let bar = progress::bar(runs as u64, "eval", "rankings");
    let mut rows: Vec<Row> = Vec::with_capacity(variants.len() + 1);
    for variant in &variants {
        bar.set_message(format!("{} {}", variant.feed, variant.preset));
        rows.push(evaluator.feed(variant, &mut || bar.inc(1)).await);
    }
    bar.set_message("popularity");
    rows.push(evaluator.popularity(&mut || bar.inc(1)));
    bar.finish_and_clear();

    if args.json {
        for row in &rows {
            println!("{}", row.to_json());
        }
    } else {
        print!("{}", report::table(&rows));
    }
    eprintln!("evaluated in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The store holding the log: a throwaway embedded store the capture is
/// replayed into (kept until the evaluation ends), or the configured one.
async fn open_log(
    args: &EvalArgs,
    catalog: &Arc<feedmixer_flow::Catalog>,
) -> anyhow::Result<(Option<tempfile::TempDir>, Arc<dyn Store>)> {
    let Some(file) = &args.capture else {
        let embedded = args.store.redis_url.is_none() && args.store.redis_cluster_nodes.is_none();
        if embedded && !args.store.data_dir.exists() {
            bail!(
                "no store in {} (give --capture FILE, or --data-dir of a store)",
                args.store.data_dir.display()
            );
        }
        return Ok((None, args.store.open().await?));
    };
    if !file.is_file() {
        bail!("--capture {}: no such file", file.display());
    }
    let dir = tempfile::tempdir().context("creating a scratch store")?;
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path())?);
    let router = CatalogRouting(Arc::clone(catalog));
    let started = Instant::now();
    let report = replay::replay_file(store.as_ref(), &router, file).await?;
    eprintln!(
        "replayed {} in {:.1} s: {} lines, {} like and post events, {} malformed (skipped)",
        file.display(),
        started.elapsed().as_secs_f64(),
        report.lines,
        report.events,
        report.malformed
    );
    for (line, reason) in &report.first_errors {
        eprintln!("  {}:{line}: {reason}", file.display());
    }
    Ok((Some(dir), store))
}

/// Every live like's time, oldest first.
async fn like_times(store: &dyn Store) -> anyhow::Result<Vec<u64>> {
    let mut times = Vec::with_capacity(store.counts().await?.likes as usize);
    store
        .scan_likes(0, &mut |like| times.push(like.time_us))
        .await
        .context("reading the like log")?;
    times.sort_unstable();
    Ok(times)
}

/// The graph as the server would have built it at `at`.
async fn graph_at(
    store: &dyn Store,
    retention_days: u32,
    at: u32,
) -> anyhow::Result<Arc<LikeGraph>> {
    let bar = progress::bar(store.counts().await?.likes, "graph", "records");
    let mut progress = |read: u64| bar.set_position(read);
    let graph = load_graph_before(store, retention_days, at, &mut progress)
        .await
        .context("building the graph at the split")?;
    bar.finish_and_clear();
    Ok(Arc::new(graph))
}

/// The likes after the split, held out against the graph.
async fn held_out(
    store: &dyn Store,
    graph: &LikeGraph,
    at: u32,
    args: &EvalArgs,
) -> anyhow::Result<Split> {
    let rules = Rules {
        holdout: args.holdout,
        min_holdout: args.min_holdout,
        min_history: args.min_history,
    };
    let mut held = HeldOut::new(graph, at, rules)?;
    // The store hands them over in its log's order; the split takes each
    // user's first likes after T, so in time order (ties by DID and key).
    let mut after: Vec<(u64, String, String, String)> = Vec::new();
    store
        .scan_likes(u64::from(at) * 1_000_000, &mut |like| {
            after.push((
                like.time_us,
                like.did.to_string(),
                like.rkey.to_string(),
                like.subject.to_string(),
            ))
        })
        .await
        .context("reading the likes after the split")?;
    after.sort_unstable();
    for (time_us, did, _, subject) in &after {
        held.add(did, subject, *time_us);
    }
    Ok(held.finish(args.users, args.seed)?)
}

/// What the evaluation runs on, for the lines above the table.
fn summary(split: &Split, graph: &LikeGraph, evaluator: &Evaluator<'_>) -> String {
    let s = &split.stats;
    let at_us = u64::from(split.at_secs) * 1_000_000;
    format!(
        "split at {} ({}): {} likes in the graph, {} after\n\
         likes after the split: {} held out, {} of posts unknown at the split, {} by users \
         without history, {} already liked, {} own posts, {} past the holdout\n\
         users: {} with {} to {} held-out likes ({:.2} on average), {} sampled; {} servable \
         posts at the split\n\n",
        rfc3339(at_us),
        split.at_secs,
        graph.num_likes(),
        s.likes_after,
        s.held_out,
        s.unknown_post,
        s.no_history,
        s.repeated,
        s.own_post,
        s.past_holdout,
        split.eligible,
        split.rules.min_holdout,
        split.rules.holdout,
        split.eligible_held_out as f64 / split.eligible.max(1) as f64,
        split.users.len(),
        evaluator.servable_posts(),
    )
}
