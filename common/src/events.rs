//! Live events: a bounded Redis Stream per user. Workers append; any api instance reads
//! the stream for its Server-Sent Events clients, so it does not matter which instance a
//! client is connected to, and a reconnect resumes from the last id it saw.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, LazyLock, Mutex, PoisonError,
        atomic::{AtomicI64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use bson::oid::ObjectId;
use redis::{
    AsyncCommands, RedisResult,
    aio::ConnectionManager,
    streams::{StreamId, StreamRangeReply, StreamReadReply},
};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};

use crate::{
    domain::job::{JobKind, JobStatus},
    kv::Kv,
};

/// Entries kept per user (older ones are trimmed; a client further behind misses them).
pub const STREAM_MAX_LEN: usize = 1000;
/// A user's stream is deleted after this long without a new event (a client away longer
/// finds its history in the notifications list).
pub const STREAM_TTL: Duration = Duration::from_secs(24 * 3600);
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
    let key = stream_key(kv, user_id);
    let mut conn = kv.conn();
    let mut pipe = redis::pipe();
    append(pipe.atomic(), &key, event);
    pipe.cmd("EXPIRE")
        .arg(&key)
        .arg(STREAM_TTL.as_secs())
        .ignore();
    let (id,): (String,) = crate::kv::timed("event_publish", pipe.query_async(&mut conn)).await?;
    Ok(id)
}

/// Appends each event to its user's stream, in order, in one round trip (a worker's events
/// of many jobs). Not atomic: when it fails, some may have been appended.
pub async fn publish_many(kv: &Kv, events: &[(ObjectId, LiveEvent)]) -> RedisResult<()> {
    let mut pipe = redis::pipe();
    let mut keys = std::collections::HashSet::new();
    for (user_id, event) in events {
        let key = stream_key(kv, *user_id);
        append(&mut pipe, &key, event).ignore();
        keys.insert(key);
    }
    for key in keys {
        pipe.cmd("EXPIRE")
            .arg(key)
            .arg(STREAM_TTL.as_secs())
            .ignore();
    }
    let mut conn = kv.conn();
    crate::kv::timed("event_publish_many", pipe.query_async(&mut conn)).await
}

/// Adds the `XADD` of `event` to `key` (the stream trimmed to about [`STREAM_MAX_LEN`]).
fn append<'p>(
    pipe: &'p mut redis::Pipeline,
    key: &str,
    event: &LiveEvent,
) -> &'p mut redis::Pipeline {
    let json = serde_json::to_string(event).expect("events always serialize");
    pipe.cmd("XADD")
        .arg(key)
        .arg("MAXLEN")
        .arg("~")
        .arg(STREAM_MAX_LEN)
        .arg("*")
        .arg(FIELD)
        .arg(json)
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

/// A stream entry id as Redis orders them (`<ms>-<seq>`).
fn entry_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// One event read from a user's stream: its entry id (the SSE `id:`) and the event.
pub type Entry = Arc<(String, LiveEvent)>;

/// Events a slow client may fall behind the live feed before its stream is ended (it
/// resumes with `Last-Event-ID`).
const FEED_CAPACITY: usize = 256;
/// How long one blocking read of the hub waits before it looks at its feeds again.
const READ_BLOCK: Duration = Duration::from_secs(1);
/// Entries read per stream and call.
const READ_COUNT: usize = 100;
/// How long a per-user stream slot lives without renewal (an instance that died frees its
/// slots after this); renewed every third of it.
const SLOT_LEASE: Duration = Duration::from_secs(60);

/// A user stream some clients of this instance follow.
struct Feed {
    /// The newest entry id the hub has read; it reads after this.
    last: String,
    tx: broadcast::Sender<Entry>,
}

struct Shared {
    kv: Kv,
    feeds: Mutex<HashMap<String, Feed>>,
    wake: Notify,
    /// `CLIENT ID` of the hub's reading connection (0 while it has none).
    reader: AtomicI64,
    /// Streams open on this instance.
    open: AtomicUsize,
}

/// Live events for every client of this process through **one** Redis connection: a
/// reader task follows, with one blocking `XREAD`, the streams of all users that have a
/// client here and fans each entry out to that user's clients. Clients catch up from
/// their `Last-Event-ID` with one `XRANGE` on the shared connection, so a reconnect loses
/// nothing, and the number of Redis connections does not grow with the number of clients.
#[derive(Clone)]
pub struct Hub(Arc<Shared>);

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("open", &self.0.open.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Why a stream was not opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// This instance serves its maximum of streams.
    #[error("this server has no room for another event stream")]
    InstanceFull,
    /// The user has the maximum of streams open (on any instance).
    #[error("at most {0} event streams per user may be open at once")]
    UserLimit(usize),
    /// Redis failed.
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

/// How many streams may be open at once.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Per user, across every instance.
    pub per_user: usize,
    /// Per instance.
    pub per_instance: usize,
}

