//! Questions: a session's list, custom questions, edits, search and bulk actions.

use std::collections::HashSet;

use bson::oid::ObjectId;
use common::{
    db::{
        questions::{BulkAction, ListFilter, Questions, SearchBounds, SearchResult},
        reviews::Reviews,
    },
    domain::{
        Invalid,
        question::{
            Difficulty, NewQuestion, Question, QuestionKind, QuestionPatch, Source, parse_answer,
            parse_category, parse_notes, parse_question,
        },
    },
    pagination::{SearchCursor, page_limit},
};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use serde::Serialize;

use crate::{
    auth::BearerAuth,
    error::{ApiError, ApiResult},
    lookup::{object_id, owned_session, page_args},
    payload::{Direct, JsonSize, id_hex, page_size, rfc3339, text_size},
    responses::NoContent,
    routes::ApiTags,
    state::AppState,
    validation::Validation,
};

/// Most ids in one bulk request.
const MAX_BULK_IDS: usize = 100;

/// An interview question with its model answer.
#[derive(Debug, Object, Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct QuestionView {
    /// Id.
    pub id: String,
    /// The session it belongs to.
    pub session_id: String,
    /// The question.
    pub question: String,
    /// A model answer.
    pub answer: String,
    /// The user's notes ("" when none).
    pub notes: String,
    /// How hard it is.
    pub difficulty: Difficulty,
    /// Category ("" when none).
    pub category: String,
    /// What sort of question it is.
    pub kind: QuestionKind,
    /// Pinned questions list first.
    pub is_pinned: bool,
    /// Where it came from.
    pub source: Source,
    /// Creation time.
    #[serde(serialize_with = "rfc3339")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last change.
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Question> for QuestionView {
    fn from(q: Question) -> Self {
        Self {
            id: id_hex(&q.id),
            session_id: id_hex(&q.session_id),
            question: q.question,
            answer: q.answer,
            notes: q.notes,
            difficulty: q.difficulty,
            category: q.category,
            kind: q.kind,
            is_pinned: q.is_pinned,
            source: q.source,
            created_at: q.created_at.to_chrono(),
            updated_at: q.updated_at.to_chrono(),
        }
    }
}

/// A question the user writes.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct AddQuestionRequest {
    /// Unique within the session (ignoring case, spacing and punctuation).
    pub question: String,
    /// The model answer.
    pub answer: String,
    /// The user's notes.
    #[oai(default)]
    pub notes: String,
    /// `medium` when omitted.
    pub difficulty: Option<Difficulty>,
    /// A free-form category.
    #[oai(default)]
    pub category: String,
    /// `technical` when omitted.
    pub kind: Option<QuestionKind>,
    /// Pin it at once.
    #[oai(default)]
    pub is_pinned: bool,
}

/// Changes to a question: only the fields given change.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct UpdateQuestionRequest {
    /// Unique within the session.
    pub question: Option<String>,
    /// The model answer.
    pub answer: Option<String>,
    /// The user's notes; "" clears them.
    pub notes: Option<String>,
    /// New difficulty.
    pub difficulty: Option<Difficulty>,
    /// A free-form category; "" clears it.
    pub category: Option<String>,
    /// New kind.
    pub kind: Option<QuestionKind>,
    /// Pin (`true`) or unpin (`false`); setting the current value changes nothing.
    pub is_pinned: Option<bool>,
}

/// A page of a session's questions, pinned first, then newest.
#[derive(Debug, Object, Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct QuestionPage {
    /// The questions.
    pub items: Vec<QuestionView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl JsonSize for QuestionView {
    fn json_size(&self) -> usize {
        // Field names, ids, times and enums take about 300 bytes.
        300 + text_size(&self.question)
            + text_size(&self.answer)
            + text_size(&self.notes)
            + text_size(&self.category)
    }
}

impl JsonSize for QuestionPage {
    fn json_size(&self) -> usize {
        page_size(&self.items, self.next_cursor.as_deref())
    }
}

/// A search hit: the question and the role of its session.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SearchHit {
    /// The question.
    #[oai(flatten)]
    pub question: QuestionView,
    /// The role of the question's session.
    pub session_role: String,
}

