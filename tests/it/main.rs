//! The integration test binary: every test talks to real MongoDB-wire, Redis, S3 and SMTP
//! servers started by `scripts/test.sh` (see `support`).

// A failed unwrap is how a test reports an unexpected answer.
#![allow(clippy::unwrap_used)]

mod support;

mod auth;
mod deploy;
mod exports;
mod foundation;
mod generation;
mod jobs;
mod observability;
mod practice;
mod review;
mod security;
mod sessions;
