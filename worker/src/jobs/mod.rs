//! Every queue the worker consumes, registered in one place, and the dispatch from a job's
//! kind to its handler.

mod export_session;
mod generate;
mod probe;
pub mod reconcile;
mod regenerate;
pub mod runner;
mod send_email;

use apalis::prelude::{Monitor, ParallelizeExt, WorkerBuilder, WorkerBuilderExt};
use bson::Document;
use common::{
    domain::job::JobKind,
    jobs::{self, JobMessage, queues},
};

use crate::{config::WorkerConfig, context::JobContext};

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

/// A monitor running one apalis worker per queue, each with a process-unique name
/// (`{queue}-{instance}-{run}`) and its own concurrency.
pub fn monitor(config: &WorkerConfig, ctx: JobContext) -> Monitor {
    let mut monitor = Monitor::new();
    for (queue, concurrency) in [
        (queues::QUESTION_GENERATION, config.generation_concurrency),
        (queues::EXPORT, config.export_concurrency),
        (queues::EMAIL, config.email_concurrency),
    ] {
        let instance = config.instance_id.clone();
        let ctx = ctx.clone();
        monitor = monitor.register(move |run| {
            WorkerBuilder::new(format!("{queue}-{instance}-{run}"))
                .backend(jobs::storage::<JobMessage>(&ctx.kv, queue))
                .concurrency(concurrency)
                .parallelize(tokio::spawn)
                .data(ctx.clone())
                .build(runner::deliver)
        });
    }
    monitor.shutdown_timeout(config.shutdown_timeout)
}
