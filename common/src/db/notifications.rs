//! The `notifications` collection: one per finished run of a job, unique on
//! `{job_id, run}` so that repeated deliveries cannot notify twice.

use bson::{Document, doc, oid::ObjectId};
use mongodb::{Collection, Database, error::Error};

use super::{Timed, sessions::ListError};
use crate::{
    domain::job::Notification,
    pagination::{Cursor, Page},
};

/// Collection name.
pub const COLLECTION: &str = "notifications";

/// Which notifications to mark read.
#[derive(Debug, Clone)]
pub enum Selection {
    /// These ids (others' ids are ignored).
    Ids(Vec<ObjectId>),
    /// Every notification of the user.
    All,
}

impl super::Newest for Notification {
    fn created_at(&self) -> bson::DateTime {
        self.created_at
    }
    fn id(&self) -> ObjectId {
        self.id
    }
}

/// What [`Notifications::insert_each_once`] did with one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored now.
    Now,
    /// Its job run was notified already (nothing stored).
    Already,
    /// Not stored (try again later).
    Failed,
}

/// Notification storage.
#[derive(Debug, Clone)]
pub struct Notifications {
    col: Collection<Notification>,
}

impl Notifications {
    /// The repository on `db`.
    pub fn new(db: &Database) -> Self {
        Self {
            col: db.collection(COLLECTION),
        }
    }

    /// Stores each of `ns` unless its job run was already notified, in one round trip;
    /// what happened to each, in order. `Err` when nothing is known to have been stored.
    pub async fn insert_each_once(&self, ns: &[&Notification]) -> Result<Vec<Stored>, Error> {
        use mongodb::error::ErrorKind;
        if ns.is_empty() {
            return Ok(Vec::new());
        }
        let mut stored = vec![Stored::Now; ns.len()];
        match self
            .col
            .insert_many(ns.iter().copied())
            .ordered(false)
            .timed("notifications.insert_each_once")
            .await
        {
            Ok(_) => {}
            Err(e) => match &*e.kind {
                ErrorKind::InsertMany(failure) if failure.write_concern_error.is_none() => {
                    for error in failure.write_errors.iter().flatten() {
                        if let Some(slot) = stored.get_mut(error.index) {
                            *slot = if error.code == 11000 {
                                Stored::Already
                            } else {
                                Stored::Failed
                            };
                        }
                    }
                }
                _ => return Err(e),
            },
        }
        Ok(stored)
    }

    /// The user's notifications, newest first, optionally only unread ones.
    pub async fn list(
        &self,
        user_id: ObjectId,
        unread_only: bool,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<Notification>, ListError> {
        let filter = list_filter(user_id, unread_only);
        super::newest_page("notifications.list", &self.col, filter, after, limit).await
    }

    /// The query plan of [`Self::list`]'s first page (for tests).
    pub async fn explain_list(
        &self,
        user_id: ObjectId,
        unread_only: bool,
        limit: u32,
    ) -> Result<Document, Error> {
        let filter = list_filter(user_id, unread_only);
        super::explain_newest_page("notifications.explain_list", &self.col, filter, limit).await
    }

    /// Marks the selected notifications of the user read; returns how many changed.
    pub async fn mark_read(&self, user_id: ObjectId, which: Selection) -> Result<u64, Error> {
        let mut filter = doc! { "user_id": user_id, "read": false };
        if let Selection::Ids(ids) = which {
            filter.insert("_id", doc! { "$in": ids });
        }
        let r = self
            .col
            .update_many(filter, doc! { "$set": { "read": true } })
            .timed("notifications.mark_read")
            .await?;
        Ok(r.modified_count)
    }

    /// Unread notifications of the user.
    pub async fn unread(&self, user_id: ObjectId) -> Result<u64, Error> {
        self.col
            .count_documents(doc! { "user_id": user_id, "read": false })
            .timed("notifications.unread")
            .await
    }

    /// Deletes every notification of the user (also account deletion); returns how many.
    pub async fn clear(&self, user_id: ObjectId) -> Result<u64, Error> {
        Ok(self
            .col
            .delete_many(doc! { "user_id": user_id })
            .timed("notifications.clear")
            .await?
            .deleted_count)
    }
}

/// The filter of the user's notifications, optionally only unread ones.
fn list_filter(user_id: ObjectId, unread_only: bool) -> Document {
    let mut filter = doc! { "user_id": user_id };
    if unread_only {
        filter.insert("read", false);
    }
    filter
}
