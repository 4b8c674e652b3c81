//! The global rate limiter as middleware (the counting itself is `common::ratelimit`).
//!
//! Credential endpoints are limited per client IP with the `auth` policy and fail closed
//! (503) when Redis is unreachable, since an unlimited login endpoint invites password
//! guessing. Every other `/api/` route is limited per user (per IP without a valid token)
//! with the `default` policy and fails open, counted in `rate_limit_fail_open_total`; a
//! caller far from that limit is served from cells this instance leased ahead
//! (`common::ratelimit::Leases`), so most of its requests need no Redis call.

use std::net::IpAddr;

use common::ratelimit::{self, Decision, Policy};
use ipnet::IpNet;
use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result, http::HeaderValue,
    web::RemoteAddr,
};

use crate::{
    auth::VerifiedToken,
    error::{ApiError, ApiResult},
    state::AppState,
};

/// Paths limited with the `auth` policy per IP (and per email inside their handlers).
pub const CREDENTIAL_PATHS: &[&str] = &[
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/password/forgot",
    "/api/v1/auth/password/verify",
    "/api/v1/auth/password/reset",
    // Code guesses and code mails.
    "/api/v1/auth/verify-email",
    "/api/v1/auth/verify-email/resend",
    // Checks the current password: an Argon2 hash per request, like a login.
    "/api/v1/me/password",
];

/// Applies the `auth` policy to `subject` (an email, a user) under `name`, on top of the
/// per-IP limit of credential paths. Fails closed: without the limiter, no password check.
pub async fn credential_limit(
    state: &AppState,
    name: &'static str,
    subject: &str,
) -> ApiResult<()> {
    match ratelimit::check(&state.kv, name, subject, state.config.rate_limit.auth).await {
        Ok(d) if d.allowed => Ok(()),
        Ok(d) => {
            metrics::counter!("rate_limit_refusals_total", "policy" => name).increment(1);
            Err(ApiError::too_many_requests(d.retry_after_secs))
        }
        Err(e) => {
            tracing::warn!(error = %e, "rate limiter unavailable; refusing credential request");
            Err(ApiError::unavailable("the rate limiter"))
        }
    }
}

/// The client's address: the connection's peer, or — when the peer is a trusted proxy —
/// the right-most address of `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(req: &Request, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = match req.remote_addr() {
        RemoteAddr(poem::Addr::SocketAddr(addr)) => addr.ip(),
        _ => return None,
    };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !is_trusted(ip))
            .unwrap_or(peer),
    )
}

/// Adds the IETF `RateLimit-Policy` and `RateLimit` headers.
pub fn set_headers(resp: &mut Response, name: &str, policy: Policy, decision: &Decision) {
    let policy_value = format!(
        "\"{name}\";q={};w={}",
        policy.limit,
        policy.window.as_secs()
    );
    let state_value = format!(
        "\"{name}\";r={};t={}",
        decision.remaining, decision.reset_secs
    );
    if let Ok(v) = HeaderValue::from_str(&policy_value) {
        resp.headers_mut().insert("ratelimit-policy", v);
    }
    if let Ok(v) = HeaderValue::from_str(&state_value) {
        resp.headers_mut().insert("ratelimit", v);
    }
}

/// The 429 answer for a refused request.
pub fn refusal(name: &str, policy: Policy, decision: &Decision) -> Response {
    metrics::counter!("rate_limit_refusals_total", "policy" => name.to_owned()).increment(1);
    let mut resp = ApiError::too_many_requests(decision.retry_after_secs).into_response();
    set_headers(&mut resp, name, policy, decision);
    resp
}

/// The middleware; see the module docs.
#[derive(Debug, Default, Clone, Copy)]
pub struct RateLimit;

impl<E: Endpoint> Middleware<E> for RateLimit {
    type Output = RateLimitEndpoint<E>;
    fn transform(&self, inner: E) -> Self::Output {
        RateLimitEndpoint { inner }
    }
}

/// See [`RateLimit`].
#[derive(Debug)]
pub struct RateLimitEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for RateLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let path = req.uri().path();
        let Some(state) = req.data::<AppState>().cloned() else {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        };
        if !path.starts_with("/api/") {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        }
        let limits = &state.config.rate_limit;
        let ip = client_ip(&req, &limits.trusted_proxies)
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        let credential = CREDENTIAL_PATHS.contains(&path);

        let (name, policy, subject) = if credential {
            ("auth", limits.auth, format!("ip:{ip}"))
        } else {
            match VerifiedToken::of(&mut req, &state) {
                Some(user) => ("default", limits.default, format!("user:{}", user.id)),
                None => ("default", limits.default, format!("ip:{ip}")),
            }
        };

        let decision = if credential {
            ratelimit::check(&state.kv, name, &subject, policy).await
        } else {
            state
                .rate_leases
                .check(&state.kv, name, &subject, policy)
                .await
        };
        match decision {
            Ok(decision) if !decision.allowed => Ok(refusal(name, policy, &decision)),
            Ok(decision) => {
                let mut resp = self.inner.call(req).await?.into_response();
                set_headers(&mut resp, name, policy, &decision);
                Ok(resp)
            }
            Err(e) if credential => {
                tracing::warn!(error = %e, "rate limiter unavailable; refusing credential request");
                metrics::counter!("rate_limit_fail_closed_total").increment(1);
                Ok(ApiError::unavailable("the rate limiter").into_response())
            }
            Err(e) => {
                tracing::warn!(error = %e, "rate limiter unavailable; letting the request through");
                metrics::counter!("rate_limit_fail_open_total").increment(1);
                self.inner.call(req).await.map(IntoResponse::into_response)
            }
        }
    }
}
