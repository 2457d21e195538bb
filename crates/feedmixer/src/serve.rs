//! `feedmixer serve`: load config and flows, open the store, watch flows
//! and feeds for edits, answer readiness at once, build the graph in the
//! background, then serve feeds.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use feedmixer_atproto::clock::now_secs;
use feedmixer_flow::{Catalog, Registry};
use feedmixer_identity::{DidResolver, ResolverConfig, Verifier};
use feedmixer_ingest::IngestConfig;
use feedmixer_server::config::{AdminToken, IngestSettings};
use feedmixer_server::pager::keys::{self as cursor_keys, CursorSecrets};
use feedmixer_server::runtime::bootstrap::load_graph;
use feedmixer_server::runtime::prune::keep_store_pruned;
use feedmixer_server::runtime::refresh::keep_graph_current;
use feedmixer_server::runtime::reload::{self, ConfigPaths, ConfigWatcher};
use feedmixer_server::runtime::sync::keep_pools_synced;
use feedmixer_server::{AppState, ServiceConfig, serve};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::store_args::StoreArgs;
use crate::{demo, ingest_lease, progress};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Serve the admin routes (`/v1/*`) and `/metrics` on this address
    /// instead, and answer 404 for them on `--listen` (which then carries
    /// only the public API).
    #[arg(long, env = "FEEDMIXER_ADMIN_LISTEN")]
    admin_listen: Option<SocketAddr>,
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
    /// Jetstream to ingest likes and posts from (`wss://HOST`); without it nothing
    /// is ingested and the graph holds what the store has.
    #[arg(long, env = "FEEDMIXER_JETSTREAM_URL")]
    jetstream_url: Option<String>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    // First: flows register their metric handles when they are built, and
    // handles made before the recorder exists record nothing.
    let metrics = feedmixer_server::metrics::install();
    let config = service_config(&args)?;
    let (registry, catalog) = load_catalog(&args.flows, &config)?;
    let verifier = build_verifier(&config)?;
    let store = args.store.open().await?;
    let (cursor_keys, source) = cursor_keys::load(store.as_ref(), &config.cursor_secrets)
        .await
        .context("reading the cursor key from the store")?;
    tracing::info!(?source, "cursor signing key");
    let state = AppState::new(
        config,
        registry,
        catalog,
        store,
        verifier,
        cursor_keys,
        metrics,
    )
    .context("building the hydrators")?;
    let mut state = state;
    state
        .start_impression_log()
        .context("starting the impression log")?;
    let state = Arc::new(state);
    let _watcher = watch_config(&state, &args.flows);
    let listener = listen(args.listen).await?;
    let admin_listener = match args.admin_listen {
        Some(addr) => Some(listen_admin(addr).await?),
        None => None,
    };
    let stop = stop_on_signal();
    let ingest = ingest_config(args.jetstream_url, &state.config.ingest)?;
    // Background tasks that cannot go on report here and stop the process.
    let (fatal_tx, fatal_rx) = mpsc::channel::<anyhow::Error>(1);
    let loader = tokio::spawn(load(Loader {
        state: state.clone(),
        demo: args.demo.then_some(args.demo_size),
        ingest,
        // How this process names itself in the store's leases.
        holder: ingest_lease::holder_id(),
        stop: stop.clone(),
        fatal: fatal_tx,
    }));
    serve_until_stopped(listener, admin_listener, state, stop, loader, fatal_rx).await
}

/// The service config file, with what the environment and flags set;
/// warns about the secrets left unset.
fn service_config(args: &ServeArgs) -> anyhow::Result<ServiceConfig> {
    let mut config = load_or_report(ServiceConfig::load(&args.config))?;
    config.admin_token = std::env::var("FEEDMIXER_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .map(AdminToken::new)
        .transpose()
        .map_err(anyhow::Error::msg)
        .context("FEEDMIXER_ADMIN_TOKEN")?;
    config.read_only = args.read_only;
    config.plc_url = args.plc_url.clone();
    let secret = |name: &str| std::env::var(name).ok().filter(|k| !k.is_empty());
    config.cursor_secrets = CursorSecrets {
        current: secret("FEEDMIXER_CURSOR_KEY"),
        previous: secret("FEEDMIXER_CURSOR_KEY_PREVIOUS"),
    };
    if config.admin_token.is_none() {
        tracing::warn!("FEEDMIXER_ADMIN_TOKEN is not set: every /v1/* route answers 401");
    }
    Ok(config)
}

/// The registry of kinds and the flows and feeds validated against it.
pub(crate) fn load_catalog(
    flows: &Path,
    config: &ServiceConfig,
) -> anyhow::Result<(Registry, Catalog)> {
    let registry = feedmixer_components::registry();
    let catalog = load_or_report(Catalog::load(flows, &config.feeds, &registry))?;
    tracing::info!(
        flows = catalog.flows.len(),
        feeds = catalog.feeds.len(),
        "flows and feeds loaded"
    );
    Ok((registry, catalog))
}

/// Checks viewers' service JWTs against DID documents from `--plc-url`.
fn build_verifier(config: &ServiceConfig) -> anyhow::Result<Verifier> {
    let resolver = DidResolver::new(ResolverConfig {
        plc_url: config.plc_url.clone(),
        ..ResolverConfig::default()
    })
    .context("--plc-url")?;
    Ok(Verifier::new(
        Arc::new(resolver),
        config.service_did.clone(),
    ))
}

/// Edits to flows and feeds go live without a restart; the service config
/// does not. Without a watcher the server still serves.
fn watch_config(state: &Arc<AppState>, flows: &Path) -> Option<ConfigWatcher> {
    let paths = ConfigPaths {
        flows_dir: flows.to_path_buf(),
        feeds_file: state.config.feeds.clone(),
    };
    match reload::watch(state.clone(), paths) {
        Ok(watcher) => Some(watcher),
        Err(e) => {
            tracing::error!(error = %e, "flows and feeds will not be reloaded: restart to apply edits");
            None
        }
    }
}

async fn listen(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    tracing::info!(%addr, "listening; not ready until the graph is built");
    Ok(listener)
}

async fn listen_admin(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("--admin-listen {addr}"))?;
    let admin = listener.local_addr().context("reading the bound address")?;
    tracing::info!(%admin, "admin routes and /metrics bound; the public address serves neither");
    Ok(listener)
}

