//! Practice sessions: create, read, update, delete, list, statistics.

use bson::{DateTime, oid::ObjectId};
use common::{
    db::{attempts::Attempts, questions::Questions, sessions::Sessions, users::Users},
    domain::{
        question::{Difficulty, Source},
        session::{
            Experience, Role, Session, SessionPatch, SessionStatus, Topics, parse_company,
            parse_description, parse_duration_minutes, parse_job_description,
        },
    },
    service,
};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
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

/// A practice session.
#[derive(Debug, Object, Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct SessionView {
    /// Id.
    pub id: String,
    /// The role practised for.
    pub role: String,
    /// Target seniority.
    pub experience: Experience,
    /// Topics to cover.
    pub topics: Vec<String>,
    /// Free-text description ("" when none).
    pub description: String,
    /// The company applied to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// The job advertisement prepared for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_description: Option<String>,
    /// Where the session stands.
    pub status: SessionStatus,
    /// Planned duration in minutes.
    pub duration_minutes: i32,
    /// Questions in the session.
    pub question_count: i64,
    /// Pinned questions in the session.
    pub pinned_count: i64,
    /// Creation time.
    #[serde(serialize_with = "rfc3339")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last change.
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl JsonSize for SessionView {
    fn json_size(&self) -> usize {
        // Field names, the id, times, enums and counts take about 330 bytes.
        330 + text_size(&self.role)
            + self.topics.iter().map(|t| text_size(t) + 1).sum::<usize>()
            + text_size(&self.description)
            + self.company.as_deref().map_or(0, |c| text_size(c) + 12)
            + self
                .job_description
                .as_deref()
                .map_or(0, |j| text_size(j) + 20)
    }
}

impl JsonSize for SessionPage {
    fn json_size(&self) -> usize {
        page_size(&self.items, self.next_cursor.as_deref())
    }
}

impl SessionView {
    fn new(s: Session, pinned_count: i64) -> Self {
        Self {
            id: id_hex(&s.id),
            role: s.role,
            experience: s.experience,
            topics: s.topics,
            description: s.description,
            company: s.company,
            job_description: s.job_description,
            status: s.status,
            duration_minutes: s.duration_minutes,
            question_count: i64::from(s.question_count),
            pinned_count,
            created_at: s.created_at.to_chrono(),
            updated_at: s.updated_at.to_chrono(),
        }
    }
}

/// A new session.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// The role practised for, 2–100 characters.
    #[oai(validator(min_length = 2, max_length = 100))]
    pub role: String,
    /// Target seniority.
    pub experience: Experience,
    /// Up to 10 topics of 1–50 characters each.
    #[oai(default, validator(max_items = 10))]
    pub topics: Vec<String>,
    /// At most 500 characters.
    #[oai(default, validator(max_length = 500))]
    pub description: String,
    /// The company applied to, at most 100 characters.
    #[oai(validator(max_length = 100))]
    pub company: Option<String>,
    /// The job advertisement to prepare for, at most 20,000 characters (generation uses
    /// it).
    #[oai(validator(max_length = 20000))]
    pub job_description: Option<String>,
    /// 1–300 minutes; 60 when omitted.
    #[oai(validator(minimum(value = "1"), maximum(value = "300")))]
    pub duration_minutes: Option<i64>,
    /// `pending` when omitted.
    pub status: Option<SessionStatus>,
}

/// Changes to a session: only the fields given change.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct UpdateSessionRequest {
    /// 2–100 characters.
    #[oai(validator(min_length = 2, max_length = 100))]
    pub role: Option<String>,
    /// Target seniority.
    pub experience: Option<Experience>,
    /// Replaces the topics (up to 10).
    #[oai(validator(max_items = 10))]
    pub topics: Option<Vec<String>>,
    /// The company, at most 100 characters; "" clears it.
    #[oai(validator(max_length = 100))]
    pub company: Option<String>,
    /// The job advertisement, at most 20,000 characters; "" clears it.
    #[oai(validator(max_length = 20000))]
    pub job_description: Option<String>,
    /// At most 500 characters; "" clears it.
    #[oai(validator(max_length = 500))]
    pub description: Option<String>,
    /// 1–300 minutes.
    #[oai(validator(minimum(value = "1"), maximum(value = "300")))]
    pub duration_minutes: Option<i64>,
    /// New status.
    pub status: Option<SessionStatus>,
}

/// A page of sessions, newest first.
#[derive(Debug, Object, Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct SessionPage {
    /// The sessions.
    pub items: Vec<SessionView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Questions per difficulty.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DifficultyCounts {
    /// `easy` questions.
    pub easy: i64,
    /// `medium` questions.
    pub medium: i64,
    /// `hard` questions.
    pub hard: i64,
}

/// Questions per source.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SourceCounts {
    /// Generated by the LLM.
    pub ai: i64,
    /// From the offline question bank.
    pub bank: i64,
    /// Written by the user.
    pub custom: i64,
}

