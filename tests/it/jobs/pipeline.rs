use std::time::Duration;

use serde_json::{Value, json};

use super::{
    notifications_for, ops_env, probe, probe_body, probe_marks, register_operator, wait_finished,
};
use crate::support::{
    TestApp, assert_problem,
    services::{Kind, Service},
};

fn millis(at: &Value) -> i64 {
    bson::DateTime::parse_rfc3339_str(at.as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

#[tokio::test]
async fn a_job_runs_once_notifies_once_and_only_its_owner_sees_it() {
    let (vars, email) = ops_env(200);
    let app = TestApp::spawn_with(vars).await;
    let _worker = app.spawn_worker().await;
    let ops = register_operator(&app, &email).await;
    let other = app.register().await;

    let accepted = probe(&app, &ops.access, probe_body(300, 0), None).await;
    let id = accepted["job_id"].as_str().unwrap();
    let job = wait_finished(&app, &ops.access, id, Duration::from_secs(20)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["kind"], "probe");
    assert_eq!(
        (job["attempt"].as_i64(), job["max_attempts"].as_i64()),
        (Some(1), Some(3))
    );
    assert_eq!(job["progress"], 100);
    assert_eq!(job["result"]["mark"], format!("{id}:1"));
    assert!(millis(&job["created_at"]) <= millis(&job["started_at"]));
    assert!(millis(&job["started_at"]) <= millis(&job["finished_at"]));
    assert_eq!(job["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(probe_marks(&app, id).await, 1);

    // The owner's list has it; the notification is there once, unread.
    let list = app.get_json(&ops.access, "/api/v1/jobs").await;
    assert_eq!(list["items"][0]["id"], id);
    let notes = notifications_for(&app, &ops.access, id).await;
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (notes[0]["status"].as_str(), notes[0]["read"].as_bool()),
        (Some("succeeded"), Some(false))
    );

    // Nobody else sees it; malformed ids and anonymous callers get nothing either.
    assert_problem(
        app.get_as(&other.access, &format!("/api/v1/jobs/{id}"))
            .await,
        404,
    )
    .await;
    assert_problem(app.get_as(&ops.access, "/api/v1/jobs/not-a-job").await, 404).await;
    assert_problem(app.get(&format!("/api/v1/jobs/{id}")).await, 401).await;
    let theirs = app.get_json(&other.access, "/api/v1/jobs").await;
    assert_eq!(theirs["items"], json!([]));
    assert_eq!(notifications_for(&app, &other.access, id).await.len(), 0);
    // Operator endpoints are for operators.
    assert_problem(
        app.post_as(&other.access, "/api/v1/admin/jobs/probe", &probe_body(0, 0))
            .await,
        403,
    )
    .await;
    assert_problem(
        app.get_as(&other.access, "/api/v1/admin/jobs/dead").await,
        403,
    )
    .await;

    // Read and clear.
    let resp = app
        .post_as(
            &other.access,
            "/api/v1/notifications/read",
            &json!({ "all": true }),
        )
        .await;
    assert_eq!(
        resp.json::<Value>().await.unwrap()["count"],
        0,
        "others' untouched"
    );
    let resp = app
        .post_as(
            &ops.access,
            "/api/v1/notifications/read",
            &json!({ "ids": [notes[0]["id"], "not-an-id"] }),
        )
        .await;
    assert_eq!(resp.json::<Value>().await.unwrap()["count"], 1);
    let page = app
        .get_json(&ops.access, "/api/v1/notifications?unread=true")
        .await;
    assert_eq!(
        (
            page["items"].as_array().unwrap().len(),
            page["unread_count"].as_u64()
        ),
        (0, Some(0))
    );
    assert_problem(
        app.post_as(&ops.access, "/api/v1/notifications/read", &json!({}))
            .await,
        400,
    )
    .await;
    let resp = app.delete_as(&ops.access, "/api/v1/notifications").await;
    assert_eq!(resp.json::<Value>().await.unwrap()["count"], 1);
    assert_eq!(notifications_for(&app, &ops.access, id).await.len(), 0);
}

/// Progress reported faster than the worker writes it (steps 300 ms apart; the record is
/// written at most every 500 ms) still shows on the record while the job runs: only steps
/// the job reported, never going back, then 100.
#[tokio::test]
async fn the_record_shows_progress_while_the_job_runs() {
    let (vars, email) = ops_env(200);
    let app = TestApp::spawn_with(vars).await;
    let _worker = app.spawn_worker().await;
    let ops = register_operator(&app, &email).await;

    let accepted = probe(&app, &ops.access, probe_body(1_500, 0), None).await;
    let id = accepted["job_id"].as_str().unwrap();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let job = loop {
        let job = app
            .get_json(&ops.access, &format!("/api/v1/jobs/{id}"))
            .await;
        if job["status"] == "running" {
            seen.push(job["progress"].as_i64().unwrap());
        }
        if job["status"] == "succeeded" || tokio::time::Instant::now() > deadline {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"], 100);
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert!(
        seen.iter().all(|p| [0, 20, 40, 60, 80].contains(p)),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|p| *p > 0),
        "no progress while running: {seen:?}"
    );
}

#[tokio::test]
async fn retries_back_off_and_a_job_never_exceeds_its_attempts() {
    let (vars, email) = ops_env(400);
    let app = TestApp::spawn_with(vars).await;
    let _worker = app.spawn_worker().await;
    let ops = register_operator(&app, &email).await;

    // Fails twice, then succeeds on attempt 3, with growing gaps between attempts.
    let flaky = probe(&app, &ops.access, probe_body(50, 2), None).await;
    let flaky_id = flaky["job_id"].as_str().unwrap().to_owned();
    // Always fails.
    let broken = probe(&app, &ops.access, probe_body(50, 10), None).await;
    let broken_id = broken["job_id"].as_str().unwrap().to_owned();
    // Fails permanently: no retry.
    let hopeless = probe(&app, &ops.access, json!({ "permanent": true }), None).await;
    let hopeless_id = hopeless["job_id"].as_str().unwrap().to_owned();

    let job = wait_finished(&app, &ops.access, &flaky_id, Duration::from_secs(30)).await;
    assert_eq!(
        (job["status"].as_str(), job["attempt"].as_i64()),
        (Some("succeeded"), Some(3)),
        "{job}"
    );
    let attempts = job["attempts"].as_array().unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| a["attempt"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(attempts[..2].iter().all(|a| a["error"].is_string()));
    assert!(attempts[2]["error"].is_null());
    let gap =
        |i: usize| millis(&attempts[i + 1]["started_at"]) - millis(&attempts[i]["finished_at"]);
    assert!(
        gap(0) > 0 && gap(1) > gap(0),
        "gaps {} then {}",
        gap(0),
        gap(1)
    );
    assert_eq!(probe_marks(&app, &flaky_id).await, 1);

    let job = wait_finished(&app, &ops.access, &broken_id, Duration::from_secs(30)).await;
    assert_eq!(
        (job["status"].as_str(), job["attempt"].as_i64()),
        (Some("failed"), Some(3)),
        "{job}"
    );
    assert!(job["error"].as_str().unwrap().contains("fail attempt 3"));
    let job = wait_finished(&app, &ops.access, &hopeless_id, Duration::from_secs(30)).await;
    assert_eq!(
        (job["status"].as_str(), job["attempt"].as_i64()),
        (Some("failed"), Some(1)),
        "{job}"
    );

    // Only the exhausted job is dead.
    let dead = app.get_json(&ops.access, "/api/v1/admin/jobs/dead").await;
    let dead_ids: Vec<&str> = dead["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(dead_ids, [broken_id.as_str()]);
    assert_eq!(dead["items"][0]["user_id"], ops.id.as_str());

    // Well past the queue backend's own re-schedule delays (1 s per attempt, up to 25
    // times): still 3 attempts, one failure notification.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let job = app
        .get_json(&ops.access, &format!("/api/v1/jobs/{broken_id}"))
        .await;
    assert_eq!(job["attempt"], 3);
    assert_eq!(job["attempts"].as_array().unwrap().len(), 3);
    let notes = notifications_for(&app, &ops.access, &broken_id).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["status"], "failed");
    assert_eq!(
        notifications_for(&app, &ops.access, &flaky_id).await.len(),
        1
    );

    // An operator retry runs it again: a new run of 3 attempts, and its own notification.
    let resp = app
        .post_as(
            &ops.access,
            &format!("/api/v1/admin/jobs/{broken_id}/retry"),
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 202);
    let job = super::wait_job(
        &app,
        &ops.access,
        &broken_id,
        Duration::from_secs(30),
        |j| {
            j["status"] == "failed"
                && j["attempt"] == 3
                && j["attempts"][2]["finished_at"].is_string()
        },
    )
    .await;
    assert_eq!(job["attempts"].as_array().unwrap().len(), 3);
    super::wait_job(
        &app,
        &ops.access,
        &broken_id,
        Duration::from_secs(10),
        |_| true,
    )
    .await;
    let retried = app.get_json(&ops.access, "/api/v1/admin/jobs/dead").await;
    assert_eq!(retried["items"][0]["run"], 2);
    let notes = notifications_for(&app, &ops.access, &broken_id).await;
    assert_eq!(notes.len(), 2);
    // The worker's metrics describe all this (queue gauges, outcomes, durations, retries).
    let text = common::telemetry::metrics().render();
    for series in [
        "queue_depth{queue=\"question-generation\",state=\"waiting\"}",
        "jobs_finished_total{kind=\"probe\",outcome=\"dead\"}",
        "jobs_finished_total{kind=\"probe\",outcome=\"succeeded\"}",
        "job_retries_total{kind=\"probe\"}",
        "job_duration_seconds_bucket{kind=\"probe\"",
    ] {
        assert!(text.contains(series), "{series} missing from metrics");
    }
    // Retrying a job that has not failed is refused.
    let resp = app
        .post_as(
            &ops.access,
            &format!("/api/v1/admin/jobs/{flaky_id}/retry"),
            &json!({}),
        )
        .await;
    assert_problem(resp, 409).await;
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_job_and_runs_it_once() {
    let (vars, email) = ops_env(200);
    let app = TestApp::spawn_with(vars).await;
    let _worker = app.spawn_worker().await;
    let ops = register_operator(&app, &email).await;

    let first = probe(&app, &ops.access, probe_body(200, 0), Some("order-42")).await;
    let again = probe(&app, &ops.access, probe_body(200, 0), Some("order-42")).await;
    assert_eq!(first["job_id"], again["job_id"]);
    let id = first["job_id"].as_str().unwrap();
    let job = wait_finished(&app, &ops.access, id, Duration::from_secs(20)).await;
    assert_eq!(
        (job["status"].as_str(), job["attempt"].as_i64()),
        (Some("succeeded"), Some(1))
    );
    let after = probe(&app, &ops.access, probe_body(200, 0), Some("order-42")).await;
    assert_eq!(after["job_id"], id, "also once finished");
    assert_eq!(probe_marks(&app, id).await, 1);
    let list = app.get_json(&ops.access, "/api/v1/jobs").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // The same key for a different request is refused; a new key is a new job.
    let resp = app
        .http
        .post(app.url("/api/v1/admin/jobs/probe"))
        .bearer_auth(&ops.access)
        .header("Idempotency-Key", "order-42")
        .json(&probe_body(999, 0))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(resp, 422).await;
    assert_eq!(problem["type"], "/problems/idempotency-key-reused");
    let other = probe(&app, &ops.access, probe_body(200, 0), Some("order-43")).await;
    assert_ne!(other["job_id"], id);
    let resp = app
        .http
        .post(app.url("/api/v1/admin/jobs/probe"))
        .bearer_auth(&ops.access)
        .header("Idempotency-Key", "has spaces")
        .json(&probe_body(0, 0))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 400).await;
}

#[tokio::test]
async fn with_redis_down_starting_a_job_is_503_and_leaves_nothing_waiting() {
    let mut redis = Service::start(Kind::Redis).await;
    let (mut vars, email) = ops_env(200);
    vars.extend(redis.vars().into_iter().map(|(k, v)| (k.to_owned(), v)));
    let app = TestApp::spawn_with(vars).await;
    let ops = register_operator(&app, &email).await;

    redis.stop();
    let resp = app
        .post_as(&ops.access, "/api/v1/admin/jobs/probe", &probe_body(0, 0))
        .await;
    let problem = assert_problem(resp, 503).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("job queue"),
        "{problem}"
    );

    redis.resume().await;
    // The probe quota could not be counted, so the record was taken back: nothing waits
    // for a delivery that will not come.
    let jobs = app.get_json(&ops.access, "/api/v1/jobs").await;
    assert_eq!(jobs["items"], json!([]), "{jobs}");
    let records = app
        .db()
        .await
        .collection::<bson::Document>("jobs")
        .count_documents(bson::doc! { "kind": "probe" })
        .await
        .unwrap();
    assert_eq!(records, 0);

    // With Redis back, jobs start and run again.
    let _worker = app.spawn_worker().await;
    let accepted = probe(&app, &ops.access, probe_body(0, 0), None).await;
    let job = wait_finished(
        &app,
        &ops.access,
        accepted["job_id"].as_str().unwrap(),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(job["status"], "succeeded");
}
