//! Account deletion: the one path that removes everything a user owns. Later features add
//! their collections and S3 objects here.

use bson::oid::ObjectId;
use mongodb::Database;

use super::{
    jobs::Jobs, notifications::Notifications, questions::Questions, sessions::Sessions,
    tokens::Tokens, users::Users,
};

/// Deletes the user and everything they own. Children go first and the account last, so an
/// interrupted deletion can be run again to finish (each step is idempotent).
pub async fn delete(db: &Database, user_id: ObjectId) -> Result<(), mongodb::error::Error> {
    Tokens::new(db).delete_user(user_id).await?;
    Notifications::new(db).clear(user_id).await?;
    Jobs::new(db).delete_user(user_id).await?;
    Questions::new(db).delete_user(user_id).await?;
    Sessions::new(db).delete_user(user_id).await?;
    Users::new(db).delete(user_id).await?;
    Ok(())
}
