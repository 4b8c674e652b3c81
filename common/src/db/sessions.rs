//! The `sessions` collection. Every query carries `user_id`: a session of another user is
//! indistinguishable from a missing one.

use std::collections::HashMap;

use bson::{DateTime, Document, doc, oid::ObjectId};
use futures::TryStreamExt;
use mongodb::{Collection, Database, error::Error, options::ReturnDocument};

use super::{Timed, jobs, questions};
use crate::{
    domain::session::{Session, SessionPatch, SessionStatus},
    pagination::{BadCursor, Cursor, Page},
};

/// Collection name.
pub const COLLECTION: &str = "sessions";

/// A failed list query.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The cursor is not one of this list's.
    #[error(transparent)]
    Cursor(#[from] BadCursor),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] Error),
}

impl super::Newest for Session {
    fn created_at(&self) -> DateTime {
        self.created_at
    }
    fn id(&self) -> ObjectId {
        self.id
    }
}

/// Session storage.
#[derive(Debug, Clone)]
pub struct Sessions {
    db: Database,
    col: Collection<Session>,
}

impl Sessions {
    /// The repository on `db`.
    pub fn new(db: &Database) -> Self {
        Self {
            db: db.clone(),
            col: db.collection(COLLECTION),
        }
    }

    /// How many sessions the user has.
    pub async fn count(&self, user_id: ObjectId) -> Result<u64, Error> {
        self.col
            .count_documents(doc! { "user_id": user_id })
            .timed("sessions.count")
            .await
    }

    /// Stores a new session.
    pub async fn insert(&self, session: &Session) -> Result<(), Error> {
        self.col
            .insert_one(session)
            .timed("sessions.insert")
            .await
            .map(drop)
    }

    /// The user's session with this id.
    pub async fn get(&self, user_id: ObjectId, id: ObjectId) -> Result<Option<Session>, Error> {
        self.col
            .find_one(doc! { "_id": id, "user_id": user_id })
            .timed("sessions.get")
            .await
    }

