//! Typed configuration read from environment variables.
//!
//! Every binary builds its config through [`Env`], so a missing or malformed variable
//! fails start-up with a message that names it. Secrets are [`SecretString`]s: their
//! `Debug` output is redacted, so a config can be logged whole.

use std::{collections::HashMap, fmt::Display, str::FromStr, time::Duration};

use secrecy::SecretString;

/// A configuration problem, naming the variable at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is not set (or is empty).
    #[error("environment variable {0} is required but not set")]
    Missing(String),
    /// A variable is set but cannot be used.
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        name: String,
        /// What is wrong with its value.
        reason: String,
    },
}

impl ConfigError {
    /// An invalid-value error for `name`.
    pub fn invalid(name: &str, reason: impl Display) -> Self {
        Self::Invalid {
            name: name.to_owned(),
            reason: reason.to_string(),
        }
    }
}

type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A source of variables: the process environment, or a map in tests. It remembers
/// which names were asked for, so tools can list every variable a binary reads.
pub struct Env {
    lookup: Lookup,
    asked: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Env")
    }
}

impl Env {
    /// Reads the process environment.
    pub fn process() -> Self {
        Self {
            lookup: Box::new(|name| std::env::var(name).ok()),
            asked: std::sync::Mutex::default(),
        }
    }

    /// Reads from a map (tests, tools).
    pub fn from_map(map: HashMap<String, String>) -> Self {
        Self {
            lookup: Box::new(move |name| map.get(name).cloned()),
            asked: std::sync::Mutex::default(),
        }
    }

    /// The value of `name`, or `None` when unset or blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.asked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned());
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// The value of `name`, which must be set.
    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.optional(name)
            .ok_or_else(|| ConfigError::Missing(name.to_owned()))
    }

    /// Every variable name asked for so far, sorted.
    pub fn names_asked(&self) -> Vec<String> {
        self.asked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// A required secret.
    pub fn secret(&self, name: &str) -> Result<SecretString, ConfigError> {
        self.required(name).map(SecretString::from)
    }

    /// An optional secret.
    pub fn optional_secret(&self, name: &str) -> Option<SecretString> {
        self.optional(name).map(SecretString::from)
    }

    /// `name` parsed as `T`, or `default` when unset.
    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e| ConfigError::invalid(name, e)),
        }
    }

    /// A whole number of seconds, or `default`.
    pub fn seconds_or(&self, name: &str, default: u64) -> Result<Duration, ConfigError> {
        self.parse_or(name, default).map(Duration::from_secs)
    }

    /// A comma-separated list (blank items dropped); empty when unset.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.optional(name)
            .map(|raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A boolean (`true/false/1/0/yes/no`), or `default`.
    pub fn flag_or(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => Ok(false),
            Some(v) => Err(ConfigError::invalid(
                name,
                format!("expected true or false, got {v:?}"),
            )),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (production).
    Json,
    /// Human-readable lines (local development).
    Pretty,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Self::Json),
            "pretty" => Ok(Self::Pretty),
            other => Err(format!("expected json or pretty, got {other:?}")),
        }
    }
}

/// MongoDB connection settings.
#[derive(Debug, Clone)]
pub struct MongoConfig {
    /// Connection string (may hold credentials).
    pub uri: SecretString,
    /// Database name.
    pub database: String,
    /// How long an operation waits for a usable server before failing.
    pub server_selection_timeout: Duration,
}

/// Redis connection settings.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://` or `rediss://` URL (may hold a password).
    pub url: SecretString,
    /// Prefix of every key and queue name this deployment uses (lets tests share a server).
    pub key_prefix: String,
}

/// S3-compatible object storage settings.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Endpoint the services use (`None`: AWS itself).
    pub endpoint: Option<String>,
    /// Endpoint put into presigned URLs handed to clients (defaults to `endpoint`).
    pub public_endpoint: Option<String>,
    /// Region name used for signing.
    pub region: String,
    /// Bucket holding exports.
    pub bucket: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: SecretString,
    /// Path-style addressing (needed by most S3-compatible servers).
    pub force_path_style: bool,
}

