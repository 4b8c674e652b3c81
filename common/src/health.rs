//! Readiness: can this process reach every service it depends on right now?

use std::{future::Future, time::Duration};

use serde::Serialize;

use crate::{db, kv::Kv, storage::Storage};

/// The latest probe results, reused for a moment: readiness is public and unauthenticated,
/// so a flood of calls must not turn into a flood of probes. Concurrent callers wait for
/// one probe and share its result.
#[derive(Debug, Clone, Default)]
pub struct Recent(std::sync::Arc<tokio::sync::Mutex<Option<Probed>>>);

/// Probe results and when they were taken.
type Probed = (std::time::Instant, Vec<Check>);

impl Recent {
    /// How long probe results are reused.
    pub const MAX_AGE: Duration = Duration::from_secs(1);

    /// The results of a probe at most [`Recent::MAX_AGE`] old, probing `deps` when there is
    /// none.
    pub async fn check(&self, deps: &Dependencies) -> Vec<Check> {
        let mut last = self.0.lock().await;
        if let Some((at, checks)) = last.as_ref()
            && at.elapsed() < Self::MAX_AGE
        {
            return checks.clone();
        }
        let checks = deps.check().await;
        *last = Some((std::time::Instant::now(), checks.clone()));
        checks
    }
}

/// Whether a `/metrics` request may read the metrics: always without a configured token,
/// else only with `Authorization: Bearer <token>` (compared in constant time).
pub fn metrics_allowed(token: Option<&secrecy::SecretString>, authorization: Option<&str>) -> bool {
    use sha2::{Digest, Sha256};
    let Some(token) = token else {
        return true;
    };
    let given = authorization
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .trim();
    // Equal digests iff equal tokens; how long the comparison takes says something about
    // the digests at most, never about the token.
    let expected = Sha256::digest(secrecy::ExposeSecret::expose_secret(token).as_bytes());
    Sha256::digest(given.as_bytes()) == expected
}

/// The services a process depends on.
#[derive(Debug, Clone)]
pub struct Dependencies {
    /// MongoDB database.
    pub mongo: mongodb::Database,
    /// Redis.
    pub kv: Kv,
    /// Object storage.
    pub storage: Storage,
    /// How long each probe may take.
    pub timeout: Duration,
}

/// The outcome of probing one dependency.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `mongodb`, `redis` or `s3`.
    pub name: &'static str,
    /// Whether it answered in time.
    pub ok: bool,
    /// Time taken, in milliseconds.
    pub latency_ms: u64,
    /// A short reason when it did not answer (safe to show: no addresses or secrets).
    pub error: Option<String>,
}

async fn probe<F, E>(name: &'static str, timeout: Duration, fut: F) -> Check
where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(timeout, fut).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => {
            tracing::warn!(dependency = name, error = %e, "readiness probe failed");
            Some("unreachable".to_owned())
        }
        Err(_) => {
            tracing::warn!(dependency = name, "readiness probe timed out");
            Some("timed out".to_owned())
        }
    };
    metrics::gauge!("dependency_up", "dependency" => name).set(if error.is_none() {
        1.0
    } else {
        0.0
    });
    Check {
        name,
        ok: error.is_none(),
        latency_ms,
        error,
    }
}

/// `"redis unreachable, s3 timed out"` for the failing checks, or `None` when all passed.
pub fn failing_summary(checks: &[Check]) -> Option<String> {
    let failing: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{} {}", c.name, c.error.as_deref().unwrap_or("failing")))
        .collect();
    (!failing.is_empty()).then(|| failing.join(", "))
}

impl Dependencies {
    /// Probes every dependency concurrently.
    /// Probes every `every` until `stop` turns true, so `dependency_up` stays current even
    /// where nothing calls the readiness endpoint (workers on Render have no health check).
    pub async fn watch(self, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Some(failing) = failing_summary(&self.check().await) {
                tracing::warn!(failing, "a dependency is unavailable");
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// Probes every dependency concurrently.
    pub async fn check(&self) -> Vec<Check> {
        let (mongo, redis, s3) = tokio::join!(
            probe("mongodb", self.timeout, db::ping(&self.mongo)),
            probe("redis", self.timeout, self.kv.ping()),
            probe("s3", self.timeout, self.storage.ping()),
        );
        vec![mongo, redis, s3]
    }
}
