//! Jobs: the kinds (each a [`JobSpec`]: payload and output declared together), the queues
//! and how to start a job. The api starts and the worker runs the very same types, so they
//! cannot drift apart.

use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskId, TaskSink, TaskSinkError};
use apalis_redis::{Config, RedisStorage};
use bson::oid::ObjectId;
use mongodb::Database;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{
    db::jobs::{CreateError, Created, Jobs, NewJob},
    domain::attempt::{GradeOutput, GradePayload},
    domain::job::{
        EmailSent, ExportOutput, ExportPayload, FromJobDescriptionOutput,
        FromJobDescriptionPayload, GenerateOutput, GeneratePayload, JobKind, JobRecord,
        ProbeOutput, ProbePayload, RegenerateOutput, RegeneratePayload,
    },
    kv::Kv,
};

/// Queue names. Given explicitly: apalis would otherwise use the Rust type path, which
/// silently changes when a type moves.
pub mod queues {
    /// AI question generation and regeneration.
    pub const QUESTION_GENERATION: &str = "question-generation";
    /// Session exports.
    pub const EXPORT: &str = "export";
    /// Outgoing email.
    pub const EMAIL: &str = "email";
    /// Grading practice attempts: its own queue, because a user waits on a grade while
    /// generation jobs are longer and come in bursts (a generation backlog must not hold
    /// feedback back).
    pub const GRADING: &str = "grading";
    /// Every queue.
    pub const ALL: [&str; 4] = [QUESTION_GENERATION, EXPORT, EMAIL, GRADING];
}

/// How often a worker tells Redis it is alive. An idle apalis worker also looks for new
/// tasks only on its heartbeat (or when one of its own tasks completes), so this bounds the
/// pick-up delay of a job pushed to an idle queue.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// Missed heartbeats after which a worker's in-flight tasks are handed to another worker
/// (15 s). apalis-redis' `Config::default()` says 10 although its docs say 2: set
/// explicitly.
pub const MISSED_HEARTBEATS: usize = 15;

/// The apalis configuration of `queue`, under the deployment's key prefix.
fn config(kv: &Kv, queue: &str) -> Config {
    Config::default()
        .queue(kv.key(queue))
        .heartbeat_interval(HEARTBEAT_INTERVAL)
        .missed_heartbeats(MISSED_HEARTBEATS)
        // Nothing subscribes to apalis' pub/sub task events: skip a PUBLISH per step.
        .emit_events(false)
}

/// The apalis storage of `queue`, under the deployment's key prefix (to push, inspect).
pub fn storage<T>(kv: &Kv, queue: &str) -> RedisStorage<T> {
    RedisStorage::new(kv.conn()).with_config(config(kv, queue))
}

/// The storage a consumer running `concurrency` tasks at once reads from: a fetch takes
/// at most its free slots (the patched apalis-redis counts `batch_size` minus the running
/// tasks), so no fetched task waits in a buffer while the heartbeat is held up behind it.
///
/// apalis' task locks are off. apalis-core runs a task without waiting for its lock (the
/// lock is bookkeeping on the task's metadata: who runs it since when, renewed on every
/// heartbeat), and a run is already exclusive through the job record, which a delivery
/// claims in MongoDB before it works. Crash recovery does not use the locks either: a dead
/// worker's in-flight set goes back to the queue. Without them, a task costs one Redis
/// command fewer and a batch three fewer.
pub fn consumer_storage<T>(kv: &Kv, queue: &str, concurrency: usize) -> RedisStorage<T> {
    let config = config(kv, queue)
        .batch_size(concurrency.max(1))
        .lock_tasks(false);
    RedisStorage::new(kv.conn()).with_config(config)
}

/// A kind of job: its parameters and what it produces, declared together, so the api that
/// starts a job and the worker that runs it cannot disagree on either (in the spirit of
/// crates.io's `BackgroundJob`). Payloads and outputs are stored on the job record in
/// MongoDB; the queue carries only the job's id.
pub trait JobSpec: Send + Sync + 'static {
    /// The kind, stored on the record and dispatched on by the worker.
    const KIND: JobKind;
    /// What the worker needs to run it.
    type Payload: Serialize + DeserializeOwned + Send + Sync;
    /// What a successful run produced (the job's `result`).
    type Output: Serialize + DeserializeOwned + Send + Sync;
}

/// Declares a job kind's marker type.
macro_rules! job_kind {
    ($(#[$doc:meta])* $name:ident, $kind:ident, $payload:ty, $output:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl JobSpec for $name {
            const KIND: JobKind = JobKind::$kind;
            type Payload = $payload;
            type Output = $output;
        }
    };
}

