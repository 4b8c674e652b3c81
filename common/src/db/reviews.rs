//! The `reviews` collection (one FSRS state per reviewed question, keyed by the question's
//! id) and `review_logs` (one entry per review).

use std::collections::BTreeSet;

use bson::{DateTime, Document, doc, oid::ObjectId};
use futures::TryStreamExt;
use mongodb::{Collection, Database, error::Error};

use super::{Timed, is_duplicate_key};
use crate::domain::{
    question::{Question, QuestionKind},
    review::{Rating, ReviewLog, ReviewSource, ReviewState},
};

/// Collection of states.
pub const COLLECTION: &str = "reviews";
/// Collection of log entries.
pub const LOGS_COLLECTION: &str = "review_logs";
/// The index that serves the due list (named, so plans and the explain test agree).
pub const BY_USER_DUE: &str = "user_due";
/// The due list within one session.
pub const BY_USER_SESSION_DUE: &str = "user_session_due";
/// The due list of one kind.
pub const BY_USER_KIND_DUE: &str = "user_kind_due";

/// Times a review is tried again when another review of the same question raced it.
const RACE_RETRIES: usize = 8;

/// Which due questions to list.
#[derive(Debug, Clone, Default)]
pub struct DueFilter {
    /// Only this session's.
    pub session_id: Option<ObjectId>,
    /// Only this kind.
    pub kind: Option<QuestionKind>,
}

/// Where a due-list page starts: the time the first page was asked at (so that questions
/// becoming due meanwhile, or reviewed meanwhile, neither repeat nor shift pages) and the
/// last item seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueCursor {
    /// The list's "now", fixed by its first page (ms).
    pub as_of_ms: i64,
    /// The last item's due time (ms).
    pub due_ms: i64,
    /// The last item's question id.
    pub id: ObjectId,
}

impl DueCursor {
    /// Opaque text for clients.
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.as_of_ms, self.due_ms, self.id.to_hex())
    }

    /// Parses [`DueCursor::encode`]'s text.
    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.split('.');
        let cursor = Self {
            as_of_ms: parts.next()?.parse().ok()?,
            due_ms: parts.next()?.parse().ok()?,
            id: ObjectId::parse_str(parts.next()?).ok()?,
        };
        parts.next().is_none().then_some(cursor)
    }
}

/// Review storage.
#[derive(Debug, Clone)]
pub struct Reviews {
    states: Collection<ReviewState>,
    logs: Collection<ReviewLog>,
}

impl Reviews {
    /// The repository on `db`.
    pub fn new(db: &Database) -> Self {
        Self {
            states: db.collection(COLLECTION),
            logs: db.collection(LOGS_COLLECTION),
        }
    }

    /// The user's state of a question, if it was ever reviewed.
    pub async fn get(
        &self,
        user_id: ObjectId,
        question_id: ObjectId,
    ) -> Result<Option<ReviewState>, Error> {
        self.states
            .find_one(doc! { "_id": question_id, "user_id": user_id })
            .timed("reviews.get")
            .await
    }