/// A page of search hits: newest session first, newest question first within a session.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SearchPage {
    /// The hits.
    pub items: Vec<SearchHit>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// `true` when this page stopped before filling up, at the most questions one page
    /// examines (2,000) or at its reading time: older questions were not searched yet,
    /// and `next_cursor` goes on from there.
    pub partial: bool,
}

/// What a bulk request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum BulkActionName {
    /// Delete the questions (`value` not used).
    Delete,
    /// Set the difficulty to `value` (`easy`, `medium` or `hard`).
    SetDifficulty,
    /// Pin (`value: true`) or unpin (`value: false`).
    SetPinned,
    /// Set the category to `value` (a string of at most 100 characters).
    SetCategory,
}

/// One action on many questions.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct BulkRequest {
    /// The action.
    pub action: BulkActionName,
    /// 1–100 question ids.
    #[oai(validator(min_items = 1, max_items = 100))]
    pub ids: Vec<String>,
    /// The new value, for the `set_*` actions.
    pub value: Option<serde_json::Value>,
}

/// The outcome for one id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum BulkOutcome {
    /// Done.
    Ok,
    /// No such question of the caller's.
    NotFound,
    /// Not a question id.
    Invalid,
}

/// The outcome for one id of the request.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BulkItem {
    /// The id as given.
    pub id: String,
    /// What happened to it.
    pub result: BulkOutcome,
}

/// Outcomes in the order of the request's ids.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BulkResult {
    /// One entry per id given.
    pub results: Vec<BulkItem>,
    /// How many entries are `ok`.
    pub succeeded: u32,
}

/// A question.
#[derive(Debug, ApiResponse)]
pub enum QuestionResponse {
    /// The question.
    #[oai(status = 200)]
    Ok(Direct<QuestionView>),
}

/// A created question.
#[derive(Debug, ApiResponse)]
pub enum QuestionCreated {
    /// The new question.
    #[oai(status = 201)]
    Created(Direct<QuestionView>),
}

/// A page of questions.
#[derive(Debug, ApiResponse)]
pub enum QuestionList {
    /// The page.
    #[oai(status = 200)]
    Ok(Direct<QuestionPage>),
}

/// Search results.
#[derive(Debug, ApiResponse)]
pub enum SearchResponse {
    /// The page.
    #[oai(status = 200)]
    Ok(Json<SearchPage>),
}

/// Bulk outcomes.
#[derive(Debug, ApiResponse)]
pub enum BulkResponse {
    /// One outcome per id.
    #[oai(status = 200)]
    Ok(Json<BulkResult>),
}

fn bulk_action(action: BulkActionName, value: Option<serde_json::Value>) -> ApiResult<BulkAction> {
    let invalid = |message: &str| ApiError::from(Invalid::new("value", message));
    Ok(match action {
        BulkActionName::Delete => BulkAction::Delete,
        BulkActionName::SetDifficulty => value
            .as_ref()
            .and_then(|v| v.as_str())
            .and_then(Difficulty::parse)
            .map(BulkAction::SetDifficulty)
            .ok_or_else(|| invalid("must be easy, medium or hard"))?,
        BulkActionName::SetPinned => value
            .as_ref()
            .and_then(serde_json::Value::as_bool)
            .map(BulkAction::SetPinned)
            .ok_or_else(|| invalid("must be true or false"))?,
        BulkActionName::SetCategory => {
            let raw = value
                .as_ref()
                .and_then(|v| v.as_str())
                .ok_or_else(|| invalid("must be a string"))?;
            let category = parse_category(raw).map_err(|e| invalid(&e.message))?;
            BulkAction::SetCategory(category)
        }
    })
}

