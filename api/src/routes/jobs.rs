//! Background jobs: status and list (owner only).

use common::db::jobs::Jobs;
use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use crate::{
    auth::BearerAuth,
    error::{ApiError, ApiResult},
    jobs::{JobPage, JobView, job_page_args, present, present_page},
    routes::ApiTags,
    state::AppState,
};

/// A job.
#[derive(Debug, ApiResponse)]
pub enum JobResponse {
    /// The job.
    #[oai(status = 200)]
    Ok(Json<JobView>),
}

/// A page of jobs.
#[derive(Debug, ApiResponse)]
pub enum JobList {
    /// The page.
    #[oai(status = 200)]
    Ok(Json<JobPage>),
}

/// Job status.
#[derive(Debug)]
pub struct JobsApi;

#[OpenApi(prefix_path = "/api/v1/jobs", tag = "ApiTags::Jobs")]
impl JobsApi {
    /// The caller's recent jobs, newest first
    ///
    /// The caller's recent jobs, newest first.
    #[oai(path = "/", method = "get", operation_id = "jobs_list")]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 256))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<JobList> {
        let (limit, cursor) = job_page_args(limit.0, cursor.0.as_deref())?;
        let page = Jobs::new(&state.db)
            .list(auth.0.id, cursor.as_ref(), limit)
            .await?;
        Ok(JobList::Ok(Json(present_page(&state, page).await?)))
    }

    /// One of the caller's jobs
    ///
    /// One of the caller's jobs.
    #[oai(path = "/:job_id", method = "get", operation_id = "jobs_get")]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// A job of the caller's (anything else is 404).
        job_id: Path<String>,
    ) -> ApiResult<JobResponse> {
        let job = Jobs::new(&state.db)
            .get(auth.0.id, &job_id)
            .await?
            .filter(|j| j.kind.user_facing())
            .ok_or_else(|| ApiError::not_found("job"))?;
        Ok(JobResponse::Ok(Json(present(&state, job).await?)))
    }
}
