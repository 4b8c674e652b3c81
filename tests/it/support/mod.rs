//! Test harness: the shared stack started by `scripts/test.sh`, per-test isolation (own
//! database name and Redis key prefix), in-process apps, private service instances for
//! fault tests, and the real binaries for process-level tests.

pub mod llm;
pub mod process;
pub mod services;

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, time::Duration};

use common::config::Env;
use serde_json::Value;
use tokio::{net::TcpListener, sync::oneshot};

/// Reads a variable the stack script wrote, with a clear failure when tests run without it.
pub fn stack_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests through scripts/test.sh, which starts the local stack"
        )
    })
}

/// A unique suffix for per-test names.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    )
}

/// Variables for one isolated deployment: the stack's, a private database name and key
/// prefix, and `overrides` on top.
pub fn isolated_env(overrides: &[(&str, String)]) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.insert("MONGODB_DATABASE".into(), unique("t_"));
    vars.insert("REDIS_KEY_PREFIX".into(), format!("{}:", unique("t")));
    vars.insert("LOG_FORMAT".into(), "json".into());
    vars.insert("HEALTH_CHECK_TIMEOUT_MS".into(), "1500".into());
    vars.insert("MONGODB_SERVER_SELECTION_TIMEOUT_MS".into(), "1500".into());
    vars.insert(
        "JWT_SECRET".into(),
        unique("test-jwt-secret-at-least-32-bytes-"),
    );
    // Generous limits so that flows are not throttled; rate-limit tests set their own.
    vars.insert("RATE_LIMIT_AUTH".into(), "1000/900".into());
    vars.insert("RATE_LIMIT_DEFAULT".into(), "10000/60".into());
    // Search pages bounded by what they read, not by this machine's speed; the time bound
    // has its own test.
    vars.insert("SEARCH_TIME_BUDGET_MS".into(), "60000".into());
    // Hundreds of provider calls per account in load tests; budget tests set their own.
    vars.insert("AI_DAILY_TOKEN_BUDGET".into(), "1000000000".into());
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), v.clone());
    }
    vars
}

/// A free port on 127.0.0.1 (released before use; collisions are very unlikely).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Runs `run(shutdown)` in this test's runtime; dropping the returned sender shuts it down.
fn spawn_in_process<Fut>(
    name: &'static str,
    run: impl FnOnce(futures::future::BoxFuture<'static, ()>) -> Fut,
) -> oneshot::Sender<()>
where
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let (stop, stopped) = oneshot::channel::<()>();
    let fut = run(Box::pin(async move {
        let _ = stopped.await;
    }));
    tokio::spawn(async move {
        if let Err(e) = fut.await {
            panic!("{name} failed: {e:#}");
        }
    });
    stop
}

/// An api running in this test's runtime.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// The variables it was started with.
    pub vars: HashMap<String, String>,
    /// A client without redirects or cookies.
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

impl TestApp {
    /// Starts an api against the shared stack with its own database and key prefix.
    pub async fn spawn() -> Self {
        Self::spawn_with(isolated_env(&[])).await
    }

    /// Starts an api with exactly these variables.
    pub async fn spawn_with(vars: HashMap<String, String>) -> Self {
        let config = api::config::ApiConfig::from_env(&Env::from_map(vars.clone()))
            .expect("test config is complete");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let stop = spawn_in_process("api", |shutdown| api::run(listener, config, shutdown));
        let app = Self {
            base: format!("http://{addr}"),
            vars,
            http: client(),
            stop: Some(stop),
        };
        app.wait_live().await;
        app
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }

    async fn wait_live(&self) {
        wait_until(Duration::from_secs(20), || async {
            matches!(self.http.get(self.url("/health/live")).send().await, Ok(r) if r.status() == 200)
        })
        .await
        .expect("api became live");
    }

