//! Session deletion across MongoDB and S3.

use bson::oid::ObjectId;

use super::{Error, Stores};
use crate::db::{exports::Exports, sessions::Sessions};

/// Deletes the user's session with its questions and jobs (one transaction), then its
/// export files; `false` when the user has no such session. Objects cannot join the
/// transaction: one S3 did not delete is retried by the workers' expiry pass.
pub async fn delete(stores: &Stores, user_id: ObjectId, id: ObjectId) -> Result<bool, Error> {
    if !Sessions::new(&stores.db).delete(user_id, id).await? {
        return Ok(false);
    }
    Exports::new(&stores.db)
        .delete_session(&stores.storage, id)
        .await?;
    Ok(true)
}
