//! The api's configuration, read from environment variables (see `.env.example`).

use std::time::Duration;

use common::{
    config::{CommonConfig, ConfigError, Env},
    ratelimit::Policy,
};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};

/// Access and refresh token settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// HMAC key for access tokens (HS256), at least 32 bytes.
    pub jwt_secret: SecretString,
    /// `iss` claim.
    pub issuer: String,
    /// `aud` claim.
    pub audience: String,
    /// Access token lifetime (at most 15 minutes).
    pub access_ttl: Duration,
    /// Refresh token lifetime.
    pub refresh_ttl: Duration,
}

/// Rate-limit policies.
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// Credential endpoints (register, login, password reset), per IP and per email.
    pub auth: Policy,
    /// Everything else, per user (per IP when unauthenticated).
    pub default: Policy,
    /// Starting generation or regeneration jobs, per user (accepted requests count).
    pub generate: Policy,
    /// Starting exports, per user.
    pub export: Policy,
    /// Starting probe jobs, per operator.
    pub probe: Policy,
    /// Practice attempts, per user.
    pub attempt: Policy,
    /// Proxies whose `X-Forwarded-For` is believed (Render's load balancer).
    pub trusted_proxies: Vec<IpNet>,
    /// The most `default`-policy cells one Redis call may lease to this instance (1 = no
    /// leases, every request counted in Redis); see `common::ratelimit::Leases`.
    pub lease: u32,
}

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
    /// Tokens.
    pub auth: AuthConfig,
    /// Rate limits.
    pub rate_limit: RateLimitConfig,
    /// Accounts (by email, lower case) allowed to use the operator endpoints.
    pub admin_emails: Vec<String>,
    /// How long a download URL works (at most an hour).
    pub export_url_ttl: Duration,
    /// Analytics.
    pub analytics: AnalyticsConfig,
    /// Browser origins allowed to call the api cross-origin (`CORS_ALLOWED_ORIGINS`); none
    /// when empty (mobile apps and server-side callers do not need CORS).
    pub cors_origins: Vec<String>,
    /// How many live-event streams may be open at once.
    pub event_streams: common::events::StreamLimits,
    /// The most sessions one account may hold.
    pub max_sessions_per_user: u64,
    /// How long one search page may read before it answers what it found (`partial`).
    pub search_time_budget: Duration,
}

/// Analytics settings.
#[derive(Debug, Clone)]
pub struct AnalyticsConfig {
    /// Where analytics queries read (`secondaryPreferred` on a replica set in production).
    pub read_preference: mongodb::options::SelectionCriteria,
    /// How often each instance refreshes its trending-topics snapshot.
    pub trending_refresh: Duration,
    /// Days in the trending window.
    pub trending_days: i64,
    /// How long a user's analytics stay cached.
    pub cache_ttl: Duration,
}

