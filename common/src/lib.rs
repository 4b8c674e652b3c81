//! Code shared by the api and the worker: configuration, domain types, storage (MongoDB
//! repositories, Redis, S3) and job payloads. Nothing here knows about HTTP.

pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod health;
pub mod jobs;
pub mod kv;
pub mod otp;
pub mod pagination;
pub mod ratelimit;
pub mod service;
pub mod shutdown;
pub mod storage;
pub mod telemetry;
