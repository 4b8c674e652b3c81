//! Liveness and readiness probes.

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use crate::{error::Problem, routes::ApiTags, state::AppState};

/// The process is up.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Liveness {
    /// Always `ok`.
    pub status: String,
}

/// One dependency's probe result.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DependencyCheck {
    /// `mongodb`, `redis` or `s3`.
    pub name: String,
    /// Whether it answered in time.
    pub ok: bool,
    /// Probe time in milliseconds.
    pub latency_ms: u64,
    /// Why it is not ok (`unreachable`, `timed out`).
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
}

/// Every dependency answered.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Readiness {
    /// Always `ready`.
    pub status: String,
    /// Each dependency's probe.
    pub checks: Vec<DependencyCheck>,
}

/// A dependency did not answer: a problem naming it, with every probe.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NotReady {
    #[oai(flatten)]
    problem: Problem,
    /// Each dependency's probe.
    checks: Vec<DependencyCheck>,
}

/// Readiness outcome.
#[derive(Debug, ApiResponse)]
pub enum ReadyResponse {
    /// MongoDB, Redis and S3 all answered.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// At least one dependency did not answer; `detail` names it.
    #[oai(status = 503, content_type = "application/problem+json")]
    NotReady(Json<NotReady>),
}

/// Health probes (used by the platform's load balancer).
#[derive(Debug)]
pub struct HealthApi;

#[OpenApi(prefix_path = "/health", tag = "ApiTags::Operations")]
impl HealthApi {
    /// Liveness: the process is running and serving HTTP
    ///
    /// Liveness: the process is running and serving HTTP.
    #[oai(path = "/live", method = "get", operation_id = "health_live")]
    async fn live(&self) -> Json<Liveness> {
        Json(Liveness {
            status: "ok".to_owned(),
        })
    }

    /// Readiness: MongoDB, Redis and S3 answer within the probe timeout
    ///
    /// Readiness: MongoDB, Redis and S3 each answer within the probe timeout (probed at
    /// most once a second, however often this is called).
    #[oai(path = "/ready", method = "get", operation_id = "health_ready")]
    async fn ready(&self, state: Data<&AppState>) -> ReadyResponse {
        readiness(state.readiness.check(&state.dependencies()).await)
    }
}

/// Builds the readiness answer from probe results (shared with the worker's health server).
pub fn readiness(checks: Vec<common::health::Check>) -> ReadyResponse {
    let failing = common::health::failing_summary(&checks);
    let checks: Vec<DependencyCheck> = checks
        .into_iter()
        .map(|c| DependencyCheck {
            name: c.name.to_owned(),
            ok: c.ok,
            latency_ms: c.latency_ms,
            error: c.error,
        })
        .collect();
    match failing {
        None => ReadyResponse::Ready(Json(Readiness {
            status: "ready".to_owned(),
            checks,
        })),
        Some(failing) => ReadyResponse::NotReady(Json(NotReady {
            problem: Problem::new(
                poem::http::StatusCode::SERVICE_UNAVAILABLE,
                "dependency-unavailable",
                Some(format!("not ready: {failing}")),
            ),
            checks,
        })),
    }
}
