//! The owners' live events, published in batches: the events of many jobs share one Redis
//! round trip ([`super::batched`]), in the order they happened. Events are best effort (the
//! record is authoritative, and a client that missed one reads the job), so a batch that
//! fails is logged and dropped, as a single event was before.

use bson::oid::ObjectId;
use common::{
    events::{self, LiveEvent},
    kv::Kv,
};

/// The most events one round trip appends.
pub const BATCH: usize = 256;

/// Where a job's events (owner, event) are handed over.
pub type LiveEvents = super::batched::Batched<(ObjectId, LiveEvent)>;

/// Publishes one batch.
pub async fn write(kv: &Kv, batch: Vec<(ObjectId, LiveEvent)>) {
    if let Err(e) = events::publish_many(kv, &batch).await {
        tracing::warn!(error = %e, events = batch.len(), "live events not published");
    }
}
