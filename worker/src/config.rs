//! The worker's configuration, read from environment variables (see `.env.example`).

use std::time::Duration;

use common::config::{CommonConfig, ConfigError, Env};
use secrecy::SecretString;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (local test servers only).
    None,
    /// STARTTLS upgrade (port 587).
    StartTls,
    /// Implicit TLS (port 465).
    Tls,
}

impl std::str::FromStr for SmtpTls {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Self::None),
            "starttls" => Ok(Self::StartTls),
            "tls" => Ok(Self::Tls),
            other => Err(format!("expected none, starttls or tls, got {other:?}")),
        }
    }
}

/// SMTP settings for outgoing mail.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Server host name.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Transport security.
    pub tls: SmtpTls,
    /// Login, if the server needs one.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<SecretString>,
    /// `From:` header, as `Name <address>`.
    pub from: String,
}

/// How every job's attempts are run, retried and recovered.
#[derive(Debug, Clone, Copy)]
pub struct JobSettings {
    /// The first retry waits about this long; each further one twice as long (±20 %).
    pub retry_base: Duration,
    /// An attempt running longer fails (and is retried).
    pub attempt_timeout: Duration,
    /// How long a claimed attempt is held without renewal (renewed every third of it).
    pub lease: Duration,
    /// How often the reconciler looks for jobs that lost their delivery.
    pub reconcile_every: Duration,
    /// How long a job may sit queued, or hold an expired lease, before the reconciler
    /// checks its delivery.
    pub stuck_after: Duration,
}

/// The question provider (any OpenAI-compatible chat-completions server) and its guards.
#[derive(Debug, Clone)]
pub struct AiConfig {
    /// API key; without one, questions come from the offline bank.
    pub api_key: Option<SecretString>,
    /// Base URL of the API (`…/v1`).
    pub base_url: String,
    /// Model name.
    pub model: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Completion token limit per call.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f32,
    /// Consecutive failures (within `breaker_window`) that open the breaker.
    pub breaker_failures: u32,
    /// Window in which failures add up.
    pub breaker_window: Duration,
    /// How long the breaker stays open before one probe call.
    pub breaker_cooldown: Duration,
    /// How long generated batches stay cached.
    pub cache_ttl: Duration,
}

impl AiConfig {
    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            api_key: env
                .optional_secret("AI_API_KEY")
                .filter(|k| !secrecy::ExposeSecret::expose_secret(k).trim().is_empty()),
            base_url: env
                .optional("AI_BASE_URL")
                .unwrap_or_else(|| "https://api.openai.com/v1".to_owned()),
            model: env
                .optional("AI_MODEL")
                .unwrap_or_else(|| "gpt-4o-mini".to_owned()),
            timeout: Duration::from_millis(env.parse_or("AI_TIMEOUT_MS", 30_000)?),
            max_tokens: env.parse_or("AI_MAX_TOKENS", 4_000)?,
            temperature: env.parse_or("AI_TEMPERATURE", 0.7)?,
            breaker_failures: env.parse_or("AI_BREAKER_FAILURES", 3)?,
            breaker_window: env.seconds_or("AI_BREAKER_WINDOW_SECS", 60)?,
            breaker_cooldown: env.seconds_or("AI_BREAKER_COOLDOWN_SECS", 30)?,
            cache_ttl: env.seconds_or("AI_CACHE_TTL_SECS", 24 * 3600)?,
        })
    }
}

