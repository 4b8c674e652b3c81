//! Operator endpoints (accounts whose email is in `ADMIN_EMAILS`): the dead-letter list,
//! retrying a dead job, and the pipeline probe.

use common::{
    db::{jobs::Jobs, users::Users},
    domain::job::ProbePayload,
    jobs,
    jobs::{Probe, Quota},
};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};

use crate::{
    auth::BearerAuth,
    error::{ApiError, ApiResult},
    jobs::{JobStarted, JobView, job_page_args, start},
    routes::ApiTags,
    state::AppState,
};

/// A job as operators see it: with its owner.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AdminJobView {
    /// The job.
    #[oai(flatten)]
    pub job: JobView,
    /// The owner's id.
    pub user_id: String,
    /// Operator retries so far plus one.
    pub run: i32,
}

/// A page of dead jobs, most recent first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AdminJobPage {
    /// The jobs.
    pub items: Vec<AdminJobView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A probe of the job pipeline.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct ProbeRequest {
    /// How long each attempt works, 0–60000 ms (progress is reported in five steps).
    #[oai(default, validator(maximum(value = "60000")))]
    pub work_ms: u64,
    /// The first this-many attempts fail with a retryable error (0–10).
    #[oai(default, validator(maximum(value = "10")))]
    pub fail_attempts: u32,
    /// Fail at once with a permanent error.
    #[oai(default)]
    pub permanent: bool,
}

/// Dead jobs.
#[derive(Debug, ApiResponse)]
pub enum DeadList {
    /// The page.
    #[oai(status = 200)]
    Ok(Json<AdminJobPage>),
}

/// The caller, if an operator: a verified account whose address is listed in
/// `ADMIN_EMAILS` (listing an address grants nothing to whoever registers it without
/// reading its mail); 403 otherwise.
async fn operator(state: &AppState, auth: &BearerAuth) -> ApiResult<()> {
    let user = Users::new(&state.db).by_id(auth.0.id).await?;
    match user {
        Some(u) if u.email_verified && state.config.admin_emails.contains(&u.email) => Ok(()),
        Some(u) if state.config.admin_emails.contains(&u.email) => Err(ApiError::forbidden(
            "Operator rights need a verified address; confirm it with POST /api/v1/auth/verify-email.",
        )),
        _ => Err(ApiError::forbidden("This operation is for operators only.")),
    }
}

/// Operators.
#[derive(Debug)]
pub struct AdminApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "ApiTags::Admin")]
impl AdminApi {
    /// Jobs that used all their attempts, most recent first
    ///
    /// Jobs that used all their attempts, most recent first.
    #[oai(path = "/jobs/dead", method = "get", operation_id = "admin_dead_jobs")]
    async fn dead(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 256))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<DeadList> {
        operator(&state, &auth).await?;
        let (limit, cursor) = job_page_args(limit.0, cursor.0.as_deref())?;
        let page = Jobs::new(&state.db).dead(cursor.as_ref(), limit).await?;
        Ok(DeadList::Ok(Json(AdminJobPage {
            next_cursor: page.next.map(|c| c.encode()),
            items: page
                .items
                .into_iter()
                .map(|j| AdminJobView {
                    user_id: j.user_id.to_hex(),
                    run: j.run,
                    job: j.into(),
                })
                .collect(),
        })))
    }

    /// Run a failed job again from its first attempt (a new run: it notifies again)
    ///
    /// Run a failed job again from its first attempt (a new run: it notifies again).
    #[oai(
        path = "/jobs/:job_id/retry",
        method = "post",
        operation_id = "admin_retry_job"
    )]
    async fn retry(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// A failed job.
        job_id: Path<String>,
    ) -> ApiResult<JobStarted> {
        operator(&state, &auth).await?;
        let jobs = Jobs::new(&state.db);
        let task_id = ulid::Ulid::generate().to_string();
        let Some(job) = jobs.restart(&job_id, &task_id).await? else {
            return Err(match jobs.by_id(&job_id).await? {
                Some(_) => {
                    ApiError::conflict("job-not-failed", "Only a failed job can be retried.")
                }
                None => ApiError::not_found("job"),
            });
        };
        // If this push fails the job stays queued and the workers' reconciler pushes it.
        if let Err(e) = jobs::enqueue(&state.kv, job.kind.queue(), &job.id, &job.task_id).await {
            tracing::warn!(job_id = %job.id, error = %e, "retry not queued yet; the reconciler will");
            return Err(ApiError::unavailable("the job queue"));
        }
        tracing::info!(job_id = %job.id, run = job.run, "operator retried a job");
        Ok(jobs::Started {
            job,
            existing: false,
        }
        .into())
    }

    /// Start a pipeline probe job
    ///
    /// Start a probe job owned by the caller: it exercises queue, worker, retries,
    /// notification and live events end to end. Honours `Idempotency-Key`. Counts against
    /// a per-operator quota (`RATE_LIMIT_PROBE`, 30 an hour by default).
    #[oai(path = "/jobs/probe", method = "post", operation_id = "admin_probe")]
    async fn probe(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// Repeating a request with the same key (within 24 h) returns the same job.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: Json<ProbeRequest>,
    ) -> ApiResult<JobStarted> {
        operator(&state, &auth).await?;
        let payload = ProbePayload {
            work_ms: body.work_ms,
            fail_attempts: body.fail_attempts,
            permanent: body.permanent,
        };
        let quota = Quota {
            name: "probe",
            policy: state.config.rate_limit.probe,
        };
        start::<Probe>(
            &state,
            auth.0.id,
            payload,
            None,
            idempotency_key.0,
            Some(quota),
        )
        .await
    }
}