impl ApiConfig {
    /// Reads the configuration, naming any missing or invalid variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env)?,
            host: env.optional("HOST").unwrap_or_else(|| "0.0.0.0".to_owned()),
            port: env.parse_or("PORT", 8080)?,
            shutdown_timeout: env.seconds_or("SHUTDOWN_TIMEOUT_SECS", 25)?,
            auth: auth_config(env)?,
            analytics: AnalyticsConfig {
                read_preference: {
                    let name = env
                        .optional("MONGODB_ANALYTICS_READ_PREFERENCE")
                        .unwrap_or_else(|| "primary".to_owned());
                    common::db::analytics::read_preference(&name).ok_or_else(|| {
                        ConfigError::invalid(
                            "MONGODB_ANALYTICS_READ_PREFERENCE",
                            "expected primary, primaryPreferred, secondary, secondaryPreferred or nearest",
                        )
                    })?
                },
                trending_refresh: env.seconds_or("TRENDING_REFRESH_SECS", 30)?,
                trending_days: env.parse_or("TRENDING_WINDOW_DAYS", 7)?,
                cache_ttl: env.seconds_or("ANALYTICS_CACHE_TTL_SECS", 60)?,
            },
            export_url_ttl: match env.seconds_or("EXPORT_URL_TTL_SECS", 900)? {
                ttl if ttl >= Duration::from_secs(1) && ttl <= Duration::from_secs(3600) => ttl,
                _ => {
                    return Err(ConfigError::invalid(
                        "EXPORT_URL_TTL_SECS",
                        "must be between 1 and 3600",
                    ));
                }
            },
            cors_origins: cors_origins(env)?,
            max_sessions_per_user: env.parse_or("MAX_SESSIONS_PER_USER", 500)?,
            search_time_budget: Duration::from_millis(env.parse_or("SEARCH_TIME_BUDGET_MS", 50)?),
            event_streams: common::events::StreamLimits {
                per_user: env.parse_or("EVENTS_MAX_STREAMS_PER_USER", 5)?,
                per_instance: env.parse_or("EVENTS_MAX_STREAMS_PER_INSTANCE", 2000)?,
            },
            admin_emails: env
                .list("ADMIN_EMAILS")
                .iter()
                .map(|e| e.trim().to_lowercase())
                .collect(),
            rate_limit: RateLimitConfig {
                auth: env.parse_or("RATE_LIMIT_AUTH", "10/900".parse().expect("valid"))?,
                default: env.parse_or("RATE_LIMIT_DEFAULT", "300/60".parse().expect("valid"))?,
                generate: env.parse_or("RATE_LIMIT_GENERATE", "20/3600".parse().expect("valid"))?,
                export: env.parse_or("RATE_LIMIT_EXPORT", "5/600".parse().expect("valid"))?,
                probe: env.parse_or("RATE_LIMIT_PROBE", "30/3600".parse().expect("valid"))?,
                attempt: env.parse_or("RATE_LIMIT_ATTEMPT", "60/3600".parse().expect("valid"))?,
                lease: env.parse_or("RATE_LIMIT_LEASE", 16)?,
                trusted_proxies: env
                    .list("TRUSTED_PROXIES")
                    .iter()
                    .map(|cidr| {
                        cidr.parse::<IpNet>()
                            .or_else(|_| cidr.parse::<std::net::IpAddr>().map(IpNet::from))
                            .map_err(|e| {
                                ConfigError::invalid("TRUSTED_PROXIES", format!("{cidr}: {e}"))
                            })
                    })
                    .collect::<Result<_, _>>()?,
            },
        })
    }
}

/// `scheme://host[:port]` origins; `*` is refused (name the origins instead).
fn cors_origins(env: &Env) -> Result<Vec<String>, ConfigError> {
    env.list("CORS_ALLOWED_ORIGINS")
        .into_iter()
        .map(|origin| {
            let (scheme, rest) = origin.split_once("://").unwrap_or(("", ""));
            let valid = matches!(scheme, "http" | "https")
                && !rest.is_empty()
                && !rest.contains(['/', '*', '?', '#', ' ']);
            if valid {
                Ok(origin.trim_end_matches('/').to_owned())
            } else {
                Err(ConfigError::invalid(
                    "CORS_ALLOWED_ORIGINS",
                    format!("{origin:?} is not an origin like https://app.example.com (no wildcards, no paths)"),
                ))
            }
        })
        .collect()
}

fn auth_config(env: &Env) -> Result<AuthConfig, ConfigError> {
    let jwt_secret = env.secret("JWT_SECRET")?;
    if jwt_secret.expose_secret().len() < 32 {
        return Err(ConfigError::invalid(
            "JWT_SECRET",
            "must be at least 32 bytes",
        ));
    }
    let access_ttl = env.seconds_or("ACCESS_TOKEN_TTL_SECS", 900)?;
    if access_ttl.is_zero() || access_ttl > Duration::from_secs(900) {
        return Err(ConfigError::invalid(
            "ACCESS_TOKEN_TTL_SECS",
            "must be between 1 and 900 seconds",
        ));
    }
    Ok(AuthConfig {
        jwt_secret,
        issuer: env
            .optional("JWT_ISSUER")
            .unwrap_or_else(|| "interview-prep".to_owned()),
        audience: env
            .optional("JWT_AUDIENCE")
            .unwrap_or_else(|| "interview-prep-clients".to_owned()),
        access_ttl,
        refresh_ttl: Duration::from_secs(
            env.parse_or::<u64>("REFRESH_TOKEN_TTL_DAYS", 30)? * 86_400,
        ),
    })
}
