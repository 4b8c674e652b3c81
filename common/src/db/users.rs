//! The `users` collection.

use bson::{DateTime, doc, oid::ObjectId};
use mongodb::{Collection, Database, error::Error};

use super::{Timed, is_duplicate_key};
use crate::domain::user::User;

/// Collection name.
pub const COLLECTION: &str = "users";

/// Account storage.
#[derive(Debug, Clone)]
pub struct Users {
    col: Collection<User>,
}

impl Users {
    /// The repository on `db`.
    pub fn new(db: &Database) -> Self {
        Self {
            col: db.collection(COLLECTION),
        }
    }

    /// Inserts a new account; `Ok(false)` when the email is taken.
    pub async fn insert(&self, user: &User) -> Result<bool, Error> {
        match self.col.insert_one(user).timed("users.insert").await {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The account with this normalized email.
    pub async fn by_email(&self, email: &str) -> Result<Option<User>, Error> {
        self.col
            .find_one(doc! { "email": email })
            .timed("users.by_email")
            .await
    }

    /// The account with this id.
    pub async fn by_id(&self, id: ObjectId) -> Result<Option<User>, Error> {
        self.col
            .find_one(doc! { "_id": id })
            .timed("users.by_id")
            .await
    }

    /// Sets the fields given (display name, time zone); returns the updated account.
    pub async fn set_profile(
        &self,
        id: ObjectId,
        fullname: Option<&str>,
        time_zone: Option<&str>,
    ) -> Result<Option<User>, Error> {
        let mut set = doc! { "updated_at": DateTime::now() };
        if let Some(name) = fullname {
            set.insert("fullname", name);
        }
        if let Some(tz) = time_zone {
            set.insert("time_zone", tz);
        }
        self.col
            .find_one_and_update(doc! { "_id": id }, doc! { "$set": set })
            .return_document(mongodb::options::ReturnDocument::After)
            .timed("users.set_profile")
            .await
    }

    /// Records that the holder proved they read mail sent to the address; returns the
    /// updated account.
    pub async fn mark_verified(&self, id: ObjectId) -> Result<Option<User>, Error> {
        self.col
            .find_one_and_update(
                doc! { "_id": id },
                doc! { "$set": { "email_verified": true, "updated_at": DateTime::now() } },
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .timed("users.mark_verified")
            .await
    }

    /// Replaces the password hash (only if it is still `expected`, when given, so that a
    /// concurrent change is not overwritten by a rehash).
    pub async fn set_password_hash(
        &self,
        id: ObjectId,
        hash: &str,
        expected: Option<&str>,
    ) -> Result<bool, Error> {
        let mut filter = doc! { "_id": id };
        if let Some(expected) = expected {
            filter.insert("password_hash", expected);
        }
        let result = self
            .col
            .update_one(
                filter,
                doc! { "$set": { "password_hash": hash, "updated_at": DateTime::now() } },
            )
            .timed("users.set_password_hash")
            .await?;
        Ok(result.matched_count == 1)
    }

    /// Deletes the account document (see `service::accounts::delete` for the cascade).
    pub async fn delete(&self, id: ObjectId) -> Result<bool, Error> {
        Ok(self
            .col
            .delete_one(doc! { "_id": id })
            .timed("users.delete")
            .await?
            .deleted_count
            == 1)
    }
}
