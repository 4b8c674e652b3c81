//! Background jobs: the authoritative record kept in MongoDB (the queue only delivers).

use bson::{DateTime, Document, oid::ObjectId};
use serde::{Deserialize, Serialize};

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum JobKind {
    /// Generate questions for a session.
    GenerateQuestions,
    /// Replace one question with a new one.
    RegenerateQuestion,
    /// Export a session to a file in object storage.
    ExportSession,
    /// Send a transactional email (not listed to users).
    Email,
    /// An operator's probe of the pipeline: waits, reports progress, may fail on purpose.
    Probe,
    /// Grade a practice attempt.
    GradeAttempt,
    /// Read a job advertisement, create a session for it and generate its first questions.
    SessionFromJobDescription,
}

impl JobKind {
    /// The stored (and wire) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GenerateQuestions => "generate_questions",
            Self::RegenerateQuestion => "regenerate_question",
            Self::ExportSession => "export_session",
            Self::Email => "email",
            Self::Probe => "probe",
            Self::GradeAttempt => "grade_attempt",
            Self::SessionFromJobDescription => "session_from_job_description",
        }
    }

    /// The queue that delivers jobs of this kind.
    pub fn queue(self) -> &'static str {
        use crate::jobs::queues;
        match self {
            Self::GenerateQuestions
            | Self::RegenerateQuestion
            | Self::Probe
            | Self::SessionFromJobDescription => queues::QUESTION_GENERATION,
            Self::ExportSession => queues::EXPORT,
            Self::Email => queues::EMAIL,
            Self::GradeAttempt => queues::GRADING,
        }
    }

    /// Whether the owner sees the job in lists, gets a notification and live events.
    pub fn user_facing(self) -> bool {
        !matches!(self, Self::Email)
    }
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum JobStatus {
    /// Waiting for a worker (also between attempts).
    Queued,
    /// A worker is on it.
    Running,
    /// Done; `result` holds the outcome.
    Succeeded,
    /// Given up; `error` says why.
    Failed,
}

impl JobStatus {
    /// The stored (and wire) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Whether the job has finished (for this run).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// One attempt of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptLog {
    /// 1-based attempt number within the run.
    pub attempt: i32,
    /// The worker that ran it.
    pub worker: String,
    /// When it started.
    pub started_at: DateTime,
    /// When it ended (absent while running, or when the worker died).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Tokens an LLM call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Prompt tokens.
    pub prompt: i64,
    /// Completion tokens.
    pub completion: i64,
}

/// The stored job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRecord {
    /// A ULID chosen by the api; also the first delivery's apalis task id.
    #[serde(rename = "_id")]
    pub id: String,
    /// Owner.
    pub user_id: ObjectId,
    /// What it does.
    pub kind: JobKind,
    /// Where it stands.
    pub status: JobStatus,
    /// Attempts started in the current run.
    pub attempt: i32,
    /// Attempts allowed per run.
    pub max_attempts: i32,
    /// 1, plus one per operator retry.
    pub run: i32,
    /// 0–100.
    pub progress: i32,
    /// Kind-specific parameters (what the worker needs).
    pub payload: Document,
    /// Kind-specific outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Document>,
    /// The last failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Attempts of the current run, in order.
    #[serde(default)]
    pub attempts: Vec<AttemptLog>,
    /// The session it concerns, if any (for deletion cascades).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<ObjectId>,
    /// The apalis task currently responsible for delivering it.
    pub task_id: String,
    /// The delivery running it now (`worker/task`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_owner: Option<String>,
    /// Until when that delivery holds it (renewed while it runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime>,
    /// The client's `Idempotency-Key`, if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// LLM tokens used by all attempts.
    #[serde(default)]
    pub tokens: TokenUsage,
    /// When it exhausted its attempts (listed as dead until retried).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_at: Option<DateTime>,
    /// Creation time.
    pub created_at: DateTime,
    /// Last change.
    pub updated_at: DateTime,
    /// When the first attempt of the current run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime>,
    /// When the current run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime>,
    /// Whether the owner was notified of this run's ending (a worker that dies between
    /// ending a job and notifying leaves `false`; the reconciler finishes the job).
    #[serde(default)]
    pub notified: bool,
}

/// Parameters of a probe job (the default does no work and succeeds at once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbePayload {
    /// How long each attempt works, in milliseconds (in steps that report progress).
    pub work_ms: u64,
    /// The first this-many attempts fail with a retryable error.
    pub fail_attempts: u32,
    /// Fail at once with a permanent error.
    pub permanent: bool,
}

/// Parameters of a question-generation job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratePayload {
    /// Questions wanted (1–10).
    pub count: u32,
    /// Topics for this batch (the session's when empty).
    #[serde(default)]
    pub topics: Vec<String>,
    /// Difficulty wanted (mixed when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<crate::domain::question::Difficulty>,
}

/// Parameters of a job that prepares a session from a job advertisement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FromJobDescriptionPayload {
    /// The advertisement (validated, at most 20,000 characters).
    pub text: String,
    /// Questions to generate first (1–10).
    pub count: u32,
}

/// What reading the advertisement found and what the job made of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FromJobDescriptionOutput {
    /// The session created.
    pub session_id: String,
    /// Its role.
    pub role: String,
    /// Its experience level.
    pub experience: crate::domain::session::Experience,
    /// Its topics.
    pub topics: Vec<String>,
    /// The company, when the advert names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// `ai` or `offline` (absent when an earlier attempt of the job read the advert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extracted_by: Option<String>,
    /// The first questions.
    pub generated: GenerateOutput,
}

