//! What a run's ending writes after its record, in batches: the owner's notification, its
//! live event, and the record's `notified` flag.
//!
//! A run's ending is written to its record first (`notified: false`), then handed here. The
//! notifications of runs that end together are stored in one round trip, then their events
//! published and their records flagged in one write. The reconciler hands over again a run
//! whose flag stayed false (a worker died in between, or a write failed), and the
//! notification's unique `{job_id, run}` makes that a no-op when it was stored already: so
//! nothing here needs to be written at once, and nothing is notified twice.

use common::{
    db::{
        jobs::Jobs,
        notifications::{Notifications, Stored},
    },
    domain::job::Notification,
    events::LiveEvent,
};

use super::live::LiveEvents;

/// The most runs one batch takes.
pub const BATCH: usize = 256;

/// A run that ended: its job, run number and the owner's notification (none for kinds
/// the owner is not told about).
#[derive(Debug)]
pub struct Ended {
    /// The job.
    pub job_id: String,
    /// Its run.
    pub run: i32,
    /// What to tell its owner.
    pub notification: Option<Notification>,
}

/// Where ended runs are handed over.
pub type Endings = super::batched::Batched<Ended>;

/// The stores one batch writes to.
#[derive(Debug)]
pub struct Stores {
    /// Job records (the flags).
    pub jobs: Jobs,
    /// Notifications.
    pub notifications: Notifications,
    /// Live events.
    pub events: LiveEvents,
}

/// Writes one batch: notifications, events of the ones stored now, flags of the runs whose
/// notification is stored (now or before).
pub async fn write(stores: &Stores, batch: Vec<Ended>) {
    let notifications: Vec<&Notification> = batch
        .iter()
        .filter_map(|ended| ended.notification.as_ref())
        .collect();
    let mut outcomes = match stores.notifications.insert_each_once(&notifications).await {
        Ok(outcomes) => outcomes.into_iter(),
        Err(e) => {
            // Their flags stay false: the reconciler hands these runs over again.
            tracing::warn!(error = %e, runs = batch.len(), "notifications not stored");
            return;
        }
    };
    let mut flagged: Vec<(&str, i32)> = Vec::with_capacity(batch.len());
    for ended in &batch {
        let outcome = match &ended.notification {
            Some(notification) => {
                let outcome = outcomes.next().unwrap_or(Stored::Failed);
                if outcome == Stored::Now {
                    stores.events.send((
                        notification.user_id,
                        LiveEvent::Notification {
                            id: notification.id.to_hex(),
                            job_id: notification.job_id.clone(),
                            status: notification.status,
                            message: notification.message.clone(),
                        },
                    ));
                }
                outcome
            }
            None => Stored::Now,
        };
        if outcome != Stored::Failed {
            flagged.push((ended.job_id.as_str(), ended.run));
        }
    }
    flagged.sort_unstable_by_key(|(_, run)| *run);
    for group in flagged.chunk_by(|a, b| a.1 == b.1) {
        let ids: Vec<&str> = group.iter().map(|(id, _)| *id).collect();
        if let Err(e) = stores.jobs.mark_notified(&ids, group[0].1).await {
            // The reconciler hands these runs over again; their notifications are stored.
            tracing::warn!(error = %e, runs = ids.len(), "notified flags not written");
        }
    }
}
