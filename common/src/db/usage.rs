//! The `ai_usage` collection: LLM tokens spent per account and UTC day, the ledger behind
//! the daily token budget. One document per `(user, day)`, grown with `$inc` by the workers
//! after each provider call; documents expire two days after their day began.

use bson::{DateTime, doc, oid::ObjectId};
use chrono::{Duration as Days, NaiveTime, Utc};
use mongodb::{Collection, Database, error::Error, options::UpdateOptions};
use serde::Deserialize;

use super::Timed;
use crate::domain::job::TokenUsage;

/// Collection name.
pub const COLLECTION: &str = "ai_usage";

#[derive(Debug, Deserialize)]
struct Day {
    #[serde(default)]
    tokens: i64,
}

/// Where an account stands against its daily budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Tokens spent today (UTC).
    pub used: i64,
    /// Tokens allowed per day.
    pub limit: i64,
    /// When today's count starts again from zero (the next UTC midnight).
    pub resets_at: chrono::DateTime<Utc>,
}

impl Budget {
    /// Tokens left today.
    pub fn remaining(&self) -> i64 {
        (self.limit - self.used).max(0)
    }

    /// Whether today's budget is used up.
    pub fn spent(&self) -> bool {
        self.used >= self.limit
    }

    /// Whole seconds until the reset (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        u64::try_from((self.resets_at - Utc::now()).num_seconds()).map_or(1, |s| s.max(1))
    }
}

/// The UTC day of `now` (`YYYY-MM-DD`) and the midnight that ends it.
fn today() -> (String, chrono::DateTime<Utc>) {
    let now = Utc::now();
    let next = (now.date_naive() + Days::days(1))
        .and_time(NaiveTime::MIN)
        .and_utc();
    (now.format("%Y-%m-%d").to_string(), next)
}

fn day_id(user_id: ObjectId, day: &str) -> String {
    format!("{}:{day}", user_id.to_hex())
}

/// Token ledger storage.
#[derive(Debug, Clone)]
pub struct AiUsage {
    col: Collection<Day>,
}

impl AiUsage {
    /// The repository on `db`.
    pub fn new(db: &Database) -> Self {
        Self {
            col: db.collection(COLLECTION),
        }
    }

    /// Adds `usage` to the user's count for today.
    pub async fn add(&self, user_id: ObjectId, usage: TokenUsage) -> Result<(), Error> {
        let tokens = usage.prompt.max(0) + usage.completion.max(0);
        if tokens == 0 {
            return Ok(());
        }
        let (day, next) = today();
        let expires_at = DateTime::from_chrono(next + Days::days(1));
        self.col
            .update_one(
                doc! { "_id": day_id(user_id, &day) },
                doc! {
                    "$inc": { "tokens": tokens },
                    "$setOnInsert": { "user_id": user_id, "day": &day, "expires_at": expires_at },
                },
            )
            .with_options(UpdateOptions::builder().upsert(true).build())
            .timed("usage.add")
            .await
            .map(drop)
    }

    /// The user's standing against a budget of `limit` tokens a day.
    pub async fn budget(&self, user_id: ObjectId, limit: i64) -> Result<Budget, Error> {
        let (day, resets_at) = today();
        let used = self
            .col
            .find_one(doc! { "_id": day_id(user_id, &day) })
            .timed("usage.budget")
            .await?
            .map_or(0, |d| d.tokens);
        Ok(Budget {
            used,
            limit,
            resets_at,
        })
    }

    /// Forgets the user's counts (account deletion).
    pub async fn delete_user(&self, user_id: ObjectId) -> Result<(), Error> {
        self.col
            .delete_many(doc! { "user_id": user_id })
            .timed("usage.delete_user")
            .await
            .map(drop)
    }
}
