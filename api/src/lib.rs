//! The HTTP api: routes, middleware and the server loop.
//!
//! `main.rs` only loads the config and calls [`run`]; tests start the same app in-process.

pub mod account;
pub mod auth;
pub mod config;
pub mod error;
pub mod jobs;
pub mod lookup;
pub mod middleware;
pub mod operation_errors;
pub mod payload;
pub mod problems;
pub mod responses;
pub mod routes;
pub mod spec;
pub mod state;
pub mod trending;
pub mod validation;

use std::future::Future;

use poem::{
    EndpointExt, IntoEndpoint, Response, Route, Server, get, handler,
    http::Method,
    listener::TcpAcceptor,
    middleware::{CatchPanic, Cors},
};

use crate::{
    config::ApiConfig,
    middleware::{
        analytics_cache::InvalidateAnalytics, body_limit::BodyLimit, observe::Observe,
        problem::ProblemJson, rate_limit::RateLimit, schema::ValidateBodies,
        security_headers::SecurityHeaders,
    },
    state::AppState,
};

/// How often the dependencies are probed in the background (`dependency_up`).
pub const DEPENDENCY_PROBE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The OpenAPI document as served at `/openapi.json` (see [`spec`]).
pub fn openapi_json() -> String {
    spec::document().to_owned()
}

/// The Swagger UI page over [`spec::document`] (the contract as published, with its
/// examples and per-operation errors, not poem-openapi's raw document). Built on the first
/// request and shared after: the UI's script and style are inlined (3 MB, so it works
/// offline), which an idle process need not hold.
#[handler]
fn docs_endpoint() -> Response {
    static PAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let page = PAGE.get_or_init(|| {
        let api = routes::openapi();
        api.swagger_ui_html()
            .replacen(&api.spec(), spec::document(), 1)
    });
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .body(page.as_str())
}

#[handler]
fn openapi_endpoint() -> Response {
    Response::builder()
        .content_type("application/json; charset=utf-8")
        .body(spec::document())
}

/// Prometheus metrics; with `METRICS_TOKEN` set, only for `Authorization: Bearer <token>`.
#[handler]
fn metrics_endpoint(req: &poem::Request, state: poem::web::Data<&AppState>) -> Response {
    let authorization = req
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !common::health::metrics_allowed(state.config.common.metrics_token.as_ref(), authorization) {
        return poem::IntoResponse::into_response(error::ApiError::unauthorized(
            "Metrics need the configured bearer token.",
        ));
    }
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(common::telemetry::metrics().render())
}

/// The whole application as one endpoint.
///
/// A request passes the layers from the last `.with()` to the first: `Observe` (request
/// id, access log, metrics), CORS, `SecurityHeaders`, `RateLimit` (verifies the bearer
/// token once, see `auth::VerifiedToken`), `InvalidateAnalytics`, `ProblemJson` (every
/// error as problem+json), `CatchPanic`, `BodyLimit`, `ValidateBodies`, then the route.
/// Each layer is correct in any order; this one makes the log and the limits see every
/// request and the problem+json layer see every error.
pub fn app(state: AppState) -> impl poem::Endpoint<Output = Response> {
    let cors_origins = state.config.cors_origins.clone();
    Route::new()
        .nest("/", routes::openapi())
        .at("/openapi.json", get(openapi_endpoint))
        .at("/docs", get(docs_endpoint))
        .at("/docs/", get(docs_endpoint))
        .at("/metrics", get(metrics_endpoint))
        .at("/problems", get(problems::index))
        .at("/problems/:slug", get(problems::show))
        .with(ValidateBodies)
        .with(BodyLimit::new(MAX_BODY_BYTES))
        .with(CatchPanic::new())
        .with(ProblemJson)
        .with(InvalidateAnalytics)
        .with(RateLimit)
        .with(SecurityHeaders)
        .with_if(!cors_origins.is_empty(), cors(&cors_origins))
        .with(Observe)
        .data(state)
        .into_endpoint()
        .map_to_response()
}

/// Cross-origin access for the configured browser origins only (never `*`). Clients send
/// bearer tokens, not cookies, so credentials are not allowed either.
fn cors(origins: &[String]) -> Cors {
    Cors::new()
        .allow_origins(origins.iter().map(String::as_str))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            "authorization",
            "content-type",
            "idempotency-key",
            "if-none-match",
            "last-event-id",
            "x-request-id",
        ])
        .expose_headers(["x-request-id", "etag", "retry-after", "location"])
        .allow_credentials(false)
        .max_age(600)
}

/// Serves the api on `listener` until `shutdown` resolves, then drains in-flight requests
/// for up to the configured timeout.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: ApiConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let timeout = config.shutdown_timeout;
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let state = AppState::connect(config, stopping).await?;
    common::db::ensure_indexes(&state.db).await?;
    tokio::spawn(trending::refresh(state.clone()));
    tokio::spawn(state.events.clone().run(state.stopping.clone()));
    tokio::spawn(
        state
            .dependencies()
            .watch(DEPENDENCY_PROBE_INTERVAL, state.stopping.clone()),
    );
    let _ = common::telemetry::metrics();
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    // Long-lived responses (event streams) end when shutdown starts, so draining does not
    // wait for them.
    let shutdown = async move {
        shutdown.await;
        let _ = stopping_tx.send(true);
    };
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app(state), shutdown, Some(timeout))
        .await?;
    Ok(())
}
