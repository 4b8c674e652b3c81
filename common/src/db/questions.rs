//! The `questions` collection.
//!
//! Every path that adds questions goes through [`Questions::add`], which holds the
//! per-session cap and the no-duplicates rule under concurrency: the session's
//! `question_count` and the inserted questions change in one transaction, so two writers
//! racing for the last slots conflict on the session document and one of them retries.
//! Duplicates are refused by the unique `{session_id, text_hash}` index.

use std::collections::{HashMap, HashSet};

use bson::{DateTime, Document, doc, oid::ObjectId};
use futures::TryStreamExt;
use mongodb::{ClientSession, Collection, Database, error::Error, options::ReturnDocument};

use super::{Timed, is_duplicate_key, sessions};
use crate::{
    domain::{
        question::{
            Difficulty, NewQuestion, Question, QuestionKind, QuestionPatch, Source, answer_words,
            text_hash,
        },
        session::Session,
    },
    pagination::{Cursor, Page, SearchCursor},
};

pub use sessions::ListError;

/// Collection name.
pub const COLLECTION: &str = "questions";
/// Name of the `{session_id: 1, is_pinned: -1, created_at: -1}` index.
pub const BY_SESSION_PINNED: &str = "session_id_1_is_pinned_-1_created_at_-1";
/// Name of the index serving search: the user's questions, newest first, in exactly the
/// order search pages through them (so it stops after one page of matches instead of
/// sorting every question of the user).
pub const BY_USER_NEWEST: &str = "user_id_1_created_at_-1__id_-1";
/// Name of the `{session_id: 1, category: 1}` index.
pub const BY_SESSION_CATEGORY: &str = "session_id_1_category_1";

/// What [`Questions::add`] did with a batch.
#[derive(Debug, Default)]
pub struct Added {
    /// The questions stored, in the order given.
    pub inserted: Vec<Question>,
    /// Items left out because the session (or the batch itself) already has their text.
    pub duplicates: usize,
    /// Items left out because the session was full.
    pub over_cap: usize,
}

/// Filters of a session's question list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only pinned (or only unpinned) questions.
    pub pinned: Option<bool>,
    /// Only this difficulty.
    pub difficulty: Option<Difficulty>,
    /// Only this category (exact).
    pub category: Option<String>,
    /// Only this kind.
    pub kind: Option<QuestionKind>,
}

/// A bulk change.
#[derive(Debug, Clone)]
pub enum BulkAction {
    /// Delete the questions.
    Delete,
    /// Set their difficulty.
    SetDifficulty(Difficulty),
    /// Pin or unpin them.
    SetPinned(bool),
    /// Set their category.
    SetCategory(String),
}

/// Counts over a session's questions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Questions in the session.
    pub total: i64,
    /// Pinned questions.
    pub pinned: i64,
    /// Count per difficulty.
    pub by_difficulty: HashMap<Difficulty, i64>,
    /// Count per category ("" for none).
    pub by_category: HashMap<String, i64>,
    /// Count per source.
    pub by_source: HashMap<Source, i64>,
    /// Sum of the answers' word counts.
    pub answer_words: i64,
}

/// A page of search hits: each question with its session's role.
pub type SearchPage = Page<(Question, String), SearchCursor>;

/// Questions one search page examines at most (newest first, after its cursor), so that a
/// search costs the same however many questions a user has; a page that stops at this
/// bound before filling up says so (`partial`) and its cursor goes on from there.
pub const SEARCH_SCAN: u64 = 2_000;

/// How much one search page may read.
#[derive(Debug, Clone, Copy)]
pub struct SearchBounds {
    /// The most questions one session holds (sizes the reads).
    pub per_session: u32,
    /// Reading time after the first read.
    pub time: std::time::Duration,
}

/// A search page, and whether it stopped at [`SEARCH_SCAN`] before filling up.
#[derive(Debug)]
pub struct SearchResult {
    /// The hits, and where to go on.
    pub page: SearchPage,
    /// Older questions were not examined yet: follow the cursor for more.
    pub partial: bool,
}

