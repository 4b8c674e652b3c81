//! The ownership matrix, generated from the served OpenAPI document: every operation with a
//! path id, called by another user with the owner's real ids, answers 404 and changes
//! nothing. A new operation with an id is covered automatically; one this test does not know
//! how to call fails it until it is taught (a body in `BODIES`, or an id in `ids`).

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestApp, assert_problem};

/// Request bodies for operations that take one (valid for the owner, so a 404 can only come
/// from the ownership check, not from validation).
fn body_for(operation_id: &str) -> Option<Value> {
    Some(match operation_id {
        "sessions_update" => json!({ "role": "Hijacked role" }),
        "questions_add" => {
            json!({ "question": "Whose session is this?", "answer": "Not the caller's, clearly." })
        }
        "questions_update" => json!({ "notes": "hijacked", "is_pinned": true }),
        "sessions_generate" => json!({ "count": 1 }),
        "questions_regenerate" => json!({}),
        "sessions_export" => json!({ "format": "csv" }),
        "attempts_create" => json!({ "answer": "Someone else's answer." }),
        "reviews_create" => json!({ "rating": "easy" }),
        _ => return None,
    })
}

/// Operator operations act on every user's resources by design; they are guarded by the
/// admin role instead (403 for everyone else), which `admin_endpoints_refuse_users` checks.
const OPERATOR_PREFIX: &str = "/api/v1/admin/";

#[tokio::test]
async fn every_operation_with_an_id_hides_other_users_resources() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let other = app.register().await;

    let session = app.session_id(&owner.access, "Owner's role").await;
    let question = app
        .add_questions(&owner.access, &session, 0..1)
        .await
        .remove(0);
    let job: Value = app
        .post_as(
            &owner.access,
            &format!("/api/v1/sessions/{session}/exports"),
            &json!({ "format": "csv" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let job = job["job_id"].as_str().unwrap().to_owned();
    let attempt: Value = app
        .post_as(
            &owner.access,
            &format!("/api/v1/questions/{question}/attempts"),
            &json!({ "answer": "The owner's answer." }),
        )
        .await
        .json()
        .await
        .unwrap();
    let attempt = attempt["attempt_id"].as_str().unwrap().to_owned();
    let ids: BTreeMap<&str, &str> = [
        ("session_id", session.as_str()),
        ("question_id", question.as_str()),
        ("job_id", job.as_str()),
        ("attempt_id", attempt.as_str()),
    ]
    .into();

    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut checked = Vec::new();
    let mut operator_ops = 0;
    for (template, ops) in spec["paths"].as_object().unwrap() {
        if !template.contains('{') {
            continue;
        }
        for (method, op) in ops.as_object().unwrap() {
            let op_id = op["operationId"].as_str().unwrap();
            if template.starts_with(OPERATOR_PREFIX) {
                operator_ops += 1;
                continue;
            }
            let mut path = template.clone();
            for param in op["parameters"].as_array().into_iter().flatten() {
                if param["in"] != "path" {
                    continue;
                }
                let name = param["name"].as_str().unwrap();
                let id = ids.get(name).unwrap_or_else(|| {
                    panic!("{op_id}: no owner's id for path parameter {name}; add one to `ids`")
                });
                path = path.replace(&format!("{{{name}}}"), id);
            }
            let body = if op.get("requestBody").is_some() {
                Some(body_for(op_id).unwrap_or_else(|| {
                    panic!("{op_id} takes a body: add a valid one to `body_for`")
                }))
            } else {
                None
            };
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let resp = app
                .call(method.clone(), Some(&other.access), &path, body.as_ref())
                .await;
            let problem = assert_problem(resp, 404).await;
            assert!(problem["detail"].is_string(), "{op_id}: {problem}");
            checked.push(op_id.to_owned());
        }
    }
    // The document really has these (guards against a matrix that silently checks nothing).
    for expected in [
        "sessions_get",
        "sessions_delete",
        "questions_update",
        "questions_regenerate",
        "sessions_export",
        "jobs_get",
        "attempts_create",
        "attempts_get",
        "attempts_delete",
        "reviews_create",
    ] {
        assert!(
            checked.iter().any(|c| c == expected),
            "{expected} not checked: {checked:?}"
        );
    }
    assert!(checked.len() >= 12, "{checked:?}");
    assert!(operator_ops >= 1);

    // Nothing of the owner's changed.
    let s = app
        .get_json(&owner.access, &format!("/api/v1/sessions/{session}"))
        .await;
    assert_eq!(
        (s["role"].as_str(), s["question_count"].as_i64()),
        (Some("Owner's role"), Some(1))
    );
    let q = app
        .get_json(&owner.access, &format!("/api/v1/questions/{question}"))
        .await;
    assert_eq!(
        (q["notes"].as_str(), q["is_pinned"].as_bool()),
        (Some(""), Some(false))
    );
    let j = app
        .get_json(&owner.access, &format!("/api/v1/jobs/{job}"))
        .await;
    assert_eq!(j["id"], job.as_str());
    let a = app
        .get_json(&owner.access, &format!("/api/v1/attempts/{attempt}"))
        .await;
    assert_eq!(a["answer"], "The owner's answer.");
    let attempts = app
        .get_json(
            &owner.access,
            &format!("/api/v1/questions/{question}/attempts"),
        )
        .await;
    assert_eq!(attempts["items"].as_array().unwrap().len(), 1, "{attempts}");
    let jobs = app.get_json(&other.access, "/api/v1/jobs").await;
    assert_eq!(jobs["items"], json!([]), "the other user started no job");
}

#[tokio::test]
async fn admin_endpoints_refuse_users() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut seen = 0;
    for (template, ops) in spec["paths"].as_object().unwrap() {
        if !template.starts_with(OPERATOR_PREFIX) {
            continue;
        }
        for (method, op) in ops.as_object().unwrap() {
            let path = template.replace("{job_id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = op.get("requestBody").map(|_| json!({}));
            let resp = app
                .call(method, Some(&user.access), &path, body.as_ref())
                .await;
            assert_problem(resp, 403).await;
            seen += 1;
        }
    }
    assert!(seen >= 3, "operator operations: {seen}");
}
