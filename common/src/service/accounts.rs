//! Account deletion: the one path that removes everything a user owns, in every store.
//! Later features add their collections, objects and keys here.

use bson::oid::ObjectId;

use super::{Error, Stores};
use crate::db::{
    attempts::Attempts, exports::Exports, jobs::Jobs, notifications::Notifications,
    questions::Questions, reviews::Reviews, sessions::Sessions, tokens::Tokens, usage::AiUsage,
    users::Users,
};

/// Deletes the user and everything they own: export files and records, then the MongoDB
/// documents (children first, the account last), then the live-event stream. An interrupted
/// deletion can be run again to finish (each step is idempotent); an export object S3 did
/// not delete is retried by the workers' expiry pass.
pub async fn delete(stores: &Stores, user_id: ObjectId) -> Result<(), Error> {
    let db = &stores.db;
    Exports::new(db)
        .delete_user(&stores.storage, user_id)
        .await?;
    Tokens::new(db).delete_user(user_id).await?;
    Notifications::new(db).clear(user_id).await?;
    Jobs::new(db).delete_user(user_id).await?;
    AiUsage::new(db).delete_user(user_id).await?;
    Attempts::new(db).delete_user(user_id).await?;
    Reviews::new(db).delete_user(user_id).await?;
    Questions::new(db).delete_user(user_id).await?;
    Sessions::new(db).delete_user(user_id).await?;
    Users::new(db).delete(user_id).await?;
    crate::events::delete_user(&stores.kv, user_id).await?;
    tracing::info!(user_id = %user_id, "account deleted");
    Ok(())
}
