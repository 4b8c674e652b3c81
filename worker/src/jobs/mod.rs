//! Every queue the worker consumes, registered in one place, and the dispatch from a job's
//! kind to its handler.

pub mod batched;
pub mod claims;
pub mod consumers;
mod export_session;
mod from_jd;
mod generate;
mod grade;
pub mod live;
pub mod notified;
mod probe;
pub mod reconcile;
mod regenerate;
pub mod runner;
mod send_email;
pub mod vacuum;

use std::future::Future;

use bson::{Document, oid::ObjectId};
use common::{
    db::{jobs::Jobs, notifications::Notifications},
    domain::job::JobKind,
    events::LiveEvent,
    jobs::{
        ExportSession, GenerateQuestions, GradeAttempt, JobSpec, Probe, RegenerateQuestion,
        SendEmail, SessionFromJobDescription, queues,
    },
    kv::Kv,
};

use mongodb::Database;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{config::WorkerConfig, context::JobContext};

pub use consumers::{ConsumerSettings, Consumers, QueueSpec};

pub use probe::MARKS as PROBE_MARKS;
pub use runner::{Attempt, JobError};
pub use send_email::password_reset;

/// A kind of job this worker runs: one attempt, from the kind's payload to its output.
/// Each is implemented in its own module.
pub trait Handler: JobSpec {
    /// Runs one attempt.
    fn run(
        attempt: &Attempt,
        payload: Self::Payload,
    ) -> impl Future<Output = Result<Self::Output, JobError>> + Send;
}

/// Runs one attempt of `attempt.job` with the handler of its kind.
pub async fn dispatch(attempt: &Attempt) -> Result<Document, JobError> {
    match attempt.job.kind {
        JobKind::Email => run::<SendEmail>(attempt).await,
        JobKind::Probe => run::<Probe>(attempt).await,
        JobKind::GenerateQuestions => run::<GenerateQuestions>(attempt).await,
        JobKind::RegenerateQuestion => run::<RegenerateQuestion>(attempt).await,
        JobKind::ExportSession => run::<ExportSession>(attempt).await,
        JobKind::GradeAttempt => run::<GradeAttempt>(attempt).await,
        JobKind::SessionFromJobDescription => run::<SessionFromJobDescription>(attempt).await,
    }
}

/// Decodes the payload (a bad one is permanent), runs `J`, and stores its output.
async fn run<J: Handler>(attempt: &Attempt) -> Result<Document, JobError> {
    let payload: J::Payload = bson::from_document(attempt.job.payload.clone())
        .map_err(|e| JobError::permanent(format!("the job's parameters are invalid: {e}")))?;
    let output = J::run(attempt, payload).await?;
    bson::to_document(&output)
        .map_err(|e| JobError::permanent(format!("the job's result could not be stored: {e}")))
}

/// The queues this process consumes, with their concurrency.
pub fn queue_specs(config: &WorkerConfig) -> Vec<QueueSpec> {
    [
        (queues::QUESTION_GENERATION, config.generation_concurrency),
        (queues::EXPORT, config.export_concurrency),
        (queues::EMAIL, config.email_concurrency),
        (queues::GRADING, config.grading_concurrency),
    ]
    .into_iter()
    .map(|(queue, concurrency)| QueueSpec { queue, concurrency })
    .collect()
}

/// What ended runs hand over, and where it is written: notifications and flags
/// ([`notified`]) and the owners' live events ([`live`]), in batches.
#[derive(Debug)]
pub struct FollowUps {
    /// Ended runs, from [`notified::Endings`].
    pub ended: mpsc::UnboundedReceiver<notified::Ended>,
    /// Live events, from [`live::LiveEvents`].
    pub live: mpsc::UnboundedReceiver<(ObjectId, LiveEvent)>,
    /// Where the notifications' own events go.
    pub events: live::LiveEvents,
    /// MongoDB.
    pub db: Database,
    /// Redis.
    pub kv: Kv,
}

impl FollowUps {
    /// Writes them until `jobs_done` resolves (every job has ended or been handed back),
    /// then what is left: the endings first, then the events, the last endings' included.
    pub async fn write_until(self, jobs_done: impl Future<Output = ()>) {
        let stores = notified::Stores {
            jobs: Jobs::new(&self.db),
            notifications: Notifications::new(&self.db),
            events: self.events,
        };
        let endings_done = CancellationToken::new();
        tokio::join!(
            async {
                batched::write_batches(self.ended, notified::BATCH, jobs_done, |batch| {
                    notified::write(&stores, batch)
                })
                .await;
                endings_done.cancel();
            },
            batched::write_batches(self.live, live::BATCH, endings_done.cancelled(), |batch| {
                live::write(&self.kv, batch)
            }),
        );
    }
}

/// Runs a supervised consumer per queue until `stop` turns true, then gives running jobs
/// up to the shutdown timeout to finish (a job still running then is handed back: its
/// lease runs out and another worker takes it).
pub async fn consume(
    config: &WorkerConfig,
    ctx: JobContext,
    consumers: Consumers,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let supervisors = futures::future::join_all(queue_specs(config).into_iter().map(|spec| {
        consumers::supervise(
            spec,
            config.instance_id.clone(),
            ctx.clone(),
            consumers.clone(),
            config.consumers,
            stop.clone(),
        )
    }));
    let mut stopped = stop.clone();
    let grace = async move {
        let _ = stopped.wait_for(|s| *s).await;
        tokio::time::sleep(config.shutdown_timeout).await;
    };
    tokio::select! {
        _ = supervisors => {}
        () = grace => tracing::warn!("jobs still running at the end of the shutdown timeout were handed back"),
    }
}
