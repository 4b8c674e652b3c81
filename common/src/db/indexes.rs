//! Every index the application relies on, created idempotently at start-up.
//!
//! `createIndexes` with an identical specification is a no-op, so every process can call
//! [`ensure_indexes`] when it starts.

use std::time::Duration;

use mongodb::{Database, IndexModel, bson::doc, options::IndexOptions};

use super::{tokens, users};

fn index(keys: mongodb::bson::Document, options: Option<IndexOptions>) -> IndexModel {
    IndexModel::builder().keys(keys).options(options).build()
}

fn unique() -> Option<IndexOptions> {
    Some(IndexOptions::builder().unique(true).build())
}

/// The indexes of each collection, by collection name.
pub fn all() -> Vec<(&'static str, Vec<IndexModel>)> {
    vec![
        (
            users::COLLECTION,
            vec![index(doc! { "email": 1 }, unique())],
        ),
        (
            tokens::COLLECTION,
            vec![
                index(doc! { "family_id": 1 }, None),
                index(doc! { "user_id": 1 }, None),
                // Expired tokens disappear by themselves.
                index(
                    doc! { "expires_at": 1 },
                    Some(IndexOptions::builder().expire_after(Duration::ZERO).build()),
                ),
            ],
        ),
    ]
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
