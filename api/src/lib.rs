//! The HTTP api: routes, middleware and the server loop.
//!
//! `main.rs` only loads the config and calls [`run`]; tests start the same app in-process.

pub mod auth;
pub mod config;
pub mod error;
pub mod middleware;
pub mod routes;
pub mod state;

use std::future::Future;

use poem::{
    EndpointExt, IntoEndpoint, Response, Route, Server, get, handler,
    http::{HeaderValue, header},
    listener::TcpAcceptor,
    middleware::{CatchPanic, SetHeader},
};

use crate::{
    config::ApiConfig,
    middleware::{
        analytics_cache::InvalidateAnalytics, body_limit::BodyLimit, observe::Observe,
        problem::ProblemJson, rate_limit::RateLimit,
    },
    state::AppState,
};

/// How often the dependencies are probed in the background (`dependency_up`).
pub const DEPENDENCY_PROBE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The OpenAPI document as served at `/openapi.json`.
pub fn openapi_json() -> String {
    routes::openapi().spec()
}

#[handler]
fn metrics_endpoint() -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(common::telemetry::metrics().render())
}

/// The whole application as one endpoint.
pub fn app(state: AppState) -> impl poem::Endpoint<Output = Response> {
    let api = routes::openapi();
    let docs = api.swagger_ui();
    let spec = api.spec_endpoint();
    Route::new()
        .nest("/", api)
        .at("/openapi.json", get(spec))
        .nest("/docs", docs)
        .at("/metrics", get(metrics_endpoint))
        .with(BodyLimit::new(MAX_BODY_BYTES))
        .with(CatchPanic::new())
        .with(ProblemJson)
        .with(InvalidateAnalytics)
        .with(RateLimit)
        .with(SetHeader::new().overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with(Observe)
        .data(state)
        .into_endpoint()
        .map_to_response()
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
    tokio::spawn(routes::analytics::refresh_trending(state.clone()));
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
