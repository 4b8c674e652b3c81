//! The `attempts` collection: practice answers and their grades.

use std::collections::BTreeMap;

use bson::{DateTime, Document, doc, oid::ObjectId};
use futures::TryStreamExt;
use mongodb::{Collection, Database, error::Error};

use super::Timed;
use super::sessions::{ListError, number};
use crate::{
    domain::attempt::{Attempt, Grade},
    pagination::{Cursor, Page},
};

/// Collection name.
pub const COLLECTION: &str = "attempts";

/// Scores of one question's attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuestionScores {
    /// The newest graded attempt's score.
    pub last: i32,
    /// The best score.
    pub best: i32,
    /// Graded attempts.
    pub attempts: i64,
}

impl super::Newest for Attempt {
    fn created_at(&self) -> DateTime {
        self.created_at
    }
    fn id(&self) -> ObjectId {
        self.id
    }
}

/// Attempt storage.
#[derive(Debug, Clone)]
pub struct Attempts {
    col: Collection<Attempt>,
}

impl Attempts {
    /// The repository on `db`.
    pub fn new(db: &Database) -> Self {
        Self {
            col: db.collection(COLLECTION),
        }
    }

    /// Stores a new attempt.
    pub async fn insert(&self, attempt: &Attempt) -> Result<(), Error> {
        self.col
            .insert_one(attempt)
            .timed("attempts.insert")
            .await
            .map(drop)
    }

    /// Records the grading job of an attempt.
    pub async fn set_job(&self, id: ObjectId, job_id: &str) -> Result<(), Error> {
        self.col
            .update_one(doc! { "_id": id }, doc! { "$set": { "job_id": job_id } })
            .timed("attempts.set_job")
            .await
            .map(drop)
    }

    /// The user's attempt.
    pub async fn get(&self, user_id: ObjectId, id: ObjectId) -> Result<Option<Attempt>, Error> {
        self.col
            .find_one(doc! { "_id": id, "user_id": user_id })
            .timed("attempts.get")
            .await
    }

    /// An attempt by id (workers).
    pub async fn by_id(&self, id: ObjectId) -> Result<Option<Attempt>, Error> {
        self.col
            .find_one(doc! { "_id": id })
            .timed("attempts.by_id")
            .await
    }

    /// Stores the grade; `false` when the attempt is gone (deleted meanwhile).
    pub async fn record_grade(&self, id: ObjectId, grade: &Grade) -> Result<bool, Error> {
        let grade_doc = bson::to_bson(grade)?;
        let r = self
            .col
            .update_one(
                doc! { "_id": id },
                doc! { "$set": { "grade": grade_doc, "score": grade.score, "graded_at": DateTime::now() } },
            )
            .timed("attempts.record_grade")
            .await?;
        Ok(r.matched_count == 1)
    }

    /// Deletes the user's attempt; `false` when there was none.
    pub async fn delete(&self, user_id: ObjectId, id: ObjectId) -> Result<bool, Error> {
        Ok(self
            .col
            .delete_one(doc! { "_id": id, "user_id": user_id })
            .timed("attempts.delete")
            .await?
            .deleted_count
            == 1)
    }

    /// Deletes an attempt whose question went away (workers).
    pub async fn discard(&self, id: ObjectId) -> Result<(), Error> {
        self.col
            .delete_one(doc! { "_id": id })
            .timed("attempts.discard")
            .await
            .map(drop)
    }

    /// A question's attempts, newest first.
    pub async fn list(
        &self,
        question_id: ObjectId,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<Attempt>, ListError> {
        super::newest_page(
            "attempts.list",
            &self.col,
            doc! { "question_id": question_id },
            after,
            limit,
        )
        .await
    }

    /// Last and best score per question of a session (graded attempts only).
    pub async fn scores_by_question(
        &self,
        session_id: ObjectId,
    ) -> Result<BTreeMap<ObjectId, QuestionScores>, Error> {
        let pipeline = vec![
            doc! { "$match": { "session_id": session_id, "score": { "$type": "int" } } },
            doc! { "$sort": { "created_at": -1, "_id": -1 } },
            doc! { "$group": {
                "_id": "$question_id",
                "last": { "$first": "$score" },
                "best": { "$max": "$score" },
                "attempts": { "$sum": 1 },
            } },
        ];
        let rows: Vec<Document> = self
            .col
            .aggregate(pipeline)
            .timed("attempts.scores_by_question")
            .await?
            .try_collect()
            .await?;
        Ok(rows
            .iter()
            .filter_map(|d| {
                Some((
                    d.get_object_id("_id").ok()?,
                    QuestionScores {
                        last: d.get_i32("last").ok()?,
                        best: d.get_i32("best").ok()?,
                        attempts: number(d, "attempts").unwrap_or(0),
                    },
                ))
            })
            .collect())
    }

    /// Deletes every attempt of the user (account deletion).
    pub async fn delete_user(&self, user_id: ObjectId) -> Result<(), Error> {
        self.col
            .delete_many(doc! { "user_id": user_id })
            .timed("attempts.delete_user")
            .await
            .map(drop)
    }
}
