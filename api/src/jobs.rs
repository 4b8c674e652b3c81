//! Background jobs as clients see them: starting one (202 with where to follow it), the
//! job's view with its per-kind result (and a freshly signed link for an export), pages.

use common::{
    db::exports::Exports,
    domain::{
        attempt::Grader,
        job::{ExportFormat, JobKind, JobOutput, JobRecord, JobStatus},
        question::Source,
        session::Experience,
    },
    jobs::{self, JobSpec, StartJob, Started},
    pagination::{KeyCursor, KeyPage, page_limit},
};
use poem_openapi::{ApiResponse, Object, payload::Json};

use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
};

/// Longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// What a finished job produced; the fields present depend on the job's kind.
#[derive(Debug, Object, Default)]
#[oai(skip_serializing_if_is_none)]
pub struct JobResult {
    /// `generate_questions`: questions this run added.
    #[oai(skip_serializing_if_is_none)]
    pub questions_added: Option<i64>,
    /// `generate_questions`: ids of the questions added by the attempt that finished.
    #[oai(skip_serializing_if_is_none)]
    pub question_ids: Option<Vec<String>>,
    /// `generate_questions`: candidates dropped because the session (or the batch) already
    /// had them.
    #[oai(skip_serializing_if_is_none)]
    pub duplicates_dropped: Option<i64>,
    /// `generate_questions`: candidates dropped by validation (lengths, difficulty).
    #[oai(skip_serializing_if_is_none)]
    pub invalid_dropped: Option<i64>,
    /// `generate_questions`, `regenerate_question`: `ai` (provider or its cache) or `bank`
    /// (the offline question bank).
    #[oai(skip_serializing_if_is_none)]
    pub source: Option<Source>,
    /// `generate_questions`: whether the batch came from the cache of earlier provider
    /// replies.
    #[oai(skip_serializing_if_is_none)]
    pub cached: Option<bool>,
    /// `regenerate_question`: the question replaced.
    #[oai(skip_serializing_if_is_none)]
    pub question_id: Option<String>,
    /// `export_session`: the file format.
    #[oai(skip_serializing_if_is_none)]
    pub format: Option<ExportFormat>,
    /// `export_session`: the file size.
    #[oai(skip_serializing_if_is_none)]
    pub size_bytes: Option<i64>,
    /// `export_session`: questions in the file.
    #[oai(skip_serializing_if_is_none)]
    pub question_count: Option<i64>,
    /// `export_session`: the download's file name.
    #[oai(skip_serializing_if_is_none)]
    pub filename: Option<String>,
    /// `export_session`: a signed link to the file, minted for this response; it stops
    /// working at `expires_at`. Absent once the export has expired.
    #[oai(skip_serializing_if_is_none)]
    pub download_url: Option<String>,
    /// `export_session`: when `download_url` stops working.
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// `export_session`: `true` once the file has been deleted (exports are kept for a
    /// limited time).
    #[oai(skip_serializing_if_is_none)]
    pub expired: Option<bool>,
    /// `probe`: the mark the run left.
    #[oai(skip_serializing_if_is_none)]
    pub mark: Option<String>,
    /// `probe`: the attempt that succeeded.
    #[oai(skip_serializing_if_is_none)]
    pub attempt: Option<i32>,
    /// `grade_attempt`: the practice attempt graded (read it for the full grade).
    #[oai(skip_serializing_if_is_none)]
    pub attempt_id: Option<String>,
    /// `grade_attempt`: its score, 0–100.
    #[oai(skip_serializing_if_is_none)]
    pub score: Option<i32>,
    /// `grade_attempt`: `ai` or `offline`.
    #[oai(skip_serializing_if_is_none)]
    pub grader: Option<Grader>,
    /// `session_from_job_description`: the session created.
    #[oai(skip_serializing_if_is_none)]
    pub session_id: Option<String>,
    /// `session_from_job_description`: the role read from the advert.
    #[oai(skip_serializing_if_is_none)]
    pub role: Option<String>,
    /// `session_from_job_description`: the experience level read from the advert.
    #[oai(skip_serializing_if_is_none)]
    pub experience: Option<Experience>,
    /// `session_from_job_description`: the topics read from the advert.
    #[oai(skip_serializing_if_is_none)]
    pub topics: Option<Vec<String>>,
    /// `session_from_job_description`: the company, when the advert names it.
    #[oai(skip_serializing_if_is_none)]
    pub company: Option<String>,
    /// `session_from_job_description`: `ai` or `offline` (absent when a retried attempt
    /// found the session already made).
    #[oai(skip_serializing_if_is_none)]
    pub extracted_by: Option<String>,
}