    /// The user's sessions, newest first, optionally of one status.
    pub async fn list(
        &self,
        user_id: ObjectId,
        status: Option<SessionStatus>,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<Session>, ListError> {
        let filter = list_filter(user_id, status);
        super::newest_page("sessions.list", &self.col, filter, after, limit).await
    }

    /// The query plan of [`Self::list`]'s first page (for tests).
    pub async fn explain_list(
        &self,
        user_id: ObjectId,
        status: Option<SessionStatus>,
        limit: u32,
    ) -> Result<Document, Error> {
        let filter = list_filter(user_id, status);
        super::explain_newest_page("sessions.explain_list", &self.col, filter, limit).await
    }

    /// Applies `patch` to the user's session; returns it changed (unchanged when the patch
    /// is empty), `None` when there is no such session.
    pub async fn update(
        &self,
        user_id: ObjectId,
        id: ObjectId,
        patch: &SessionPatch,
    ) -> Result<Option<Session>, Error> {
        if patch.is_empty() {
            return self.get(user_id, id).await;
        }
        let mut set = doc! { "updated_at": DateTime::now() };
        if let Some(role) = &patch.role {
            set.insert("role", role);
        }
        if let Some(experience) = patch.experience {
            set.insert("experience", experience.as_str());
        }
        if let Some(topics) = &patch.topics {
            set.insert("topics", topics);
        }
        if let Some(description) = &patch.description {
            set.insert("description", description);
        }
        let mut unset = Document::new();
        for (field, value) in [
            ("company", &patch.company),
            ("job_description", &patch.job_description),
        ] {
            match value.as_deref() {
                Some("") => {
                    unset.insert(field, "");
                }
                Some(text) => {
                    set.insert(field, text);
                }
                None => {}
            }
        }
        if let Some(minutes) = patch.duration_minutes {
            set.insert("duration_minutes", i64::from(minutes));
        }
        if let Some(status) = patch.status {
            set.insert("status", status.as_str());
        }
        let mut update = doc! { "$set": set };
        if !unset.is_empty() {
            update.insert("$unset", unset);
        }
        self.col
            .find_one_and_update(doc! { "_id": id, "user_id": user_id }, update)
            .return_document(ReturnDocument::After)
            .timed("sessions.update")
            .await
    }

    /// Deletes the user's session, its questions and its jobs in one transaction; `false`
    /// when there was no such session.
    pub async fn delete(&self, user_id: ObjectId, id: ObjectId) -> Result<bool, Error> {
        let questions = self.db.collection::<Document>(questions::COLLECTION);
        let jobs = self.db.collection::<Document>(jobs::COLLECTION);
        let attempts = self.db.collection::<Document>(super::attempts::COLLECTION);
        let reviews = self.db.collection::<Document>(super::reviews::COLLECTION);
        let review_logs = self
            .db
            .collection::<Document>(super::reviews::LOGS_COLLECTION);
        super::transaction::run(
            self.db.client(),
            (
                &self.col,
                &questions,
                &jobs,
                &attempts,
                &reviews,
                &review_logs,
            ),
            |txn, (sessions, questions, jobs, attempts, reviews, review_logs)| {
                Box::pin(async move {
                    let deleted = sessions
                        .delete_one(doc! { "_id": id, "user_id": user_id })
                        .session(&mut *txn)
                        .timed("sessions.delete.delete_one")
                        .await?
                        .deleted_count;
                    if deleted == 1 {
                        questions
                            .delete_many(doc! { "session_id": id })
                            .session(&mut *txn)
                            .timed("sessions.delete.delete_many")
                            .await?;
                        for col in [attempts, reviews, review_logs] {
                            col.delete_many(doc! { "session_id": id })
                                .session(&mut *txn)
                                .timed("sessions.delete.delete_many")
                                .await?;
                        }
                        // A job still running for it finds the session gone and ends.
                        jobs.delete_many(doc! { "session_id": id })
                            .session(&mut *txn)
                            .timed("sessions.delete.delete_many")
                            .await?;
                    }
                    Ok(deleted == 1)
                })
            },
        )
        .await
    }

    /// Deletes every session of the user (account deletion; questions go separately).
    pub async fn delete_user(&self, user_id: ObjectId) -> Result<(), Error> {
        self.col
            .delete_many(doc! { "user_id": user_id })
            .timed("sessions.delete_user")
            .await
            .map(drop)
    }

    /// Pinned questions per session, for a page of sessions (one aggregation).
    pub async fn pinned_counts(&self, ids: &[ObjectId]) -> Result<HashMap<ObjectId, i64>, Error> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut rows = self
            .db
            .collection::<Document>(questions::COLLECTION)
            .aggregate([
                doc! { "$match": { "session_id": { "$in": ids }, "is_pinned": true } },
                doc! { "$group": { "_id": "$session_id", "n": { "$sum": 1 } } },
            ])
            .timed("sessions.pinned_counts")
            .await?;
        let mut counts = HashMap::new();
        while let Some(row) = rows.try_next().await? {
            if let (Ok(id), Some(n)) = (row.get_object_id("_id"), number(&row, "n")) {
                counts.insert(id, n);
            }
        }
        Ok(counts)
    }
}

/// The filter of the user's sessions, optionally of one status.
fn list_filter(user_id: ObjectId, status: Option<SessionStatus>) -> Document {
    let mut filter = doc! { "user_id": user_id };
    if let Some(status) = status {
        filter.insert("status", status.as_str());
    }
    filter
}

/// An integer field of an aggregation result, whatever width the server chose.
pub(crate) fn number(doc: &Document, key: &str) -> Option<i64> {
    match doc.get(key)? {
        bson::Bson::Int32(n) => Some(i64::from(*n)),
        bson::Bson::Int64(n) => Some(*n),
        #[expect(clippy::cast_possible_truncation, reason = "counts are whole numbers")]
        bson::Bson::Double(n) => Some(*n as i64),
        _ => None,
    }
}