job_kind!(
    /// Generates questions for a session (queue `question-generation`).
    GenerateQuestions, GenerateQuestions, GeneratePayload, GenerateOutput
);
job_kind!(
    /// Replaces one question's text and answer (queue `question-generation`).
    RegenerateQuestion, RegenerateQuestion, RegeneratePayload, RegenerateOutput
);
job_kind!(
    /// Exports a session to a file in S3 (queue `export`).
    ExportSession, ExportSession, ExportPayload, ExportOutput
);
job_kind!(
    /// Sends an email (queue `email`).
    SendEmail, Email, EmailJob, EmailSent
);
job_kind!(
    /// The operators' pipeline probe (queue `question-generation`).
    Probe, Probe, ProbePayload, ProbeOutput
);
job_kind!(
    /// Grades a practice attempt (queue `grading`).
    GradeAttempt, GradeAttempt, GradePayload, GradeOutput
);
job_kind!(
    /// Prepares a session from a job advertisement (queue `question-generation`).
    SessionFromJobDescription,
    SessionFromJobDescription,
    FromJobDescriptionPayload,
    FromJobDescriptionOutput
);

/// A job of kind `J` to start.
#[derive(Debug)]
pub struct StartJob<J: JobSpec> {
    /// Owner.
    pub user_id: ObjectId,
    /// Its parameters.
    pub payload: J::Payload,
    /// The session it concerns (for deletion cascades).
    pub session_id: Option<ObjectId>,
    /// Attempts allowed per run.
    pub max_attempts: i32,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
}

impl<J: JobSpec> Clone for StartJob<J>
where
    J::Payload: Clone,
{
    fn clone(&self) -> Self {
        Self {
            user_id: self.user_id,
            payload: self.payload.clone(),
            session_id: self.session_id,
            max_attempts: self.max_attempts,
            idempotency_key: self.idempotency_key.clone(),
        }
    }
}

/// What a queue carries: only the job's id. The job's record in MongoDB holds its
/// parameters and state, so the queue is delivery only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    /// The job record's id.
    pub job_id: String,
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmailJob {
    /// Issue a password-reset code to this address and mail it. The worker creates the
    /// code, so it never sits in the queue in clear text.
    PasswordResetCode {
        /// Normalized email address of an existing account.
        email: String,
        /// The account holder's name, for the greeting.
        fullname: String,
    },
    /// Issue an e-mail verification code to this address and mail it (created by the
    /// worker, like the reset code).
    VerificationCode {
        /// Normalized email address of an existing account.
        email: String,
        /// The account holder's name, for the greeting.
        fullname: String,
    },
}

/// Why a job could not be enqueued.
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    /// Redis did not take it (down, timed out): retry later.
    #[error("the queue store is unavailable: {0}")]
    Unavailable(String),
    /// The payload could not be encoded (a bug).
    #[error("the job could not be encoded: {0}")]
    Encode(String),
}

impl<E: std::fmt::Display> From<TaskSinkError<E>> for EnqueueError {
    fn from(err: TaskSinkError<E>) -> Self {
        match err {
            TaskSinkError::PushError(e) => Self::Unavailable(e.to_string()),
            other => Self::Encode(other.to_string()),
        }
    }
}

/// Puts task `task_id` (a ULID) delivering job `job_id` on `queue`. Pushing a task id the
/// queue already holds does nothing (apalis-redis stores tasks with `HSETNX`).
pub async fn enqueue(
    kv: &Kv,
    queue: &str,
    job_id: &str,
    task_id: &str,
) -> Result<(), EnqueueError> {
    let id: ulid::Ulid = task_id
        .parse()
        .map_err(|e| EnqueueError::Encode(format!("task id {task_id:?}: {e}")))?;
    let task = TaskBuilder::new(JobMessage {
        job_id: job_id.to_owned(),
    })
    .task_id(TaskId::from(id))
    .build();
    let start = std::time::Instant::now();
    let pushed = storage::<JobMessage>(kv, queue).push_task(task).await;
    let outcome = if pushed.is_ok() { "ok" } else { "error" };
    metrics::histogram!("redis_command_duration_seconds", "op" => "enqueue", "outcome" => outcome)
        .record(start.elapsed().as_secs_f64());
    pushed?;
    Ok(())
}

