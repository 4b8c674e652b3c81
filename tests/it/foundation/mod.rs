//! The foundation: health, errors as problem+json, metrics, the OpenAPI snapshot, shutdown.

mod driver;
mod error_statuses;
mod errors;
mod hardening;
mod health;
mod openapi;
mod shutdown;
mod worker;
