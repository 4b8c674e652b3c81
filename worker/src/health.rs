//! The worker's own small HTTP server: liveness, readiness and Prometheus metrics.

use common::health::Dependencies;
use poem::{
    EndpointExt, IntoResponse, Response, Route, get, handler,
    http::StatusCode,
    web::{Data, Json},
};
use serde_json::json;

#[handler]
fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

#[handler]
async fn ready(deps: Data<&Dependencies>) -> Response {
    let checks = deps.check().await;
    if let Some(failing) = common::health::failing_summary(&checks) {
        let body = json!({
            "type": "/problems/dependency-unavailable",
            "title": "Service Unavailable",
            "status": 503,
            "detail": format!("not ready: {failing}"),
            "checks": checks,
        });
        Json(body)
            .with_status(StatusCode::SERVICE_UNAVAILABLE)
            .with_content_type("application/problem+json")
            .into_response()
    } else {
        Json(json!({ "status": "ready", "checks": checks })).into_response()
    }
}

#[handler]
fn metrics() -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(common::telemetry::metrics().render())
}

/// The health server's routes.
pub fn app(deps: Dependencies) -> impl poem::Endpoint {
    Route::new()
        .at("/health/live", get(live))
        .at("/health/ready", get(ready))
        .at("/metrics", get(metrics))
        .data(deps)
}
