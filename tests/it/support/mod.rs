//! Test harness: the shared stack started by `scripts/test.sh`, per-test isolation (own
//! database name and Redis key prefix), in-process apps, private service instances for
//! fault tests, and the real binaries for process-level tests.

pub mod process;
pub mod services;

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, time::Duration};

use common::config::Env;
use serde_json::Value;
use tokio::{net::TcpListener, sync::oneshot};

/// Reads a variable the stack script wrote, with a clear failure when tests run without it.
pub fn stack_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test.sh, which starts the local stack")
    })
}

/// A unique suffix for per-test names.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", ulid::Ulid::generate().to_string().to_lowercase())
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
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), v.clone());
    }
    vars
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
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = api::run(listener, config, shutdown).await {
                panic!("api failed: {e:#}");
            }
        });
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
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
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
    assert!(body["type"].is_string() && body["title"].is_string(), "{body}");
    body
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
