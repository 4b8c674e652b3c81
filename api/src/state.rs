//! What every request handler can reach.

use std::sync::Arc;

use common::{health::Dependencies, kv::Kv, storage::Storage};
use mongodb::Database;

use crate::{auth::jwt::JwtKeys, config::ApiConfig};

/// Shared handles: one reference count to clone (middleware clones it per request).
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares. Several handles inside own strings and key material (the token
/// keys and their validation rules, the Redis and S3 clients' settings), so cloning them
/// field by field cost a dozen allocations a request.
#[derive(Debug)]
pub struct Shared {
    /// The configuration the process started with.
    pub config: Arc<ApiConfig>,
    /// MongoDB database.
    pub db: Database,
    /// Redis.
    pub kv: Kv,
    /// Object storage.
    pub storage: Storage,
    /// Access-token keys.
    pub jwt: JwtKeys,
    /// Turns `true` when the server starts shutting down.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// The trending-topics snapshot, replaced whole by a background task; readers never
    /// wait.
    pub trending: Arc<arc_swap::ArcSwap<crate::trending::Trending>>,
    /// Live events of every client of this process, read through one Redis connection.
    pub events: common::events::Hub,
    /// The latest readiness probes, reused for a second.
    pub readiness: common::health::Recent,
    /// Rate-limit cells this process holds for callers of the `default` policy.
    pub rate_leases: Arc<common::ratelimit::Leases>,
}

impl AppState {
    /// Connects to every dependency (MongoDB lazily; Redis must answer).
    pub async fn connect(
        config: ApiConfig,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let db = common::db::connect(&config.common.mongo).await?;
        let kv = Kv::connect(&config.common.redis).await?;
        let storage = Storage::new(&config.common.s3);
        let jwt = JwtKeys::new(&config.auth);
        let rate_leases = Arc::new(common::ratelimit::Leases::new(config.rate_limit.lease));
        Ok(Self(Arc::new(Shared {
            rate_leases,
            jwt,
            config: Arc::new(config),
            db,
            events: common::events::Hub::new(kv.clone()),
            kv,
            storage,
            stopping,
            trending: Arc::default(),
            readiness: common::health::Recent::default(),
        })))
    }

    /// The stores, for workflows that span them (`common::service`).
    pub fn stores(&self) -> common::service::Stores {
        common::service::Stores {
            db: self.db.clone(),
            kv: self.kv.clone(),
            storage: self.storage.clone(),
        }
    }

    /// The dependencies the readiness check probes.
    pub fn dependencies(&self) -> Dependencies {
        Dependencies {
            mongo: self.db.clone(),
            kv: self.kv.clone(),
            storage: self.storage.clone(),
            timeout: self.config.common.health_check_timeout,
        }
    }
}