impl From<JobOutput> for JobResult {
    fn from(output: JobOutput) -> Self {
        match output {
            JobOutput::GenerateQuestions(o) => Self {
                questions_added: Some(o.questions_added),
                question_ids: Some(o.question_ids),
                duplicates_dropped: Some(o.duplicates_dropped),
                invalid_dropped: Some(o.invalid_dropped),
                source: o.source,
                cached: o.cached,
                ..Self::default()
            },
            JobOutput::RegenerateQuestion(o) => Self {
                question_id: Some(o.question_id),
                source: Some(o.source),
                ..Self::default()
            },
            JobOutput::ExportSession(o) => Self {
                format: Some(o.format),
                size_bytes: Some(o.size_bytes),
                question_count: Some(o.question_count),
                filename: Some(o.filename),
                ..Self::default()
            },
            JobOutput::Email(_) => Self::default(),
            JobOutput::Probe(o) => Self {
                mark: Some(o.mark),
                attempt: Some(o.attempt),
                ..Self::default()
            },
            JobOutput::SessionFromJobDescription(o) => Self {
                session_id: Some(o.session_id),
                role: Some(o.role),
                experience: Some(o.experience),
                topics: Some(o.topics),
                company: o.company,
                extracted_by: o.extracted_by,
                ..Self::from(JobOutput::GenerateQuestions(o.generated))
            },
            JobOutput::GradeAttempt(o) => Self {
                attempt_id: Some(o.attempt_id),
                score: Some(o.score),
                grader: Some(o.grader),
                ..Self::default()
            },
        }
    }
}

/// One attempt of a job.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct JobAttemptView {
    /// 1-based.
    pub attempt: i32,
    /// When it started.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// When it ended (absent while running, or if its worker died).
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why it failed.
    pub error: Option<String>,
}

/// LLM tokens a job used.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TokensView {
    /// Prompt tokens.
    pub prompt: i64,
    /// Completion tokens.
    pub completion: i64,
}

/// A background job.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct JobView {
    /// Id (a ULID).
    pub id: String,
    /// What it does.
    pub kind: JobKind,
    /// Where it stands.
    pub status: JobStatus,
    /// Attempts started so far.
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// 0–100.
    pub progress: i32,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// What it produced, once succeeded.
    pub result: Option<JobResult>,
    /// Present when the job succeeded but its stored result could not be read (a server
    /// fault, logged with the job id); `result` is then absent.
    pub result_error: Option<String>,
    /// The session it concerns.
    pub session_id: Option<String>,
    /// Each attempt of the current run, in order.
    pub attempts: Vec<JobAttemptView>,
    /// LLM tokens used by all attempts.
    pub tokens: TokensView,
    /// Creation time.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When its first attempt started.
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it finished.
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<JobRecord> for JobView {
    fn from(j: JobRecord) -> Self {
        let (result, result_error) = match j.output() {
            Ok(output) => (output.map(JobResult::from), None),
            Err(e) => {
                tracing::error!(job_id = %j.id, kind = j.kind.as_str(), error = %e, "a stored job result does not match its kind");
                let error = "The job's stored result could not be read.".to_owned();
                (None, Some(error))
            }
        };
        Self {
            id: j.id,
            kind: j.kind,
            status: j.status,
            attempt: j.attempt,
            max_attempts: j.max_attempts,
            progress: j.progress,
            error: j.error,
            result,
            result_error,
            session_id: j.session_id.map(|s| s.to_hex()),
            attempts: j
                .attempts
                .into_iter()
                .map(|a| JobAttemptView {
                    attempt: a.attempt,
                    started_at: a.started_at.to_chrono(),
                    finished_at: a.finished_at.map(|t| t.to_chrono()),
                    error: a.error,
                })
                .collect(),
            tokens: TokensView {
                prompt: j.tokens.prompt,
                completion: j.tokens.completion,
            },
            created_at: j.created_at.to_chrono(),
            started_at: j.started_at.map(|t| t.to_chrono()),
            finished_at: j.finished_at.map(|t| t.to_chrono()),
        }
    }
}

/// A page of jobs, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct JobPage {
    /// The jobs.
    pub items: Vec<JobView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The view of a job, with a freshly signed download link for a finished export.
pub async fn present(state: &AppState, job: JobRecord) -> ApiResult<JobView> {
    let export = job.kind == JobKind::ExportSession && job.status == JobStatus::Succeeded;
    let id = job.id.clone();
    let mut view = JobView::from(job);
    if !export {
        return Ok(view);
    }
    let result = view.result.get_or_insert_with(JobResult::default);
    match Exports::new(&state.db).by_job(&id).await? {
        Some(record) => {
            let ttl = state.config.export_url_ttl;
            let url = state.storage.presign_get(&record.key, ttl).await?;
            let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            result.download_url = Some(url);
            result.expires_at = chrono::DateTime::from_timestamp_millis(
                chrono::Utc::now().timestamp_millis() + ttl_ms,
            );
            result.expired = Some(false);
        }
        None => result.expired = Some(true),
    }
    Ok(view)
}

