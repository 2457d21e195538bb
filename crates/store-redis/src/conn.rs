//! One connection type over a single Redis and a Redis Cluster, so the
//! rest of the crate sends commands, pipelines and scripts without caring
//! which it talks to.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::RedisTarget;

/// An auto-reconnecting, multiplexed connection; clones share it.
#[derive(Clone)]
pub(crate) enum Conn {
    /// Reconnects with backoff when the connection drops.
    Single(ConnectionManager),
    /// Follows the cluster's topology and reconnects to its nodes.
    Cluster(ClusterConnection),
}

impl Conn {
    pub(crate) async fn connect(
        target: RedisTarget,
        connection_timeout: Duration,
        response_timeout: Duration,
    ) -> redis::RedisResult<Conn> {
        match target {
            RedisTarget::Single(url) => {
                // Reconnects back off from 100 ms to at most a second, six
                // times, before the request that waits fails (the next one
                // tries again).
                let config = ConnectionManagerConfig::new()
                    .set_max_delay(Duration::from_secs(1))
                    .set_connection_timeout(Some(connection_timeout))
                    .set_response_timeout(Some(response_timeout));
                let client = redis::Client::open(url)?;
                Ok(Conn::Single(
                    client.get_connection_manager_with_config(config).await?,
                ))
            }
            RedisTarget::Cluster(urls) => {
                let client = ClusterClientBuilder::new(urls)
                    .connection_timeout(connection_timeout)
                    .response_timeout(response_timeout)
                    .build()?;
                Ok(Conn::Cluster(client.get_async_connection().await?))
            }
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(conn) => conn.req_packed_command(cmd),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(conn) => conn.get_db(),
            Conn::Cluster(conn) => conn.get_db(),
        }
    }
}
