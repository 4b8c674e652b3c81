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

pub use indexes::{RETIRED, ensure_indexes};

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
    // No command event handler: the driver turns every reply into a `Document` for one
    // (a fifth of the api's CPU on a list request); latency is measured by `Timed` instead.
    let client = Client::with_options(options)?;
    Ok(client.database(&config.database))
}

/// One round trip to the server.
pub async fn ping(db: &Database) -> Result<(), mongodb::error::Error> {
    db.run_command(doc! { "ping": 1 })
        .timed("db.ping")
        .await
        .map(drop)
}

/// Latency of database calls: `mongodb_operation_duration_seconds{operation, outcome}`,
/// `operation` naming the repository call (`questions.list`, `jobs.claim`, or
/// `questions.bulk.delete_many` where one repository call sends several commands).
///
/// Measured around the driver's futures rather than through its command events: with an
/// event handler installed the driver converts every command and reply into a `Document`,
/// which cost a fifth of the api's CPU on a list request. A `find` is timed to its first
/// batch (every page the api reads fits in one).
pub trait Timed<T>: IntoFuture<Output = mongodb::error::Result<T>> + Sized
where
    Self::IntoFuture: Unpin,
{
    /// This call, recorded under `operation` when it completes.
    fn timed(self, operation: &'static str) -> TimedFuture<Self::IntoFuture> {
        TimedFuture {
            inner: self.into_future(),
            operation,
            start: std::time::Instant::now(),
        }
    }
}

impl<T, A> Timed<T> for A
where
    A: IntoFuture<Output = mongodb::error::Result<T>>,
    A::IntoFuture: Unpin,
{
}

/// A database call being timed (see [`Timed`]).
pub struct TimedFuture<F> {
    inner: F,
    operation: &'static str,
    start: std::time::Instant,
}

impl<F> std::fmt::Debug for TimedFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimedFuture")
            .field("operation", &self.operation)
            .finish_non_exhaustive()
    }
}

impl<T, F> std::future::Future for TimedFuture<F>
where
    F: std::future::Future<Output = mongodb::error::Result<T>> + Unpin,
{
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let result = std::task::ready!(std::pin::Pin::new(&mut self.inner).poll(cx));
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::histogram!(
            "mongodb_operation_duration_seconds",
            "operation" => self.operation,
            "outcome" => outcome
        )
        .record(self.start.elapsed().as_secs_f64());
        std::task::Poll::Ready(result)
    }
}

/// A record listed newest first: by creation time, then by id.
pub trait Newest {
    /// When it was created.
    fn created_at(&self) -> bson::DateTime;
    /// Its id (the tie-break).
    fn id(&self) -> bson::oid::ObjectId;
}

/// A page of the records of `col` matching `filter`, newest first, after `after`
/// (`operation` names it in the latency metric, see [`Timed`]).
pub(crate) async fn newest_page<T>(
    operation: &'static str,
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
        .sort(newest_order())
        .limit(i64::from(limit) + 1)
        .timed(operation)
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

/// The order of [`newest_page`]. An index serving it ends in `created_at: -1, _id: -1`;
/// without the `_id`, the server sorts every match of the filter for each page.
fn newest_order() -> bson::Document {
    doc! { "created_at": -1, "_id": -1 }
}

/// The query planner's `explain` of a first page of `col`: `filter` in `sort` order, one
/// more than `limit` (as the pages over-fetch). Tests check the plans with it.
pub(crate) async fn explain_page<T: Send + Sync>(
    operation: &'static str,
    col: &mongodb::Collection<T>,
    filter: bson::Document,
    sort: bson::Document,
    limit: u32,
) -> Result<bson::Document, mongodb::error::Error> {
    let namespace = col.namespace();
    col.client()
        .database(&namespace.db)
        .run_command(doc! {
            "explain": {
                "find": namespace.coll,
                "filter": filter,
                "sort": sort,
                "limit": i64::from(limit) + 1,
            },
            "verbosity": "queryPlanner",
        })
        .timed(operation)
        .await
}

/// [`explain_page`] of the first page [`newest_page`] reads for `filter`.
pub(crate) async fn explain_newest_page<T: Send + Sync>(
    operation: &'static str,
    col: &mongodb::Collection<T>,
    filter: bson::Document,
    limit: u32,
) -> Result<bson::Document, mongodb::error::Error> {
    explain_page(operation, col, filter, newest_order(), limit).await
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
