//! The reconciler: every worker periodically looks for job records that lost their
//! delivery and gives them one, notifies owners of runs that ended without their
//! notification (a worker killed between the two writes), and publishes queue gauges.
//!
//! The rule that keeps record and queue consistent: the record is written first and the
//! task pushed second. A record whose push never happened (the api died in between), or
//! whose task the queue gave up on, stays `queued` (or `running` with an expired lease);
//! after `stuck_after` this finds it and asks the queue about its task:
//! - unknown to the queue → push it (same task id; pushing twice is a no-op);
//! - waiting or running in the queue → leave it (a backlog, or orphan recovery will act);
//! - finished in the queue's eyes → hand the job to a new task id and push that.
//!
//! Several workers may do this at once: the task hand-over is a compare-and-set on the
//! record, and a delivery whose task id is no longer the record's does nothing.

use apalis::prelude::{FetchById, TaskId};
use bson::DateTime;
use common::{
    db::jobs::Jobs,
    domain::job::JobRecord,
    jobs::{self, JobMessage, queues},
};
use redis::AsyncCommands;

use crate::context::JobContext;

/// One pass; returns how many jobs were re-enqueued.
pub async fn pass(ctx: &JobContext) -> anyhow::Result<usize> {
    let jobs = Jobs::new(&ctx.db);
    let stuck_ms = i64::try_from(ctx.settings.stuck_after.as_millis()).unwrap_or(i64::MAX);
    let before = DateTime::from_millis(DateTime::now().timestamp_millis() - stuck_ms);
    let mut pushed = 0;
    for job in jobs.stuck(before, 100).await? {
        if recover(ctx, &jobs, &job).await? {
            pushed += 1;
        }
    }
    if pushed > 0 {
        tracing::warn!(pushed, "re-enqueued jobs that had lost their delivery");
        metrics::counter!("jobs_reenqueued_total").increment(pushed as u64);
    }
    // Runs that ended without their notification (the worker died in between).
    for job in jobs.unnotified(before, 100).await? {
        tracing::warn!(job_id = %job.id, "notifying the owner of a job that ended unannounced");
        super::runner::notify(ctx, &job);
    }
    Ok(pushed)
}

async fn recover(ctx: &JobContext, jobs: &Jobs, job: &JobRecord) -> anyhow::Result<bool> {
    use apalis::prelude::Status;
    let queue = job.kind.queue();
    let task_id: TaskId = job
        .task_id
        .parse()
        .map_err(|e| anyhow::anyhow!("task id {:?}: {e:?}", job.task_id))?;
    let mut storage = jobs::storage::<JobMessage>(&ctx.kv, queue);
    let known = storage
        .fetch_by_id(&task_id)
        .await
        .map_err(|e| anyhow::anyhow!("fetching task {}: {e}", job.task_id))?;
    match known.map(|task| task.status()) {
        None => {
            jobs::enqueue(&ctx.kv, queue, &job.id, &job.task_id).await?;
            Ok(true)
        }
        Some(Status::Pending | Status::Queued) => {
            jobs.touch(&job.id).await?;
            Ok(false)
        }
        Some(Status::Running) => Ok(false),
        // Done, Failed, Killed (and anything newer): the queue will not deliver it again.
        Some(_) => {
            let new = ulid::Ulid::generate().to_string();
            if jobs.replace_task(&job.id, &job.task_id, &new).await? {
                jobs::enqueue(&ctx.kv, queue, &job.id, &new).await?;
                return Ok(true);
            }
            Ok(false)
        }
    }
}

/// Publishes queue depths (waiting and scheduled tasks per queue).
pub async fn gauges(ctx: &JobContext) -> anyhow::Result<()> {
    let mut conn = ctx.kv.conn();
    for queue in queues::ALL {
        let storage = jobs::storage::<JobMessage>(&ctx.kv, queue);
        let config = storage.get_config();
        let waiting: u64 = conn.llen(config.active_jobs_list()).await?;
        let scheduled: u64 = conn.zcard(config.scheduled_jobs_set()).await?;
        #[expect(
            clippy::cast_precision_loss,
            reason = "queue lengths are far below 2^52"
        )]
        {
            metrics::gauge!("queue_depth", "queue" => queue, "state" => "waiting")
                .set(waiting as f64);
            metrics::gauge!("queue_depth", "queue" => queue, "state" => "scheduled")
                .set(scheduled as f64);
        }
    }
    Ok(())
}

/// Runs [`pass`], the export expiry, the queue vacuum (finished tasks older than
/// `queue_retention`) and [`gauges`] every `reconcile_every` until `stop` turns true.
pub async fn run_forever(
    ctx: JobContext,
    queue_retention: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let every = ctx.settings.reconcile_every;
    let mut cursors = super::vacuum::Cursors::default();
    loop {
        if let Err(e) = pass(&ctx).await {
            tracing::warn!(error = format!("{e:#}"), "reconciler pass failed");
        }
        match common::db::exports::Exports::new(&ctx.db)
            .expire(&ctx.storage)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired exports deleted"),
            Err(e) => tracing::warn!(error = %e, "export expiry pass failed"),
        }
        if let Err(e) = super::vacuum::pass(&ctx.kv, queue_retention, &mut cursors).await {
            tracing::warn!(error = %e, "queue vacuum pass failed");
        }
        if let Err(e) = gauges(&ctx).await {
            tracing::debug!(error = %e, "queue gauges not updated");
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