/// Everything the worker process needs to run.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Settings shared with the api.
    pub common: CommonConfig,
    /// Address of the health/metrics server.
    pub health_host: String,
    /// Port of the health/metrics server.
    pub health_port: u16,
    /// This process' name in worker registrations (unique per process).
    pub instance_id: String,
    /// Concurrent email jobs per process.
    pub email_concurrency: usize,
    /// Concurrent generation jobs per process.
    pub generation_concurrency: usize,
    /// Concurrent export jobs per process.
    pub export_concurrency: usize,
    /// Concurrent grading jobs per process.
    pub grading_concurrency: usize,
    /// How attempts are run and retried.
    pub jobs: JobSettings,
    /// Question generation.
    pub ai: AiConfig,
    /// How long exports are kept before the expiry task deletes them.
    pub export_retention: Duration,
    /// Directories searched for extra PDF fonts (CJK, emoji).
    pub font_dirs: Vec<std::path::PathBuf>,
    /// Outgoing mail.
    pub smtp: SmtpConfig,
    /// How long running jobs may take to finish after SIGTERM.
    pub shutdown_timeout: Duration,
    /// How queue consumers are restarted, and when a silent one fails liveness.
    pub consumers: crate::jobs::ConsumerSettings,
    /// How long a finished task's data stays in Redis (the job record in MongoDB stays).
    pub queue_retention: Duration,
}

impl WorkerConfig {
    /// Reads the configuration, naming any missing or invalid variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let instance = env
            .optional("INSTANCE_ID")
            .or_else(|| env.optional("RENDER_INSTANCE_ID"))
            .unwrap_or_else(|| "w".to_owned());
        Ok(Self {
            common: CommonConfig::from_env(env)?,
            health_host: env
                .optional("WORKER_HEALTH_HOST")
                .unwrap_or_else(|| "0.0.0.0".to_owned()),
            health_port: env.parse_or("WORKER_HEALTH_PORT", 8081)?,
            // Names must be unique per process, also across restarts of the same instance.
            instance_id: format!("{instance}-{}", ulid::Ulid::generate()),
            email_concurrency: env.parse_or("EMAIL_CONCURRENCY", 4)?,
            generation_concurrency: env.parse_or("GENERATION_CONCURRENCY", 4)?,
            export_concurrency: env.parse_or("EXPORT_CONCURRENCY", 2)?,
            grading_concurrency: env.parse_or("GRADING_CONCURRENCY", 4)?,
            ai: AiConfig::from_env(env)?,
            export_retention: Duration::from_secs(
                env.parse_or::<u64>("EXPORT_RETENTION_DAYS", 7)? * 24 * 3600,
            ),
            font_dirs: {
                let dirs = env.list("FONT_DIRS");
                if dirs.is_empty() {
                    vec!["/usr/share/fonts".into()]
                } else {
                    dirs.into_iter().map(Into::into).collect()
                }
            },
            jobs: JobSettings {
                retry_base: Duration::from_millis(env.parse_or("JOB_RETRY_BASE_MS", 2_000)?),
                attempt_timeout: env.seconds_or("JOB_ATTEMPT_TIMEOUT_SECS", 120)?,
                lease: Duration::from_secs(15),
                reconcile_every: env.seconds_or("RECONCILE_INTERVAL_SECS", 30)?,
                stuck_after: env.seconds_or("JOB_STUCK_AFTER_SECS", 60)?,
            },
            smtp: SmtpConfig {
                host: env
                    .optional("SMTP_HOST")
                    .unwrap_or_else(|| "localhost".to_owned()),
                port: env.parse_or("SMTP_PORT", 587)?,
                tls: env.parse_or("SMTP_TLS", SmtpTls::StartTls)?,
                username: env.optional("SMTP_USERNAME"),
                password: env.optional_secret("SMTP_PASSWORD"),
                from: env
                    .optional("EMAIL_FROM")
                    .unwrap_or_else(|| "Interview Prep <no-reply@interview-prep.local>".to_owned()),
            },
            shutdown_timeout: env.seconds_or("SHUTDOWN_TIMEOUT_SECS", 25)?,
            consumers: crate::jobs::ConsumerSettings {
                restart_base: Duration::from_millis(env.parse_or("CONSUMER_RESTART_BASE_MS", 250)?),
                restart_max: env.seconds_or("CONSUMER_RESTART_MAX_SECS", 30)?,
                stall_after: env.seconds_or("CONSUMER_STALL_SECS", 60)?,
            },
            queue_retention: env.seconds_or("QUEUE_RETENTION_SECS", 3600)?,
        })
    }
}