/// Takes one of a user's stream slots unless all are taken: a sorted set of open streams
/// scored by when their lease ends, so slots of an instance that died free themselves.
static CLAIM_SLOT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS[1]: the user's slots   ARGV: now (ms), lease (ms), cap, member
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
",
    )
});

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Hub {
    /// A hub on `kv`; [`Hub::run`] must run for clients to get live events.
    pub fn new(kv: Kv) -> Self {
        Self(Arc::new(Shared {
            kv,
            feeds: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            reader: AtomicI64::new(0),
            open: AtomicUsize::new(0),
        }))
    }

    /// Opens a stream of `user`'s events after `last_event_id` (a valid id the client saw),
    /// or after the newest one when there is none, within `limits`.
    pub async fn open(
        &self,
        user: ObjectId,
        last_event_id: Option<&str>,
        limits: StreamLimits,
    ) -> Result<Subscription, OpenError> {
        let open = OpenGuard::take(&self.0, limits.per_instance).ok_or(OpenError::InstanceFull)?;
        let slot = Slot::claim(&self.0.kv, user, limits.per_user)
            .await?
            .ok_or(OpenError::UserLimit(limits.per_user))?;
        let key = stream_key(&self.0.kv, user);
        let mut conn = self.0.kv.conn();
        let newest = newest_id(&mut conn, &key).await?;
        let (rx, added) = {
            let mut feeds = self.0.feeds.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(feed) = feeds.get(&key) {
                (feed.tx.subscribe(), false)
            } else {
                let (tx, rx) = broadcast::channel(FEED_CAPACITY);
                feeds.insert(
                    key.clone(),
                    Feed {
                        last: newest.clone(),
                        tx,
                    },
                );
                (rx, true)
            }
        };
        if added {
            self.wake_reader().await;
        }
        // The feed brings what the hub reads from now on; anything between the client's
        // position and now comes from one range read. Entries in both are sent once (the
        // subscription skips ids at or before its cursor).
        let cursor = last_event_id
            .filter(|id| is_event_id(id))
            .map_or(newest, str::to_owned);
        let backlog: StreamRangeReply = redis::cmd("XRANGE")
            .arg(&key)
            .arg(format!("({cursor}"))
            .arg("+")
            .arg("COUNT")
            .arg(STREAM_MAX_LEN * 2)
            .query_async(&mut conn)
            .await?;
        Ok(Subscription {
            backlog: backlog.ids.into_iter().filter_map(decode).collect(),
            rx,
            cursor: entry_id(&cursor).unwrap_or((0, 0)),
            _slot: slot,
            _open: open,
        })
    }

    /// Makes the reader pick up a new feed now rather than after its current blocking read.
    async fn wake_reader(&self) {
        self.0.wake.notify_one();
        let reader = self.0.reader.load(Ordering::Relaxed);
        if reader != 0 {
            let mut conn = self.0.kv.conn();
            let unblocked = redis::cmd("CLIENT")
                .arg("UNBLOCK")
                .arg(reader)
                .query_async::<i64>(&mut conn)
                .await;
            if let Err(e) = unblocked {
                tracing::debug!(error = %e, "event reader not woken");
            }
        }
    }

    /// Follows every feed until `stop` turns true, reconnecting (with a capped backoff)
    /// whenever Redis fails; feeds resume from their last entry, so nothing is skipped.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut failures = 0u32;
        loop {
            let result = tokio::select! {
                result = self.read(&mut failures) => result,
                _ = stop.wait_for(|s| *s) => return,
            };
            self.0.reader.store(0, Ordering::Relaxed);
            if let Err(e) = result {
                failures = failures.saturating_add(1);
                metrics::counter!("event_reader_restarts_total").increment(1);
                let wait = Duration::from_millis(100)
                    .saturating_mul(2u32.saturating_pow(failures.min(6)))
                    .min(Duration::from_secs(5));
                tracing::warn!(error = %e, ?wait, "live event reader failed; reconnecting");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        }
    }

    async fn read(&self, failures: &mut u32) -> RedisResult<()> {
        let mut conn = self.0.kv.dedicated().await?;
        let id: i64 = redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut conn)
            .await?;
        self.0.reader.store(id, Ordering::Relaxed);
        loop {
            let (keys, positions) = self.positions();
            if keys.is_empty() {
                self.0.wake.notified().await;
                continue;
            }
            let reply: Option<StreamReadReply> = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(READ_COUNT)
                .arg("BLOCK")
                .arg(u64::try_from(READ_BLOCK.as_millis()).unwrap_or(1000))
                .arg("STREAMS")
                .arg(&keys)
                .arg(&positions)
                .query_async(&mut conn)
                .await?;
            *failures = 0;
            if let Some(reply) = reply {
                self.dispatch(reply);
            }
        }
    }

    /// The streams to follow and where each stands; drops feeds nobody follows any more.
    fn positions(&self) -> (Vec<String>, Vec<String>) {
        let mut feeds = self.0.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        feeds.retain(|_, feed| feed.tx.receiver_count() > 0);
        feeds
            .iter()
            .map(|(key, feed)| (key.clone(), feed.last.clone()))
            .unzip()
    }

    fn dispatch(&self, reply: StreamReadReply) {
        let mut feeds = self.0.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        for stream in reply.keys {
            let Some(feed) = feeds.get_mut(&stream.key) else {
                continue;
            };
            for entry in stream.ids {
                feed.last.clone_from(&entry.id);
                if let Some(entry) = decode(entry) {
                    // No receiver left: the feed is dropped on the next read.
                    let _ = feed.tx.send(entry);
                }
            }
        }
    }
}