    /// POST `path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// GET `path` as the holder of `token`.
    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// `method` `path` as the holder of `token` (none: anonymous), with an optional JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        token: Option<&str>,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut req = self.http.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        req.send().await.expect("request")
    }

    /// POST `path` with a JSON body as the holder of `token`.
    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.call(reqwest::Method::POST, Some(token), path, Some(body))
            .await
    }

    /// PATCH `path` with a JSON body as the holder of `token`.
    pub async fn patch_as(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.call(reqwest::Method::PATCH, Some(token), path, Some(body))
            .await
    }

    /// DELETE `path` as the holder of `token`.
    pub async fn delete_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.call(reqwest::Method::DELETE, Some(token), path, None)
            .await
    }

    /// GET `path` as `token`, expecting 200; returns the JSON body.
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        let resp = self.get_as(token, path).await;
        assert_eq!(resp.status(), 200, "GET {path}");
        resp.json().await.expect("json")
    }

    /// Every page of the list at `path` (which carries a query string), following
    /// `next_cursor` for at most `max_pages`; `between(n)` runs after page `n` when another
    /// follows.
    pub async fn pages(
        &self,
        token: &str,
        path: &str,
        max_pages: usize,
        mut between: impl AsyncFnMut(usize),
    ) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        for page_no in 0..max_pages {
            let url = match &cursor {
                Some(c) => format!("{path}&cursor={c}"),
                None => path.to_owned(),
            };
            let page = self.get_json(token, &url).await;
            cursor = page["next_cursor"].as_str().map(str::to_owned);
            pages.push(page);
            if cursor.is_none() {
                break;
            }
            between(page_no).await;
        }
        pages
    }

    /// Creates a session for `token` (role `role`); returns its JSON.
    pub async fn create_session(&self, token: &str, role: &str) -> Value {
        let resp = self
            .post_as(
                token,
                "/api/v1/sessions",
                &serde_json::json!({ "role": role, "experience": "mid-level", "topics": ["Rust"] }),
            )
            .await;
        assert_eq!(resp.status(), 201, "create session");
        resp.json().await.expect("json")
    }

    /// Creates a session for `token` with role `role`; returns its id.
    pub async fn session_id(&self, token: &str, role: &str) -> String {
        self.create_session(token, role).await["id"]
            .as_str()
            .expect("session id")
            .to_owned()
    }

    /// Adds custom questions numbered `numbers` to `session_id`, each expected to be
    /// created; returns their ids.
    pub async fn add_questions(
        &self,
        token: &str,
        session_id: &str,
        numbers: std::ops::Range<usize>,
    ) -> Vec<String> {
        let mut ids = Vec::new();
        for n in numbers {
            let resp = self.add_question(token, session_id, n).await;
            assert_eq!(resp.status(), 201, "adding question {n}");
            let body: Value = resp.json().await.expect("json");
            ids.push(body["id"].as_str().expect("question id").to_owned());
        }
        ids
    }

    /// Adds custom question number `n` (unique text) to `session_id`; returns the response.
    pub async fn add_question(&self, token: &str, session_id: &str, n: usize) -> reqwest::Response {
        self.post_as(
            token,
            &format!("/api/v1/sessions/{session_id}/questions"),
            &serde_json::json!({
                "question": format!("Question number {n}: what does it do?"),
                "answer": format!("Answer number {n} explains it in words."),
            }),
        )
        .await
    }

    /// Registers a fresh account; returns the register response body.
    pub async fn register(&self) -> Account {
        self.register_email(&format!("{}@example.com", unique("user-")))
            .await
    }

    /// Registers an account with this email.
    pub async fn register_email(&self, email: &str) -> Account {
        let email = email.to_owned();
        let password = "correct horse battery".to_owned();
        let resp = self
            .post(
                "/api/v1/auth/register",
                &serde_json::json!({ "fullname": "Ada Lovelace", "email": email, "password": password }),
            )
            .await;
        assert_eq!(resp.status(), 201, "register failed");
        let body: Value = resp.json().await.expect("json");
        Account {
            email,
            password,
            access: body["access_token"].as_str().expect("access").to_owned(),
            refresh: body["refresh_token"].as_str().expect("refresh").to_owned(),
            id: body["user"]["id"].as_str().expect("id").to_owned(),
        }
    }

    /// Starts an in-process worker on this app's deployment (same database and prefix).
    pub async fn spawn_worker(&self) -> TestWorker {
        TestWorker::spawn(self.vars.clone()).await
    }

    /// A MongoDB handle on this app's database.
    pub async fn db(&self) -> mongodb::Database {
        let client = mongodb::Client::with_uri_str(&self.vars["MONGODB_URI"])
            .await
            .expect("mongo client");
        client.database(&self.vars["MONGODB_DATABASE"])
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A question as a worker would add it: `text`, with a fixed answer, from the LLM.
pub fn ai_question(text: &str) -> common::domain::question::NewQuestion {
    use common::domain::question::{Difficulty, NewQuestion, Source};
    NewQuestion {
        question: text.to_owned(),
        answer: "A model answer of some length.".to_owned(),
        notes: String::new(),
        difficulty: Difficulty::Medium,
        category: String::new(),
        kind: Default::default(),
        is_pinned: false,
        source: Source::Ai,
        added_by: None,
    }
}

/// A registered account.
#[derive(Debug, Clone)]
pub struct Account {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
    /// Access token.
    pub access: String,
    /// Refresh token.
    pub refresh: String,
    /// User id.
    pub id: String,
}

/// A worker running in this test's runtime.
#[derive(Debug)]
pub struct TestWorker {
    stop: Option<oneshot::Sender<()>>,
}

impl TestWorker {
    /// Starts a worker with these variables.
    pub async fn spawn(vars: HashMap<String, String>) -> Self {
        let config = worker::config::WorkerConfig::from_env(&Env::from_map(vars))
            .expect("worker config is complete");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let stop = spawn_in_process("worker", |shutdown| worker::run(listener, config, shutdown));
        Self { stop: Some(stop) }
    }
}

impl Drop for TestWorker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Waits until the stack's SMTP server holds more than `after_count` emails to `to` with
/// this subject; returns the newest one's plain-text part.
pub async fn newest_mail_to(to: &str, subject: &str, after_count: usize) -> String {
    let base = stack_var("MAILTUTAN_URL");
    let http = client();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let messages: Vec<Value> = http
            .get(format!("{base}/api/messages"))
            .send()
            .await
            .expect("mailtutan")
            .json()
            .await
            .unwrap_or_default();
        let mine: Vec<&Value> = messages
            .iter()
            .filter(|m| m["recipients"].to_string().contains(to) && m["subject"] == subject)
            .collect();
        let newest = mine.iter().max_by_key(|m| m["id"].as_u64().unwrap_or(0));
        if let Some(newest) = newest.filter(|_| mine.len() > after_count) {
            let plain = http
                .get(format!("{base}/api/messages/{}/plain", newest["id"]))
                .send()
                .await
                .expect("plain part")
                .text()
                .await
                .expect("text");
            return plain;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new email {subject:?} to {to} within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Number of emails with this subject the SMTP server holds for `to`.
pub async fn mail_count(to: &str, subject: &str) -> usize {
    let base = stack_var("MAILTUTAN_URL");
    let messages: Vec<Value> = client()
        .get(format!("{base}/api/messages"))
        .send()
        .await
        .expect("mailtutan")
        .json()
        .await
        .expect("json");
    messages
        .iter()
        .filter(|m| m["recipients"].to_string().contains(to) && m["subject"] == subject)
        .count()
}

/// An HTTP client for tests.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Polls `check` until it returns true or `limit` passes.
pub async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("condition not met within {limit:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts a problem+json response with `status`, a request id, and returns its body.
pub async fn assert_problem(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status().as_u16(), status, "unexpected status");
    let content_type = content_type(&resp);
    assert!(
        content_type.starts_with("application/problem+json"),
        "content type {content_type:?}"
    );
    assert!(
        resp.headers().contains_key("x-request-id"),
        "response has no x-request-id"
    );
    let body: Value = resp.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["type"].is_string() && body["title"].is_string(),
        "{body}"
    );
    body
}

/// The `content-type` of an answer ("" when absent).
pub fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Path of a workspace binary built by `cargo build` (`API_BIN`/`WORKER_BIN` override).
pub fn binary(name: &str) -> PathBuf {
    let var = format!("{}_BIN", name.to_uppercase());
    if let Ok(path) = std::env::var(&var) {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/it-<hash> → target/<profile>/<name>
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not found: build the binaries first (scripts/test.sh runs `cargo build --bins`)",
        path.display()
    );
    path
}
