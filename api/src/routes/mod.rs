//! Every route of the api, listed in one place.

mod admin;
mod analytics;
mod attempts;
mod auth;
mod events;
mod exports;
mod generation;
mod health;
mod jobs;
pub(crate) mod me;
mod notifications;
pub(crate) mod questions;
mod reviews;
pub(crate) mod sessions;

use poem_openapi::{OpenApiService, Tags};

pub use admin::AdminApi;
pub use analytics::AnalyticsApi;
pub use attempts::AttemptsApi;
pub use auth::AuthApi;
pub use events::EventsApi;
pub use exports::ExportsApi;
pub use generation::GenerationApi;
pub use health::{HealthApi, ReadyResponse, readiness};
pub use jobs::JobsApi;
pub use me::MeApi;
pub use notifications::NotificationsApi;
pub use questions::QuestionsApi;
pub use reviews::ReviewsApi;
pub use sessions::SessionsApi;

/// Operation groups in the OpenAPI document.
#[derive(Debug, Tags)]
pub enum ApiTags {
    /// Health probes.
    Operations,
    /// Accounts, tokens and password reset.
    Auth,
    /// The caller's own account.
    Me,
    /// Practice sessions and their statistics.
    Sessions,
    /// Questions: a session's list, custom questions, search, bulk actions.
    Questions,
    /// Generating and regenerating questions (background jobs).
    Generation,
    /// Practice: answering questions and the graded feedback (background jobs).
    Practice,
    /// Spaced-repetition review: rating questions and what is due (FSRS).
    Review,
    /// Exporting sessions to files (background jobs, signed download links).
    Exports,
    /// Background jobs: status and list.
    Jobs,
    /// Live job progress and notifications (Server-Sent Events).
    Events,
    /// Notifications about finished jobs.
    Notifications,
    /// The caller's numbers and the topics trending across users.
    Analytics,
    /// Operators: dead jobs, retries, the pipeline probe.
    Admin,
}

/// The document title.
pub const TITLE: &str = "Interview Prep API";

/// All OpenAPI operations.
pub type Apis = (
    HealthApi,
    AuthApi,
    MeApi,
    SessionsApi,
    QuestionsApi,
    GenerationApi,
    AttemptsApi,
    ReviewsApi,
    ExportsApi,
    JobsApi,
    EventsApi,
    NotificationsApi,
    AnalyticsApi,
    AdminApi,
);

/// The OpenAPI service (routes + document).
pub fn openapi() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            HealthApi,
            AuthApi,
            MeApi,
            SessionsApi,
            QuestionsApi,
            GenerationApi,
            AttemptsApi,
            ReviewsApi,
            ExportsApi,
            JobsApi,
            EventsApi,
            NotificationsApi,
            AnalyticsApi,
            AdminApi,
        ),
        TITLE,
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Backend of an interview-preparation app: practice sessions, AI-generated \
             questions, exports. Errors are RFC 9457 problem+json; every response carries \
             `x-request-id`.",
    )
}
