//! HTTP middleware, applied in `crate::app` from the outside in:
//! [`observe`] (request id, access log, metrics) → security headers → [`problem`]
//! (every error as problem+json) → [`body_limit`] → routes.

pub mod body_limit;
pub mod observe;
pub mod problem;
