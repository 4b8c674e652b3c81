//! Every route of the api, listed in one place.

mod auth;
mod health;
mod me;

use poem_openapi::{OpenApiService, Tags};

pub use auth::AuthApi;
pub use health::{HealthApi, ReadyResponse, readiness};
pub use me::MeApi;

/// Operation groups in the OpenAPI document.
#[derive(Debug, Tags)]
pub enum ApiTags {
    /// Health probes.
    Operations,
    /// Accounts, tokens and password reset.
    Auth,
    /// The caller's own account.
    Me,
}

/// The document title.
pub const TITLE: &str = "Interview Prep API";

/// All OpenAPI operations.
pub type Apis = (HealthApi, AuthApi, MeApi);

/// The OpenAPI service (routes + document).
pub fn openapi() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (HealthApi, AuthApi, MeApi),
        TITLE,
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Backend of an interview-preparation app: practice sessions, AI-generated \
             questions, exports. Errors are RFC 9457 problem+json; every response carries \
             `x-request-id`.",
    )
}
