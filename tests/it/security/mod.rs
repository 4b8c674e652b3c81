//! Reliability and security proof: the ownership matrix from the OpenAPI document, races,
//! and faults injected into real processes.

mod ai_abuse;
mod concurrency;
mod faults;
mod hardening;
mod operators;
mod ownership_matrix;
