//! Races that must resolve to exactly one outcome: one job per Idempotency-Key however many
//! copies arrive at once, and a rate limit exact across api instances.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::support::{TestApp, isolated_env};

#[tokio::test]
async fn the_same_idempotency_key_sent_20_times_at_once_makes_one_job() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let session = app.session_id(&user.access, "Race").await;
    app.add_questions(&user.access, &session, 0..2).await;
    let url = app.url(&format!("/api/v1/sessions/{session}/exports"));

    let answers = join_all((0..20).map(|_| {
        app.http
            .post(&url)
            .bearer_auth(&user.access)
            .header("Idempotency-Key", "export-once-please")
            .json(&json!({ "format": "csv" }))
            .send()
    }))
    .await;
    let mut job_ids = Vec::new();
    for resp in answers {
        let resp = resp.unwrap();
        assert_eq!(resp.status(), 202);
        let body: Value = resp.json().await.unwrap();
        job_ids.push(body["job_id"].as_str().unwrap().to_owned());
    }
    job_ids.dedup();
    assert_eq!(job_ids.len(), 1, "every answer names the same job");

    let jobs = app.get_json(&user.access, "/api/v1/jobs").await;
    assert_eq!(jobs["items"].as_array().unwrap().len(), 1, "{jobs}");
    let db = app.db().await;
    let records = db
        .collection::<bson::Document>("jobs")
        .count_documents(bson::doc! { "kind": { "$ne": "email" } })
        .await
        .unwrap();
    assert_eq!(records, 1);
}

#[tokio::test]
async fn the_rate_limit_is_exact_across_two_api_instances_under_100_concurrent_requests() {
    let vars = isolated_env(&[("RATE_LIMIT_DEFAULT", "37/60".to_owned())]);
    let first = TestApp::spawn_with(vars.clone()).await;
    let second = TestApp::spawn_with(vars).await;
    let user = first.register().await;

    let answers = join_all((0..100).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        app.http
            .get(app.url("/api/v1/sessions"))
            .bearer_auth(&user.access)
            .send()
    }))
    .await;
    let mut ok = 0;
    let mut limited = 0;
    for resp in answers {
        match resp.unwrap().status().as_u16() {
            200 => ok += 1,
            429 => limited += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((ok, limited), (37, 63));
}

/// A key whose request died between claiming it and writing its job (claimed 10 s ago,
/// pointing at no job) is taken over by the next request with that key, which starts the
/// job; the same key then names that job.
#[tokio::test]
async fn a_key_left_by_a_request_that_died_is_taken_over() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let session = app.session_id(&user.access, "Crash").await;
    app.add_questions(&user.access, &session, 0..2).await;
    let ttl_ms = i64::try_from(common::db::jobs::IDEMPOTENCY_TTL.as_millis()).unwrap();
    let claimed_10_s_ago = bson::DateTime::now().timestamp_millis() - 10_000;
    app.db()
        .await
        .collection::<bson::Document>(common::db::jobs::KEYS_COLLECTION)
        .insert_one(bson::doc! {
            "_id": format!("{}:left-behind", user.id),
            "job_id": "01JNOTWRITTEN0000000000000",
            "fingerprint": "of the request that died",
            "expires_at": bson::DateTime::from_millis(claimed_10_s_ago + ttl_ms),
        })
        .await
        .unwrap();
    let url = app.url(&format!("/api/v1/sessions/{session}/exports"));
    let mut job_ids = Vec::new();
    for _ in 0..2 {
        let resp = app
            .http
            .post(&url)
            .bearer_auth(&user.access)
            .header("Idempotency-Key", "left-behind")
            .json(&json!({ "format": "csv" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        let body: Value = resp.json().await.unwrap();
        job_ids.push(body["job_id"].as_str().unwrap().to_owned());
    }
    assert_ne!(job_ids[0], "01JNOTWRITTEN0000000000000");
    assert_eq!(job_ids[0], job_ids[1]);
    let jobs = app.get_json(&user.access, "/api/v1/jobs").await;
    assert_eq!(jobs["items"].as_array().unwrap().len(), 1, "{jobs}");
}
