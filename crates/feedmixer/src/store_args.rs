//! Which store a command uses: the embedded one in `--data-dir`, or Redis
//! (`--redis-url` / `REDIS_URL`, `--redis-cluster-nodes` /
//! `REDIS_CLUSTER_NODES`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use crate::progress;
use feedmixer_store::{EmbeddedStore, Store};
use feedmixer_store_redis::{DEFAULT_PREFIX, RedisStore, RedisStoreError, RedisTarget};

#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Directory of the embedded store (used when no Redis is given).
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// A single Redis holding the shared state: redis://HOST:PORT.
    #[arg(long, env = "REDIS_URL", conflicts_with = "redis_cluster_nodes")]
    pub redis_url: Option<String>,
    /// A Redis Cluster, by some of its nodes:
    /// redis://H1:P1,redis://H2:P2,...
    #[arg(long, env = "REDIS_CLUSTER_NODES", value_delimiter = ',')]
    pub redis_cluster_nodes: Option<Vec<String>>,
    /// Prefix of every Redis key: several deployments can share a Redis.
    #[arg(long, env = "FEEDMIXER_REDIS_PREFIX", default_value = DEFAULT_PREFIX)]
    pub redis_prefix: String,
}

/// How long a start waits for Redis to answer before giving up.
const CONNECT_PATIENCE: Duration = Duration::from_secs(60);

impl StoreArgs {
    /// Opens the selected store. Redis is retried for a minute: a replica
    /// may start before its Redis does.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        let target = match (&self.redis_url, &self.redis_cluster_nodes) {
            (Some(url), _) => RedisTarget::Single(url.clone()),
            (None, Some(nodes)) => {
                let nodes: Vec<String> = nodes
                    .iter()
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty())
                    .collect();
                if nodes.is_empty() {
                    bail!("--redis-cluster-nodes: give at least one redis://HOST:PORT");
                }
                RedisTarget::Cluster(nodes)
            }
            (None, None) => return Ok(Arc::new(self.open_embedded()?)),
        };
        let started = Instant::now();
        let mut pause = Duration::from_millis(250);
        loop {
            // A store an older release wrote is converted first, with a bar.
            let mut bar = None;
            let connected = RedisStore::connect_with_progress(
                target.clone(),
                &self.redis_prefix,
                &mut |step| {
                    bar.get_or_insert_with(|| progress::bar(step.total, "converting", "likes"))
                        .set_position(step.moved);
                },
            )
            .await;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            match connected {
                Ok(store) => return Ok(Arc::new(store)),
                Err(e) if started.elapsed() < CONNECT_PATIENCE && is_transient(&e) => {
                    tracing::warn!(error = %e, "Redis does not answer yet; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e).context("connecting to Redis"),
            }
        }
    }
}

impl StoreArgs {
    /// Opens the embedded store, with a bar while it converts a file of an
    /// older schema version (log lines say the same off a terminal).
    fn open_embedded(&self) -> anyhow::Result<EmbeddedStore> {
        let mut bar = None;
        let store = EmbeddedStore::open_with_progress(&self.data_dir, &mut |step| {
            bar.get_or_insert_with(|| progress::bar(step.total, "converting", "records"))
                .set_position(step.moved);
        })
        .with_context(|| format!("opening the store in {}", self.data_dir.display()))?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        Ok(store)
    }
}

/// Connection trouble is worth a retry; a bad prefix or a newer schema is
/// not.
fn is_transient(error: &feedmixer_store::StoreError) -> bool {
    let feedmixer_store::StoreError::Backend(inner) = error else {
        return false;
    };
    matches!(
        inner.downcast_ref::<RedisStoreError>(),
        Some(RedisStoreError::Redis(_))
    )
}
