//! `feedmixer-load`: open-loop HTTP load at a fixed rate (see the library
//! docs for why not wrk). Prints one JSON report.
//!
//!     feedmixer-load http://127.0.0.1:8080/v1/personalize --rate 2000 \
//!         --duration 20 --body @page.json -H 'content-type: application/json'

use std::net::ToSocketAddrs;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use feedmixer_load::{Plan, run};
use hyper::Method;
use hyper::header::{HeaderName, HeaderValue};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Open-loop HTTP load: requests at a fixed rate, latency from when each was due"
)]
struct Args {
    /// `http://HOST:PORT/PATH` (plain HTTP).
    url: String,
    /// Requests per second offered.
    #[arg(long)]
    rate: f64,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds sent first and not counted.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Keep-alive connections sharing the schedule.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds before an unanswered request counts as an error.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Request body (a POST unless --method says otherwise); `@FILE` reads it.
    #[arg(long)]
    body: Option<String>,
    #[arg(long)]
    method: Option<String>,
    /// `NAME: VALUE`; repeatable.
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = plan(&args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(plan))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn plan(args: &Args) -> anyhow::Result<Plan> {
    let rest = args
        .url
        .strip_prefix("http://")
        .context("the URL must start with http://")?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {authority:?}"))?
        .next()
        .with_context(|| format!("{authority:?} has no address"))?;
    let body = match args.body.as_deref() {
        Some(file) if file.starts_with('@') => {
            std::fs::read(&file[1..]).with_context(|| format!("cannot read {}", &file[1..]))?
        }
        Some(text) => text.as_bytes().to_vec(),
        None => Vec::new(),
    };
    let method = match (&args.method, args.body.is_some()) {
        (Some(m), _) => Method::from_bytes(m.as_bytes()).context("bad --method")?,
        (None, true) => Method::POST,
        (None, false) => Method::GET,
    };
    let mut headers = Vec::new();
    for h in &args.headers {
        let Some((name, value)) = h.split_once(':') else {
            bail!("header {h:?} is not NAME: VALUE");
        };
        headers.push((
            HeaderName::from_bytes(name.trim().as_bytes()).context("bad header name")?,
            HeaderValue::from_str(value.trim()).context("bad header value")?,
        ));
    }
    let seconds = |s: f64, what: &str| {
        Duration::try_from_secs_f64(s).with_context(|| format!("--{what} must be seconds >= 0"))
    };
    Ok(Plan {
        addr,
        path: path.to_owned(),
        method,
        headers,
        body: Bytes::from(body),
        rate: args.rate,
        duration: seconds(args.duration, "duration")?,
        warmup: seconds(args.warmup, "warmup")?,
        connections: args.connections,
        timeout: seconds(args.timeout, "timeout")?,
    })
}