/// Question storage.
#[derive(Debug, Clone)]
pub struct Questions {
    db: Database,
    col: Collection<Question>,
}

impl Questions {
    /// The repository on `db`.
    pub fn new(db: &Database) -> Self {
        Self {
            db: db.clone(),
            col: db.collection(COLLECTION),
        }
    }

    /// Adds `items` to the user's session, keeping at most `cap` questions in it and never
    /// two with the same normalized text. Items beyond the free room or duplicating a
    /// question are left out and counted; the rest are stored atomically with the session's
    /// count. `None` when the session does not exist (or is not the user's).
    ///
    /// Safe to repeat: a retried batch finds its questions already there and adds nothing.
    pub async fn add(
        &self,
        user_id: ObjectId,
        session_id: ObjectId,
        items: Vec<NewQuestion>,
        cap: u32,
    ) -> Result<Option<Added>, Error> {
        let sessions = self.db.collection::<Session>(sessions::COLLECTION);
        let cap = i64::from(cap);
        // A concurrent insert of the same text can slip between our duplicate check and
        // our insert (the index then refuses it and the transaction aborts); checking again
        // sees it, so a few rounds always settle.
        for _ in 0..3 {
            let result = super::transaction::run(
                self.db.client(),
                (&sessions, &self.col, &items),
                |txn, (sessions, col, items)| {
                    Box::pin(async move {
                        add_in_transaction(txn, sessions, col, items, user_id, session_id, cap)
                            .await
                    })
                },
            )
            .await;
            match result {
                Err(e) if is_duplicate_key(&e) => continue,
                Ok(Round::Raced) => continue,
                Ok(Round::Done(added)) => return Ok(added),
                Err(e) => return Err(e),
            }
        }
        Err(Error::custom(
            "duplicate check did not settle after 3 rounds",
        ))
    }

    /// The user's question with this id.
    pub async fn get(&self, user_id: ObjectId, id: ObjectId) -> Result<Option<Question>, Error> {
        self.col
            .find_one(doc! { "_id": id, "user_id": user_id })
            .timed("questions.get")
            .await
    }

    /// The user's questions among `ids` (any order; ids of others' questions are ignored).
    pub async fn many(&self, user_id: ObjectId, ids: &[ObjectId]) -> Result<Vec<Question>, Error> {
        self.col
            .find(doc! { "_id": { "$in": ids }, "user_id": user_id })
            .timed("questions.many")
            .await?
            .try_collect()
            .await
    }

