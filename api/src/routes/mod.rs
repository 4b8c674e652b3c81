//! Every route of the api, listed in one place.

mod health;

use poem_openapi::{OpenApiService, Tags};

pub use health::{HealthApi, ReadyResponse, readiness};

/// Operation groups in the OpenAPI document.
#[derive(Debug, Tags)]
pub enum ApiTags {
    /// Health probes.
    Operations,
}

/// The document title.
pub const TITLE: &str = "Interview Prep API";

/// All OpenAPI operations.
pub type Apis = HealthApi;

/// The OpenAPI service (routes + document).
pub fn openapi() -> OpenApiService<Apis, ()> {
    OpenApiService::new(HealthApi, TITLE, env!("CARGO_PKG_VERSION"))
        .description(
            "Backend of an interview-preparation app: practice sessions, AI-generated \
             questions, exports. Errors are RFC 9457 problem+json; every response carries \
             `x-request-id`.",
        )
}
