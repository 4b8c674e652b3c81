//! AI question generation and regeneration (issue #6), against a scripted local stand-in
//! for an OpenAI-compatible server.

mod cap;
mod job_description;
mod provider;
mod regenerate;

use std::{collections::HashMap, time::Duration};

use serde_json::{Value, json};

use crate::support::{Account, TestApp, TestWorker, isolated_env, llm::FakeLlm};

/// Variables for a deployment using `llm`, with fast job retries, plus `extra`.
pub fn vars_with(llm: Option<&FakeLlm>, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut overrides: Vec<(&str, String)> = vec![("JOB_RETRY_BASE_MS", "200".to_owned())];
    if let Some(llm) = llm {
        overrides.extend(llm.vars());
    }
    overrides.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    isolated_env(&overrides)
}

/// A fake provider, an api and an in-process worker using it, and a registered user.
pub async fn setup(extra: &[(&str, &str)]) -> (FakeLlm, TestApp, TestWorker, Account) {
    let llm = FakeLlm::start().await;
    let app = TestApp::spawn_with(vars_with(Some(&llm), extra)).await;
    let worker = app.spawn_worker().await;
    let me = app.register().await;
    (llm, app, worker, me)
}

/// Starts generation; returns the job id.
pub async fn generate(app: &TestApp, token: &str, session_id: &str, body: Value) -> String {
    let resp = app
        .post_as(
            token,
            &format!("/api/v1/sessions/{session_id}/generate"),
            &body,
        )
        .await;
    assert_eq!(resp.status(), 202, "generate refused");
    resp.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits for the job to finish; returns it.
pub async fn finished(app: &TestApp, token: &str, job_id: &str) -> Value {
    crate::jobs::wait_finished(app, token, job_id, Duration::from_secs(45)).await
}

/// Starts generation and waits for the job to finish; returns it.
pub async fn run_generation(app: &TestApp, token: &str, session_id: &str, body: Value) -> Value {
    let id = generate(app, token, session_id, body).await;
    finished(app, token, &id).await
}

/// Asserts the job's status and attempt count.
pub fn assert_ended(job: &Value, status: &str, attempt: i64) {
    assert_eq!(
        (job["status"].as_str(), job["attempt"].as_i64()),
        (Some(status), Some(attempt)),
        "{job}"
    );
}

/// The session's questions (up to 100).
pub async fn questions(app: &TestApp, token: &str, session_id: &str) -> Vec<Value> {
    let page = app
        .get_json(
            token,
            &format!("/api/v1/sessions/{session_id}/questions?limit=100"),
        )
        .await;
    page["items"].as_array().unwrap().clone()
}

/// A session with a role and topics.
pub async fn session(app: &TestApp, token: &str, topics: &[&str]) -> String {
    let resp = app
        .post_as(
            token,
            "/api/v1/sessions",
            &json!({ "role": "Backend Developer", "experience": "senior", "topics": topics }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}
