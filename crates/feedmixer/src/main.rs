//! The `feedmixer` binary: serve feeds, check flow files, replay captures,
//! evaluate feeds offline, publish the feeds' records.

mod admin;
mod check;
mod demo;
mod eval;
mod experiments;
mod ingest_lease;
mod kinds;
mod progress;
mod publish;
mod replay;
mod serve;
mod show;
mod status;
mod store_args;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// jemalloc, not the system allocator: the soak measured glibc's malloc
/// holding three times the memory under the same load, and growing.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read when it starts (`_RJEM_MALLOC_CONF` in the
/// environment still overrides them): a background thread hands freed
/// pages back to the kernel after a second, where by default they waited
/// for the next allocations to trigger it, so the whole graph an update
/// replaces is not held for long.
#[cfg(not(target_env = "msvc"))]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

#[derive(Parser)]
#[command(
    name = "feedmixer",
    version,
    about = "Personalized Bluesky feeds from declarative flows"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the feeds over HTTP.
    Serve(serve::ServeArgs),
    /// Validate flow files, the feeds file and the service config.
    Check {
        /// Flow files, a flows directory, a config directory or file.
        /// None: the shipped `flows/` and `config/`.
        paths: Vec<PathBuf>,
    },
    /// Load a Jetstream JSONL capture into the store (posts matching a
    /// feed's rules join its pool).
    Replay {
        file: PathBuf,
        #[command(flatten)]
        store: store_args::StoreArgs,
        #[arg(long, default_value = "flows")]
        flows: PathBuf,
        /// The service config whose feeds' rules route posts to pools.
        #[arg(long, default_value = "config/feedmixer.toml")]
        config: PathBuf,
    },
    /// Write the demo dataset as a Jetstream JSONL capture.
    DemoCapture {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = demo::DemoSize::Full)]
        size: demo::DemoSize,
        /// The full dataset N times bigger (users, likes, authors, posts):
        /// 10 writes 10M likes. Only with `--size full`.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        scale: Option<u32>,
    },
    /// Evaluate feeds offline on a like log: recall and nDCG of held-out
    /// likes, coverage, sources and latency, beside a popularity baseline.
    Eval(Box<eval::EvalArgs>),
    /// Print the flow a feed runs with every param resolved (no feed: list feeds).
    Flows {
        feed: Option<String>,
        /// Resolve with this preset instead of the feed's.
        #[arg(long)]
        preset: Option<String>,
        #[arg(long, default_value = "flows")]
        flows: PathBuf,
        #[arg(long, default_value = "config/feedmixer.toml")]
        config: PathBuf,
    },
    /// List the component kinds flows can use and the hydrators behind
    /// the features they read; with a kind, its params.
    Kinds { kind: Option<String> },
    /// Write the feeds' generator records to the publisher's repository.
    Publish(publish::PublishArgs),
    /// Delete a feed's generator record from the publisher's repository.
    Unpublish(publish::UnpublishArgs),
    /// A running server's feed status with its diagnosis (no feed: every
    /// feed).
    Status(status::StatusArgs),
    /// A running server's feed experiments.
    #[command(subcommand)]
    Experiments(experiments::ExperimentsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Serve(args) => runtime().and_then(|rt| rt.block_on(serve::run(args))),
        Command::Check { paths } => return check::run(&paths),
        Command::Replay {
            file,
            store,
            flows,
            config,
        } => runtime().and_then(|rt| rt.block_on(replay::run(&file, &store, &flows, &config))),
        Command::DemoCapture { file, size, scale } => demo::write_capture(&file, size, scale),
        Command::Eval(args) => runtime().and_then(|rt| rt.block_on(eval::run(*args))),
        Command::Flows {
            feed,
            preset,
            flows,
            config,
        } => show::run(feed.as_deref(), preset.as_deref(), &flows, &config),
        Command::Kinds { kind } => kinds::run(kind.as_deref()),
        Command::Publish(args) => runtime().and_then(|rt| rt.block_on(publish::publish(args))),
        Command::Unpublish(args) => runtime().and_then(|rt| rt.block_on(publish::unpublish(args))),
        Command::Status(args) => runtime().and_then(|rt| rt.block_on(status::run(args))),
        Command::Experiments(command) => {
            runtime().and_then(|rt| rt.block_on(experiments::run(command)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Logs to stderr; `RUST_LOG` filters (default `info`), `FEEDMIXER_LOG_FORMAT=json`
/// switches to JSON lines for log shippers.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if std::env::var("FEEDMIXER_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
