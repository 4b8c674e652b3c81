//! Practice: answering a question and reading the grade (graded in the background).

use bson::{DateTime, oid::ObjectId};
use common::{
    db::{attempts::Attempts, jobs::Jobs, questions::Questions},
    domain::{
        attempt::{Attempt, Grade, GradePayload, MAX_DURATION_SECS, parse_attempt_answer},
        job::JobStatus,
    },
    jobs::{self, GradeAttempt, Quota, StartJob},
};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};

use crate::{
    auth::BearerAuth,
    error::{ApiError, ApiResult},
    jobs::idempotency_key,
    lookup::{object_id, page_args},
    responses::NoContent,
    routes::ApiTags,
    state::AppState,
};

/// An answer to practise with.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct AttemptRequest {
    /// The answer, 1–5,000 characters.
    #[oai(validator(min_length = 1, max_length = 5000))]
    pub answer: String,
    /// Seconds the user took, 0–3,600, if the client measured it.
    #[oai(validator(minimum(value = "0"), maximum(value = "3600")))]
    pub duration_secs: Option<u32>,
}

/// Where an attempt's grading stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// Being graded: follow `job_id` (or the live events).
    Pending,
    /// `grade` is there.
    Graded,
    /// Grading failed for good (the job says why); answer again to retry.
    Failed,
}

/// A practice attempt.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AttemptView {
    /// Id.
    pub id: String,
    /// The question answered.
    pub question_id: String,
    /// Its session.
    pub session_id: String,
    /// The answer.
    pub answer: String,
    /// Seconds the user took, when given.
    pub duration_secs: Option<i32>,
    /// Where grading stands.
    pub status: AttemptStatus,
    /// The grading job.
    pub job_id: Option<String>,
    /// The grade, once graded.
    pub grade: Option<Grade>,
    /// When it was answered.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it was graded.
    pub graded_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A page of attempts, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AttemptPage {
    /// The attempts.
    pub items: Vec<AttemptView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// An attempt accepted for grading.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AttemptAccepted {
    /// The attempt (read it at `attempt_url` for the grade).
    pub attempt_id: String,
    /// Where the attempt is.
    pub attempt_url: String,
    /// The grading job.
    pub job_id: String,
    /// Where the job's status is.
    pub status_url: String,
    /// Where its live progress is streamed (Server-Sent Events).
    pub events_url: String,
}

/// Accepted.
#[derive(Debug, ApiResponse)]
pub enum AttemptStarted {
    /// Recorded and queued for grading.
    #[oai(status = 202)]
    Accepted(
        Json<AttemptAccepted>,
        /// The attempt's URL.
        #[oai(header = "Location")]
        String,
    ),
}

/// An attempt.
#[derive(Debug, ApiResponse)]
pub enum AttemptResponse {
    /// The attempt.
    #[oai(status = 200)]
    Ok(Json<AttemptView>),
}

/// A page of attempts.
#[derive(Debug, ApiResponse)]
pub enum AttemptList {
    /// The page.
    #[oai(status = 200)]
    Ok(Json<AttemptPage>),
}

/// The attempt as clients see it; a failed grading job makes it `failed`.
async fn view(state: &AppState, a: Attempt) -> ApiResult<AttemptView> {
    let status = if a.grade.is_some() {
        AttemptStatus::Graded
    } else {
        match &a.job_id {
            Some(job) => match Jobs::new(&state.db).by_id(job).await? {
                Some(j) if j.status == JobStatus::Failed => AttemptStatus::Failed,
                Some(_) => AttemptStatus::Pending,
                None => AttemptStatus::Failed,
            },
            None => AttemptStatus::Pending,
        }
    };
    Ok(AttemptView {
        id: a.id.to_hex(),
        question_id: a.question_id.to_hex(),
        session_id: a.session_id.to_hex(),
        answer: a.answer,
        duration_secs: a.duration_secs,
        status,
        job_id: a.job_id,
        grade: a.grade,
        created_at: a.created_at.to_chrono(),
        graded_at: a.graded_at.map(DateTime::to_chrono),
    })
}

/// The per-user quota attempts count against.
fn quota(state: &AppState) -> Quota {
    Quota {
        name: "attempt",
        policy: state.config.rate_limit.attempt,
    }
}

fn accepted(attempt_id: ObjectId, job_id: String) -> AttemptStarted {
    let attempt_url = format!("/api/v1/attempts/{}", attempt_id.to_hex());
    AttemptStarted::Accepted(
        Json(AttemptAccepted {
            attempt_id: attempt_id.to_hex(),
            attempt_url: attempt_url.clone(),
            status_url: format!("/api/v1/jobs/{job_id}"),
            job_id,
            events_url: "/api/v1/events".to_owned(),
        }),
        attempt_url,
    )
}

