//! MongoDB access: the connection and the repositories, one module per collection.

pub mod analytics;
pub mod attempts;
pub mod exports;
mod indexes;
pub mod jobs;
pub mod notifications;
pub mod questions;
pub mod reviews;
pub mod sessions;
pub mod tokens;
pub mod transaction;
pub mod usage;
pub mod users;

use std::time::Duration;

use mongodb::{Client, Database, bson::doc, options::ClientOptions};
use secrecy::ExposeSecret;

use crate::config::MongoConfig;

pub use indexes::ensure_indexes;

/// Opens a client for `config` (lazily: no server needs to be up yet).
pub async fn connect(config: &MongoConfig) -> anyhow::Result<Database> {
    let mut options = ClientOptions::parse(config.uri.expose_secret())
        .await
        .map_err(|e| anyhow::anyhow!("MONGODB_URI cannot be parsed: {e}"))?;
    options.app_name = Some("interview-prep".to_owned());
    options.server_selection_timeout = Some(config.server_selection_timeout);
    options.connect_timeout = Some(Duration::from_secs(3));
    // An acknowledged write is on disk (journal) on a majority of the replica set, so no
    // crash or failover takes it back.
    options.write_concern = Some(
        mongodb::options::WriteConcern::builder()
            .w(mongodb::options::Acknowledgment::Majority)
            .journal(true)
            .build(),
    );
    // Latency of every command, by command name and outcome.
    options.command_event_handler = Some(mongodb::event::EventHandler::callback(|event| {
        use mongodb::event::command::CommandEvent;
        let (name, outcome, took) = match event {
            CommandEvent::Succeeded(e) => (e.command_name, "ok", e.duration),
            CommandEvent::Failed(e) => (e.command_name, "error", e.duration),
            _ => return,
        };
        metrics::histogram!("mongodb_command_duration_seconds", "command" => name, "outcome" => outcome)
            .record(took.as_secs_f64());
    }));
    let client = Client::with_options(options)?;
    Ok(client.database(&config.database))
}

/// One round trip to the server.
pub async fn ping(db: &Database) -> Result<(), mongodb::error::Error> {
    db.run_command(doc! { "ping": 1 }).await.map(drop)
}

/// A record listed newest first: by creation time, then by id.
pub trait Newest {
    /// When it was created.
    fn created_at(&self) -> bson::DateTime;
    /// Its id (the tie-break).
    fn id(&self) -> bson::oid::ObjectId;
}

/// A page of the records of `col` matching `filter`, newest first, after `after`.
pub(crate) async fn newest_page<T>(
    col: &mongodb::Collection<T>,
    mut filter: bson::Document,
    after: Option<&crate::pagination::Cursor>,
    limit: u32,
) -> Result<crate::pagination::Page<T>, sessions::ListError>
where
    T: Newest + serde::de::DeserializeOwned + Send + Sync,
{
    use futures::TryStreamExt;
    if let Some(cursor) = after {
        filter.extend(cursor.after_newest()?);
    }
    let items: Vec<T> = col
        .find(filter)
        .sort(doc! { "created_at": -1, "_id": -1 })
        .limit(i64::from(limit) + 1)
        .await?
        .try_collect()
        .await?;
    Ok(crate::pagination::Page::from_overfetch(items, limit, |t| {
        crate::pagination::Cursor {
            pinned: None,
            created_at_ms: t.created_at().timestamp_millis(),
            id: t.id(),
        }
    }))
}

/// Whether `err` is a unique-index violation.
pub fn is_duplicate_key(err: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match &*err.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == 11000,
        ErrorKind::Command(e) => e.code == 11000,
        ErrorKind::InsertMany(e) => e
            .write_errors
            .as_ref()
            .is_some_and(|errs| errs.iter().any(|e| e.code == 11000)),
        _ => false,
    }
}
