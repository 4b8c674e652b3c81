//! Live events: a bounded Redis Stream per user. Workers append; any api instance reads
//! the stream for its Server-Sent Events clients, so it does not matter which instance a
//! client is connected to, and a reconnect resumes from the last id it saw.

use std::time::Duration;

use bson::oid::ObjectId;
use redis::{AsyncCommands, RedisResult, aio::MultiplexedConnection, streams::StreamReadReply};
use serde::{Deserialize, Serialize};

use crate::{
    domain::job::{JobKind, JobStatus},
    kv::Kv,
};

/// Entries kept per user (older ones are trimmed; a client further behind misses them).
pub const STREAM_MAX_LEN: usize = 1000;
/// The stream field holding an event's JSON.
const FIELD: &str = "e";

/// Something that happened to the user's jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A job changed: started, progressed, finished.
    Job {
        /// The job.
        job_id: String,
        /// Its kind.
        kind: JobKind,
        /// Its status now.
        status: JobStatus,
        /// 0–100.
        progress: i32,
        /// The attempt running or last run.
        attempt: i32,
    },
    /// A notification was stored.
    Notification {
        /// The notification.
        id: String,
        /// The job it reports on.
        job_id: String,
        /// How the job ended.
        status: JobStatus,
        /// One line for people.
        message: String,
    },
}

impl LiveEvent {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Job { .. } => "job",
            Self::Notification { .. } => "notification",
        }
    }
}

fn stream_key(kv: &Kv, user_id: ObjectId) -> String {
    kv.key(&format!("events:{}", user_id.to_hex()))
}

/// Appends `event` to the user's stream; returns its id.
pub async fn publish(kv: &Kv, user_id: ObjectId, event: &LiveEvent) -> RedisResult<String> {
    let json = serde_json::to_string(event).expect("events always serialize");
    let mut conn = kv.conn();
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream_key(kv, user_id))
        .arg("MAXLEN")
        .arg("~")
        .arg(STREAM_MAX_LEN)
        .arg("*")
        .arg(FIELD)
        .arg(json);
    crate::kv::timed("event_publish", cmd.query_async(&mut conn)).await
}

/// Deletes the user's stream (account deletion).
pub async fn delete_user(kv: &Kv, user_id: ObjectId) -> RedisResult<()> {
    let mut conn = kv.conn();
    conn.del(stream_key(kv, user_id)).await
}

/// Whether `id` is a stream entry id (`<ms>-<seq>`), as clients send in `Last-Event-ID`.
pub fn is_event_id(id: &str) -> bool {
    id.len() <= 41
        && id.split_once('-').is_some_and(|(ms, seq)| {
            !ms.is_empty()
                && !seq.is_empty()
                && ms.bytes().all(|b| b.is_ascii_digit())
                && seq.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Reads one user's stream on a connection of its own.
pub struct Reader {
    conn: MultiplexedConnection,
    key: String,
    last: String,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("last", &self.last).finish()
    }
}

impl Reader {
    /// A reader positioned after `last_event_id` (a valid id a client saw), or after the
    /// newest entry when there is none.
    pub async fn open(
        kv: &Kv,
        user_id: ObjectId,
        last_event_id: Option<&str>,
    ) -> RedisResult<Self> {
        let mut conn = kv.dedicated().await?;
        let key = stream_key(kv, user_id);
        let last = match last_event_id.filter(|id| is_event_id(id)) {
            Some(id) => id.to_owned(),
            None => {
                // "$" would skip whatever arrives between two reads; pin the position now.
                let newest: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
                    .arg(&key)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(&mut conn)
                    .await?;
                newest
                    .into_iter()
                    .next()
                    .map_or_else(|| "0-0".to_owned(), |(id, _)| id)
            }
        };
        Ok(Self { conn, key, last })
    }

    /// The next events after the last one read, waiting up to `block` for one; an empty
    /// batch means none arrived in time.
    pub async fn next_batch(&mut self, block: Duration) -> RedisResult<Vec<(String, LiveEvent)>> {
        let ms = u64::try_from(block.as_millis()).unwrap_or(u64::MAX);
        let reply: Option<StreamReadReply> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(100)
            .arg("BLOCK")
            .arg(ms)
            .arg("STREAMS")
            .arg(&self.key)
            .arg(&self.last)
            .query_async(&mut self.conn)
            .await?;
        let mut out = Vec::new();
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in stream.ids {
                self.last.clone_from(&entry.id);
                let json: Option<String> = entry.get(FIELD);
                let event = json.and_then(|json| serde_json::from_str::<LiveEvent>(&json).ok());
                if let Some(event) = event {
                    out.push((entry.id, event));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_checked() {
        assert!(is_event_id("1700000000000-0"));
        assert!(is_event_id("1-12"));
        for bad in [
            "",
            "$",
            "0",
            "-1",
            "1-",
            "a-1",
            "1-1-1",
            "1 -1",
            &"9".repeat(50),
        ] {
            assert!(!is_event_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn events_have_a_type_tag() {
        let e = LiveEvent::Job {
            job_id: "j".into(),
            kind: JobKind::Probe,
            status: JobStatus::Running,
            progress: 40,
            attempt: 1,
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["type"], "job");
        assert_eq!(json["progress"], 40);
        assert_eq!(e.name(), "job");
    }
}