/// Why a job was not started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The idempotency key belongs to a different request.
    #[error("this Idempotency-Key was used for a different request")]
    KeyReused,
    /// The queue could not take it; the record was marked failed (nothing will run).
    #[error("the job queue is unavailable")]
    Unavailable,
    /// The caller's quota for this kind of job is spent; the record was discarded.
    #[error("too many jobs of this kind; retry in {retry_after_secs} s")]
    Limited {
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
    },
    /// MongoDB failed.
    #[error(transparent)]
    Db(#[from] mongodb::error::Error),
    /// The payload could not be stored (a bug).
    #[error("the job's parameters could not be encoded: {0}")]
    Encode(bson::ser::Error),
}

/// A per-user quota a new job counts against (`RATE_LIMIT_GENERATE`, `RATE_LIMIT_EXPORT`).
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    /// The limiter's name (`generate`, `export`).
    pub name: &'static str,
    /// Its policy.
    pub policy: crate::ratelimit::Policy,
}

/// A started job.
#[derive(Debug, Clone)]
pub struct Started {
    /// Its record.
    pub job: JobRecord,
    /// Whether an idempotency key returned a job started earlier.
    pub existing: bool,
}

/// Starts a job of kind `J`: the record first, the queue second.
///
/// If the queue refuses (Redis down), the record is marked failed and its idempotency key
/// released, so the caller answers 503 and nothing waits forever. If this process dies
/// between the two writes, the record stays `queued` and the workers' reconciler enqueues
/// it (see `worker::jobs::reconcile`).
pub async fn start<J: JobSpec>(
    db: &Database,
    kv: &Kv,
    job: StartJob<J>,
    quota: Option<Quota>,
) -> Result<Started, StartError> {
    let new = NewJob {
        user_id: job.user_id,
        kind: J::KIND,
        payload: bson::to_document(&job.payload).map_err(StartError::Encode)?,
        session_id: job.session_id,
        max_attempts: job.max_attempts,
        idempotency_key: job.idempotency_key,
    };
    let jobs = Jobs::new(db);
    let job = match jobs.create(new).await {
        Ok(Created::Existing(job)) => {
            return Ok(Started {
                job,
                existing: true,
            });
        }
        Ok(Created::New(job)) => job,
        Err(CreateError::KeyReused) => return Err(StartError::KeyReused),
        Err(CreateError::Db(e)) => return Err(e.into()),
    };
    // The quota is counted once the record exists, so that copies of one request (same
    // Idempotency-Key, even sent at once) count once: only the copy that created the job
    // gets here.
    if let Some(quota) = quota {
        let decision =
            crate::ratelimit::check(kv, quota.name, &job.user_id.to_hex(), quota.policy).await;
        let refused = match decision {
            Ok(d) if d.allowed => None,
            Ok(d) => Some(StartError::Limited {
                retry_after_secs: d.retry_after_secs,
            }),
            Err(e) => {
                tracing::warn!(job_id = %job.id, error = %e, "quota not checked");
                Some(StartError::Unavailable)
            }
        };
        if let Some(refused) = refused {
            if matches!(refused, StartError::Limited { .. }) {
                metrics::counter!("rate_limit_refusals_total", "policy" => quota.name).increment(1);
            }
            jobs.discard_unqueued(&job.id).await?;
            if let Some(key) = &job.idempotency_key {
                jobs.release_key(job.user_id, key).await?;
            }
            return Err(refused);
        }
    }
    if let Err(e) = enqueue(kv, job.kind.queue(), &job.id, &job.task_id).await {
        tracing::warn!(job_id = %job.id, error = %e, "job not queued");
        jobs.fail_unqueued(&job.id, "the job queue was unavailable; nothing was done")
            .await?;
        if let Some(key) = &job.idempotency_key {
            jobs.release_key(job.user_id, key).await?;
        }
        return Err(StartError::Unavailable);
    }
    metrics::counter!("jobs_enqueued_total", "kind" => job.kind.as_str()).increment(1);
    Ok(Started {
        job,
        existing: false,
    })
}

/// Starts every job of `jobs`, `in_flight` at a time (backfills, load tests); stops at the
/// first failure.
pub async fn start_many<J: JobSpec>(
    db: &Database,
    kv: &Kv,
    jobs: impl IntoIterator<Item = StartJob<J>>,
    in_flight: usize,
) -> Result<usize, StartError> {
    use futures::{StreamExt, TryStreamExt};
    futures::stream::iter(jobs)
        .map(|job| start(db, kv, job, None))
        .buffer_unordered(in_flight.max(1))
        .try_fold(0, |n, _| async move { Ok(n + 1) })
        .await
}
