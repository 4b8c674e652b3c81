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
use poem_openapi::{ApiResponse, Object, Union, payload::Json};

use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
};

/// Longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// What a generation produced.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct GenerateResult {
    /// Questions this run added.
    pub questions_added: i64,
    /// Ids of the questions added by the attempt that finished.
    pub question_ids: Vec<String>,
    /// Candidates dropped because the session (or the batch) already had them.
    pub duplicates_dropped: i64,
    /// Candidates dropped by validation (lengths, difficulty) or the screen (links,
    /// addresses, copied text).
    pub invalid_dropped: i64,
    /// `ai` (provider or its cache) or `bank` (the offline question bank); absent when an
    /// earlier attempt had already added everything.
    pub source: Option<Source>,
    /// Whether the batch came from the cache of earlier provider replies.
    pub cached: Option<bool>,
}

impl From<common::domain::job::GenerateOutput> for GenerateResult {
    fn from(o: common::domain::job::GenerateOutput) -> Self {
        Self {
            questions_added: o.questions_added,
            question_ids: o.question_ids,
            duplicates_dropped: o.duplicates_dropped,
            invalid_dropped: o.invalid_dropped,
            source: o.source,
            cached: o.cached,
        }
    }
}

/// What a regeneration produced.
#[derive(Debug, Object)]
pub struct RegenerateResult {
    /// The question replaced (its id stays).
    pub question_id: String,
    /// Where the new text came from.
    pub source: Source,
}

/// What an export produced; the link is signed for each read of the job.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ExportResult {
    /// The file format.
    pub format: ExportFormat,
    /// The file size.
    pub size_bytes: i64,
    /// Questions in the file.
    pub question_count: i64,
    /// The download's file name.
    pub filename: String,
    /// A signed link to the file, minted for this response; it stops working at
    /// `expires_at`. Absent once the export has expired.
    pub download_url: Option<String>,
    /// When `download_url` stops working.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// `true` once the file has been deleted (exports are kept for a limited time).
    pub expired: Option<bool>,
}

/// What a probe produced.
#[derive(Debug, Object)]
pub struct ProbeResult {
    /// The mark the run left.
    pub mark: String,
    /// The attempt that succeeded.
    pub attempt: i32,
}

/// What grading produced (read the attempt for the whole grade).
#[derive(Debug, Object)]
pub struct GradeResult {
    /// The practice attempt graded.
    pub attempt_id: String,
    /// Its score, 0–100.
    pub score: i32,
    /// Who graded it.
    pub grader: Grader,
}

/// What preparing a session from a job advertisement produced.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct JobDescriptionResult {
    /// The session created.
    pub session_id: String,
    /// The role read from the advert.
    pub role: String,
    /// The experience level read from the advert.
    pub experience: Experience,
    /// The topics read from the advert.
    pub topics: Vec<String>,
    /// The company, when the advert names it.
    pub company: Option<String>,
    /// `ai` or `offline` (absent when a retried attempt found the session already made).
    pub extracted_by: Option<String>,
    /// The first questions.
    #[oai(flatten)]
    pub generated: GenerateResult,
}

/// What an email job produced.
#[derive(Debug, Object)]
pub struct EmailResult {
    /// Always `true`: the message was handed to the SMTP server.
    pub sent: bool,
}

/// What a finished job produced, by the job's kind (`kind`, the same as the job's).
#[derive(Debug, Union)]
#[oai(discriminator_name = "kind", one_of)]
pub enum JobResult {
    /// `generate_questions`.
    #[oai(mapping = "generate_questions")]
    GenerateQuestions(GenerateResult),
    /// `regenerate_question`.
    #[oai(mapping = "regenerate_question")]
    RegenerateQuestion(RegenerateResult),
    /// `export_session`.
    #[oai(mapping = "export_session")]
    ExportSession(ExportResult),
    /// `email`.
    #[oai(mapping = "email")]
    Email(EmailResult),
    /// `probe`.
    #[oai(mapping = "probe")]
    Probe(ProbeResult),
    /// `grade_attempt`.
    #[oai(mapping = "grade_attempt")]
    GradeAttempt(GradeResult),
    /// `session_from_job_description`.
    #[oai(mapping = "session_from_job_description")]
    SessionFromJobDescription(JobDescriptionResult),
}

impl From<JobOutput> for JobResult {
    fn from(output: JobOutput) -> Self {
        match output {
            JobOutput::GenerateQuestions(o) => Self::GenerateQuestions(o.into()),
            JobOutput::RegenerateQuestion(o) => Self::RegenerateQuestion(RegenerateResult {
                question_id: o.question_id,
                source: o.source,
            }),
            JobOutput::ExportSession(o) => Self::ExportSession(ExportResult {
                format: o.format,
                size_bytes: o.size_bytes,
                question_count: o.question_count,
                filename: o.filename,
                download_url: None,
                expires_at: None,
                expired: None,
            }),
            JobOutput::Email(_) => Self::Email(EmailResult { sent: true }),
            JobOutput::Probe(o) => Self::Probe(ProbeResult {
                mark: o.mark,
                attempt: o.attempt,
            }),
            JobOutput::GradeAttempt(o) => Self::GradeAttempt(GradeResult {
                attempt_id: o.attempt_id,
                score: o.score,
                grader: o.grader,
            }),
            JobOutput::SessionFromJobDescription(o) => {
                Self::SessionFromJobDescription(JobDescriptionResult {
                    session_id: o.session_id,
                    role: o.role,
                    experience: o.experience,
                    topics: o.topics,
                    company: o.company,
                    extracted_by: o.extracted_by,
                    generated: o.generated.into(),
                })
            }
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
    let Some(JobResult::ExportSession(result)) = view.result.as_mut() else {
        return Ok(view);
    };
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
