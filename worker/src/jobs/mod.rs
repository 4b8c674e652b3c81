//! Every queue the worker consumes, registered in one place.

mod send_email;

use apalis::prelude::{Monitor, ParallelizeExt, WorkerBuilder, WorkerBuilderExt};
use common::jobs::{self, EmailJob, queues};

use crate::{config::WorkerConfig, context::JobContext};

pub use send_email::password_reset;

/// A monitor running one apalis worker per queue, each with a process-unique name.
pub fn monitor(config: &WorkerConfig, ctx: JobContext) -> Monitor {
    let instance = config.instance_id.clone();
    let email_concurrency = config.email_concurrency;
    let email_ctx = ctx;
    Monitor::new()
        .register(move |run| {
            WorkerBuilder::new(format!("{}-{instance}-{run}", queues::EMAIL))
                .backend(jobs::storage::<EmailJob>(&email_ctx.kv, queues::EMAIL))
                .concurrency(email_concurrency)
                .parallelize(tokio::spawn)
                .data(email_ctx.clone())
                .build(send_email::handle)
        })
        .shutdown_timeout(config.shutdown_timeout)
}
