//! What every job handler gets.

use common::{kv::Kv, storage::Storage};
use mongodb::Database;

use crate::{ai::Ai, config::JobSettings, mail::Mailer};

/// Shared handles for job handlers (cheap to clone).
#[derive(Debug, Clone)]
pub struct JobContext {
    /// MongoDB database.
    pub db: Database,
    /// Redis.
    pub kv: Kv,
    /// Object storage.
    pub storage: Storage,
    /// Outgoing mail.
    pub mailer: Mailer,
    /// How attempts are run and retried.
    pub settings: JobSettings,
    /// Question generation.
    pub ai: Ai,
    /// The most questions a session may hold.
    pub max_questions: u32,
}