/// The views of a page of jobs.
pub async fn present_page(state: &AppState, page: KeyPage<JobRecord>) -> ApiResult<JobPage> {
    let mut items = Vec::with_capacity(page.items.len());
    for job in page.items {
        items.push(present(state, job).await?);
    }
    Ok(JobPage {
        next_cursor: page.next.map(|c| c.encode()),
        items,
    })
}

/// A job was started (or an earlier one with the same `Idempotency-Key` is returned).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct JobAccepted {
    /// The job's id.
    pub job_id: String,
    /// Where its status is.
    pub status_url: String,
    /// Where its live progress is streamed (Server-Sent Events).
    pub events_url: String,
}

/// A job was accepted for processing.
#[derive(Debug, ApiResponse)]
pub enum JobStarted {
    /// Queued; follow `status_url` or `events_url`.
    #[oai(status = 202)]
    Accepted(
        Json<JobAccepted>,
        /// The job's status URL.
        #[oai(header = "Location")]
        String,
    ),
}

impl From<Started> for JobStarted {
    fn from(started: Started) -> Self {
        let status_url = format!("/api/v1/jobs/{}", started.job.id);
        Self::Accepted(
            Json(JobAccepted {
                job_id: started.job.id,
                status_url: status_url.clone(),
                events_url: "/api/v1/events".to_owned(),
            }),
            status_url,
        )
    }
}

/// Checks an `Idempotency-Key` (1–255 visible ASCII characters).
pub fn idempotency_key(raw: Option<String>) -> ApiResult<Option<String>> {
    match raw {
        None => Ok(None),
        Some(k)
            if !k.is_empty()
                && k.len() <= MAX_IDEMPOTENCY_KEY
                && k.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(k))
        }
        Some(_) => Err(ApiError::invalid_field(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        )),
    }
}

/// Starts a job of kind `J` for the caller and answers 202.
pub async fn start<J: JobSpec>(
    state: &AppState,
    user_id: bson::oid::ObjectId,
    payload: J::Payload,
    session_id: Option<bson::oid::ObjectId>,
    key: Option<String>,
    quota: Option<jobs::Quota>,
) -> ApiResult<JobStarted> {
    let job = StartJob::<J> {
        user_id,
        payload,
        session_id,
        max_attempts: state.config.common.job_max_attempts,
        idempotency_key: idempotency_key(key)?,
    };
    Ok(jobs::start(&state.db, &state.kv, job, quota).await?.into())
}

/// The page size and cursor of a job list.
pub fn job_page_args(
    limit: Option<u32>,
    cursor: Option<&str>,
) -> ApiResult<(u32, Option<KeyCursor>)> {
    let limit = page_limit(limit)?;
    let cursor = cursor.map(KeyCursor::decode).transpose()?;
    Ok((limit, cursor))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::idempotency_key;
    use crate::lookup::object_id;

    proptest! {
        /// A key is accepted exactly when it is 1–255 visible ASCII characters (the pattern
        /// the OpenAPI document states), whatever else arrives.
        #[test]
        fn idempotency_keys_follow_the_documented_rule(key in "\\PC{0,300}", ascii in "[!-~]{1,255}") {
            let expected = !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| (b'!'..=b'~').contains(&b));
            prop_assert_eq!(idempotency_key(Some(key.clone())).is_ok(), expected, "{:?}", key);
            prop_assert_eq!(idempotency_key(Some(ascii.clone())).ok().flatten(), Some(ascii));
        }

        /// Path ids: 24 hex digits are ids; anything else is "not found", never a panic.
        #[test]
        fn object_ids_are_24_hex_digits_or_not_found(raw in "\\PC{0,40}", hex in "[0-9a-f]{24}") {
            let is_hex = raw.len() == 24 && raw.bytes().all(|b| b.is_ascii_hexdigit());
            prop_assert_eq!(object_id(&raw, "thing").is_ok(), is_hex);
            prop_assert_eq!(object_id(&hex, "thing").map(|id| id.to_hex()).ok(), Some(hex));
        }
    }

    #[test]
    fn the_documented_key_pattern_is_the_enforced_one() {
        assert_eq!(crate::spec::IDEMPOTENCY_KEY, "^[!-~]{1,255}$");
        assert!(idempotency_key(Some("x".repeat(256))).is_err());
        assert!(idempotency_key(Some("with space".into())).is_err());
        assert!(idempotency_key(Some("é".into())).is_err());
    }
}
