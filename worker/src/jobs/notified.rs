//! Records, in batches, that the owners of ended runs were notified.
//!
//! A run's ending is written to its record first (`notified: false`), its notification
//! second, this flag last. The reconciler sends the notification again for a run whose flag
//! stayed false (a worker died in between, or stopped before writing the flag), and the
//! notification's unique `{job_id, run}` makes that a no-op when it was stored already. So
//! the flag may lag behind the notification without harm, and the flags of runs that end
//! together share one write ([`super::batched`]).

use common::db::jobs::Jobs;

/// The most flags one write sets.
pub const BATCH: usize = 512;

/// Where runs (job id, run number) whose owner was notified are handed over.
pub type NotifiedFlags = super::batched::Batched<(String, i32)>;

/// Writes one batch: one update per run number in it (nearly always one: first runs).
pub async fn write(jobs: &Jobs, mut runs: Vec<(String, i32)>) {
    runs.sort_unstable_by_key(|(_, run)| *run);
    for group in runs.chunk_by(|a, b| a.1 == b.1) {
        let ids: Vec<&str> = group.iter().map(|(id, _)| id.as_str()).collect();
        if let Err(e) = jobs.mark_notified(&ids, group[0].1).await {
            // The reconciler finds these runs unflagged and flags them.
            tracing::warn!(error = %e, runs = ids.len(), "notified flags not written");
        }
    }
}
