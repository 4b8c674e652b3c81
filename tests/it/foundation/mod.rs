//! The foundation: health, errors as problem+json, metrics, the OpenAPI snapshot, shutdown.

mod errors;
mod health;
mod openapi;
mod shutdown;
mod worker;