fn decode(entry: StreamId) -> Option<Entry> {
    let json: Option<String> = entry.get(FIELD);
    let event = serde_json::from_str::<LiveEvent>(&json?).ok()?;
    Some(Arc::new((entry.id, event)))
}

async fn newest_id(conn: &mut ConnectionManager, key: &str) -> RedisResult<String> {
    // "$" would skip whatever arrives between two reads; pin the position now.
    let newest: StreamRangeReply = redis::cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(newest
        .ids
        .into_iter()
        .next()
        .map_or_else(|| "0-0".to_owned(), |entry| entry.id))
}

/// One client's events: first what it missed, then the live feed.
pub struct Subscription {
    backlog: VecDeque<Entry>,
    rx: broadcast::Receiver<Entry>,
    cursor: (u64, u64),
    _slot: Slot,
    _open: OpenGuard,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The next event, each once and in order; `None` when this client fell too far behind
    /// the live feed (it reconnects with `Last-Event-ID` and catches up).
    pub async fn next(&mut self) -> Option<Entry> {
        loop {
            let entry = match self.backlog.pop_front() {
                Some(entry) => entry,
                None => match self.rx.recv().await {
                    Ok(entry) => entry,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::info!(missed, "event stream client too slow; ending its stream");
                        return None;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            };
            let id = entry_id(&entry.0).unwrap_or((0, 0));
            if id > self.cursor {
                self.cursor = id;
                return Some(entry);
            }
        }
    }
}

/// Counts a stream against this instance's limit while it is open.
struct OpenGuard(Arc<Shared>);

impl OpenGuard {
    fn take(shared: &Arc<Shared>, max: usize) -> Option<Self> {
        let before = shared.open.fetch_add(1, Ordering::Relaxed);
        if before >= max {
            shared.open.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Self(shared.clone()))
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One of a user's stream slots, renewed while held and given back on drop.
struct Slot {
    kv: Kv,
    key: String,
    member: String,
    renew: tokio::task::JoinHandle<()>,
}

impl Slot {
    async fn claim(kv: &Kv, user: ObjectId, cap: usize) -> RedisResult<Option<Self>> {
        let key = kv.key(&format!("event-streams:{}", user.to_hex()));
        let member = ulid::Ulid::generate().to_string();
        let lease = i64::try_from(SLOT_LEASE.as_millis()).unwrap_or(60_000);
        let mut conn = kv.conn();
        let claimed: i64 = CLAIM_SLOT
            .key(&key)
            .arg(now_ms())
            .arg(lease)
            .arg(cap)
            .arg(&member)
            .invoke_async(&mut conn)
            .await?;
        if claimed == 0 {
            return Ok(None);
        }
        let renew = tokio::spawn({
            let (key, member) = (key.clone(), member.clone());
            async move {
                loop {
                    tokio::time::sleep(SLOT_LEASE / 3).await;
                    let renewed = redis::pipe()
                        .cmd("ZADD")
                        .arg(&key)
                        .arg("XX")
                        .arg(now_ms() + lease)
                        .arg(&member)
                        .ignore()
                        .cmd("PEXPIRE")
                        .arg(&key)
                        .arg(lease)
                        .ignore()
                        .query_async::<()>(&mut conn)
                        .await;
                    if let Err(e) = renewed {
                        tracing::debug!(error = %e, "event stream slot not renewed");
                    }
                }
            }
        });
        Ok(Some(Self {
            kv: kv.clone(),
            key,
            member,
            renew,
        }))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.renew.abort();
        let (mut conn, key, member) = (
            self.kv.conn(),
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.member),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = redis::cmd("ZREM")
                    .arg(&key)
                    .arg(&member)
                    .query_async::<()>(&mut conn)
                    .await;
            });
        }
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