/// Questions.
#[derive(Debug)]
pub struct QuestionsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Questions")]
impl QuestionsApi {
    /// A session's questions: pinned first, then newest
    ///
    /// A session's questions: pinned first, then newest.
    #[oai(
        path = "/sessions/:session_id/questions",
        method = "get",
        operation_id = "questions_list"
    )]
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per query parameter"
    )]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// A session of the caller's (anything else is 404).
        session_id: Path<String>,
        /// Only pinned (`true`) or only unpinned (`false`) questions.
        pinned: Query<Option<bool>>,
        /// Only questions of this difficulty.
        difficulty: Query<Option<Difficulty>>,
        /// Only questions of this category (exact).
        #[oai(validator(max_length = 100))]
        category: Query<Option<String>>,
        /// Only questions of this kind.
        kind: Query<Option<QuestionKind>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 256))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<QuestionList> {
        let (limit, cursor) = page_args(limit.0, cursor.0.as_deref())?;
        let id = object_id(&session_id, "session")?;
        let filter = ListFilter {
            pinned: pinned.0,
            difficulty: difficulty.0,
            category: category.0.map(|c| c.trim().to_owned()),
            kind: kind.0,
        };
        // One query: the page is filtered by owner too, so items prove the session is the
        // caller's; only an empty page needs to ask whether it is (404 when not).
        let page = Questions::new(&state.db)
            .list(auth.0.id, id, &filter, cursor.as_ref(), limit)
            .await?;
        if page.items.is_empty() {
            owned_session(&state, auth.0.id, &session_id).await?;
        }
        Ok(QuestionList::Ok(Direct(QuestionPage {
            next_cursor: page.next.map(|c| c.encode()),
            items: page.items.into_iter().map(Into::into).collect(),
        })))
    }

    /// Add a question of the user's own (source `custom`)
    ///
    /// Add a question of the user's own (source `custom`).
    #[oai(
        path = "/sessions/:session_id/questions",
        method = "post",
        operation_id = "questions_add"
    )]
    async fn add(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// A session of the caller's (anything else is 404).
        session_id: Path<String>,
        body: Json<AddQuestionRequest>,
    ) -> ApiResult<QuestionCreated> {
        let id = object_id(&session_id, "session")?;
        let mut v = Validation::default();
        let item = NewQuestion {
            question: v.field(parse_question(&body.question)),
            answer: v.field(parse_answer(&body.answer)),
            notes: v.field(parse_notes(&body.notes)),
            category: v.field(parse_category(&body.category)),
            difficulty: body.difficulty.unwrap_or(Difficulty::Medium),
            kind: body.kind.unwrap_or_default(),
            is_pinned: body.is_pinned,
            source: Source::Custom,
            added_by: None,
        };
        v.finish()?;
        let cap = state.config.common.max_questions_per_session;
        let added = Questions::new(&state.db)
            .add(auth.0.id, id, vec![item], cap)
            .await?
            .ok_or_else(|| ApiError::not_found("session"))?;
        if added.duplicates > 0 {
            return Err(ApiError::duplicate_question());
        }
        if added.over_cap > 0 {
            return Err(ApiError::session_full(cap));
        }
        let question = added
            .inserted
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("add reported neither a question nor a reason"))?;
        Ok(QuestionCreated::Created(Direct(question.into())))
    }

    /// Search the caller's questions for a literal text
    ///
    /// Search the caller's questions (question, answer and notes) for a literal text,
    /// ignoring case: session by session, newest session first, and newest question first
    /// within a session. A page examines at most 2,000 questions and reads for at most
    /// about 50 ms by default (`partial` says when it stopped early; its cursor goes on from there),
    /// so a page costs the same however many questions the caller has.
    #[oai(
        path = "/questions/search",
        method = "get",
        operation_id = "questions_search"
    )]
    async fn search(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// 1–100 characters, matched literally (no patterns).
        #[oai(validator(min_length = 1, max_length = 100))]
        q: Query<String>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 256))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<SearchResponse> {
        let limit = page_limit(limit.0)?;
        let cursor = cursor.0.as_deref().map(SearchCursor::decode).transpose()?;
        let bounds = SearchBounds {
            per_session: state.config.common.max_questions_per_session,
            time: state.config.search_time_budget,
        };
        let SearchResult { page, partial } = Questions::new(&state.db)
            .search(auth.0.id, &q, cursor.as_ref(), limit, bounds)
            .await?;
        Ok(SearchResponse::Ok(Json(SearchPage {
            partial,
            next_cursor: page.next.map(|c| c.encode()),
            items: page
                .items
                .into_iter()
                .map(|(q, role)| SearchHit {
                    question: q.into(),
                    session_role: role,
                })
                .collect(),
        })))
    }

    /// Apply one action to up to 100 questions; one outcome per id
    ///
    /// Apply one action to up to 100 questions; one outcome per id.
    #[oai(
        path = "/questions/bulk",
        method = "post",
        operation_id = "questions_bulk"
    )]
    async fn bulk(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<BulkRequest>,
    ) -> ApiResult<BulkResponse> {
        let body = body.0;
        if body.ids.is_empty() || body.ids.len() > MAX_BULK_IDS {
            return Err(ApiError::invalid_field("ids", "must hold 1 to 100 ids"));
        }
        let action = bulk_action(body.action, body.value)?;
        let parsed: Vec<Option<ObjectId>> = body
            .ids
            .iter()
            .map(|raw| ObjectId::parse_str(raw).ok())
            .collect();
        let unique: Vec<ObjectId> = parsed
            .iter()
            .flatten()
            .copied()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let done = if unique.is_empty() {
            HashSet::new()
        } else {
            Questions::new(&state.db)
                .bulk(auth.0.id, &unique, &action)
                .await?
        };
        let results: Vec<BulkItem> = body
            .ids
            .into_iter()
            .zip(parsed)
            .map(|(id, oid)| BulkItem {
                id,
                result: match oid {
                    None => BulkOutcome::Invalid,
                    Some(oid) if done.contains(&oid) => BulkOutcome::Ok,
                    Some(_) => BulkOutcome::NotFound,
                },
            })
            .collect();
        let succeeded = results
            .iter()
            .filter(|r| r.result == BulkOutcome::Ok)
            .count();
        Ok(BulkResponse::Ok(Json(BulkResult {
            results,
            succeeded: u32::try_from(succeeded).unwrap_or(u32::MAX),
        })))
    }

    /// One question
    ///
    /// One question.
    #[oai(
        path = "/questions/:question_id",
        method = "get",
        operation_id = "questions_get"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// A question of the caller's (anything else is 404).
        question_id: Path<String>,
    ) -> ApiResult<QuestionResponse> {
        let id = object_id(&question_id, "question")?;
        let question = Questions::new(&state.db)
            .get(auth.0.id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("question"))?;
        Ok(QuestionResponse::Ok(Direct(question.into())))
    }

    /// Change a question (only the fields given), including pinning it
    ///
    /// Change a question (only the fields given), including pinning it.
    #[oai(
        path = "/questions/:question_id",
        method = "patch",
        operation_id = "questions_update"
    )]
    async fn update(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// A question of the caller's (anything else is 404).
        question_id: Path<String>,
        body: Json<UpdateQuestionRequest>,
    ) -> ApiResult<QuestionResponse> {
        let id = object_id(&question_id, "question")?;
        let body = body.0;
        let mut v = Validation::default();
        let patch = QuestionPatch {
            question: v.optional(body.question, |q| parse_question(&q)),
            answer: v.optional(body.answer, |a| parse_answer(&a)),
            notes: v.optional(body.notes, |n| parse_notes(&n)),
            category: v.optional(body.category, |c| parse_category(&c)),
            difficulty: body.difficulty,
            kind: body.kind,
            is_pinned: body.is_pinned,
        };
        v.finish()?;
        let updated = Questions::new(&state.db)
            .update(auth.0.id, id, &patch)
            .await?;
        let question = updated.ok_or_else(|| ApiError::not_found("question"))?;
        if let Some(kind) = patch.kind {
            Reviews::new(&state.db).set_kind(question.id, kind).await?;
        }
        Ok(QuestionResponse::Ok(Direct(question.into())))
    }

    /// Delete a question
    ///
    /// Delete a question.
    #[oai(
        path = "/questions/:question_id",
        method = "delete",
        operation_id = "questions_delete"
    )]
    async fn delete(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// A question of the caller's (anything else is 404).
        question_id: Path<String>,
    ) -> ApiResult<NoContent> {
        let id = object_id(&question_id, "question")?;
        if !Questions::new(&state.db).delete(auth.0.id, id).await? {
            return Err(ApiError::not_found("question"));
        }
        Ok(NoContent::Done)
    }
}
