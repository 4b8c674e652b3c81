//! Job queues: their names, their payloads, and how to enqueue. The api enqueues and the
//! worker runs the very same types, so they cannot drift apart.

use std::time::Duration;

use apalis::prelude::{TaskSink, TaskSinkError};
use apalis_redis::{Config, RedisStorage};
use serde::{Deserialize, Serialize};

use crate::kv::Kv;

/// Queue names. Given explicitly: apalis would otherwise use the Rust type path, which
/// silently changes when a type moves.
pub mod queues {
    /// AI question generation and regeneration.
    pub const QUESTION_GENERATION: &str = "question-generation";
    /// Session exports.
    pub const EXPORT: &str = "export";
    /// Outgoing email.
    pub const EMAIL: &str = "email";
}

/// How often a worker tells Redis it is alive.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// Missed heartbeats after which a worker's in-flight tasks are handed to another worker.
/// (apalis-redis' `Config::default()` says 10 although its docs say 2: set explicitly.)
pub const MISSED_HEARTBEATS: usize = 4;

/// The apalis storage of `queue`, under the deployment's key prefix.
pub fn storage<T>(kv: &Kv, queue: &str) -> RedisStorage<T> {
    let config = Config::default()
        .queue(kv.key(queue))
        .heartbeat_interval(HEARTBEAT_INTERVAL)
        .missed_heartbeats(MISSED_HEARTBEATS);
    RedisStorage::new(kv.conn()).with_config(config)
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmailJob {
    /// Issue a password-reset code to this address and mail it. The worker creates the
    /// code, so it never sits in the queue in clear text.
    PasswordResetCode {
        /// Normalized email address of an existing account.
        email: String,
        /// The account holder's name, for the greeting.
        fullname: String,
    },
}

/// Why a job could not be enqueued.
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    /// Redis did not take it (down, timed out): retry later.
    #[error("the queue store is unavailable: {0}")]
    Unavailable(String),
    /// The payload could not be encoded (a bug).
    #[error("the job could not be encoded: {0}")]
    Encode(String),
}

impl<E: std::fmt::Display> From<TaskSinkError<E>> for EnqueueError {
    fn from(err: TaskSinkError<E>) -> Self {
        match err {
            TaskSinkError::PushError(e) => Self::Unavailable(e.to_string()),
            other => Self::Encode(other.to_string()),
        }
    }
}

/// Puts an email job on the `email` queue.
pub async fn enqueue_email(kv: &Kv, job: EmailJob) -> Result<(), EnqueueError> {
    storage::<EmailJob>(kv, queues::EMAIL).push(job).await?;
    Ok(())
}
