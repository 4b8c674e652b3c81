//! First claims of many deliveries in one write.
//!
//! A first delivery (the record presumed queued at attempt 0) hands its claim to one task,
//! which claims every first delivery that arrived meanwhile with one `update_many` and one
//! read ([`Jobs::claim_first_many`]) instead of a `findAndModify` each. A delivery the
//! batch did not claim — its job already running, finished, taken over by another task id,
//! deleted, or a second delivery of a job already in the batch — goes on as before, by
//! reading the record ([`Jobs::claim_as_found`]). So does every delivery when the batch
//! fails or the task is gone: the batch only spares writes, it never decides an outcome
//! the per-delivery claim would not.

use std::{collections::HashMap, future::Future, time::Duration};

use bson::DateTime;
use common::{db::jobs::Jobs, domain::job::JobRecord};
use tokio::sync::{mpsc, oneshot};

use super::batched::{Batched, write_batches};

/// The most first claims written at once.
pub const BATCH: usize = 64;

/// A delivery's request for its first claim.
#[derive(Debug)]
pub struct FirstClaim {
    /// The consumer's name (the claim's owner is `"{worker}/{task_id}"`).
    pub worker: String,
    /// The job.
    pub job_id: String,
    /// The delivery's task.
    pub task_id: String,
    /// The record as claimed, or `None`: claim it as found.
    reply: oneshot::Sender<Option<JobRecord>>,
}

/// Where deliveries hand their first claims over (cheap to clone).
pub type FirstClaims = Batched<FirstClaim>;

/// Asks for the first claim of `job_id` by `worker`'s delivery of `task_id`: the claimed
/// record, or `None` when the batch did not claim it (or could not be asked).
pub async fn first_claim(
    claims: &FirstClaims,
    worker: &str,
    job_id: &str,
    task_id: &str,
) -> Option<JobRecord> {
    let (reply, answer) = oneshot::channel();
    claims.send(FirstClaim {
        worker: worker.to_owned(),
        job_id: job_id.to_owned(),
        task_id: task_id.to_owned(),
        reply,
    });
    answer.await.ok().flatten()
}

/// Claims what is handed over until `stopped` resolves (no delivery asks any more), then
/// what was handed over before it.
pub async fn serve(
    rx: mpsc::UnboundedReceiver<FirstClaim>,
    jobs: Jobs,
    lease: Duration,
    stopped: impl Future<Output = ()>,
) {
    let mut last = 0_i64;
    write_batches(rx, BATCH, stopped, |batch| {
        // A time no earlier call used: it tells this batch's claims from earlier ones.
        last = DateTime::now().timestamp_millis().max(last + 1);
        claim(&jobs, lease, DateTime::from_millis(last), batch)
    })
    .await;
}

/// One write per consumer among the batch's requests; each gets its answer.
async fn claim(jobs: &Jobs, lease: Duration, now: DateTime, batch: Vec<FirstClaim>) {
    let mut by_worker: HashMap<String, Vec<FirstClaim>> = HashMap::new();
    for request in batch {
        let same = by_worker.entry(request.worker.clone()).or_default();
        // A second delivery of a job already asked for is claimed as found.
        if same.iter().any(|r| r.job_id == request.job_id) {
            let _ = request.reply.send(None);
        } else {
            same.push(request);
        }
    }
    for (worker, requests) in by_worker {
        let deliveries: Vec<(String, String)> = requests
            .iter()
            .map(|r| (r.job_id.clone(), r.task_id.clone()))
            .collect();
        let mut claimed: HashMap<String, JobRecord> = match jobs
            .claim_first_many(&worker, &deliveries, lease, now)
            .await
        {
            Ok(records) => records.into_iter().map(|j| (j.id.clone(), j)).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "first claims failed; claiming one by one");
                HashMap::new()
            }
        };
        for request in requests {
            let _ = request.reply.send(claimed.remove(&request.job_id));
        }
    }
}
