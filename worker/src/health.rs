//! The worker's own small HTTP server: liveness, readiness and Prometheus metrics.

use common::health::{Check, Dependencies, Recent};
use poem::{
    EndpointExt, IntoResponse, Response, Route, get, handler,
    http::StatusCode,
    web::{Data, Json},
};
use serde_json::json;

use crate::jobs::Consumers;

fn unavailable(detail: String, body: serde_json::Value) -> Response {
    let mut problem = json!({
        "type": "/problems/dependency-unavailable",
        "title": "Service Unavailable",
        "status": 503,
        "detail": detail,
    });
    if let (Some(problem), Some(extra)) = (problem.as_object_mut(), body.as_object()) {
        problem.extend(extra.clone());
    }
    Json(problem)
        .with_status(StatusCode::SERVICE_UNAVAILABLE)
        .with_content_type("application/problem+json")
        .into_response()
}

/// Live unless a queue's consumer has been silent past the stall bound (down and not
/// coming back, or hung): then the platform should restart the process.
#[handler]
fn live(consumers: Data<&Consumers>) -> Response {
    let stalled = consumers.stalled_queues();
    if stalled.is_empty() {
        return Json(json!({ "status": "ok" })).into_response();
    }
    unavailable(
        format!("queue consumer stalled: {}", stalled.join(", ")),
        json!({ "stalled_queues": stalled }),
    )
}

/// Ready when MongoDB, Redis and S3 answer and every queue has a running consumer.
#[handler]
async fn ready(
    deps: Data<&Dependencies>,
    recent: Data<&Recent>,
    consumers: Data<&Consumers>,
) -> Response {
    let mut checks = recent.check(&deps).await;
    for queue in consumers.down_queues() {
        checks.push(Check {
            name: queue,
            ok: false,
            latency_ms: 0,
            error: Some("consumer down".to_owned()),
        });
    }
    if let Some(failing) = common::health::failing_summary(&checks) {
        unavailable(format!("not ready: {failing}"), json!({ "checks": checks }))
    } else {
        Json(json!({ "status": "ready", "checks": checks })).into_response()
    }
}

/// Prometheus metrics; with `METRICS_TOKEN` set, only for `Authorization: Bearer <token>`.
#[handler]
fn metrics(req: &poem::Request, token: Data<&MetricsToken>) -> Response {
    let authorization = req
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !common::health::metrics_allowed(token.0.0.as_ref(), authorization) {
        return Json(json!({
            "type": "/problems/unauthorized",
            "title": "Unauthorized",
            "status": 401,
            "detail": "Metrics need the configured bearer token.",
        }))
        .with_status(StatusCode::UNAUTHORIZED)
        .with_content_type("application/problem+json")
        .into_response();
    }
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(common::telemetry::metrics().render())
}

/// The `/metrics` bearer token, if one is configured.
#[derive(Debug, Clone)]
pub struct MetricsToken(pub Option<secrecy::SecretString>);

/// The health server's routes.
pub fn app(deps: Dependencies, consumers: Consumers, token: MetricsToken) -> impl poem::Endpoint {
    Route::new()
        .at("/health/live", get(live))
        .at("/health/ready", get(ready))
        .at("/metrics", get(metrics))
        .data(deps)
        .data(Recent::default())
        .data(consumers)
        .data(token)
}
