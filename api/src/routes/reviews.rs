//! Spaced-repetition review: rating a question, and the questions due now.

use std::collections::HashMap;

use bson::DateTime;
use common::{
    db::{
        questions::Questions,
        reviews::{DueCursor, DueFilter, Reviews},
    },
    domain::{
        question::QuestionKind,
        review::{CardState, Rating, ReviewSource, ReviewState},
    },
    pagination::page_limit,
};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use crate::{
    auth::BearerAuth,
    error::{ApiError, ApiResult},
    lookup::{object_id, owned_session},
    routes::{ApiTags, questions::QuestionView},
    state::AppState,
};

/// A rating given without answering.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct ReviewRequest {
    /// How well you recalled the answer.
    pub rating: Rating,
}

/// A question's review schedule (FSRS).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReviewView {
    /// The question.
    pub question_id: String,
    /// When it is due next.
    pub due: chrono::DateTime<chrono::Utc>,
    /// Days from the last review to `due`.
    pub scheduled_days: i64,
    /// FSRS state.
    pub state: CardState,
    /// FSRS stability: days until the chance of recall falls to 90 %.
    pub stability: f64,
    /// FSRS difficulty, 1–10.
    pub difficulty: f64,
    /// Reviews so far (graded attempts included).
    pub reps: i32,
    /// Times forgotten after being learnt.
    pub lapses: i32,
    /// The last review.
    pub last_review: chrono::DateTime<chrono::Utc>,
    /// The chance of recalling it now, 0–1.
    pub retrievability: f64,
}

impl From<&ReviewState> for ReviewView {
    fn from(s: &ReviewState) -> Self {
        Self {
            question_id: s.question_id.to_hex(),
            due: s.due.to_chrono(),
            scheduled_days: s.scheduled_days,
            state: s.state,
            stability: s.stability,
            difficulty: s.difficulty,
            reps: s.reps,
            lapses: s.lapses,
            last_review: s.last_review.to_chrono(),
            retrievability: s.retrievability(chrono::Utc::now()),
        }
    }
}

/// A due question with its schedule.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DueItem {
    /// The question.
    pub question: QuestionView,
    /// Its schedule.
    pub review: ReviewView,
}

/// A page of due questions, most overdue first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DuePage {
    /// The questions.
    pub items: Vec<DueItem>,
    /// Pass as `cursor` for the next page; absent on the last page. Pages follow the list
    /// as it was at the first page: a question reviewed meanwhile is not listed again, and
    /// one that became due meanwhile waits for the next first page.
    pub next_cursor: Option<String>,
}

/// The new schedule.
#[derive(Debug, ApiResponse)]
pub enum ReviewResponse {
    /// The question's schedule after the rating.
    #[oai(status = 200)]
    Ok(Json<ReviewView>),
}

/// Due questions.
#[derive(Debug, ApiResponse)]
pub enum DueResponse {
    /// The page.
    #[oai(status = 200)]
    Ok(Json<DuePage>),
}

/// Review.
#[derive(Debug)]
pub struct ReviewsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Review")]
impl ReviewsApi {
    /// Rate how well you recalled a question; FSRS schedules the next review
    ///
    /// Rate how well you recalled a question without answering it; FSRS schedules its next
    /// review. (A graded practice attempt rates it too: score below 40 is `again`, 40–64
    /// `hard`, 65–84 `good`, 85 and above `easy`.)
    #[oai(
        path = "/questions/:question_id/reviews",
        method = "post",
        operation_id = "reviews_create"
    )]
    async fn review(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// A question of the caller's (anything else is 404).
        question_id: Path<String>,
        body: Json<ReviewRequest>,
    ) -> ApiResult<ReviewResponse> {
        let id = object_id(&question_id, "question")?;
        let question = Questions::new(&state.db)
            .get(auth.0.id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("question"))?;
        let review = Reviews::new(&state.db)
            .record(
                &question,
                body.rating,
                ReviewSource::Manual,
                chrono::Utc::now(),
            )
            .await?;
        common::db::analytics::invalidate(&state.kv, auth.0.id).await;
        Ok(ReviewResponse::Ok(Json((&review).into())))
    }

    /// Questions due for review across the caller's sessions, most overdue first
    ///
    /// Questions due for review across the caller's sessions, most overdue first. Only
    /// questions reviewed or answered at least once have a schedule.
    #[oai(path = "/reviews/due", method = "get", operation_id = "reviews_due")]
    async fn due(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// Only this session's questions.
        session_id: Query<Option<String>>,
        /// Only questions of this kind.
        kind: Query<Option<QuestionKind>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 256))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<DueResponse> {
        let limit = page_limit(limit.0)?;
        let cursor = match cursor.0.as_deref() {
            Some(text) => Some(DueCursor::decode(text).ok_or_else(|| {
                ApiError::from(common::domain::Invalid::new(
                    "cursor",
                    "the cursor is malformed",
                ))
            })?),
            None => None,
        };
        let session = match session_id.0.as_deref() {
            Some(raw) => Some(owned_session(&state, auth.0.id, raw).await?.id),
            None => None,
        };
        let filter = DueFilter {
            session_id: session,
            kind: kind.0,
        };
        let (states, next) = Reviews::new(&state.db)
            .due(auth.0.id, &filter, cursor.as_ref(), DateTime::now(), limit)
            .await?;
        let ids: Vec<_> = states.iter().map(|s| s.question_id).collect();
        let mut questions: HashMap<_, _> = Questions::new(&state.db)
            .many(auth.0.id, &ids)
            .await?
            .into_iter()
            .map(|q| (q.id, q))
            .collect();
        let items = states
            .iter()
            .filter_map(|s| {
                Some(DueItem {
                    question: questions.remove(&s.question_id)?.into(),
                    review: s.into(),
                })
            })
            .collect();
        Ok(DueResponse::Ok(Json(DuePage {
            items,
            next_cursor: next.map(|c| c.encode()),
        })))
    }
}