    /// A session's questions, pinned first, then newest. The caller has checked that the
    /// session is the user's.
    pub async fn list(
        &self,
        user_id: ObjectId,
        session_id: ObjectId,
        filter: &ListFilter,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page<Question>, ListError> {
        let query = list_query(user_id, session_id, filter, after)?;
        let items: Vec<Question> = self
            .col
            .find(query)
            .sort(LIST_ORDER.clone())
            .limit(i64::from(limit) + 1)
            .timed("questions.list")
            .await?
            .try_collect()
            .await?;
        Ok(Page::from_overfetch(items, limit, |q| Cursor {
            pinned: Some(q.is_pinned),
            created_at_ms: q.created_at.timestamp_millis(),
            id: q.id,
        }))
    }

    /// The server's `explain` of the first page of [`Questions::list`] (what the query
    /// planner does with exactly that query).
    pub async fn explain_list(
        &self,
        user_id: ObjectId,
        session_id: ObjectId,
        filter: &ListFilter,
        limit: u32,
    ) -> Result<Document, ListError> {
        let query = list_query(user_id, session_id, filter, None)?;
        let sort = LIST_ORDER.clone();
        Ok(super::explain_page("questions.explain_list", &self.col, query, sort, limit).await?)
    }

    /// Applies `patch` to the user's question; returns it changed (unchanged when the patch
    /// is empty), `None` when there is no such question.
    pub async fn update(
        &self,
        user_id: ObjectId,
        id: ObjectId,
        patch: &QuestionPatch,
    ) -> Result<Option<Question>, WriteError> {
        if patch.is_empty() {
            return Ok(self.get(user_id, id).await?);
        }
        let mut set = Document::new();
        if let Some(question) = &patch.question {
            set.insert("question", question);
            set.insert("text_hash", text_hash(question));
        }
        if let Some(answer) = &patch.answer {
            set.insert("answer", answer);
            set.insert("answer_words", answer_words(answer));
        }
        if let Some(notes) = &patch.notes {
            set.insert("notes", notes);
        }
        if let Some(category) = &patch.category {
            set.insert("category", category);
        }
        if let Some(difficulty) = patch.difficulty {
            set.insert("difficulty", difficulty.as_str());
        }
        if let Some(kind) = patch.kind {
            set.insert("kind", kind.as_str());
        }
        if let Some(pinned) = patch.is_pinned {
            set.insert("is_pinned", pinned);
        }
        self.set(user_id, id, set).await
    }

    /// `$set`s `set` (and `updated_at`) on the user's question.
    async fn set(
        &self,
        user_id: ObjectId,
        id: ObjectId,
        mut set: Document,
    ) -> Result<Option<Question>, WriteError> {
        set.insert("updated_at", DateTime::now());
        self.col
            .find_one_and_update(doc! { "_id": id, "user_id": user_id }, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .timed("questions.set")
            .await
            .map_err(WriteError::from)
    }

    /// Deletes the user's question (and frees its slot in the session); `false` when
    /// there was no such question.
    pub async fn delete(&self, user_id: ObjectId, id: ObjectId) -> Result<bool, Error> {
        let found = self.bulk(user_id, &[id], &BulkAction::Delete).await?;
        Ok(found.contains(&id))
    }

    /// Applies `action` to those of `ids` that are the user's; returns those ids.
    pub async fn bulk(
        &self,
        user_id: ObjectId,
        ids: &[ObjectId],
        action: &BulkAction,
    ) -> Result<HashSet<ObjectId>, Error> {
        let sessions = self.db.collection::<Document>(sessions::COLLECTION);
        let attempts = self.db.collection::<Document>(super::attempts::COLLECTION);
        let reviews = self.db.collection::<Document>(super::reviews::COLLECTION);
        let review_logs = self
            .db
            .collection::<Document>(super::reviews::LOGS_COLLECTION);
        let col = self.col.clone_with_type::<Document>();
        super::transaction::run(
            self.db.client(),
            (
                &sessions,
                &col,
                &attempts,
                &reviews,
                &review_logs,
                ids,
                action,
            ),
            |txn, context| {
                let (sessions, col, attempts, reviews, review_logs, ids, action) = *context;
                Box::pin(async move {
                    // Read in the transaction, so the counts adjusted below are exact.
                    let owned: Vec<Document> = col
                        .find(doc! { "_id": { "$in": ids }, "user_id": user_id })
                        .projection(doc! { "_id": 1, "session_id": 1 })
                        .session(&mut *txn)
                        .timed("questions.bulk.find")
                        .await?
                        .stream(&mut *txn)
                        .try_collect()
                        .await?;
                    let mut per_session: HashMap<ObjectId, i32> = HashMap::new();
                    let mut found = HashSet::new();
                    for d in &owned {
                        if let (Ok(id), Ok(sid)) =
                            (d.get_object_id("_id"), d.get_object_id("session_id"))
                        {
                            found.insert(id);
                            *per_session.entry(sid).or_default() += 1;
                        }
                    }
                    if found.is_empty() {
                        return Ok(found);
                    }
                    let target = doc! { "_id": { "$in": found.iter().collect::<Vec<_>>() } };
                    let set = match action {
                        BulkAction::Delete => {
                            col.delete_many(target)
                                .session(&mut *txn)
                                .timed("questions.bulk.delete_many")
                                .await?;
                            let gone = doc! { "$in": found.iter().collect::<Vec<_>>() };
                            attempts
                                .delete_many(doc! { "question_id": gone.clone() })
                                .session(&mut *txn)
                                .timed("questions.bulk.delete_many")
                                .await?;
                            reviews
                                .delete_many(doc! { "_id": gone.clone() })
                                .session(&mut *txn)
                                .timed("questions.bulk.delete_many")
                                .await?;
                            review_logs
                                .delete_many(doc! { "question_id": gone })
                                .session(&mut *txn)
                                .timed("questions.bulk.delete_many")
                                .await?;
                            for (sid, n) in per_session {
                                sessions
                                    .update_one(
                                        doc! { "_id": sid },
                                        doc! { "$inc": { "question_count": -n } },
                                    )
                                    .session(&mut *txn)
                                    .timed("questions.bulk.update_one")
                                    .await?;
                            }
                            return Ok(found);
                        }
                        BulkAction::SetDifficulty(d) => doc! { "difficulty": d.as_str() },
                        BulkAction::SetPinned(p) => doc! { "is_pinned": *p },
                        BulkAction::SetCategory(c) => doc! { "category": c.as_str() },
                    };
                    let mut set = set;
                    set.insert("updated_at", DateTime::now());
                    col.update_many(target, doc! { "$set": set })
                        .session(&mut *txn)
                        .timed("questions.bulk.update_many")
                        .await?;
                    Ok(found)
                })
            },
        )
        .await
    }

    /// The user's questions whose question, answer or notes contain `text` (literally,
    /// ignoring case), each with its session's role: session by session, newest session
    /// first, and newest question first within a session.
    ///
    /// A page examines at most [`SEARCH_SCAN`] questions, read a few sessions at a time
    /// (`bounds.per_session` is the most one session holds) and matched here rather than by
    /// a server-side regular expression, and after its first read it goes on for at most
    /// `bounds.time`: the cost of a page is bounded, whatever the number of questions a
    /// user has.
    pub async fn search(
        &self,
        user_id: ObjectId,
        text: &str,
        after: Option<&SearchCursor>,
        limit: u32,
        bounds: SearchBounds,
    ) -> Result<SearchResult, Error> {
        let started = std::time::Instant::now();
        let per_session = bounds.per_session;
        let needle = regex::RegexBuilder::new(&regex::escape(text))
            .case_insensitive(true)
            .build()
            .expect("an escaped literal is a valid pattern");
        let matches = |q: &Question| {
            needle.is_match(&q.question) || needle.is_match(&q.answer) || needle.is_match(&q.notes)
        };
        // Sessions per read: 2 at first (a common term fills a page there), doubling up to
        // as many as hold SEARCH_SCAN questions.
        let most =
            i64::try_from((SEARCH_SCAN / u64::from(per_session.max(1))).max(1)).unwrap_or(i64::MAX);
        let mut batch_size = 2.min(most);
        let sessions = self.db.collection::<Document>(sessions::COLLECTION);
        // Which sessions the next batch starts at: the cursor's (inclusive), then after the
        // last one read.
        let mut bound = after.map(|c| c.session.from_newest());
        // The last question examined, per session position, to go on after it.
        let mut previous = after.and_then(|c| c.question.map(|q| (c.session.id, q)));
        let mut hits: Vec<(Question, String, Cursor)> = Vec::new();
        let mut examined = 0;
        // The last session of the batch read last.
        let mut last_read: Option<Cursor> = None;
        let finish = |hits: Vec<(Question, String, Cursor)>, next, partial| SearchResult {
            page: Page {
                items: hits.into_iter().map(|(q, role, _)| (q, role)).collect(),
                next,
            },
            partial,
        };
        loop {
            if let Some(read) = last_read
                && started.elapsed() > bounds.time
            {
                // Out of time after a whole batch: go on after its last session, which
                // the cursor says as "in it, after every question".
                let next = SearchCursor {
                    session: read,
                    question: Some(Cursor {
                        pinned: None,
                        created_at_ms: i64::MIN,
                        id: ObjectId::from_bytes([0; 12]),
                    }),
                };
                return Ok(finish(hits, Some(next), true));
            }
            let mut filter = doc! { "user_id": user_id };
            if let Some(bound) = bound.take() {
                filter.extend(bound);
            }
            let batch: Vec<Document> = sessions
                .find(filter)
                .projection(doc! { "role": 1, "created_at": 1 })
                .sort(doc! { "created_at": -1, "_id": -1 })
                .limit(batch_size)
                .timed("questions.search.find")
                .await?
                .try_collect()
                .await?;
            let order: Vec<(Cursor, String)> = batch
                .iter()
                .filter_map(|d| {
                    Some((
                        newest_position(
                            *d.get_datetime("created_at").ok()?,
                            d.get_object_id("_id").ok()?,
                        ),
                        d.get_str("role").unwrap_or_default().to_owned(),
                    ))
                })
                .collect();
            let Some((last_session, _)) = order.last() else {
                return Ok(finish(hits, None, false));
            };
            bound = Some(
                last_session
                    .after_newest()
                    .expect("a newest-first position"),
            );
            last_read = Some(*last_session);
            batch_size = (batch_size * 2).min(most);
            let ids: Vec<ObjectId> = order.iter().map(|(s, _)| s.id).collect();
            let found: Vec<Question> = self
                .col
                .find(doc! { "session_id": { "$in": &ids } })
                .timed("questions.search.find")
                .await?
                .try_collect()
                .await?;
            // Each question with its session's place in the batch, in search order.
            let rank: HashMap<ObjectId, usize> =
                ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
            let mut found: Vec<(usize, Question)> = found
                .into_iter()
                .filter(|q| q.user_id == user_id)
                .filter_map(|q| Some((*rank.get(&q.session_id)?, q)))
                .collect();
            found.sort_by_key(|(r, q)| (*r, std::cmp::Reverse((q.created_at, q.id))));
            for (r, question) in found {
                let (session, role) = &order[r];
                let here = newest_position(question.created_at, question.id);
                let last_here = previous.filter(|(s, _)| *s == session.id).map(|(_, q)| q);
                if last_here
                    .is_some_and(|p| (here.created_at_ms, here.id) >= (p.created_at_ms, p.id))
                {
                    // Examined on an earlier page.
                    continue;
                }
                if examined == SEARCH_SCAN {
                    let next = SearchCursor {
                        session: *session,
                        question: last_here,
                    };
                    return Ok(finish(hits, Some(next), true));
                }
                examined += 1;
                if matches(&question) {
                    if hits.len() == limit as usize {
                        let next = hits.last().map(|(last, _, session)| SearchCursor {
                            session: *session,
                            question: Some(newest_position(last.created_at, last.id)),
                        });
                        return Ok(finish(hits, next, false));
                    }
                    hits.push((question, role.clone(), *session));
                }
                previous = Some((session.id, here));
            }
        }
    }

    /// Counts over a session's questions (one aggregation; answers are not read).
    pub async fn stats(&self, session_id: ObjectId) -> Result<Stats, Error> {
        let mut rows = self
            .col
            .clone_with_type::<Document>()
            .aggregate([
                doc! { "$match": { "session_id": session_id } },
                doc! { "$group": {
                    "_id": {
                        "d": "$difficulty", "c": "$category", "s": "$source", "p": "$is_pinned",
                    },
                    "n": { "$sum": 1 },
                    "w": { "$sum": "$answer_words" },
                } },
            ])
            .timed("questions.stats")
            .await?;
        let mut stats = Stats::default();
        while let Some(row) = rows.try_next().await? {
            let n = sessions::number(&row, "n").unwrap_or(0);
            let key = row.get_document("_id").cloned().unwrap_or_default();
            stats.total += n;
            stats.answer_words += sessions::number(&row, "w").unwrap_or(0);
            if key.get_bool("p").unwrap_or(false) {
                stats.pinned += n;
            }
            if let Some(d) = key.get_str("d").ok().and_then(Difficulty::parse) {
                *stats.by_difficulty.entry(d).or_default() += n;
            }
            if let Ok(s) = bson::from_bson::<Source>(key.get("s").cloned().unwrap_or_default()) {
                *stats.by_source.entry(s).or_default() += n;
            }
            let category = key.get_str("c").unwrap_or_default().to_owned();
            *stats.by_category.entry(category).or_default() += n;
        }
        Ok(stats)
    }

    /// Every question of the session in list order (pinned first, then newest).
    pub async fn in_order(&self, session_id: ObjectId) -> Result<Vec<Question>, Error> {
        self.col
            .find(doc! { "session_id": session_id })
            .sort(LIST_ORDER.clone())
            .timed("questions.in_order")
            .await?
            .try_collect()
            .await
    }

    /// How many questions of the session a job run (`added_by` tag) already added.
    pub async fn added_by(&self, session_id: ObjectId, tag: &str) -> Result<Vec<ObjectId>, Error> {
        let rows: Vec<Document> = self
            .col
            .clone_with_type::<Document>()
            .find(doc! { "session_id": session_id, "added_by": tag })
            .projection(doc! { "_id": 1 })
            .timed("questions.added_by")
            .await?
            .try_collect()
            .await?;
        Ok(rows
            .iter()
            .filter_map(|d| d.get_object_id("_id").ok())
            .collect())
    }

    /// The texts of the session's questions, newest first (at most `limit`).
    pub async fn texts(&self, session_id: ObjectId, limit: i64) -> Result<Vec<String>, Error> {
        let rows: Vec<Document> = self
            .col
            .clone_with_type::<Document>()
            .find(doc! { "session_id": session_id })
            .projection(doc! { "question": 1 })
            .sort(doc! { "created_at": -1 })
            .limit(limit)
            .timed("questions.texts")
            .await?
            .try_collect()
            .await?;
        Ok(rows
            .iter()
            .filter_map(|d| d.get_str("question").ok().map(str::to_owned))
            .collect())
    }

    /// Replaces the text of the user's question with `with` (keeping id, pin, notes and
    /// category), tagging it with the regeneration run.
    pub async fn replace_text(
        &self,
        user_id: ObjectId,
        id: ObjectId,
        with: &NewQuestion,
        tag: &str,
    ) -> Result<Option<Question>, WriteError> {
        let set = doc! {
            "question": &with.question,
            "answer": &with.answer,
            "difficulty": with.difficulty.as_str(),
            "source": with.source.as_str(),
            "text_hash": text_hash(&with.question),
            "answer_words": answer_words(&with.answer),
            "regenerated_by": tag,
        };
        self.set(user_id, id, set).await
    }

    /// Deletes every question of the user (account deletion).
    pub async fn delete_user(&self, user_id: ObjectId) -> Result<(), Error> {
        self.col
            .delete_many(doc! { "user_id": user_id })
            .timed("questions.delete_user")
            .await
            .map(drop)
    }
}

/// Pinned first, then newest; the id breaks ties between equal timestamps.
static LIST_ORDER: std::sync::LazyLock<Document> =
    std::sync::LazyLock::new(|| doc! { "is_pinned": -1, "created_at": -1, "_id": -1 });

/// The position of an item in a newest-first list.
fn newest_position(created_at: DateTime, id: ObjectId) -> Cursor {
    Cursor {
        pinned: None,
        created_at_ms: created_at.timestamp_millis(),
        id,
    }
}

/// The filter of a list page. `BY_SESSION_PINNED` serves it (`BY_SESSION_CATEGORY` with a
/// category); the planner picks it by itself, which the tests check with `explain`. A forced
/// `hint` cost 40 ms instead of 0.6 ms per page on the local MongoDB-wire server at 100,000
/// questions.
fn list_query(
    user_id: ObjectId,
    session_id: ObjectId,
    filter: &ListFilter,
    after: Option<&Cursor>,
) -> Result<Document, ListError> {
    // The owner in the filter: a page with items proves the session is the caller's.
    let mut query = doc! { "session_id": session_id, "user_id": user_id };
    if let Some(pinned) = filter.pinned {
        query.insert("is_pinned", pinned);
    }
    if let Some(difficulty) = filter.difficulty {
        query.insert("difficulty", difficulty.as_str());
    }
    if let Some(category) = &filter.category {
        query.insert("category", category.as_str());
    }
    match filter.kind {
        // Questions from before kinds have none stored: they are technical.
        Some(QuestionKind::Technical) => {
            query.insert(
                "kind",
                doc! { "$in": [QuestionKind::Technical.as_str(), bson::Bson::Null] },
            );
        }
        Some(kind) => {
            query.insert("kind", kind.as_str());
        }
        None => {}
    }
    if let Some(cursor) = after {
        query.extend(cursor.after_pinned_newest()?);
    }
    Ok(query)
}

/// Why a change to a question was not made.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The new text duplicates another question of the session.
    #[error("the session already has this question")]
    Duplicate,
    /// MongoDB failed.
    #[error(transparent)]
    Db(Error),
}

impl From<Error> for WriteError {
    fn from(e: Error) -> Self {
        if is_duplicate_key(&e) {
            Self::Duplicate
        } else {
            Self::Db(e)
        }
    }
}

/// How one round of an add went.
enum Round {
    /// Finished: what was added (`None`: no such session of the user's).
    Done(Option<Added>),
    /// Another write changed the session's count between our read and our write (a server
    /// without snapshot reads inside transactions lets that through): nothing was written;
    /// go again with the session as it is now.
    Raced,
}

async fn add_in_transaction(
    txn: &mut ClientSession,
    sessions: &Collection<Session>,
    col: &Collection<Question>,
    items: &[NewQuestion],
    user_id: ObjectId,
    session_id: ObjectId,
    cap: i64,
) -> Result<Round, Error> {
    let Some(session) = sessions
        .find_one(doc! { "_id": session_id, "user_id": user_id })
        .session(&mut *txn)
        .timed("questions.add_in_transaction.find_one")
        .await?
    else {
        return Ok(Round::Done(None));
    };
    let now = DateTime::now();
    let records: Vec<Question> = items
        .iter()
        .map(|item| item.clone().into_record(user_id, session_id, now))
        .collect();
    let hashes: Vec<&str> = records.iter().map(|q| q.text_hash.as_str()).collect();
    let mut taken: HashSet<String> = col
        .clone_with_type::<Document>()
        .find(doc! { "session_id": session_id, "text_hash": { "$in": hashes } })
        .projection(doc! { "text_hash": 1 })
        .session(&mut *txn)
        .timed("questions.add_in_transaction.find")
        .await?
        .stream(&mut *txn)
        .try_collect::<Vec<Document>>()
        .await?
        .iter()
        .filter_map(|d| d.get_str("text_hash").ok().map(str::to_owned))
        .collect();
    let mut room = usize::try_from((cap - i64::from(session.question_count)).max(0)).unwrap_or(0);
    let mut added = Added::default();
    let mut keep = Vec::new();
    for record in records {
        if !taken.insert(record.text_hash.clone()) {
            added.duplicates += 1;
        } else if room == 0 {
            added.over_cap += 1;
        } else {
            room -= 1;
            keep.push(record);
        }
    }
    if keep.is_empty() {
        return Ok(Round::Done(Some(added)));
    }
    let n = i32::try_from(keep.len()).unwrap_or(i32::MAX);
    // Writing the session document is what makes concurrent adds conflict (and retry).
    let counted = sessions
        .update_one(
            doc! { "_id": session_id, "question_count": session.question_count },
            doc! { "$inc": { "question_count": n } },
        )
        .session(&mut *txn)
        .timed("questions.add_in_transaction.update_one")
        .await?;
    if counted.matched_count != 1 {
        // Never overfill: the count we checked the cap against is no longer the session's.
        return Ok(Round::Raced);
    }
    col.insert_many(&keep)
        .session(&mut *txn)
        .timed("questions.add_in_transaction.insert_many")
        .await?;
    added.inserted = keep;
    Ok(Round::Done(Some(added)))
}
