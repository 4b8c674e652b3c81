//! HTTP middleware, applied in `crate::app` from the outside in:
//! [`observe`] (request id, access log, metrics) → CORS (when origins are configured) →
//! [`security_headers`] → [`rate_limit`] →
//! [`analytics_cache`] (drops cached analytics after changes) → [`problem`] (every error as
//! problem+json) → panics caught → [`body_limit`] → [`schema`] (bodies checked against the
//! OpenAPI document) → routes.

pub mod analytics_cache;
pub mod body_limit;
pub mod observe;
pub mod problem;
pub mod rate_limit;
pub mod schema;
pub mod security_headers;
