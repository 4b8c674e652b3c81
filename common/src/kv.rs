//! Redis connection (queues, rate limits, one-time codes, caches, event streams).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;

use crate::config::RedisConfig;

/// A Redis connection that reconnects by itself, with the deployment's key prefix.
#[derive(Clone)]
pub struct Kv {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for Kv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kv").field("prefix", &self.prefix).finish()
    }
}

impl Kv {
    /// Connects to Redis; fails when the server cannot be reached now.
    pub async fn connect(config: &RedisConfig) -> anyhow::Result<Self> {
        let client = redis::Client::open(config.url.expose_secret())
            .map_err(|e| anyhow::anyhow!("REDIS_URL is invalid: {e}"))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(client.clone(), manager_config)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to Redis: {e}"))?;
        Ok(Self {
            client,
            conn,
            prefix: config.key_prefix.clone(),
        })
    }

    /// A handle for commands (cheap to clone).
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// A connection of its own, without a response timeout, for blocking reads
    /// (`XREAD BLOCK`) that must not hold up the shared connection.
    pub async fn dedicated(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(None);
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// `name` under this deployment's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The deployment's key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// One round trip to the server.
    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(drop)
    }
}

/// [`timed`], made once more when the first call finds the connection dropped (Redis
/// restarted, or the connection was killed): the connection manager reconnects on that
/// error, and the call on the new connection should not fail for it. Only for calls that
/// may run twice (the first may have run before its reply was lost).
///
/// Before the api leased rate-limit cells, every request's limiter call met a dropped
/// connection first and failed open; now most requests make no Redis call, and the first
/// call after a restart can be one that must not fail, such as a job's quota check.
pub async fn timed_retrying<T, F, Fut>(op: &'static str, mut call: F) -> redis::RedisResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<T>>,
{
    timed(op, async {
        match call().await {
            Err(e) if e.is_connection_dropped() => call().await,
            result => result,
        }
    })
    .await
}

/// Runs a Redis call and records its latency (`redis_command_duration_seconds{op,outcome}`).
pub async fn timed<T>(
    op: &'static str,
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> redis::RedisResult<T> {
    let start = std::time::Instant::now();
    let result = call.await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    metrics::histogram!("redis_command_duration_seconds", "op" => op, "outcome" => outcome)
        .record(start.elapsed().as_secs_f64());
    result
}
