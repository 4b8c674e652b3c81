//! Workflows that span stores (MongoDB, S3, Redis), each in one function that the api and
//! the worker both call, so that routes and jobs stay thin and a cascade has one place.

pub mod accounts;
pub mod sessions;

use mongodb::Database;

use crate::{kv::Kv, storage::Storage};

/// The stores a workflow may touch (cheap to clone: every handle is shared).
#[derive(Debug, Clone)]
pub struct Stores {
    /// MongoDB database.
    pub db: Database,
    /// Redis.
    pub kv: Kv,
    /// Object storage.
    pub storage: Storage,
}

/// Why a workflow stopped; what it finished stays done, and running it again completes it
/// (every step is idempotent).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// MongoDB failed.
    #[error(transparent)]
    Db(#[from] mongodb::error::Error),
    /// Redis failed.
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}
