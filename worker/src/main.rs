//! The worker binary: configuration from the environment, then [`worker::run`].

use anyhow::Context;
use common::config::Env;

/// mimalloc instead of glibc's allocator: a request allocates and frees many small
/// buffers (documents, JSON values); profiling showed a quarter of the api's CPU in
/// malloc/free under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config =
        worker::config::WorkerConfig::from_env(&Env::process()).context("configuration")?;
    common::telemetry::init_logging(config.common.log_format);
    let addr = format!("{}:{}", config.health_host, config.health_port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "worker health server listening");
    Box::pin(worker::run(listener, config, common::shutdown::signal())).await?;
    tracing::info!("worker stopped");
    Ok(())
}
