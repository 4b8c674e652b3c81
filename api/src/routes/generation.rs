//! Starting question generation and regeneration (202; the work happens in a worker).

use common::{
    db::{questions::Questions, sessions::Sessions, usage::AiUsage, users::Users},
    domain::{
        Invalid,
        job::{FromJobDescriptionPayload, GeneratePayload, RegeneratePayload},
        question::Difficulty,
        session::{Topics, parse_job_description},
    },
    jobs::{GenerateQuestions, Quota, RegenerateQuestion, SessionFromJobDescription},
};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path},
    payload::Json,
};

use crate::{
    auth::BearerAuth,
    error::{ApiError, ApiResult},
    jobs::{JobStarted, start},
    lookup::{object_id, owned_session},
    routes::ApiTags,
    state::AppState,
};

/// What to generate.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct GenerateRequest {
    /// Questions wanted, 1–10 (5 when omitted). Fewer are added when the session is
    /// close to its cap.
    #[oai(validator(minimum(value = "1"), maximum(value = "10")))]
    pub count: Option<u32>,
    /// Topics for this batch (up to 10); the session's topics when omitted.
    #[oai(validator(max_items = 10))]
    pub topics: Option<Vec<String>>,
    /// One difficulty for the whole batch; a mix suited to the level when omitted.
    pub difficulty: Option<Difficulty>,
}

/// A job advertisement to prepare for.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct FromJobDescriptionRequest {
    /// The advertisement, 50–20,000 characters.
    #[oai(validator(min_length = 50, max_length = 20000))]
    pub text: String,
    /// Questions to generate first, 1–10 (5 when omitted).
    #[oai(validator(minimum(value = "1"), maximum(value = "10")))]
    pub count: Option<u32>,
}

/// The per-user quota generation and regeneration jobs count against.
fn quota(state: &AppState) -> Option<Quota> {
    Some(Quota {
        name: "generate",
        policy: state.config.rate_limit.generate,
    })
}

/// Refuses with 429 when the caller's daily token budget is spent (jobs that get queued
/// anyway, before the count catches up, take their questions from the offline bank).
async fn within_budget(state: &AppState, user_id: bson::oid::ObjectId) -> ApiResult<()> {
    let budget = AiUsage::new(&state.db)
        .budget(user_id, state.config.common.ai_daily_token_budget)
        .await?;
    if budget.spent() {
        return Err(ApiError::token_budget_spent(&budget));
    }
    Ok(())
}

/// Question generation.
#[derive(Debug)]
pub struct GenerationApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Generation")]
impl GenerationApi {
    /// Generate questions with model answers for a session, in the background
    ///
    /// Generate questions with model answers for a session, in the background. Honours
    /// `Idempotency-Key`. Counts against a per-user hourly limit; refused with 429
    /// `token-budget-spent` once the caller's daily AI token budget is used up.
    #[oai(
        path = "/sessions/:session_id/generate",
        method = "post",
        operation_id = "sessions_generate"
    )]
    async fn generate(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// A session of the caller's (anything else is 404).
        session_id: Path<String>,
        /// Repeating a request with the same key (within 24 h) returns the same job.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: Json<GenerateRequest>,
    ) -> ApiResult<JobStarted> {
        let topics = match &body.topics {
            Some(t) => Topics::parse(t)?.into_inner(),
            None => Vec::new(),
        };
        let session = owned_session(&state, auth.0.id, &session_id).await?;
        let cap = state.config.common.max_questions_per_session;
        if u32::try_from(session.question_count).unwrap_or(0) >= cap {
            return Err(ApiError::session_full(cap));
        }
        within_budget(&state, auth.0.id).await?;
        let payload = GeneratePayload {
            count: body.count.unwrap_or(5),
            topics,
            difficulty: body.difficulty,
        };
        start::<GenerateQuestions>(
            &state,
            auth.0.id,
            payload,
            Some(session.id),
            idempotency_key.0,
            quota(&state),
        )
        .await
    }

    /// Prepare a session from a job advertisement, in the background
    ///
    /// Prepare for a job advertisement: a background job reads the role, experience level,
    /// topics and company from it (the AI provider, or offline rules), creates a session
    /// holding the advert, and generates its first questions; the job's result names the
    /// session. Honours `Idempotency-Key`; counts against the generation limits and the
    /// daily AI budget.
    #[oai(
        path = "/sessions/from-job-description",
        method = "post",
        operation_id = "sessions_from_job_description"
    )]
    async fn prepare_for_job_description(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// Repeating a request with the same key (within 24 h) returns the same job.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: Json<FromJobDescriptionRequest>,
    ) -> ApiResult<JobStarted> {
        let text = parse_job_description("text", &body.text)?;
        if text.chars().count() < 50 {
            return Err(Invalid::new("text", "must be at least 50 characters").into());
        }
        if Users::new(&state.db).by_id(auth.0.id).await?.is_none() {
            return Err(ApiError::unauthorized("The account no longer exists."));
        }
        let cap = state.config.max_sessions_per_user;
        if Sessions::new(&state.db).count(auth.0.id).await? >= cap {
            return Err(ApiError::conflict(
                "too-many-sessions",
                format!("An account holds at most {cap} sessions; delete some first."),
            ));
        }
        within_budget(&state, auth.0.id).await?;
        let payload = FromJobDescriptionPayload {
            text,
            count: body.count.unwrap_or(5),
        };
        start::<SessionFromJobDescription>(
            &state,
            auth.0.id,
            payload,
            None,
            idempotency_key.0,
            quota(&state),
        )
        .await
    }

    /// Replace a question's text and answer with a generated one
    ///
    /// Replace a question's text and answer with a newly generated one, in the
    /// background; its id, pin, notes and category stay. Honours `Idempotency-Key`. Counts
    /// against the same hourly limit and daily AI token budget as generation.
    #[oai(
        path = "/questions/:question_id/regenerate",
        method = "post",
        operation_id = "questions_regenerate"
    )]
    async fn regenerate(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// A question of the caller's (anything else is 404).
        question_id: Path<String>,
        /// Repeating a request with the same key (within 24 h) returns the same job.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
    ) -> ApiResult<JobStarted> {
        let id = object_id(&question_id, "question")?;
        let question = Questions::new(&state.db)
            .get(auth.0.id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("question"))?;
        within_budget(&state, auth.0.id).await?;
        start::<RegenerateQuestion>(
            &state,
            auth.0.id,
            RegeneratePayload { question_id: id },
            Some(question.session_id),
            idempotency_key.0,
            quota(&state),
        )
        .await
    }
}
