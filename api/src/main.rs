//! The api binary: configuration from the environment, then [`api::run`].
//!
//! `api create-indexes` only creates the MongoDB indexes and exits (a deploy's pre-deploy
//! step); the server creates them at start as well, so the step is an optimisation, not a
//! requirement.

use anyhow::Context;
use common::config::Env;

/// mimalloc instead of glibc's allocator: a request allocates and frees many small
/// buffers (documents, JSON values); profiling showed a quarter of the api's CPU in
/// malloc/free under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = api::config::ApiConfig::from_env(&Env::process()).context("configuration")?;
    common::telemetry::init_logging(config.common.log_format);
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("create-indexes") => {
            let db = common::db::connect(&config.common.mongo).await?;
            common::db::ensure_indexes(&db).await?;
            tracing::info!("indexes are in place");
            return Ok(());
        }
        Some(other) => anyhow::bail!("unknown command {other:?} (expected: create-indexes)"),
    }
    let addr = format!("{}:{}", config.host, config.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "api listening");
    api::run(listener, config, common::shutdown::signal()).await?;
    tracing::info!("api stopped");
    Ok(())
}
