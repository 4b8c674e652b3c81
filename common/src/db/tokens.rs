//! The `refresh_tokens` collection: opaque refresh tokens, stored as SHA-256 hashes, in
//! families. Each use spends a token and issues the next of its family; presenting a spent
//! token again means it leaked, so the whole family is revoked.

use bson::{DateTime, doc, oid::ObjectId};
use mongodb::{Collection, Database, error::Error};
use rand::{RngCore, TryRngCore, rngs::OsRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Timed;

/// Collection name.
pub const COLLECTION: &str = "refresh_tokens";

/// A stored refresh token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshToken {
    /// SHA-256 of the token, hex.
    #[serde(rename = "_id")]
    pub hash: String,
    /// Owner.
    pub user_id: ObjectId,
    /// The login this token descends from.
    pub family_id: ObjectId,
    /// Creation time.
    pub created_at: DateTime,
    /// After this, the token is refused (and the TTL index removes it).
    pub expires_at: DateTime,
    /// Set when the token has been exchanged.
    pub spent_at: Option<DateTime>,
    /// Set when its family was revoked.
    pub revoked_at: Option<DateTime>,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    /// The token was live and is now spent; issue the next one of this family.
    Rotated {
        /// Owner.
        user_id: ObjectId,
        /// Family to continue.
        family_id: ObjectId,
    },
    /// The token had been spent or revoked before: its family is now revoked.
    Reused,
    /// Unknown or expired.
    Invalid,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Refresh-token storage.
#[derive(Debug, Clone)]
pub struct Tokens {
    col: Collection<RefreshToken>,
}

impl Tokens {
    /// The repository on `db`.
    pub fn new(db: &Database) -> Self {
        Self {
            col: db.collection(COLLECTION),
        }
    }

    /// Creates a token in `family` and returns it in clear (the only time it exists so);
    /// `None` when the family was revoked meanwhile.
    ///
    /// A refresh spends a token and then issues the next one; a reuse of the spent token in
    /// between revokes the family. Issuing first and checking the family second closes that
    /// gap: whichever of the two writes comes last sees the other, so a revoked family never
    /// keeps a live token.
    pub async fn issue(
        &self,
        user_id: ObjectId,
        family_id: ObjectId,
        ttl: std::time::Duration,
    ) -> Result<Option<String>, Error> {
        let mut bytes = [0u8; 32];
        OsRng.unwrap_err().fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let now = DateTime::now();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        self.col
            .insert_one(RefreshToken {
                hash: hash(&token),
                user_id,
                family_id,
                created_at: now,
                expires_at: DateTime::from_millis(now.timestamp_millis().saturating_add(ttl_ms)),
                spent_at: None,
                revoked_at: None,
            })
            .timed("tokens.issue.insert_one")
            .await?;
        let revoked = self
            .col
            .find_one(doc! { "family_id": family_id, "revoked_at": { "$ne": null } })
            .timed("tokens.issue.find_one")
            .await?;
        if revoked.is_some() {
            self.revoke_family(family_id).await?;
            return Ok(None);
        }
        Ok(Some(token))
    }

    /// Spends `token` if it is live (atomically: two concurrent uses cannot both win).
    pub async fn exchange(&self, token: &str) -> Result<Exchange, Error> {
        let now = DateTime::now();
        let spent = self
            .col
            .find_one_and_update(
                doc! { "_id": hash(token), "spent_at": null, "revoked_at": null, "expires_at": { "$gt": now } },
                doc! { "$set": { "spent_at": now } },
            )
            .timed("tokens.exchange.find_one_and_update")
            .await?;
        if let Some(t) = spent {
            return Ok(Exchange::Rotated {
                user_id: t.user_id,
                family_id: t.family_id,
            });
        }
        match self
            .col
            .find_one(doc! { "_id": hash(token) })
            .timed("tokens.exchange.find_one")
            .await?
        {
            Some(t) if t.spent_at.is_some() || t.revoked_at.is_some() => {
                self.revoke_family(t.family_id).await?;
                tracing::warn!(user_id = %t.user_id, "refresh token reused; family revoked");
                Ok(Exchange::Reused)
            }
            _ => Ok(Exchange::Invalid),
        }
    }

    /// The family of `token`, if it exists.
    pub async fn family_of(&self, token: &str) -> Result<Option<ObjectId>, Error> {
        Ok(self
            .col
            .find_one(doc! { "_id": hash(token) })
            .timed("tokens.family_of")
            .await?
            .map(|t| t.family_id))
    }

    /// Revokes every token of `family_id`.
    pub async fn revoke_family(&self, family_id: ObjectId) -> Result<(), Error> {
        self.col
            .update_many(
                doc! { "family_id": family_id, "revoked_at": null },
                doc! { "$set": { "revoked_at": DateTime::now() } },
            )
            .timed("tokens.revoke_family")
            .await?;
        Ok(())
    }

    /// Revokes every token of the user (password change or reset).
    pub async fn revoke_user(&self, user_id: ObjectId) -> Result<(), Error> {
        self.col
            .update_many(
                doc! { "user_id": user_id, "revoked_at": null },
                doc! { "$set": { "revoked_at": DateTime::now() } },
            )
            .timed("tokens.revoke_user")
            .await?;
        Ok(())
    }

    /// Deletes every token of the user (account deletion).
    pub async fn delete_user(&self, user_id: ObjectId) -> Result<(), Error> {
        self.col
            .delete_many(doc! { "user_id": user_id })
            .timed("tokens.delete_user")
            .await?;
        Ok(())
    }
}
