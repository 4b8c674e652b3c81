//! Runs a delivered job: claims attempts on the job's record, retries with exponential
//! backoff, and ends every run exactly once (status, notification, live events, metrics).
//!
//! The queue only delivers. Whatever apalis-redis does with a task (it re-schedules failed
//! tasks on its own, up to 25 times), the number of attempts is the record's: a delivery
//! must claim an attempt before working, and a run that used its `max_attempts` is failed
//! instead of run again. Retries happen inside the delivery, so this function returns
//! success to apalis for every ending; it returns an error only to hand the job back when
//! the worker shuts down between attempts, or when MongoDB cannot be reached.

use std::time::{Duration, Instant};

use apalis::prelude::{BoxDynError, Data, TaskId, WorkerContext};
use bson::{DateTime, oid::ObjectId};
use common::{
    db::jobs::{Claim, Jobs, Outcome},
    domain::job::{JobKind, JobRecord, JobStatus, Notification},
    events::LiveEvent,
    jobs::JobMessage,
};
use rand::Rng;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{claims::first_claim, notified::Ended};
use crate::context::JobContext;

/// How an attempt failed.
#[derive(Debug)]
pub enum JobError {
    /// Worth another attempt (a dependency failed, a timeout).
    Retry(anyhow::Error),
    /// Will fail again however often it is tried (bad input, a missing session).
    Permanent(anyhow::Error),
}

impl JobError {
    /// A permanent failure with this message.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::Permanent(anyhow::anyhow!(message.into()))
    }
}

/// Failures of the stores a job talks to are worth another attempt; anything else is
/// classified where it happens (`JobError::Retry`, `JobError::permanent`), so `?` never
/// turns a bad input into three attempts.
macro_rules! retry_on {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for JobError {
            fn from(e: $error) -> Self {
                Self::Retry(e.into())
            }
        }
    )*};
}
retry_on!(mongodb::error::Error, redis::RedisError);

/// The shortest time between two writes of an attempt's progress to its record. Steps
/// reported within it share one write (the last step's); the owner's live events carry
/// every step at once. A job that finishes within it writes no progress at all: its ending
/// does.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// What a job handler gets: the record, a way to report progress, and the cancellation
/// that fires when the attempt's lease is lost.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The job, as claimed for this attempt.
    pub job: JobRecord,
    ctx: JobContext,
    owner: String,
    cancel: CancellationToken,
    progress: watch::Sender<i32>,
}

impl Attempt {
    /// Reports progress (0–100): to the owner's live events at once ([`super::live`]), and
    /// to the record with the attempt's next write ([`PROGRESS_EVERY`]).
    pub fn progress(&self, percent: i32) {
        if self.lost() {
            return;
        }
        let percent = percent.clamp(0, 100);
        self.progress.send_replace(percent);
        publish(
            &self.ctx,
            &self.job,
            JobStatus::Running,
            percent,
            self.job.attempt,
        );
    }

    /// The job's context.
    pub fn ctx(&self) -> &JobContext {
        &self.ctx
    }