/// Parameters of a regeneration job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegeneratePayload {
    /// The question to replace.
    pub question_id: ObjectId,
}

/// What a generation job produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateOutput {
    /// Questions this run added.
    pub questions_added: i64,
    /// Their ids.
    pub question_ids: Vec<String>,
    /// Candidates dropped because the session (or the batch) already had them.
    pub duplicates_dropped: i64,
    /// Candidates dropped by validation.
    pub invalid_dropped: i64,
    /// Where the batch came from (absent when an earlier attempt had already added all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<crate::domain::question::Source>,
    /// Whether the batch came from the cache of earlier provider replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached: Option<bool>,
}

/// What a regeneration job produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegenerateOutput {
    /// The question replaced (its id stays).
    pub question_id: String,
    /// Where the new text came from.
    pub source: crate::domain::question::Source,
}

/// What an export job produced (the download link is minted when the job is read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportOutput {
    /// The file format.
    pub format: ExportFormat,
    /// The file size.
    pub size_bytes: i64,
    /// Questions in the file.
    pub question_count: i64,
    /// The download's file name.
    pub filename: String,
}

impl From<&ExportRecord> for ExportOutput {
    fn from(record: &ExportRecord) -> Self {
        Self {
            format: record.format,
            size_bytes: record.size_bytes,
            question_count: i64::from(record.question_count),
            filename: record.filename.clone(),
        }
    }
}

/// What a probe produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeOutput {
    /// The mark the run left.
    pub mark: String,
    /// The attempt that succeeded.
    pub attempt: i32,
}

/// What an email job produced: nothing but its sending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailSent {}

/// A finished job's stored result, read according to the job's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutput {
    /// `generate_questions`.
    GenerateQuestions(GenerateOutput),
    /// `regenerate_question`.
    RegenerateQuestion(RegenerateOutput),
    /// `export_session`.
    ExportSession(ExportOutput),
    /// `email`.
    Email(EmailSent),
    /// `probe`.
    Probe(ProbeOutput),
    /// `grade_attempt`.
    GradeAttempt(crate::domain::attempt::GradeOutput),
    /// `session_from_job_description`.
    SessionFromJobDescription(FromJobDescriptionOutput),
}

impl JobRecord {
    /// The stored result read as its kind's output: `Ok(None)` while there is none, `Err`
    /// when what is stored does not match the kind (a bug to log, never to hide).
    pub fn output(&self) -> Result<Option<JobOutput>, bson::de::Error> {
        fn read<T: serde::de::DeserializeOwned>(doc: &Document) -> Result<T, bson::de::Error> {
            bson::from_document(doc.clone())
        }
        let Some(doc) = &self.result else {
            return Ok(None);
        };
        Ok(Some(match self.kind {
            JobKind::GenerateQuestions => JobOutput::GenerateQuestions(read(doc)?),
            JobKind::RegenerateQuestion => JobOutput::RegenerateQuestion(read(doc)?),
            JobKind::ExportSession => JobOutput::ExportSession(read(doc)?),
            JobKind::Email => JobOutput::Email(read(doc)?),
            JobKind::Probe => JobOutput::Probe(read(doc)?),
            JobKind::GradeAttempt => JobOutput::GradeAttempt(read(doc)?),
            JobKind::SessionFromJobDescription => JobOutput::SessionFromJobDescription(read(doc)?),
        }))
    }
}

/// A file format of exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum ExportFormat {
    /// Excel workbook.
    Xlsx,
    /// Comma-separated values (RFC 4180, UTF-8).
    Csv,
    /// PDF document.
    Pdf,
    /// Word document.
    Docx,
}

impl ExportFormat {
    /// The stored (and wire) spelling, also the file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Xlsx => "xlsx",
            Self::Csv => "csv",
            Self::Pdf => "pdf",
            Self::Docx => "docx",
        }
    }

    /// The media type of the file.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Pdf => "application/pdf",
            Self::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        }
    }
}

/// Parameters of an export job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportPayload {
    /// The file format.
    pub format: ExportFormat,
    /// Random part of the object key, chosen when the job is created, so every attempt
    /// writes the same object (a retry overwrites, never leaves a second one).
    pub token: String,
}

/// A stored export: an object in S3 and what it holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportRecord {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Owner.
    pub user_id: ObjectId,
    /// The session exported.
    pub session_id: ObjectId,
    /// The job that made it (unique).
    pub job_id: String,
    /// File format.
    pub format: ExportFormat,
    /// Object key (never shown to clients).
    pub key: String,
    /// The download's file name.
    pub filename: String,
    /// Object size.
    pub size_bytes: i64,
    /// Questions in the file.
    pub question_count: i32,
    /// Creation time.
    pub created_at: DateTime,
    /// When it is deleted (object and record).
    pub expires_at: DateTime,
}

/// A stored notification about a finished job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Recipient.
    pub user_id: ObjectId,
    /// The job it reports on.
    pub job_id: String,
    /// The job's run it reports on (one notification per run).
    pub run: i32,
    /// The job's kind.
    pub kind: JobKind,
    /// `succeeded` or `failed`.
    pub status: JobStatus,
    /// One line for people.
    pub message: String,
    /// Whether the user has seen it.
    pub read: bool,
    /// Creation time.
    pub created_at: DateTime,
}
