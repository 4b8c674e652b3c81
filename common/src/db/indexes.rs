//! Every index the application relies on, created idempotently at start-up.
//!
//! `createIndexes` with an identical specification is a no-op, so every process can call
//! [`ensure_indexes`] when it starts.

use std::time::Duration;

use mongodb::{Database, IndexModel, bson::doc, options::IndexOptions};

use super::{
    Timed, attempts, exports, jobs, notifications, questions, reviews, sessions, tokens, usage,
    users,
};

fn index(keys: mongodb::bson::Document, options: Option<IndexOptions>) -> IndexModel {
    IndexModel::builder().keys(keys).options(options).build()
}

fn unique() -> Option<IndexOptions> {
    Some(IndexOptions::builder().unique(true).build())
}

fn named(name: &str) -> Option<IndexOptions> {
    Some(IndexOptions::builder().name(name.to_owned()).build())
}

/// The indexes of each collection, by collection name.
pub fn all() -> Vec<(&'static str, Vec<IndexModel>)> {
    vec![
        (
            users::COLLECTION,
            vec![index(doc! { "email": 1 }, unique())],
        ),
        (
            sessions::COLLECTION,
            vec![
                // The user's sessions, newest first (list, cursor pagination): read in
                // index order, `_id` breaking ties, so a page reads only its own entries.
                index(doc! { "user_id": 1, "created_at": -1, "_id": -1 }, None),
                // The same of one status (list filter); counts by status (analytics).
                index(
                    doc! { "user_id": 1, "status": 1, "created_at": -1, "_id": -1 },
                    None,
                ),
                // Trending topics: sessions of the last days (a background query).
                index(doc! { "created_at": -1 }, None),
            ],
        ),
        (
            questions::COLLECTION,
            vec![
                // A session's questions, pinned first, then newest.
                index(
                    doc! { "session_id": 1, "is_pinned": -1, "created_at": -1 },
                    named(questions::BY_SESSION_PINNED),
                ),
                // A session's questions of one category.
                index(
                    doc! { "session_id": 1, "category": 1 },
                    named(questions::BY_SESSION_CATEGORY),
                ),
                // No two questions of a session share their normalized text.
                index(doc! { "session_id": 1, "text_hash": 1 }, unique()),
                // The user's questions: account deletion, analytics over all of them.
                index(
                    doc! { "user_id": 1, "created_at": -1, "_id": -1 },
                    named(questions::BY_USER_NEWEST),
                ),
            ],
        ),
        (
            jobs::COLLECTION,
            vec![
                // The user's jobs, newest first (ULID ids sort by creation).
                index(doc! { "user_id": 1, "_id": -1 }, None),
                // The reconciler's scan for jobs that lost their delivery.
                index(doc! { "status": 1, "updated_at": 1 }, None),
                // Operators' dead list.
                index(
                    doc! { "dead_at": -1 },
                    Some(IndexOptions::builder().sparse(true).build()),
                ),
                // Session deletion removes its jobs.
                index(doc! { "session_id": 1 }, None),
            ],
        ),
        (
            attempts::COLLECTION,
            vec![
                // A question's attempts, newest first; deleting a question's attempts.
                index(doc! { "question_id": 1, "created_at": -1, "_id": -1 }, None),
                // Session statistics and session deletion.
                index(doc! { "session_id": 1 }, None),
                // The user's progress over the last days; account deletion.
                index(doc! { "user_id": 1, "created_at": -1 }, None),
            ],
        ),
        (
            reviews::COLLECTION,
            vec![
                // The due list, most overdue first (with the id tie-break of its cursor),
                // across sessions, within one (a kind is then filtered on the way), or of
                // one kind.
                index(
                    doc! { "user_id": 1, "due": 1, "_id": 1 },
                    named(reviews::BY_USER_DUE),
                ),
                index(
                    doc! { "user_id": 1, "session_id": 1, "due": 1, "_id": 1 },
                    named(reviews::BY_USER_SESSION_DUE),
                ),
                index(
                    doc! { "user_id": 1, "kind": 1, "due": 1, "_id": 1 },
                    named(reviews::BY_USER_KIND_DUE),
                ),
                // Session deletion.
                index(doc! { "session_id": 1 }, None),
            ],
        ),
        (
            reviews::LOGS_COLLECTION,
            vec![
                // Reviewed today, streaks; account deletion.
                index(doc! { "user_id": 1, "reviewed_at": -1 }, None),
                // Question and session deletion.
                index(doc! { "question_id": 1 }, None),
                index(doc! { "session_id": 1 }, None),
            ],
        ),
        (
            usage::COLLECTION,
            vec![
                // A day's count goes a day after the day ends.
                index(
                    doc! { "expires_at": 1 },
                    Some(IndexOptions::builder().expire_after(Duration::ZERO).build()),
                ),
                // Account deletion.
                index(doc! { "user_id": 1 }, None),
            ],
        ),
        (
            jobs::KEYS_COLLECTION,
            vec![index(
                doc! { "expires_at": 1 },
                Some(IndexOptions::builder().expire_after(Duration::ZERO).build()),
            )],
        ),
        (
            exports::COLLECTION,
            vec![
                index(doc! { "job_id": 1 }, unique()),
                index(doc! { "expires_at": 1 }, None),
                index(doc! { "session_id": 1 }, None),
                index(doc! { "user_id": 1 }, None),
            ],
        ),
        (
            notifications::COLLECTION,
            vec![
                // The user's notifications, newest first, in index order.
                index(doc! { "user_id": 1, "created_at": -1, "_id": -1 }, None),
                // One notification per finished run of a job.
                index(doc! { "job_id": 1, "run": 1 }, unique()),
            ],
        ),
        (
            tokens::COLLECTION,
            vec![
                index(doc! { "family_id": 1 }, None),
                index(doc! { "user_id": 1 }, None),
                // Expired tokens disappear by themselves.
                index(
                    doc! { "expires_at": 1 },
                    Some(IndexOptions::builder().expire_after(Duration::ZERO).build()),
                ),
            ],
        ),
    ]
}