/// Settings every process shares.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    /// MongoDB.
    pub mongo: MongoConfig,
    /// Redis.
    pub redis: RedisConfig,
    /// Object storage.
    pub s3: S3Config,
    /// Log line format.
    pub log_format: LogFormat,
    /// How long each readiness probe may take.
    pub health_check_timeout: Duration,
    /// The most questions one session may hold (every path that adds questions obeys it).
    pub max_questions_per_session: u32,
    /// Attempts a job gets before it fails and is listed as dead.
    pub job_max_attempts: i32,
    /// When set, `/metrics` answers only `Authorization: Bearer <this>` (`METRICS_TOKEN`).
    pub metrics_token: Option<secrecy::SecretString>,
    /// LLM tokens (prompt + completion) one account may spend per UTC day
    /// (`AI_DAILY_TOKEN_BUDGET`): past it the api refuses generation with 429 and a worker
    /// takes questions from the offline bank instead of calling the provider.
    pub ai_daily_token_budget: i64,
}

impl CommonConfig {
    /// Reads the shared settings.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let endpoint = env.optional("S3_ENDPOINT");
        Ok(Self {
            mongo: MongoConfig {
                uri: env.secret("MONGODB_URI")?,
                database: env
                    .optional("MONGODB_DATABASE")
                    .unwrap_or_else(|| "interview_prep".to_owned()),
                server_selection_timeout: Duration::from_millis(
                    env.parse_or("MONGODB_SERVER_SELECTION_TIMEOUT_MS", 5_000)?,
                ),
            },
            redis: RedisConfig {
                url: env.secret("REDIS_URL")?,
                key_prefix: env.optional("REDIS_KEY_PREFIX").unwrap_or_default(),
            },
            s3: S3Config {
                public_endpoint: env.optional("S3_PUBLIC_ENDPOINT").or(endpoint.clone()),
                endpoint,
                region: env
                    .optional("S3_REGION")
                    .unwrap_or_else(|| "us-east-1".to_owned()),
                bucket: env.required("S3_BUCKET")?,
                access_key_id: env.required("S3_ACCESS_KEY_ID")?,
                secret_access_key: env.secret("S3_SECRET_ACCESS_KEY")?,
                force_path_style: env.flag_or("S3_FORCE_PATH_STYLE", true)?,
            },
            log_format: env.parse_or("LOG_FORMAT", LogFormat::Json)?,
            metrics_token: env
                .optional_secret("METRICS_TOKEN")
                .filter(|t| !secrecy::ExposeSecret::expose_secret(t).trim().is_empty()),
            health_check_timeout: Duration::from_millis(
                env.parse_or("HEALTH_CHECK_TIMEOUT_MS", 2_000)?,
            ),
            job_max_attempts: match env.parse_or("JOB_MAX_ATTEMPTS", 3)? {
                n @ 1..=10 => n,
                _ => {
                    return Err(ConfigError::invalid(
                        "JOB_MAX_ATTEMPTS",
                        "must be between 1 and 10",
                    ));
                }
            },
            ai_daily_token_budget: match env.parse_or("AI_DAILY_TOKEN_BUDGET", 100_000)? {
                n @ 1..=1_000_000_000 => n,
                _ => {
                    return Err(ConfigError::invalid(
                        "AI_DAILY_TOKEN_BUDGET",
                        "must be between 1 and 1000000000",
                    ));
                }
            },
            max_questions_per_session: match env.parse_or("MAX_QUESTIONS_PER_SESSION", 50)? {
                n @ 1..=1000 => n,
                _ => {
                    return Err(ConfigError::invalid(
                        "MAX_QUESTIONS_PER_SESSION",
                        "must be between 1 and 1000",
                    ));
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    const BASE: &[(&str, &str)] = &[
        (
            "MONGODB_URI",
            "mongodb://127.0.0.1:1/?directConnection=true",
        ),
        ("REDIS_URL", "redis://:hunter2@127.0.0.1:2"),
        ("S3_BUCKET", "b"),
        ("S3_ACCESS_KEY_ID", "ak"),
        ("S3_SECRET_ACCESS_KEY", "very-secret"),
    ];

    #[test]
    fn missing_variable_is_named() {
        let err = CommonConfig::from_env(&env(&BASE[1..])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("MONGODB_URI".into()));
        assert!(err.to_string().contains("MONGODB_URI"));
    }

    #[test]
    fn invalid_variable_is_named() {
        let mut pairs = BASE.to_vec();
        pairs.push(("LOG_FORMAT", "xml"));
        let err = CommonConfig::from_env(&env(&pairs)).unwrap_err();
        assert!(matches!(&err, ConfigError::Invalid { name, .. } if name == "LOG_FORMAT"));
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let config = CommonConfig::from_env(&env(BASE)).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("very-secret"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert_eq!(config.s3.public_endpoint, None);
    }
}
