//! `feedmixer serve`: load config and flows, open the store, watch flows
//! and feeds for edits, answer readiness at once, build the graph in the
//! background, then serve feeds.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use feedmixer_atproto::clock::now_secs;
use feedmixer_flow::Catalog;
use feedmixer_identity::{DidResolver, ResolverConfig, Verifier};
use feedmixer_ingest::IngestConfig;
use feedmixer_server::runtime::bootstrap::load_graph;
use feedmixer_server::runtime::prune::keep_store_pruned;
use feedmixer_server::runtime::refresh::keep_graph_current;
use feedmixer_server::runtime::reload::{self, ConfigPaths};
use feedmixer_server::{AppState, ServiceConfig, serve};
use std::time::Duration;
use tokio::sync::watch;

use crate::store_args::StoreArgs;
use crate::{demo, ingest_lease, progress};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    store: StoreArgs,
    /// Fill an empty store with the demo dataset first.
    #[arg(long)]
    demo: bool,
    /// Size of the demo dataset: `full` (100k users, 1M likes) or `small`
    /// (2k users, 20k likes, for quick trials and tests).
    #[arg(long, value_enum, default_value_t = demo::DemoSize::Full)]
    demo_size: demo::DemoSize,
    /// Directory of flow files.
    #[arg(long, default_value = "flows")]
    flows: PathBuf,
    /// Service config file; the feeds file sits beside it.
    #[arg(long, default_value = "config/feedmixer.toml")]
    config: PathBuf,
    /// Refuse every mutating admin route with 503 (serving goes on).
    #[arg(long, env = "FEEDMIXER_READ_ONLY")]
    read_only: bool,
    /// PLC directory that viewers' did:plc documents are fetched from
    /// (`{plc-url}/{did}`), to verify their service JWTs.
    #[arg(long, env = "FEEDMIXER_PLC_URL", default_value = feedmixer_identity::DEFAULT_PLC_URL)]
    plc_url: String,
    /// Jetstream to ingest likes from (`wss://HOST`); without it nothing
    /// is ingested and the graph holds what the store has.
    #[arg(long, env = "FEEDMIXER_JETSTREAM_URL")]
    jetstream_url: Option<String>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    // First: flows register their metric handles when they are built, and
    // handles made before the recorder exists record nothing.
    let metrics = feedmixer_server::metrics::install();
    let mut config = load_or_report(ServiceConfig::load(&args.config))?;
    config.admin_token = std::env::var("FEEDMIXER_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    config.read_only = args.read_only;
    config.plc_url = args.plc_url.clone();
    config.cursor_secret = std::env::var("FEEDMIXER_CURSOR_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    if config.cursor_secret.is_none() {
        tracing::warn!(
            "FEEDMIXER_CURSOR_KEY is not set: cursors are signed with a random key and do not survive a restart or cross replicas"
        );
    }
    if config.admin_token.is_none() {
        tracing::warn!("FEEDMIXER_ADMIN_TOKEN is not set: every /v1/* route answers 401");
    }
    let registry = feedmixer_components::registry();
    let catalog = load_or_report(Catalog::load(&args.flows, &config.feeds, &registry))?;
    tracing::info!(
        flows = catalog.flows.len(),
        feeds = catalog.feeds.len(),
        "flows and feeds loaded"
    );
    let resolver = DidResolver::new(ResolverConfig {
        plc_url: config.plc_url.clone(),
        ..ResolverConfig::default()
    })
    .context("--plc-url")?;
    let verifier = Verifier::new(Arc::new(resolver), config.service_did.clone());
    let store = args.store.open().await?;
    let retention_days = config.retention_days;
    let state = Arc::new(AppState::new(
        config,
        registry,
        catalog,
        store.clone(),
        verifier,
        metrics,
    ));
    // Edits to flows and feeds go live without a restart; the service
    // config does not. Without a watcher the server still serves.
    let _watcher = match reload::watch(
        state.clone(),
        ConfigPaths {
            flows_dir: args.flows.clone(),
            feeds_file: state.config.feeds.clone(),
        },
    ) {
        Ok(watcher) => Some(watcher),
        Err(e) => {
            tracing::error!(error = %e, "flows and feeds will not be reloaded: restart to apply edits");
            None
        }
    };

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    tracing::info!(%addr, "listening; not ready until the graph is built");

    // One stop signal for the server and the background tasks.
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let ingest = args
        .jetstream_url
        .map(|url| IngestConfig {
            url,
            ..IngestConfig::default()
        })
        .map(|config| config.validate().map(|()| config))
        .transpose()
        .context("--jetstream-url")?;

    // How this process names itself in the store's leases.
    let holder = ingest_lease::holder_id();
    // Background tasks that cannot go on report here and stop the process.
    let (fatal_tx, mut fatal_rx) = tokio::sync::mpsc::channel::<anyhow::Error>(1);
    let loader = {
        let state = state.clone();
        let demo = args.demo.then_some(args.demo_size);
        let stop_rx = stop_rx.clone();
        tokio::spawn(async move {
            if let Some(size) = demo {
                demo::load_if_empty(store.as_ref(), size, &holder).await?;
            }
            // After the demo data: the demo loads only into an empty store.
            let ingesting = ingest.map(|config| {
                let run = ingest_lease::run(
                    config,
                    holder.clone(),
                    store.clone(),
                    state.clone(),
                    stop_rx,
                    fatal_tx.clone(),
                );
                tokio::spawn(run)
            });
            state.load_feed_data().await?;
            let total = store.counts().await?.likes;
            let bar = progress::bar(total, "graph", "likes");
            let mut progress = |read: u64| {
                bar.set_position(read);
                tracing::debug!(read, "building the graph");
            };
            let started = std::time::Instant::now();
            let version = store.likes_version().await?;
            let graph =
                load_graph(store.as_ref(), retention_days, now_secs(), &mut progress).await?;
            bar.finish_and_clear();
            tracing::info!(
                users = graph.num_users(),
                posts = graph.num_posts(),
                likes = graph.num_likes(),
                memory_mib = graph.memory_bytes() >> 20,
                secs = started.elapsed().as_secs_f32(),
                "graph built; serving"
            );
            state.set_graph(graph);
            let interval = Duration::from_millis(state.config.graph.refresh_interval_ms);
            tokio::spawn(keep_graph_current(state.clone(), interval, version));
            tokio::spawn(keep_store_pruned(state, holder));
            anyhow::Ok(ingesting)
        })
    };

    // Serve until told to stop; a loader failure stops the server too.
    let mut ingesting = None;
    let loader_failed = async {
        match loader.await {
            Ok(Ok(handle)) => {
                ingesting = handle;
                std::future::pending().await
            }
            Ok(Err(e)) => e,
            Err(e) => anyhow::Error::new(e),
        }
    };
    let server = serve(listener, state, stopped(stop_rx));
    tokio::select! {
        served = server => served.context("serving")?,
        failed = loader_failed => return Err(failed.context("loading the graph")),
        Some(failed) = fatal_rx.recv() => return Err(failed),
    }
    // Ingest saw the same stop: let it flush what it holds and give up
    // its lease.
    if let Some(handle) = ingesting {
        match tokio::time::timeout(Duration::from_secs(10), handle).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "ingest task failed"),
            Err(_) => tracing::error!("ingest did not stop within 10 s"),
        }
    }
    Ok(())
}

/// Prints every diagnostic as `FILE:LINE: reason` and fails.
fn load_or_report<T>(result: Result<T, Vec<feedmixer_flow::Diagnostic>>) -> anyhow::Result<T> {
    result.or_else(|errors| {
        for e in &errors {
            eprintln!("{e}");
        }
        bail!(
            "{} problem(s) in the configuration; run `feedmixer check`",
            errors.len()
        )
    })
}

/// Resolves once the stop signal was sent (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