/// One stop signal for the server and the background tasks, sent on
/// Ctrl-C or SIGTERM.
fn stop_on_signal() -> watch::Receiver<bool> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    stop_rx
}

/// What `--jetstream-url` asks to ingest, if anything, with the
/// `[ingest]` settings of the service config.
fn ingest_config(
    url: Option<String>,
    settings: &IngestSettings,
) -> anyhow::Result<Option<IngestConfig>> {
    url.map(|url| IngestConfig {
        url,
        idle_timeout: Duration::from_secs(settings.idle_timeout_secs),
        ..IngestConfig::default()
    })
    .map(|config| config.validate().map(|()| config))
    .transpose()
    .context("--jetstream-url")
}

/// What the background loader works with.
struct Loader {
    state: Arc<AppState>,
    demo: Option<demo::DemoSize>,
    ingest: Option<IngestConfig>,
    holder: String,
    stop: watch::Receiver<bool>,
    fatal: mpsc::Sender<anyhow::Error>,
}

/// Everything that happens while readiness says 503: the demo data into
/// an empty store when asked, ingest started, the feed data loaded, the
/// graph built and swapped in; then the refresher and the pruner start.
/// Returns the ingest task, if one runs.
async fn load(loader: Loader) -> anyhow::Result<Option<JoinHandle<()>>> {
    let Loader {
        state,
        demo,
        ingest,
        holder,
        stop,
        fatal,
    } = loader;
    let store = state.store.clone();
    if let Some(size) = demo {
        demo::load_if_empty(store.as_ref(), state.as_ref(), size, &holder).await?;
    }
    // After the demo data: the demo loads only into an empty store.
    let ingesting = ingest.map(|config| {
        let run = ingest_lease::run(
            config,
            holder.clone(),
            store.clone(),
            state.clone(),
            stop,
            fatal,
        );
        tokio::spawn(run)
    });
    state.load_feed_data().await?;
    let version = build_graph(&state).await?;
    let interval = Duration::from_millis(state.config.graph.refresh_interval_ms);
    tokio::spawn(keep_graph_current(state.clone(), interval, version));
    if !state.config.read_only {
        tokio::spawn(keep_pools_synced(state.clone(), holder.clone()));
    }
    tokio::spawn(keep_store_pruned(state, holder));
    Ok(ingesting)
}

/// Builds the graph from the store (with a progress bar) and serves it;
/// returns the store version it reflects.
async fn build_graph(state: &AppState) -> anyhow::Result<u64> {
    let store = state.store.as_ref();
    let total = store.counts().await?.likes;
    let bar = progress::bar(total, "graph", "likes");
    let mut progress = |read: u64| {
        bar.set_position(read);
        tracing::debug!(read, "building the graph");
    };
    let started = std::time::Instant::now();
    let version = store.likes_version().await?;
    let graph = load_graph(
        store,
        state.config.retention_days,
        now_secs(),
        &mut progress,
    )
    .await?;
    bar.finish_and_clear();
    tracing::info!(
        users = graph.num_users(),
        posts = graph.num_posts(),
        likes = graph.num_likes(),
        memory_mib = graph.memory_bytes() >> 20,
        secs = started.elapsed().as_secs_f32(),
        "graph built; serving"
    );
    state.set_graph(graph).await;
    Ok(version)
}

/// Serves until told to stop; a loader failure, or a background task that
/// cannot go on, stops the server too. Then lets ingest, which saw the
/// same stop, flush what it holds and give up its lease.
async fn serve_until_stopped(
    listener: TcpListener,
    admin_listener: Option<TcpListener>,
    state: Arc<AppState>,
    stop: watch::Receiver<bool>,
    loader: JoinHandle<anyhow::Result<Option<JoinHandle<()>>>>,
    mut fatal: mpsc::Receiver<anyhow::Error>,
) -> anyhow::Result<()> {
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
    let server = serve(listener, admin_listener, state, stopped(stop));
    tokio::select! {
        served = server => served.context("serving")?,
        failed = loader_failed => return Err(failed.context("loading the graph")),
        Some(failed) = fatal.recv() => return Err(failed),
    }
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
pub(crate) fn load_or_report<T>(
    result: Result<T, Vec<feedmixer_flow::Diagnostic>>,
) -> anyhow::Result<T> {
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