/// Indexes earlier releases created that a longer one in [`all`] now serves (by collection
/// and name): [`ensure_indexes`] drops them, so a database upgraded in place does not keep
/// maintaining them on every write.
pub const RETIRED: [(&str, &str); 3] = [
    (sessions::COLLECTION, "user_id_1_created_at_-1"),
    (sessions::COLLECTION, "user_id_1_status_1"),
    (notifications::COLLECTION, "user_id_1_created_at_-1"),
];

/// Creates every index that does not exist yet, then drops the [`RETIRED`] ones.
pub async fn ensure_indexes(db: &Database) -> anyhow::Result<()> {
    for (collection, models) in all() {
        if models.is_empty() {
            continue;
        }
        db.collection::<mongodb::bson::Document>(collection)
            .create_indexes(models)
            .timed("indexes.ensure_indexes")
            .await
            .map_err(|e| anyhow::anyhow!("creating indexes on {collection}: {e}"))?;
    }
    for (collection, name) in RETIRED {
        let dropped = db
            .collection::<mongodb::bson::Document>(collection)
            .drop_index(name)
            .timed("indexes.drop_retired")
            .await;
        match dropped {
            Ok(()) => tracing::info!(collection, index = name, "dropped a retired index"),
            // Already gone (a fresh database, or another process dropped it first).
            Err(e) if is_missing(&e) => {}
            Err(e) => anyhow::bail!("dropping index {name} of {collection}: {e}"),
        }
    }
    Ok(())
}

/// Whether `err` says the index or its collection does not exist.
fn is_missing(err: &mongodb::error::Error) -> bool {
    // IndexNotFound, NamespaceNotFound.
    matches!(&*err.kind, mongodb::error::ErrorKind::Command(e) if e.code == 27 || e.code == 26)
}