    /// Applies `rating` to `question` at `now` and logs it; returns the new state. A review
    /// racing another of the same question is applied after it (compare-and-set on `reps`).
    pub async fn record(
        &self,
        question: &Question,
        rating: Rating,
        source: ReviewSource,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<ReviewState, Error> {
        let base = (
            question.id,
            question.user_id,
            question.session_id,
            question.kind,
        );
        let mut tries = 0;
        let state = loop {
            tries += 1;
            let current = self.get(question.user_id, question.id).await?;
            let next = ReviewState::next(current.as_ref(), base, rating, now);
            let stored = match &current {
                None => match self
                    .states
                    .insert_one(&next)
                    .timed("reviews.record.insert_one")
                    .await
                {
                    Ok(_) => true,
                    Err(e) if is_duplicate_key(&e) => false,
                    Err(e) => return Err(e),
                },
                Some(cur) => {
                    self.states
                        .replace_one(doc! { "_id": cur.question_id, "reps": cur.reps }, &next)
                        .timed("reviews.record.replace_one")
                        .await?
                        .matched_count
                        == 1
                }
            };
            if stored {
                break next;
            }
            if tries >= RACE_RETRIES {
                return Err(Error::custom(
                    "the review kept racing other reviews of the question",
                ));
            }
        };
        self.logs
            .insert_one(ReviewLog {
                id: ObjectId::new(),
                user_id: question.user_id,
                question_id: question.id,
                session_id: question.session_id,
                rating,
                source,
                reviewed_at: DateTime::from_chrono(now),
            })
            .timed("reviews.record.insert_one")
            .await?;
        Ok(state)
    }

    /// A page of the user's questions due at the cursor's `as_of` (or `now` for a first
    /// page), most overdue first.
    pub async fn due(
        &self,
        user_id: ObjectId,
        filter: &DueFilter,
        after: Option<&DueCursor>,
        now: DateTime,
        limit: u32,
    ) -> Result<(Vec<ReviewState>, Option<DueCursor>), Error> {
        let query = due_query(user_id, filter, after, now);
        let as_of = after.map_or(now.timestamp_millis(), |c| c.as_of_ms);
        let mut items: Vec<ReviewState> = self
            .states
            .find(query)
            .sort(doc! { "due": 1, "_id": 1 })
            .limit(i64::from(limit) + 1)
            .timed("reviews.due")
            .await?
            .try_collect()
            .await?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next = more.then(|| items.last()).flatten().map(|last| DueCursor {
            as_of_ms: as_of,
            due_ms: last.due.timestamp_millis(),
            id: last.question_id,
        });
        Ok((items, next))
    }

    /// The query plan of a first due-list page (tests check that it walks the index).
    pub async fn explain_due(
        &self,
        user_id: ObjectId,
        filter: &DueFilter,
        now: DateTime,
        limit: u32,
    ) -> Result<Document, Error> {
        let query = due_query(user_id, filter, None, now);
        let sort = doc! { "due": 1, "_id": 1 };
        super::explain_page("reviews.explain_due", &self.states, query, sort, limit).await
    }

    /// Questions of the user due by `by`.
    pub async fn due_count(&self, user_id: ObjectId, by: DateTime) -> Result<u64, Error> {
        self.states
            .count_documents(doc! { "user_id": user_id, "due": { "$lte": by } })
            .timed("reviews.due_count")
            .await
    }

    /// The user's reviews at or after `since`.
    pub async fn reviews_since(&self, user_id: ObjectId, since: DateTime) -> Result<u64, Error> {
        self.logs
            .count_documents(doc! { "user_id": user_id, "reviewed_at": { "$gte": since } })
            .timed("reviews.reviews_since")
            .await
    }

    /// When the user reviewed anything at or after `since` (one time per review).
    pub async fn review_times(
        &self,
        user_id: ObjectId,
        since: DateTime,
    ) -> Result<Vec<chrono::DateTime<chrono::Utc>>, Error> {
        let docs: Vec<Document> = self
            .logs
            .clone_with_type::<Document>()
            .find(doc! { "user_id": user_id, "reviewed_at": { "$gte": since } })
            .projection(doc! { "_id": 0, "reviewed_at": 1 })
            .timed("reviews.review_times")
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| d.get_datetime("reviewed_at").ok().map(|t| t.to_chrono()))
            .collect())
    }

    /// Every state of the user (for averages over reviewed questions).
    pub async fn states_of(&self, user_id: ObjectId) -> Result<Vec<ReviewState>, Error> {
        self.states
            .find(doc! { "user_id": user_id })
            .timed("reviews.states_of")
            .await?
            .try_collect()
            .await
    }

    /// Keeps a question's kind in step on its state.
    pub async fn set_kind(&self, question_id: ObjectId, kind: QuestionKind) -> Result<(), Error> {
        self.states
            .update_one(
                doc! { "_id": question_id },
                doc! { "$set": { "kind": kind.as_str() } },
            )
            .timed("reviews.set_kind")
            .await
            .map(drop)
    }

    /// The state of some questions (exports).
    pub async fn of_questions(&self, ids: &BTreeSet<ObjectId>) -> Result<Vec<ReviewState>, Error> {
        self.states
            .find(doc! { "_id": { "$in": ids.iter().collect::<Vec<_>>() } })
            .timed("reviews.of_questions")
            .await?
            .try_collect()
            .await
    }

    /// Deletes the user's states and log (account deletion).
    pub async fn delete_user(&self, user_id: ObjectId) -> Result<(), Error> {
        self.states
            .delete_many(doc! { "user_id": user_id })
            .timed("reviews.delete_user.delete_many")
            .await?;
        self.logs
            .delete_many(doc! { "user_id": user_id })
            .timed("reviews.delete_user.delete_many")
            .await?;
        Ok(())
    }
}

/// The filter of a due-list page. Each shape has its compound index (`BY_USER_DUE`,
/// `BY_USER_SESSION_DUE`, `BY_USER_KIND_DUE`), which the planner picks by itself (the tests
/// check its `explain`); a forced `hint` made the local MongoDB-wire server walk the whole
/// index.
pub fn due_query(
    user_id: ObjectId,
    filter: &DueFilter,
    after: Option<&DueCursor>,
    now: DateTime,
) -> Document {
    let as_of = after.map_or(now, |c| DateTime::from_millis(c.as_of_ms));
    let mut query = doc! { "user_id": user_id };
    if let Some(session) = filter.session_id {
        query.insert("session_id", session);
    }
    if let Some(kind) = filter.kind {
        query.insert("kind", kind.as_str());
    }
    match after {
        Some(c) => {
            let due = DateTime::from_millis(c.due_ms);
            query.insert("due", doc! { "$lte": as_of, "$gte": due });
            query.insert(
                "$or",
                vec![
                    doc! { "due": { "$gt": due } },
                    doc! { "due": due, "_id": { "$gt": c.id } },
                ],
            );
        }
        None => {
            query.insert("due", doc! { "$lte": as_of });
        }
    }
    query
}
