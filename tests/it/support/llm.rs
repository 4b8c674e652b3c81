//! A local stand-in for an OpenAI-compatible chat-completions server (the one outside party
//! the tests cannot reach), scripted per test: replies are taken from a queue, then a
//! default; every request body is recorded.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use poem::{
    EndpointExt, IntoResponse, Response, Route, handler,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
    post,
    web::{Data, Json},
};
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with this assistant message content and token usage.
    Content(String),
    /// A unique, valid batch of `n` questions (numbered across the whole run).
    Fresh(usize),
    /// An OpenAI-shaped error with this status (and `Retry-After` seconds).
    Error(u16, Option<u64>),
    /// Wait, then answer as the inner reply.
    Slow(Duration, Box<Reply>),
}

#[derive(Debug, Default)]
struct State {
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Option<Reply>>,
    requests: Mutex<Vec<Value>>,
    counter: AtomicUsize,
}

/// A running fake provider.
#[derive(Debug, Clone)]
pub struct FakeLlm {
    /// Base URL to configure as `AI_BASE_URL`.
    pub base: String,
    state: Arc<State>,
}

/// Tokens every successful reply reports.
pub const PROMPT_TOKENS: i64 = 120;
/// Tokens every successful reply reports.
pub const COMPLETION_TOKENS: i64 = 480;

const DIFFICULTIES: [&str; 3] = ["easy", "medium", "hard"];

/// `{"questions": [...]}` with `n` valid, distinct questions starting at `first`.
pub fn batch(first: usize, n: usize) -> String {
    let items: Vec<Value> = (first..first + n)
        .map(|i| {
            json!({
                "question": format!("Generated question {i}: how does feature {i} work?"),
                "answer": format!("Feature {i} works by doing the right thing in the right order."),
                "difficulty": DIFFICULTIES[i % 3],
                "category": "Generated",
            })
        })
        .collect();
    json!({ "questions": items }).to_string()
}

fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "test-model",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        },
    })
}

async fn answer(state: &State, reply: Reply) -> Response {
    match reply {
        Reply::Content(content) => Json(completion(&content)).into_response(),
        Reply::Fresh(n) => {
            let first = state.counter.fetch_add(n, Ordering::SeqCst);
            Json(completion(&batch(first, n))).into_response()
        }
        Reply::Error(status, retry_after) => {
            let mut resp = Response::builder()
                .status(StatusCode::from_u16(status).expect("status"))
                .content_type("application/json");
            if let Some(secs) = retry_after {
                resp = resp.header("Retry-After", secs.to_string());
            }
            resp.body(
                json!({ "error": {
                    "message": "scripted failure",
                    "type": if status == 429 { "requests" } else { "server_error" },
                    "param": null,
                    "code": if status == 429 { "rate_limit_exceeded" } else { "server_error" },
                } })
                .to_string(),
            )
        }
        Reply::Slow(delay, inner) => {
            tokio::time::sleep(delay).await;
            Box::pin(answer(state, *inner)).await
        }
    }
}

#[handler]
async fn chat(state: Data<&Arc<State>>, body: Json<Value>) -> Response {
    state.requests.lock().unwrap().push(body.0);
    let next = state.script.lock().unwrap().pop_front();
    let reply = next
        .or_else(|| state.default.lock().unwrap().clone())
        .unwrap_or(Reply::Fresh(5));
    answer(&state, reply).await
}

impl FakeLlm {
    /// Starts a server on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        let state = Arc::new(State::default());
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("bind");
        let addr = acceptor.local_addr()[0]
            .as_socket_addr()
            .copied()
            .expect("socket address");
        let app = Route::new()
            .at("/v1/chat/completions", post(chat))
            .data(state.clone());
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
        Self {
            base: format!("http://{addr}/v1"),
            state,
        }
    }

    /// Queues replies for the next requests.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    /// The reply once the script is used up (a fresh batch of 5 unless set).
    pub fn set_default(&self, reply: Reply) {
        *self.state.default.lock().unwrap() = Some(reply);
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Variables pointing a deployment at this server, with a key.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AI_BASE_URL", self.base.clone()),
            ("AI_API_KEY", "test-key".to_owned()),
            ("AI_MODEL", "test-model".to_owned()),
        ]
    }
}