    /// Fires when this attempt lost its lease (another delivery may run the job now). The
    /// runner then drops the handler's future at its next `.await`; a handler about to
    /// cause a side effect that cannot be undone checks [`Attempt::lost`] first.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Whether the lease was lost: do nothing more.
    pub fn lost(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Asks the record now whether this attempt still holds the job (renewing the lease),
    /// for the moment before an irreversible write: `false` when the job was taken over or
    /// deleted (its owner deleted the account), and then the attempt is cancelled.
    pub async fn still_held(&self) -> Result<bool, JobError> {
        let held = Jobs::new(&self.ctx.db)
            .renew(&self.job.id, &self.owner, self.ctx.settings.lease, None)
            .await?;
        if !held {
            self.cancel.cancel();
        }
        Ok(held)
    }
}

/// The apalis handler of every queue: runs the job named by the message.
pub async fn deliver(
    msg: JobMessage,
    task_id: TaskId,
    ctx: Data<JobContext>,
    worker: WorkerContext,
) -> Result<(), BoxDynError> {
    let task_id = task_id.to_string();
    let span = tracing::info_span!("job", job_id = %msg.job_id, task_id = %task_id);
    run(&ctx, &msg.job_id, &task_id, worker.name(), &|| {
        worker.is_shutting_down()
    })
    .instrument(span)
    .await
    .map_err(|e| {
        tracing::warn!(job_id = %msg.job_id, error = format!("{e:#}"), "job handed back");
        e.into()
    })
}

/// Claims and runs attempts of `job_id` for consumer `worker`'s delivery of `task_id`
/// until its run ends or it must be handed back.
pub async fn run(
    ctx: &JobContext,
    job_id: &str,
    task_id: &str,
    worker: &str,
    shutting_down: &(dyn Fn() -> bool + Sync),
) -> anyhow::Result<()> {
    let jobs = Jobs::new(&ctx.db);
    let owner = &format!("{worker}/{task_id}");
    let lease = ctx.settings.lease;
    let mut lease_waits = 0;
    // The record as this delivery last saw it (after a retry): what the next claim presumes.
    let mut seen: Option<JobRecord> = None;
    loop {
        // The first claim is asked of the batch (`claims`); a later one (after a wait for
        // another delivery's lease, or a retry) presumes what was seen.
        let claim = if seen.is_none() && lease_waits == 0 {
            match first_claim(&ctx.claims, worker, job_id, task_id).await {
                Some(job) => Claim::Run(Box::new(job)),
                None => jobs.claim_as_found(job_id, task_id, owner, lease).await?,
            }
        } else {
            jobs.claim(job_id, task_id, owner, lease, seen.as_ref())
                .await?
        };
        let job = match claim {
            Claim::Run(job) => *job,
            Claim::Missing | Claim::Finished | Claim::Stale => return Ok(()),
            Claim::Busy { until } => {
                // Either a worker that died (its lease runs out soon) or a live one that
                // still renews it; after a few waits the live one is trusted to finish.
                lease_waits += 1;
                if lease_waits == 1 {
                    // A second delivery of a job that is running: orphan recovery took the
                    // task from a worker it thought dead. Expected only after a crash.
                    metrics::counter!("job_deliveries_while_running_total").increment(1);
                    tracing::info!(job_id, "delivered while another delivery holds the job");
                }
                if lease_waits > 3 {
                    return Ok(());
                }
                let wait = until.timestamp_millis() - DateTime::now().timestamp_millis();
                let wait = Duration::from_millis(u64::try_from(wait.max(0)).unwrap_or(0));
                if !sleep_unless(wait + Duration::from_millis(250), shutting_down).await {
                    anyhow::bail!("shutting down while another delivery held the job");
                }
                continue;
            }
            Claim::Exhausted(job) => {
                if let Some(done) = jobs.fail_exhausted(&job).await? {
                    tracing::warn!(
                        job_id,
                        "job failed: its worker stopped during the last attempt"
                    );
                    finished(ctx, &done).await;
                }
                return Ok(());
            }
        };
        tracing::info!(
            job_id,
            kind = job.kind.as_str(),
            attempt = job.attempt,
            "attempt started"
        );
        publish(ctx, &job, JobStatus::Running, job.progress, job.attempt);

        let started = Instant::now();
        let Some(outcome) = attempt_once(ctx, &job, owner).await else {
            metrics::counter!("job_leases_lost_total", "kind" => job.kind.as_str()).increment(1);
            tracing::warn!(
                job_id,
                attempt = job.attempt,
                "attempt cancelled: its lease was lost to another delivery"
            );
            return Ok(());
        };
        let kind = job.kind.as_str();
        metrics::histogram!("job_attempt_duration_seconds", "kind" => kind)
            .record(started.elapsed().as_secs_f64());
        let label = match &outcome {
            Outcome::Succeeded(_) => "succeeded",
            Outcome::Failed { dead: true, .. } => "dead",
            Outcome::Failed { .. } => "failed",
            Outcome::Retry { .. } => "retry",
        };
        metrics::counter!("job_attempts_total", "kind" => kind, "outcome" => label).increment(1);

        let Some(after) = jobs
            .finish_attempt(job_id, owner, job.attempt, outcome.clone())
            .await?
        else {
            tracing::warn!(
                job_id,
                "attempt outcome dropped: the lease was lost to another delivery"
            );
            return Ok(());
        };
        match outcome {
            Outcome::Retry { error } => {
                metrics::counter!("job_retries_total", "kind" => kind).increment(1);
                let wait = backoff(ctx.settings.retry_base, job.attempt);
                tracing::warn!(
                    job_id,
                    attempt = job.attempt,
                    error,
                    ?wait,
                    "attempt failed; retrying"
                );
                publish(ctx, &after, JobStatus::Queued, after.progress, job.attempt);
                if !sleep_unless(wait, shutting_down).await {
                    anyhow::bail!("shutting down between attempts");
                }
                seen = Some(after);
            }
            _ => {
                finished(ctx, &after).await;
                return Ok(());
            }
        }
    }
}

/// Runs one attempt while keeping its lease; `None` when the lease was lost and the
/// attempt cancelled (its outcome belongs to nobody).
async fn attempt_once(ctx: &JobContext, job: &JobRecord, owner: &str) -> Option<Outcome> {
    let cancel = CancellationToken::new();
    let (progress, reported) = watch::channel(job.progress);
    let attempt = Attempt {
        job: job.clone(),
        ctx: ctx.clone(),
        owner: owner.to_owned(),
        cancel: cancel.clone(),
        progress,
    };
    let keeper = tokio::spawn(keep_record(
        Jobs::new(&ctx.db),
        job.id.clone(),
        owner.to_owned(),
        ctx.settings.lease,
        reported,
        cancel.clone(),
    ));
    let result = tokio::select! {
        result = tokio::time::timeout(ctx.settings.attempt_timeout, super::dispatch(&attempt)) => result,
        () = cancel.cancelled() => {
            keeper.abort();
            return None;
        }
    };
    keeper.abort();
    let last = job.attempt >= job.max_attempts;
    let retry_or_dead = |error: String| {
        if last {
            Outcome::Failed { error, dead: true }
        } else {
            Outcome::Retry { error }
        }
    };
    Some(match result {
        Ok(Ok(result)) => Outcome::Succeeded(result),
        Ok(Err(JobError::Permanent(e))) => {
            tracing::warn!(error = format!("{e:#}"), "job failed permanently");
            Outcome::Failed {
                error: e.to_string(),
                dead: false,
            }
        }
        Ok(Err(JobError::Retry(e))) => {
            tracing::warn!(error = format!("{e:#}"), "attempt failed");
            retry_or_dead(e.to_string())
        }
        Err(_) => retry_or_dead(format!(
            "the attempt took longer than {} s",
            ctx.settings.attempt_timeout.as_secs()
        )),
    })
}

/// Writes the attempt's record while it runs: renews the lease every third of its length,
/// and records the progress the handler reports, at most every [`PROGRESS_EVERY`] (with
/// the lease, in the same write). Cancels the attempt when another delivery holds the job
/// now, or when writes kept failing (MongoDB unreachable) until the lease ran out.
async fn keep_record(
    jobs: Jobs,
    id: String,
    owner: String,
    lease: Duration,
    mut progress: watch::Receiver<i32>,
    cancel: CancellationToken,
) {
    // The claim has just written the record.
    let mut written = Instant::now();
    let mut held_until = written + lease;
    let mut reporting = true;
    loop {
        let renew_at = written + lease / 3;
        tokio::select! {
            () = tokio::time::sleep_until(renew_at.into()) => {}
            changed = progress.changed(), if reporting => {
                if changed.is_err() {
                    // The handler's side is gone: renew on time only.
                    reporting = false;
                    continue;
                }
                // Steps reported until then join this write.
                tokio::time::sleep_until((written + PROGRESS_EVERY).min(renew_at).into()).await;
            }
        }
        let percent = *progress.borrow_and_update();
        written = Instant::now();
        match jobs.renew(&id, &owner, lease, Some(percent)).await {
            Ok(true) => held_until = written + lease,
            Ok(false) => break,
            Err(e) if Instant::now() >= held_until => {
                tracing::warn!(error = %e, "lease renewal failed until the lease ran out");
                break;
            }
            Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
        }
    }
    cancel.cancel();
}

/// The wait before the attempt after `attempt`: `base × 2^(attempt-1)`, ±20 %.
pub fn backoff(base: Duration, attempt: i32) -> Duration {
    exponential(
        base,
        u32::try_from(attempt.clamp(1, 10)).unwrap_or(1),
        Duration::MAX,
    )
}

/// The wait before try number `n` (1-based): `base × 2^(n-1)`, at most `max`, ±20 % (so
/// that many waiters do not come back at once). Attempts and consumer restarts both use it.
pub fn exponential(base: Duration, n: u32, max: Duration) -> Duration {
    let exp = n.clamp(1, 16) - 1;
    let nominal = base.saturating_mul(2u32.saturating_pow(exp)).min(max);
    nominal.mul_f64(rand::rng().random_range(0.8..=1.2))
}

/// Sleeps `wait` in short steps; `false` when the worker began shutting down first.
async fn sleep_unless(wait: Duration, shutting_down: &(dyn Fn() -> bool + Sync)) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if shutting_down() {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        tokio::time::sleep(left.min(Duration::from_millis(200))).await;
    }
}

