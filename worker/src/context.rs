//! What every job handler gets.

use common::{kv::Kv, storage::Storage};
use mongodb::Database;

use std::{
    path::PathBuf,
    sync::{Arc, OnceLock},
    time::Duration,
};

use crate::{
    ai::Ai,
    config::JobSettings,
    export::pdf::Fonts,
    jobs::{claims::FirstClaims, live::LiveEvents, notified::Endings},
    mail::Mailer,
};

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
    /// LLM tokens one account may spend per UTC day.
    pub token_budget: i64,
    /// How long exports are kept.
    pub export_retention: Duration,
    /// Where PDF exports look for fonts beyond the bundled ones.
    pub font_dirs: Vec<PathBuf>,
    /// The fonts, loaded on the first PDF export.
    pub fonts: Arc<OnceLock<Arc<Fonts>>>,
    /// Where ended runs are handed over to be told (notification, event, flag).
    pub endings: Endings,
    /// Where the owners' live events are published.
    pub events: LiveEvents,
    /// Where first deliveries ask for their claims, many in one write.
    pub claims: FirstClaims,
}

impl JobContext {
    /// The fonts for PDF exports (loaded once per process).
    pub fn fonts(&self) -> Arc<Fonts> {
        self.fonts
            .get_or_init(|| {
                let fonts = Fonts::load(&self.font_dirs);
                tracing::info!(faces = fonts.len(), "fonts for PDF exports loaded");
                Arc::new(fonts)
            })
            .clone()
    }
}
