//! Every index the application relies on, created idempotently at start-up.
//!
//! `createIndexes` with an identical specification is a no-op, so every process can call
//! [`ensure_indexes`] when it starts.

use mongodb::{Database, IndexModel};

/// The indexes of each collection, by collection name.
pub fn all() -> Vec<(&'static str, Vec<IndexModel>)> {
    Vec::new()
}

/// Creates every index that does not exist yet.
pub async fn ensure_indexes(db: &Database) -> anyhow::Result<()> {
    for (collection, models) in all() {
        if models.is_empty() {
            continue;
        }
        db.collection::<mongodb::bson::Document>(collection)
            .create_indexes(models)
            .await
            .map_err(|e| anyhow::anyhow!("creating indexes on {collection}: {e}"))?;
    }
    Ok(())
}