/// Questions of one category.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CategoryCount {
    /// The category; absent for questions without one.
    pub category: Option<String>,
    /// Questions in it.
    pub count: i64,
}

/// Statistics of a session's questions.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SessionStats {
    /// The session.
    pub session_id: String,
    /// Questions in the session.
    pub total: i64,
    /// Pinned questions.
    pub pinned: i64,
    /// Questions per difficulty.
    pub by_difficulty: DifficultyCounts,
    /// Questions per category, largest first.
    pub by_category: Vec<CategoryCount>,
    /// Questions per source.
    pub by_source: SourceCounts,
    /// Mean words per answer (0 when there are no questions).
    pub average_answer_words: f64,
    /// Practice scores of the questions answered at least once (graded attempts).
    pub scores: Vec<QuestionScore>,
}

/// A question's practice scores.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct QuestionScore {
    /// The question.
    pub question_id: String,
    /// The newest graded attempt's score, 0–100.
    pub last_score: i32,
    /// The best score.
    pub best_score: i32,
    /// Graded attempts.
    pub attempts: i64,
}

/// A session.
#[derive(Debug, ApiResponse)]
pub enum SessionResponse {
    /// The session.
    #[oai(status = 200)]
    Ok(Direct<SessionView>),
}

/// A created session.
#[derive(Debug, ApiResponse)]
pub enum SessionCreated {
    /// The new session.
    #[oai(status = 201)]
    Created(Direct<SessionView>),
}

/// A page of sessions.
#[derive(Debug, ApiResponse)]
pub enum SessionList {
    /// The page.
    #[oai(status = 200)]
    Ok(Direct<SessionPage>),
}

/// Session statistics.
#[derive(Debug, ApiResponse)]
pub enum StatsResponse {
    /// The statistics.
    #[oai(status = 200)]
    Ok(Json<SessionStats>),
}

async fn view(state: &AppState, session: Session) -> ApiResult<SessionView> {
    let pinned = Sessions::new(&state.db)
        .pinned_counts(&[session.id])
        .await?
        .get(&session.id)
        .copied()
        .unwrap_or(0);
    Ok(SessionView::new(session, pinned))
}

/// Practice sessions.
#[derive(Debug)]
pub struct SessionsApi;

#[OpenApi(prefix_path = "/api/v1/sessions", tag = "ApiTags::Sessions")]
impl SessionsApi {
    /// Open a practice session
    ///
    /// Open a practice session.
    #[oai(path = "/", method = "post", operation_id = "sessions_create")]
    async fn create(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<CreateSessionRequest>,
    ) -> ApiResult<SessionCreated> {
        let mut v = Validation::default();
        let role = v.field(Role::parse(&body.role).map(Role::into_inner));
        let topics = v.field(Topics::parse(&body.topics).map(Topics::into_inner));
        let description = v.field(parse_description(&body.description));
        let company = v.optional(body.company.clone(), |c| parse_company(&c));
        let job_description = v.optional(body.job_description.clone(), |j| {
            parse_job_description("job_description", &j)
        });
        let duration = v.field(parse_duration_minutes(body.duration_minutes.unwrap_or(60)));
        v.finish()?;
        // A deleted account's access token stays valid until it expires: it creates nothing.
        if Users::new(&state.db).by_id(auth.0.id).await?.is_none() {
            return Err(ApiError::unauthorized("The account no longer exists."));
        }
        let sessions = Sessions::new(&state.db);
        let cap = state.config.max_sessions_per_user;
        if sessions.count(auth.0.id).await? >= cap {
            return Err(ApiError::conflict(
                "too-many-sessions",
                format!("An account holds at most {cap} sessions; delete some first."),
            ));
        }
        let now = DateTime::now();
        let session = Session {
            id: ObjectId::new(),
            user_id: auth.0.id,
            role,
            experience: body.experience,
            topics,
            description,
            company: company.filter(|c| !c.is_empty()),
            job_description: job_description.filter(|j| !j.is_empty()),
            status: body.status.unwrap_or(SessionStatus::Pending),
            duration_minutes: i32::try_from(duration).unwrap_or(60),
            question_count: 0,
            created_at: now,
            updated_at: now,
        };
        sessions.insert(&session).await?;
        Ok(SessionCreated::Created(Direct(SessionView::new(
            session, 0,
        ))))
    }

