//! The api binary: configuration from the environment, then [`api::run`].

use anyhow::Context;
use common::config::Env;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = api::config::ApiConfig::from_env(&Env::process()).context("configuration")?;
    common::telemetry::init_logging(config.common.log_format);
    let addr = format!("{}:{}", config.host, config.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "api listening");
    api::run(listener, config, common::shutdown::signal()).await?;
    tracing::info!("api stopped");
    Ok(())
}
