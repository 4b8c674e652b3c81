//! The pipeline probe: an operator's end-to-end check of queue, worker, record,
//! notification and live events. It works for a while in steps that report progress, can
//! fail its first attempts on purpose (to watch retries), and leaves one mark per
//! successful run (a `probe_marks` document keyed by job and run: written once however often
//! it is delivered).

use bson::{DateTime, doc};
use common::{
    db::Timed,
    domain::job::{ProbeOutput, ProbePayload},
    jobs::Probe,
};
use std::time::Duration;

use super::{
    Handler,
    runner::{Attempt, JobError},
};

/// Collection of the marks successful probes leave.
pub const MARKS: &str = "probe_marks";

impl Handler for Probe {
    async fn run(attempt: &Attempt, p: ProbePayload) -> Result<ProbeOutput, JobError> {
        run(attempt, p).await
    }
}

async fn run(attempt: &Attempt, p: ProbePayload) -> Result<ProbeOutput, JobError> {
    if p.permanent {
        return Err(JobError::permanent(
            "the probe was asked to fail permanently",
        ));
    }
    let steps = 5u64;
    for step in 1..=steps {
        if p.work_ms > 0 {
            // Even a zero-length sleep waits for the timer's next tick (about 1 ms).
            tokio::time::sleep(Duration::from_millis(p.work_ms / steps)).await;
        }
        let percent = i32::try_from(step * 100 / steps).unwrap_or(100);
        if step < steps {
            attempt.progress(percent);
        }
    }
    if u32::try_from(attempt.job.attempt).unwrap_or(0) <= p.fail_attempts {
        return Err(JobError::Retry(anyhow::anyhow!(
            "the probe was asked to fail attempt {}",
            attempt.job.attempt
        )));
    }
    let mark = format!("{}:{}", attempt.job.id, attempt.job.run);
    attempt
        .ctx()
        .db
        .collection::<bson::Document>(MARKS)
        .update_one(
            doc! { "_id": &mark },
            doc! { "$setOnInsert": { "job_id": &attempt.job.id, "at": DateTime::now() } },
        )
        .upsert(true)
        .timed("jobs.probe")
        .await?;
    Ok(ProbeOutput {
        mark,
        attempt: attempt.job.attempt,
    })
}