/// Ends a run: the owner's notification (once, whatever the deliveries), live events,
/// metrics.
async fn finished(ctx: &JobContext, job: &JobRecord) {
    let kind = job.kind.as_str();
    let outcome = match (job.status, job.dead_at.is_some()) {
        (JobStatus::Succeeded, _) => "succeeded",
        (_, true) => "dead",
        _ => "failed",
    };
    metrics::counter!("jobs_finished_total", "kind" => kind, "outcome" => outcome).increment(1);
    if let Some(started) = job.started_at {
        let ms = DateTime::now().timestamp_millis() - started.timestamp_millis();
        #[expect(
            clippy::cast_precision_loss,
            reason = "durations are far below 2^52 ms"
        )]
        let secs = ms.max(0) as f64 / 1000.0;
        metrics::histogram!("job_duration_seconds", "kind" => kind).record(secs);
    }
    tracing::info!(job_id = %job.id, kind, outcome, attempts = job.attempt, "job finished");
    publish(ctx, job, job.status, job.progress, job.attempt);
    notify(ctx, job);
}

/// Hands the run's ending over to be told: the owner's notification (stored once, however
/// often this is called), its live event and the record's `notified` flag, written in a
/// batch ([`super::notified`]). Called when a run ends, and by the reconciler for runs
/// whose flag stayed false.
pub fn notify(ctx: &JobContext, job: &JobRecord) {
    let notification = job.kind.user_facing().then(|| Notification {
        id: ObjectId::new(),
        user_id: job.user_id,
        job_id: job.id.clone(),
        run: job.run,
        kind: job.kind,
        status: job.status,
        message: message(job),
        read: false,
        created_at: DateTime::now(),
    });
    ctx.endings.send(Ended {
        job_id: job.id.clone(),
        run: job.run,
        notification,
    });
}

