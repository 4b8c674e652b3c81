//! Live events: the caller's job progress and notifications as Server-Sent Events.

use std::time::Duration;

use common::{
    domain::job::{JobKind, JobStatus},
    events::LiveEvent,
};
use futures::stream::BoxStream;
use poem::web::{Data, sse::Event};
use poem_openapi::{Enum, Object, OpenApi, param::Header, payload::EventStream};

use crate::{auth::BearerAuth, error::ApiResult, routes::ApiTags, state::AppState};

/// Comment lines that keep idle connections (and proxies) open. They are also how a
/// client that went away is noticed (a write to a closed connection fails on the second
/// try), which frees its stream slot: short enough that a reconnecting client finds its
/// old slot freed within `2 × KEEP_ALIVE`.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum LiveEventType {
    /// Progress or the end of a job.
    Job,
    /// A notification was stored.
    Notification,
}

impl LiveEventType {
    /// The SSE `event:` name.
    fn as_str(self) -> &'static str {
        match self {
            Self::Job => "job",
            Self::Notification => "notification",
        }
    }
}

/// The `data:` of an event. `type` is `job` (progress and endings of a job) or
/// `notification`; the SSE `event:` field carries the same name and `id:` the position to
/// resume from with `Last-Event-ID`.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LiveEventData {
    /// The event's id (also sent as the SSE `id:`).
    pub id: String,
    /// `job` or `notification`.
    #[oai(rename = "type")]
    pub event_type: LiveEventType,
    /// The job concerned.
    pub job_id: String,
    /// The job's status (for a notification: how it ended).
    pub status: JobStatus,
    /// `job`: the job's kind.
    #[oai(skip_serializing_if_is_none)]
    pub kind: Option<JobKind>,
    /// `job`: 0–100.
    #[oai(skip_serializing_if_is_none)]
    pub progress: Option<i32>,
    /// `job`: the attempt running or last run.
    #[oai(skip_serializing_if_is_none)]
    pub attempt: Option<i32>,
    /// `notification`: its id.
    #[oai(skip_serializing_if_is_none)]
    pub notification_id: Option<String>,
    /// `notification`: its text.
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<String>,
}

impl LiveEventData {
    fn new(id: String, e: LiveEvent) -> Self {
        // `id` is the stream position; a notification's own id is `notification_id`.
        match e {
            LiveEvent::Job {
                job_id,
                kind,
                status,
                progress,
                attempt,
            } => Self {
                id,
                event_type: LiveEventType::Job,
                job_id,
                status,
                kind: Some(kind),
                progress: Some(progress),
                attempt: Some(attempt),
                notification_id: None,
                message: None,
            },
            LiveEvent::Notification {
                id: notification_id,
                job_id,
                status,
                message,
            } => Self {
                id,
                event_type: LiveEventType::Notification,
                job_id,
                status,
                kind: None,
                progress: None,
                attempt: None,
                notification_id: Some(notification_id),
                message: Some(message),
            },
        }
    }
}

/// Live events.
#[derive(Debug)]
pub struct EventsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Events")]
impl EventsApi {
    /// A Server-Sent Events stream of the caller's job progress and notifications.
    ///
    /// Send the last `id:` received as `Last-Event-ID` to resume after a disconnect;
    /// without it the stream starts with events newer than the request. The stream ends
    /// when the access token expires (reconnect with a fresh token and `Last-Event-ID`:
    /// nothing is lost) and when the server shuts down. At most
    /// `EVENTS_MAX_STREAMS_PER_USER` streams (default 5) per user are open at once, across
    /// every server: one more is refused with 429.
    #[oai(path = "/events", method = "get", operation_id = "events_stream")]
    async fn stream(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// The last event id seen (ids that are not event ids are ignored).
        #[oai(name = "Last-Event-ID")]
        last_event_id: Header<Option<String>>,
    ) -> ApiResult<EventStream<BoxStream<'static, LiveEventData>>> {
        let user = auth.0;
        let subscription = state
            .events
            .open(
                user.id,
                last_event_id.0.as_deref(),
                state.config.event_streams,
            )
            .await?;
        let token_left = Duration::from_secs(
            user.token_expires_at
                .saturating_sub(u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)),
        );
        let expires = tokio::time::Instant::now() + token_left;
        let stopping = state.stopping.clone();
        let items: BoxStream<'static, LiveEventData> = Box::pin(futures::stream::unfold(
            (subscription, stopping),
            move |(mut subscription, mut stopping)| async move {
                if *stopping.borrow() {
                    return None;
                }
                tokio::select! {
                    entry = subscription.next() => {
                        let entry = entry?;
                        let (id, event) = (entry.0.clone(), entry.1.clone());
                        Some((LiveEventData::new(id, event), (subscription, stopping)))
                    }
                    () = tokio::time::sleep_until(expires) => None,
                    _ = stopping.changed() => None,
                }
            },
        ));
        Ok(EventStream::new(items)
            .keep_alive(KEEP_ALIVE)
            .to_event(|data| {
                let json = poem_openapi::types::ToJSON::to_json_string(&data);
                Event::message(json)
                    .id(data.id)
                    .event_type(data.event_type.as_str())
            }))
    }
}
