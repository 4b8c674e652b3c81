//! The api's configuration, read from environment variables (see `.env.example`).

use std::time::Duration;

use common::config::{CommonConfig, ConfigError, Env};

/// Everything the api process needs to run.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Settings shared with the worker.
    pub common: CommonConfig,
    /// Address to listen on.
    pub host: String,
    /// Port to listen on (`PORT`, as Render sets it).
    pub port: u16,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout: Duration,
}

impl ApiConfig {
    /// Reads the configuration, naming any missing or invalid variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env)?,
            host: env.optional("HOST").unwrap_or_else(|| "0.0.0.0".to_owned()),
            port: env.parse_or("PORT", 8080)?,
            shutdown_timeout: env.seconds_or("SHUTDOWN_TIMEOUT_SECS", 25)?,
        })
    }
}