/// The notification's text.
fn message(job: &JobRecord) -> String {
    let what = match job.kind {
        JobKind::GenerateQuestions => "Question generation",
        JobKind::RegenerateQuestion => "Question regeneration",
        JobKind::ExportSession => "Your export",
        JobKind::Email => "Email",
        JobKind::Probe => "Pipeline probe",
        JobKind::GradeAttempt => "Grading of your answer",
        JobKind::SessionFromJobDescription => "Your session from a job description",
    };
    match job.status {
        JobStatus::Succeeded => format!("{what} finished."),
        _ => format!(
            "{what} failed: {}",
            job.error.as_deref().unwrap_or("unknown error")
        ),
    }
}

/// Appends a job event to the owner's stream (best effort, in a batch: [`super::live`]).
fn publish(ctx: &JobContext, job: &JobRecord, status: JobStatus, progress: i32, attempt: i32) {
    if !job.kind.user_facing() {
        return;
    }
    ctx.events.send((
        job.user_id,
        LiveEvent::Job {
            job_id: job.id.clone(),
            kind: job.kind,
            status,
            progress,
            attempt,
        },
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter() {
        let base = Duration::from_secs(2);
        for _ in 0..50 {
            let first = backoff(base, 1);
            let second = backoff(base, 2);
            assert!((1600..=2400).contains(&first.as_millis()), "{first:?}");
            assert!((3200..=4800).contains(&second.as_millis()), "{second:?}");
        }
    }
}
