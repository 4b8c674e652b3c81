use std::time::Duration;

use serde_json::Value;

use super::{ops_env, probe, probe_body, register_operator};
use crate::support::TestApp;

/// One parsed Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    /// `id:`.
    pub id: String,
    /// `event:`.
    pub event: String,
    /// `data:`, parsed.
    pub data: Value,
}

/// An open event stream.
pub struct Stream {
    resp: reqwest::Response,
    buffer: String,
}

/// `GET /api/v1/events` as `token`, resuming after `last_event_id`.
pub async fn request(app: &TestApp, token: &str, last_event_id: Option<&str>) -> reqwest::Response {
    let mut req = app
        .http
        .get(app.url("/api/v1/events"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(120));
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id);
    }
    req.send().await.unwrap()
}

impl Stream {
    /// Opens a stream, expecting 200.
    pub async fn open(app: &TestApp, token: &str, last_event_id: Option<&str>) -> Self {
        Self::from_response(request(app, token, last_event_id).await)
    }

    /// A stream from a 200 response.
    pub fn from_response(resp: reqwest::Response) -> Self {
        assert_eq!(resp.status(), 200);
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Self {
            resp,
            buffer: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped), waiting at most `limit`.
    pub async fn next(&mut self, limit: Duration) -> Sse {
        let buffered = self.buffer.clone();
        self.try_next(limit)
            .await
            .unwrap_or_else(|| panic!("no event in time; unparsed: {buffered:?}"))
    }

    /// Like [`Stream::next`], `None` when nothing arrives within `limit`.
    pub async fn try_next(&mut self, limit: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some(Sse {
                    id,
                    event,
                    data: serde_json::from_str(&data).unwrap(),
                });
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .ok()?
                .unwrap()
                .expect("stream ended");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Whether the server ends the stream within `limit` (events before the end skipped).
    pub async fn ends_within(&mut self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Err(_) => return false,
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None) | Err(_)) => return true,
            }
        }
    }

    /// Events until (and including) the one `last` accepts.
    pub async fn until(&mut self, last: impl Fn(&Sse) -> bool) -> Vec<Sse> {
        let mut out = Vec::new();
        loop {
            let e = self.next(Duration::from_secs(30)).await;
            let stop = last(&e);
            out.push(e);
            if stop {
                return out;
            }
        }
    }
}

/// A client on api instance A sees a job's progress and ending; reconnecting to instance B
/// with `Last-Event-ID` replays what came after that id, in order.
#[tokio::test]
async fn events_stream_across_instances_and_resume_with_last_event_id() {
    let (vars, email) = ops_env(200);
    let a = TestApp::spawn_with(vars.clone()).await;
    let b = TestApp::spawn_with(vars).await;
    let _worker = a.spawn_worker().await;
    let ops = register_operator(&a, &email).await;
    let other = a.register().await;
    let mut theirs = Stream::open(&b, &other.access, None).await;

    let mut stream = Stream::open(&a, &ops.access, None).await;
    let accepted = probe(&a, &ops.access, probe_body(1_000, 0), None).await;
    let id = accepted["job_id"].as_str().unwrap().to_owned();
    let seen = stream.until(|e| e.event == "notification").await;

    let job_events: Vec<&Sse> = seen.iter().filter(|e| e.event == "job").collect();
    assert!(job_events.iter().all(|e| e.data["job_id"] == id.as_str()));
    let progress: Vec<i64> = job_events
        .iter()
        .map(|e| e.data["progress"].as_i64().unwrap())
        .collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert!(
        progress.contains(&40) && progress.contains(&80),
        "{progress:?}"
    );
    let last_job = job_events.last().unwrap();
    assert_eq!(
        (
            last_job.data["status"].as_str(),
            last_job.data["progress"].as_i64()
        ),
        (Some("succeeded"), Some(100))
    );
    let note = seen.last().unwrap();
    assert_eq!(note.data["job_id"], id.as_str());
    assert_eq!(note.data["status"], "succeeded");
    assert!(seen.iter().all(|e| e.data["id"] == e.id.as_str()));

    // Reconnect elsewhere after the second event: everything after it, in order.
    let resume_after = seen[1].id.clone();
    let mut resumed = Stream::open(&b, &ops.access, Some(&resume_after)).await;
    let replayed = resumed.until(|e| e.event == "notification").await;
    assert_eq!(replayed, seen[2..].to_vec());

    // Another user's stream carries none of it.
    let b_probe = probe(&a, &ops.access, probe_body(0, 0), None).await;
    super::wait_finished(
        &a,
        &ops.access,
        b_probe["job_id"].as_str().unwrap(),
        Duration::from_secs(20),
    )
    .await;
    let none = theirs.try_next(Duration::from_millis(1500)).await;
    assert!(none.is_none(), "another user received {none:?}");
}
