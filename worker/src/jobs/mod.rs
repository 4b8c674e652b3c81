//! Every queue the worker consumes, registered in one place, and the dispatch from a job's
//! kind to its handler.

pub mod consumers;
mod export_session;
mod generate;
mod probe;
pub mod reconcile;
mod regenerate;
pub mod runner;
mod send_email;
pub mod vacuum;

use bson::Document;
use common::{domain::job::JobKind, jobs::queues};

use crate::{config::WorkerConfig, context::JobContext};

pub use consumers::{ConsumerSettings, Consumers, QueueSpec};

pub use probe::MARKS as PROBE_MARKS;
pub use runner::{Attempt, JobError};
pub use send_email::password_reset;

/// Runs one attempt of `attempt.job` with the handler of its kind.
pub async fn dispatch(attempt: &Attempt) -> Result<Document, JobError> {
    match attempt.job.kind {
        JobKind::Email => send_email::run(attempt).await,
        JobKind::Probe => probe::run(attempt).await,
        JobKind::GenerateQuestions => generate::run(attempt).await,
        JobKind::RegenerateQuestion => regenerate::run(attempt).await,
        JobKind::ExportSession => export_session::run(attempt).await,
    }
}

/// The queues this process consumes, with their concurrency.
pub fn queue_specs(config: &WorkerConfig) -> Vec<QueueSpec> {
    [
        (queues::QUESTION_GENERATION, config.generation_concurrency),
        (queues::EXPORT, config.export_concurrency),
        (queues::EMAIL, config.email_concurrency),
    ]
    .into_iter()
    .map(|(queue, concurrency)| QueueSpec { queue, concurrency })
    .collect()
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