/// Practice attempts.
#[derive(Debug)]
pub struct AttemptsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Practice")]
impl AttemptsApi {
    /// Answer a question for practice; it is graded in the background
    ///
    /// Answer a question in your own words; it is graded in the background (by the AI
    /// rubric, or offline by key-point coverage when no provider is available or today's AI
    /// budget is spent). Honours `Idempotency-Key`. Counts against a per-user hourly limit.
    #[oai(
        path = "/questions/:question_id/attempts",
        method = "post",
        operation_id = "attempts_create"
    )]
    async fn create(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// A question of the caller's (anything else is 404).
        question_id: Path<String>,
        /// Repeating a request with the same key (within 24 h) returns the same attempt.
        #[oai(name = "Idempotency-Key")]
        idempotency: Header<Option<String>>,
        body: Json<AttemptRequest>,
    ) -> ApiResult<AttemptStarted> {
        let answer = parse_attempt_answer(&body.answer)?;
        let key = idempotency_key(idempotency.0)?;
        let qid = object_id(&question_id, "question")?;
        let question = Questions::new(&state.db)
            .get(auth.0.id, qid)
            .await?
            .ok_or_else(|| ApiError::not_found("question"))?;
        let duration = body.duration_secs.filter(|d| *d <= MAX_DURATION_SECS);
        let attempts = Attempts::new(&state.db);
        let record = Attempt {
            id: ObjectId::new(),
            user_id: auth.0.id,
            session_id: question.session_id,
            question_id: question.id,
            category: question.category.clone(),
            answer,
            duration_secs: duration.and_then(|d| i32::try_from(d).ok()),
            job_id: None,
            grade: None,
            score: None,
            created_at: DateTime::now(),
            graded_at: None,
        };
        attempts.insert(&record).await?;
        let job = StartJob::<GradeAttempt> {
            user_id: auth.0.id,
            payload: GradePayload::new(
                record.id,
                question.id,
                &record.answer,
                record.duration_secs,
            ),
            session_id: Some(question.session_id),
            max_attempts: state.config.common.job_max_attempts,
            idempotency_key: key,
        };
        let started = match jobs::start(&state.db, &state.kv, job, Some(quota(&state))).await {
            Ok(started) => started,
            Err(e) => {
                attempts.discard(record.id).await?;
                return Err(e.into());
            }
        };
        if started.existing {
            // A repeat of an earlier request: that one's attempt is the answer.
            attempts.discard(record.id).await?;
            let earlier: GradePayload = bson::from_document(started.job.payload.clone())
                .map_err(|e| anyhow::anyhow!("an attempt job's payload is unreadable: {e}"))?;
            return Ok(accepted(earlier.attempt_id, started.job.id));
        }
        attempts.set_job(record.id, &started.job.id).await?;
        Ok(accepted(record.id, started.job.id))
    }

    /// A question's attempts, newest first
    ///
    /// A question's attempts, newest first.
    #[oai(
        path = "/questions/:question_id/attempts",
        method = "get",
        operation_id = "attempts_list"
    )]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// A question of the caller's (anything else is 404).
        question_id: Path<String>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 256))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<AttemptList> {
        let (limit, cursor) = page_args(limit.0, cursor.0.as_deref())?;
        let qid = object_id(&question_id, "question")?;
        Questions::new(&state.db)
            .get(auth.0.id, qid)
            .await?
            .ok_or_else(|| ApiError::not_found("question"))?;
        let page = Attempts::new(&state.db)
            .list(qid, cursor.as_ref(), limit)
            .await?;
        let mut items = Vec::with_capacity(page.items.len());
        for a in page.items.iter().cloned() {
            items.push(view(&state, a).await?);
        }
        Ok(AttemptList::Ok(Json(AttemptPage {
            items,
            next_cursor: page.next.map(|c| c.encode()),
        })))
    }

    /// An attempt, with its grade once graded
    ///
    /// An attempt, with its grade once graded.
    #[oai(
        path = "/attempts/:attempt_id",
        method = "get",
        operation_id = "attempts_get"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// An attempt of the caller's (anything else is 404).
        attempt_id: Path<String>,
    ) -> ApiResult<AttemptResponse> {
        let id = object_id(&attempt_id, "attempt")?;
        let attempt = Attempts::new(&state.db)
            .get(auth.0.id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("attempt"))?;
        Ok(AttemptResponse::Ok(Json(view(&state, attempt).await?)))
    }

    /// Delete an attempt (its score leaves the statistics)
    ///
    /// Delete an attempt (its score leaves the statistics).
    #[oai(
        path = "/attempts/:attempt_id",
        method = "delete",
        operation_id = "attempts_delete"
    )]
    async fn delete(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// An attempt of the caller's (anything else is 404).
        attempt_id: Path<String>,
    ) -> ApiResult<NoContent> {
        let id = object_id(&attempt_id, "attempt")?;
        if !Attempts::new(&state.db).delete(auth.0.id, id).await? {
            return Err(ApiError::not_found("attempt"));
        }
        common::db::analytics::invalidate(&state.kv, auth.0.id).await;
        Ok(NoContent::Done)
    }
}
