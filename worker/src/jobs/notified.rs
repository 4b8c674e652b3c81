//! Records, in batches, that the owners of ended runs were notified.
//!
//! A run's ending is written to its record first (`notified: false`), its notification
//! second, this flag last. The reconciler sends the notification again for a run whose flag
//! stayed false (a worker died in between), and the notification's unique `{job_id, run}`
//! makes that a no-op when it was stored already. So the flag may lag behind the
//! notification without harm, and under load the flags of many runs share one write: the
//! runs that end while a write is in flight wait for the next one (up to [`BATCH`] at once).

use std::future::Future;

use common::db::jobs::Jobs;
use mongodb::Database;
use tokio::sync::mpsc;

/// The most flags one write sets.
pub const BATCH: usize = 512;

/// Where runs whose owner was notified are handed to [`write_flags`] (cheap to clone).
#[derive(Debug, Clone)]
pub struct NotifiedFlags {
    tx: mpsc::UnboundedSender<(String, i32)>,
}

/// What [`write_flags`] takes its runs from.
pub type Notified = mpsc::UnboundedReceiver<(String, i32)>;

impl NotifiedFlags {
    /// The hand-over and its receiving end.
    pub fn channel() -> (Self, Notified) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }

    /// Flags run `run` of job `id` as notified, soon.
    pub fn mark(&self, id: String, run: i32) {
        // Gone only once the worker stops: then the reconciler flags the run later.
        let _ = self.tx.send((id, run));
    }
}

/// Writes the flags handed over until `stopped` resolves (or every sender is gone), then
/// the ones already handed over.
pub async fn write_flags(db: Database, mut rx: Notified, stopped: impl Future<Output = ()>) {
    let jobs = Jobs::new(&db);
    let mut batch = Vec::with_capacity(BATCH);
    tokio::pin!(stopped);
    loop {
        let open = tokio::select! {
            received = rx.recv_many(&mut batch, BATCH) => received > 0,
            () = &mut stopped => false,
        };
        if !open {
            while let Ok(run) = rx.try_recv() {
                batch.push(run);
            }
        }
        for chunk in batch.chunks_mut(BATCH) {
            write(&jobs, chunk).await;
        }
        batch.clear();
        if !open {
            return;
        }
    }
}

/// One write per run number in `runs` (nearly always one: first runs).
async fn write(jobs: &Jobs, runs: &mut [(String, i32)]) {
    runs.sort_unstable_by_key(|(_, run)| *run);
    for group in runs.chunk_by(|a, b| a.1 == b.1) {
        let ids: Vec<&str> = group.iter().map(|(id, _)| id.as_str()).collect();
        if let Err(e) = jobs.mark_notified(&ids, group[0].1).await {
            // The reconciler finds these runs unflagged and flags them.
            tracing::warn!(error = %e, runs = ids.len(), "notified flags not written");
        }
    }
}