    /// The caller's sessions, newest first
    ///
    /// The caller's sessions, newest first.
    #[oai(path = "/", method = "get", operation_id = "sessions_list")]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// Only sessions with this status.
        status: Query<Option<SessionStatus>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 256))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<SessionList> {
        let (limit, cursor) = page_args(limit.0, cursor.0.as_deref())?;
        let sessions = Sessions::new(&state.db);
        let page = sessions
            .list(auth.0.id, status.0, cursor.as_ref(), limit)
            .await?;
        let ids: Vec<ObjectId> = page.items.iter().map(|s| s.id).collect();
        let pinned = sessions.pinned_counts(&ids).await?;
        let next_cursor = page.next.map(|c| c.encode());
        let items = page
            .items
            .into_iter()
            .map(|s| {
                let p = pinned.get(&s.id).copied().unwrap_or(0);
                SessionView::new(s, p)
            })
            .collect();
        Ok(SessionList::Ok(Direct(SessionPage { items, next_cursor })))
    }

    /// One session, with its question and pinned counts
    ///
    /// One session, with its question and pinned counts.
    #[oai(path = "/:session_id", method = "get", operation_id = "sessions_get")]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// A session of the caller's (anything else is 404).
        session_id: Path<String>,
    ) -> ApiResult<SessionResponse> {
        let session = owned_session(&state, auth.0.id, &session_id).await?;
        Ok(SessionResponse::Ok(Direct(view(&state, session).await?)))
    }

    /// Change a session (only the fields given)
    ///
    /// Change a session (only the fields given).
    #[oai(
        path = "/:session_id",
        method = "patch",
        operation_id = "sessions_update"
    )]
    async fn update(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// A session of the caller's (anything else is 404).
        session_id: Path<String>,
        body: Json<UpdateSessionRequest>,
    ) -> ApiResult<SessionResponse> {
        let id = object_id(&session_id, "session")?;
        let body = body.0;
        let mut v = Validation::default();
        let patch = SessionPatch {
            role: v.optional(body.role, |r| Role::parse(&r).map(Role::into_inner)),
            topics: v.optional(body.topics, |t| Topics::parse(&t).map(Topics::into_inner)),
            description: v.optional(body.description, |d| parse_description(&d)),
            company: v.optional(body.company, |c| parse_company(&c)),
            job_description: v.optional(body.job_description, |j| {
                parse_job_description("job_description", &j)
            }),
            duration_minutes: v.optional(body.duration_minutes, parse_duration_minutes),
            experience: body.experience,
            status: body.status,
        };
        v.finish()?;
        let updated = Sessions::new(&state.db)
            .update(auth.0.id, id, &patch)
            .await?;
        let session = updated.ok_or_else(|| ApiError::not_found("session"))?;
        Ok(SessionResponse::Ok(Direct(view(&state, session).await?)))
    }

    /// Delete a session and everything in it
    ///
    /// Delete a session and everything in it.
    #[oai(
        path = "/:session_id",
        method = "delete",
        operation_id = "sessions_delete"
    )]
    async fn delete(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// A session of the caller's (anything else is 404).
        session_id: Path<String>,
    ) -> ApiResult<NoContent> {
        let id = object_id(&session_id, "session")?;
        if !service::sessions::delete(&state.stores(), auth.0.id, id).await? {
            return Err(ApiError::not_found("session"));
        }
        Ok(NoContent::Done)
    }

    /// Statistics of a session's questions
    ///
    /// Statistics of a session's questions.
    #[oai(
        path = "/:session_id/stats",
        method = "get",
        operation_id = "sessions_stats"
    )]
    async fn stats(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// A session of the caller's (anything else is 404).
        session_id: Path<String>,
    ) -> ApiResult<StatsResponse> {
        let session = owned_session(&state, auth.0.id, &session_id).await?;
        let stats = Questions::new(&state.db).stats(session.id).await?;
        let scores = Attempts::new(&state.db)
            .scores_by_question(session.id)
            .await?
            .into_iter()
            .map(|(id, s)| QuestionScore {
                question_id: id.to_hex(),
                last_score: s.last,
                best_score: s.best,
                attempts: s.attempts,
            })
            .collect();
        let count = |d| stats.by_difficulty.get(&d).copied().unwrap_or(0);
        let source = |s| stats.by_source.get(&s).copied().unwrap_or(0);
        let mut by_category: Vec<CategoryCount> = stats
            .by_category
            .iter()
            .map(|(c, n)| CategoryCount {
                category: (!c.is_empty()).then(|| c.clone()),
                count: *n,
            })
            .collect();
        by_category.sort_by(|a, b| b.count.cmp(&a.count).then(a.category.cmp(&b.category)));
        #[expect(clippy::cast_precision_loss, reason = "word counts are far below 2^52")]
        let average_answer_words = if stats.total == 0 {
            0.0
        } else {
            stats.answer_words as f64 / stats.total as f64
        };
        Ok(StatsResponse::Ok(Json(SessionStats {
            session_id: session.id.to_hex(),
            total: stats.total,
            pinned: stats.pinned,
            by_difficulty: DifficultyCounts {
                easy: count(Difficulty::Easy),
                medium: count(Difficulty::Medium),
                hard: count(Difficulty::Hard),
            },
            by_category,
            by_source: SourceCounts {
                ai: source(Source::Ai),
                bank: source(Source::Bank),
                custom: source(Source::Custom),
            },
            average_answer_words,
            scores,
        })))
    }
}
