//! The `exports` collection: one record per export object in S3, and the cleanup that
//! deletes objects together with their records (expiry, session and account deletion).

use bson::{DateTime, doc, oid::ObjectId};
use futures::TryStreamExt;
use mongodb::{Collection, Database, error::Error};

use super::{Timed, is_duplicate_key};
use crate::{domain::job::ExportRecord, storage::Storage};

/// Collection name.
pub const COLLECTION: &str = "exports";

/// Export storage.
#[derive(Debug, Clone)]
pub struct Exports {
    col: Collection<ExportRecord>,
}

impl Exports {
    /// The repository on `db`.
    pub fn new(db: &Database) -> Self {
        Self {
            col: db.collection(COLLECTION),
        }
    }

    /// Records an export (once per job: a repeated attempt finds the first record).
    pub async fn insert_once(&self, record: &ExportRecord) -> Result<ExportRecord, Error> {
        match self
            .col
            .insert_one(record)
            .timed("exports.insert_once")
            .await
        {
            Ok(_) => Ok(record.clone()),
            Err(e) if is_duplicate_key(&e) => self
                .by_job(&record.job_id)
                .await?
                .ok_or_else(|| Error::custom("export record vanished")),
            Err(e) => Err(e),
        }
    }

    /// The export a job made, if it still exists.
    pub async fn by_job(&self, job_id: &str) -> Result<Option<ExportRecord>, Error> {
        self.col
            .find_one(doc! { "job_id": job_id })
            .timed("exports.by_job")
            .await
    }

    /// Deletes the objects and records of exports matching `filter`; an object that cannot
    /// be deleted now keeps its record, due at once, for the next expiry pass. Returns how
    /// many were removed.
    async fn remove(&self, storage: &Storage, filter: bson::Document) -> Result<usize, Error> {
        let records: Vec<ExportRecord> = self
            .col
            .find(filter)
            .limit(500)
            .timed("exports.remove.find")
            .await?
            .try_collect()
            .await?;
        let mut removed = 0;
        for record in records {
            match storage.delete(&record.key).await {
                Ok(()) => {
                    self.col
                        .delete_one(doc! { "_id": record.id })
                        .timed("exports.remove.delete_one")
                        .await?;
                    removed += 1;
                }
                Err(e) => {
                    tracing::warn!(key = %record.key, error = format!("{e:#}"), "export object not deleted; retrying later");
                    self.col
                        .update_one(
                            doc! { "_id": record.id },
                            doc! { "$set": { "expires_at": DateTime::now() } },
                        )
                        .timed("exports.remove.update_one")
                        .await?;
                }
            }
        }
        Ok(removed)
    }

    /// Removes exports whose time is up.
    pub async fn expire(&self, storage: &Storage) -> Result<usize, Error> {
        self.remove(storage, doc! { "expires_at": { "$lte": DateTime::now() } })
            .await
    }

    /// Removes a session's exports.
    pub async fn delete_session(
        &self,
        storage: &Storage,
        session_id: ObjectId,
    ) -> Result<usize, Error> {
        self.remove(storage, doc! { "session_id": session_id })
            .await
    }

    /// Removes a user's exports.
    pub async fn delete_user(&self, storage: &Storage, user_id: ObjectId) -> Result<usize, Error> {
        self.remove(storage, doc! { "user_id": user_id }).await
    }
}
