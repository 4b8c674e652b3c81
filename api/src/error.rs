//! One error type for every handler, rendered as RFC 9457 `application/problem+json`.
//!
//! Domain errors become HTTP statuses here and nowhere else. Internal causes are logged
//! with their whole chain and never sent to the client.

use poem::http::StatusCode;
use poem_openapi::{ApiResponse, Object, payload::Json};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem with one field of the request.
#[derive(Debug, Clone, Object, PartialEq, Eq)]
#[oai(skip_serializing_if_is_none)]
pub struct FieldError {
    /// The field, as a JSON pointer-like dotted path (`email`, `topics.2`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Problem {
    /// A URI reference identifying the problem type.
    #[oai(rename = "type")]
    pub problem_type: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// An explanation of this occurrence.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// Field-level validation problems.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<FieldError>>,
    // `instance` and `request_id` are added to every problem by the outermost middleware
    // (`middleware::observe`), which knows the request; `spec` documents them.
}

impl Problem {
    /// A problem of type `/problems/{slug}` for `status`, titled from the catalogue
    /// (`crate::problems`), which documents every type at its `type` URL.
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<Option<String>>) -> Self {
        let entry = crate::problems::lookup(slug);
        debug_assert!(
            entry.is_some(),
            "problem type {slug} is not in the catalogue"
        );
        Self {
            problem_type: format!("/problems/{slug}"),
            title: entry.map_or_else(
                || status.canonical_reason().unwrap_or("Error").to_owned(),
                |e| e.title.to_owned(),
            ),
            status: status.as_u16(),
            detail: detail.into(),
            errors: None,
        }
    }

    /// The slug used for a bare HTTP status.
    pub fn slug_for(status: StatusCode) -> &'static str {
        match status.as_u16() {
            400 => "bad-request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not-found",
            405 => "method-not-allowed",
            406 => "not-acceptable",
            409 => "conflict",
            411 => "length-required",
            413 => "payload-too-large",
            415 => "unsupported-media-type",
            422 => "validation-error",
            429 => "rate-limited",
            503 => "service-unavailable",
            s if s >= 500 => "internal-error",
            _ => "client-error",
        }
    }

    /// A problem for a bare HTTP status with a generic slug.
    pub fn from_status(status: StatusCode, detail: impl Into<Option<String>>) -> Self {
        Self::new(status, Self::slug_for(status), detail)
    }
}

/// Every error an operation can answer with.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed or fails validation.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing, invalid or expired credentials.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The caller may not do this (operator endpoints).
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// The resource does not exist, or belongs to someone else.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The request conflicts with the current state (a duplicate, a full session).
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The request is well-formed but its values are not acceptable.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// Too many requests; retry after the given number of seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(
        Json<Problem>,
        /// Seconds to wait before retrying.
        #[oai(header = "Retry-After")]
        u64,
    ),
    /// An unexpected error; the cause is logged with the request id.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// A dependency (MongoDB, Redis, S3) is unavailable, or the server is too busy; retry
    /// later (after `Retry-After` seconds when given).
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(
        Json<Problem>,
        /// Seconds to wait before retrying, when known.
        #[oai(header = "Retry-After")]
        Option<u64>,
    ),
}

impl ApiError {
    /// 400 with field-level errors.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut problem = Problem::new(
            StatusCode::BAD_REQUEST,
            "validation-error",
            Some("The request has invalid fields.".to_owned()),
        );
        problem.errors = Some(errors);
        Self::BadRequest(Json(problem))
    }

    /// 400 with one field error.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    /// 401.
    pub fn unauthorized(detail: &str) -> Self {
        Self::Unauthorized(Json(Problem::from_status(
            StatusCode::UNAUTHORIZED,
            detail.to_owned(),
        )))
    }

    /// 403.
    pub fn forbidden(detail: &str) -> Self {
        Self::Forbidden(Json(Problem::from_status(
            StatusCode::FORBIDDEN,
            detail.to_owned(),
        )))
    }

    /// 404 for `what` (never says whether it exists for someone else).
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(Json(Problem::from_status(
            StatusCode::NOT_FOUND,
            format!("{what} not found"),
        )))
    }

    /// 409 of type `/problems/{slug}`.
    pub fn conflict(slug: &str, detail: impl Into<String>) -> Self {
        Self::Conflict(Json(Problem::new(
            StatusCode::CONFLICT,
            slug,
            Some(detail.into()),
        )))
    }

    /// 409 `session-full`: the session holds its maximum of `cap` questions.
    pub fn session_full(cap: u32) -> Self {
        Self::conflict(
            "session-full",
            format!("A session holds at most {cap} questions; delete some first."),
        )
    }

    /// 409 `duplicate-question`: the session already has this question.
    pub fn duplicate_question() -> Self {
        Self::conflict(
            "duplicate-question",
            "The session already has this question (ignoring case, spacing and punctuation).",
        )
    }

    /// 429, retry after `retry_after` seconds.
    pub fn too_many_requests(retry_after: u64) -> Self {
        Self::TooManyRequests(
            Json(Problem::from_status(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Rate limit exceeded; retry in {retry_after} s."),
            )),
            retry_after,
        )
    }

    /// 429 `token-budget-spent`: the caller's daily LLM token budget is used up until
    /// `budget.resets_at`.
    pub fn token_budget_spent(budget: &common::db::usage::Budget) -> Self {
        Self::TooManyRequests(
            Json(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "token-budget-spent",
                Some(format!(
                    "Today's AI budget of {} tokens is spent; it renews at {} (UTC midnight).",
                    budget.limit,
                    budget.resets_at.format("%Y-%m-%dT%H:%M:%SZ")
                )),
            )),
            budget.retry_after_secs(),
        )
    }

    /// 503 naming the unavailable dependency.
    pub fn unavailable(dependency: &str) -> Self {
        Self::Unavailable(
            Json(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "dependency-unavailable",
                Some(format!("{dependency} is unavailable; retry later.")),
            )),
            None,
        )
    }

    /// 500; logs `cause` with its chain, tells the client nothing about it.
    pub fn internal(cause: &anyhow::Error) -> Self {
        tracing::error!(error = format!("{cause:#}"), "internal error");
        Self::Internal(Json(Problem::from_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unexpected error occurred; it has been logged with the request id.".to_owned(),
        )))
    }
}

