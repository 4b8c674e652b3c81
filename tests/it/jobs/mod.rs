//! The job pipeline (issue #5): records, retries, dead letters, idempotency, recovery from a
//! killed worker, notifications and live events. Jobs here are operator probes
//! (`POST /api/v1/admin/jobs/probe`), which work for a given time and fail on request.

mod claims;
pub mod events;
mod pipeline;
mod recovery;
mod resilience;

use std::{collections::HashMap, time::Duration};

use serde_json::{Value, json};

use crate::support::{Account, TestApp, isolated_env, unique};

/// Variables for a deployment with one operator (`ops-…@example.com`) and fast retries.
pub fn ops_env(retry_base_ms: u64) -> (HashMap<String, String>, String) {
    let email = format!("{}@example.com", unique("ops-"));
    let vars = isolated_env(&[
        ("ADMIN_EMAILS", email.clone()),
        ("JOB_RETRY_BASE_MS", retry_base_ms.to_string()),
        ("RATE_LIMIT_PROBE", "100000/60".to_owned()),
    ]);
    (vars, email)
}

/// Registers the operator of [`ops_env`] with a verified address. The address is marked
/// verified in the database: these tests are about the pipeline, and the mailed-code flow
/// that does it for real is tested in `security::operators`.
pub async fn register_operator(app: &TestApp, email: &str) -> Account {
    let account = app.register_email(email).await;
    let id = bson::oid::ObjectId::parse_str(&account.id).unwrap();
    let marked = app
        .db()
        .await
        .collection::<bson::Document>("users")
        .update_one(
            bson::doc! { "_id": id },
            bson::doc! { "$set": { "email_verified": true } },
        )
        .await
        .unwrap();
    assert_eq!(marked.matched_count, 1);
    account
}

/// Starts a probe; returns the 202 body.
pub async fn probe(app: &TestApp, token: &str, body: Value, key: Option<&str>) -> Value {
    let mut req = app
        .http
        .post(app.url("/api/v1/admin/jobs/probe"))
        .bearer_auth(token)
        .json(&body);
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    let resp = req.send().await.unwrap();
    if resp.status() != 202 {
        panic!(
            "probe refused: {} {}",
            resp.status(),
            resp.text().await.unwrap()
        );
    }
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let accepted: Value = resp.json().await.unwrap();
    assert_eq!(accepted["status_url"], location.as_str());
    assert_eq!(accepted["events_url"], "/api/v1/events");
    accepted
}

/// Polls the job until `done(job)` holds; returns it.
pub async fn wait_job(
    app: &TestApp,
    token: &str,
    id: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let path = format!("/api/v1/jobs/{id}");
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let job = app.get_json(token, &path).await;
        if done(&job) {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} did not get there in {limit:?}: {job}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls until the job has finished.
pub async fn wait_finished(app: &TestApp, token: &str, id: &str, limit: Duration) -> Value {
    wait_job(app, token, id, limit, |j| {
        j["status"] == "succeeded" || j["status"] == "failed"
    })
    .await
}

/// Marks successful probe runs left for `job_id` (their side effect).
pub async fn probe_marks(app: &TestApp, job_id: &str) -> u64 {
    app.db()
        .await
        .collection::<bson::Document>(worker::jobs::PROBE_MARKS)
        .count_documents(bson::doc! { "job_id": job_id })
        .await
        .unwrap()
}

/// The caller's notifications about `job_id`.
pub async fn notifications_for(app: &TestApp, token: &str, job_id: &str) -> Vec<Value> {
    let page = app.get_json(token, "/api/v1/notifications?limit=100").await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["job_id"] == job_id)
        .cloned()
        .collect()
}

/// A probe that works `ms` milliseconds and fails its first `fail` attempts.
pub fn probe_body(ms: u64, fail: u32) -> Value {
    json!({ "work_ms": ms, "fail_attempts": fail })
}
