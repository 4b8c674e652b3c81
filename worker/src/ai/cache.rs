//! A Redis cache of generated candidates per normalized brief (role, experience, sorted
//! topics, difficulty), kept 24 h, to save provider calls. Whatever comes out of it goes
//! through the same validation and de-duplication as a fresh reply, so a session never gets
//! a question it already has.

use std::time::Duration;

use common::{domain::question::normalize, kv::Kv};
use redis::AsyncCommands;
use sha2::{Digest, Sha256};

use super::{Brief, parse::Candidate};

/// Candidates kept per brief.
const KEEP: isize = 60;

/// The cache key of a brief: case, spacing and topic order do not matter.
pub fn key(kv: &Kv, brief: &Brief) -> String {
    let mut topics: Vec<String> = brief.topics.iter().map(|t| normalize(t)).collect();
    topics.sort();
    topics.dedup();
    let text = format!(
        "{}|{}|{}|{}",
        normalize(&brief.role),
        brief.experience,
        topics.join(","),
        brief.difficulty.map_or("mixed", |d| d.as_str()),
    );
    kv.key(&format!(
        "ai:cache:{}",
        hex::encode(Sha256::digest(text.as_bytes()))
    ))
}

/// The cached candidates of a brief (empty on a miss or when Redis fails).
pub async fn get(kv: &Kv, key: &str) -> Vec<Candidate> {
    let mut conn = kv.conn();
    let raw: Vec<String> = match conn.lrange(key, 0, -1).await {
        Ok(raw) => raw,
        Err(e) => {
            tracing::warn!(error = %e, "AI cache unavailable");
            return Vec::new();
        }
    };
    raw.iter()
        .filter_map(|json| serde_json::from_str(json).ok())
        .collect()
}

/// Adds validated candidates to a brief's entry and renews its TTL (best effort).
pub async fn add(kv: &Kv, key: &str, items: &[Candidate], ttl: Duration) {
    if items.is_empty() {
        return;
    }
    let encoded: Vec<String> = items
        .iter()
        .filter_map(|c| serde_json::to_string(c).ok())
        .collect();
    let mut conn = kv.conn();
    let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let result: redis::RedisResult<()> = redis::pipe()
        .atomic()
        .rpush(key, encoded)
        .ignore()
        .ltrim(key, -KEEP, -1)
        .ignore()
        .expire(key, ttl)
        .ignore()
        .query_async(&mut conn)
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "AI cache not updated");
    }
}