impl From<common::pagination::BadCursor> for ApiError {
    fn from(e: common::pagination::BadCursor) -> Self {
        Self::invalid_field("cursor", e.to_string())
    }
}

impl From<common::db::sessions::ListError> for ApiError {
    fn from(e: common::db::sessions::ListError) -> Self {
        match e {
            common::db::sessions::ListError::Cursor(e) => e.into(),
            common::db::sessions::ListError::Db(e) => e.into(),
        }
    }
}

impl From<common::jobs::StartError> for ApiError {
    fn from(e: common::jobs::StartError) -> Self {
        use common::jobs::StartError;
        match e {
            StartError::KeyReused => Self::Unprocessable(Json(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                Some(
                    "This Idempotency-Key was used for a different request in the last 24 \
                     hours; use a new key."
                        .to_owned(),
                ),
            ))),
            StartError::Unavailable => Self::unavailable("the job queue"),
            StartError::Limited { retry_after_secs } => Self::too_many_requests(retry_after_secs),
            StartError::Db(e) => e.into(),
            StartError::Encode(e) => Self::internal(&anyhow::Error::new(e)),
        }
    }
}

impl From<crate::auth::password::HashError> for ApiError {
    fn from(e: crate::auth::password::HashError) -> Self {
        use crate::auth::password::HashError;
        match e {
            HashError::Busy => Self::Unavailable(
                Json(Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server-busy",
                    Some(
                        "The server is checking too many passwords right now; retry in a second."
                            .to_owned(),
                    ),
                )),
                Some(1),
            ),
            HashError::Failed(e) => Self::internal(&e),
        }
    }
}

impl From<common::service::Error> for ApiError {
    fn from(e: common::service::Error) -> Self {
        match e {
            common::service::Error::Db(e) => e.into(),
            common::service::Error::Redis(e) => e.into(),
        }
    }
}

impl From<common::db::questions::WriteError> for ApiError {
    fn from(e: common::db::questions::WriteError) -> Self {
        use common::db::questions::WriteError;
        match e {
            WriteError::Duplicate => Self::duplicate_question(),
            WriteError::Db(e) => e.into(),
        }
    }
}

impl From<common::events::OpenError> for ApiError {
    fn from(e: common::events::OpenError) -> Self {
        use common::events::OpenError;
        match e {
            OpenError::InstanceFull => Self::Unavailable(
                Json(Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service-unavailable",
                    Some(
                        "This server has no room for another event stream; retry shortly."
                            .to_owned(),
                    ),
                )),
                Some(STREAM_SLOT_RETRY_SECS),
            ),
            OpenError::UserLimit(max) => Self::TooManyRequests(
                Json(Problem::from_status(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("At most {max} event streams may be open at once; close one first."),
                )),
                STREAM_SLOT_RETRY_SECS,
            ),
            OpenError::Redis(e) => e.into(),
        }
    }
}

/// When a stream slot may be free again: a client that went away is noticed within two
/// keep-alives (10 s).
const STREAM_SLOT_RETRY_SECS: u64 = 10;

impl From<common::domain::Invalid> for ApiError {
    fn from(e: common::domain::Invalid) -> Self {
        Self::invalid_field(e.field, e.message)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::internal(&err)
    }
}

impl From<mongodb::error::Error> for ApiError {
    fn from(err: mongodb::error::Error) -> Self {
        use mongodb::error::ErrorKind;
        match *err.kind {
            ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. } => {
                tracing::warn!(error = %err, "MongoDB unavailable");
                Self::unavailable("the database")
            }
            _ => Self::internal(&anyhow::Error::new(err)),
        }
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(err: redis::RedisError) -> Self {
        if err.is_io_error()
            || err.is_connection_dropped()
            || err.is_connection_refusal()
            || err.is_timeout()
        {
            tracing::warn!(error = %err, "Redis unavailable");
            Self::unavailable("the queue store")
        } else {
            Self::internal(&anyhow::Error::new(err))
        }
    }
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
