use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestApp, assert_problem};

/// Every route with an id: someone else's id and a malformed id are 404, no token is 401,
/// and the other user's data is unchanged afterwards.
#[tokio::test]
async fn ids_of_others_or_malformed_are_404_and_anonymous_is_401() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let intruder = app.register().await;
    let session = app.create_session(&owner.access, "Owner's role").await;
    let sid = session["id"].as_str().unwrap().to_owned();
    let question: Value = app
        .add_question(&owner.access, &sid, 1)
        .await
        .json()
        .await
        .unwrap();
    let qid = question["id"].as_str().unwrap().to_owned();

    let session_body = json!({ "role": "Hijacked" });
    let question_body =
        json!({ "question": "What is a hijack?", "answer": "Not something you do." });
    let patch_question = json!({ "notes": "hijacked", "is_pinned": true });
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/v1/sessions/{s}".into(), None),
        (
            Method::PATCH,
            "/api/v1/sessions/{s}".into(),
            Some(session_body),
        ),
        (Method::DELETE, "/api/v1/sessions/{s}".into(), None),
        (Method::GET, "/api/v1/sessions/{s}/stats".into(), None),
        (Method::GET, "/api/v1/sessions/{s}/questions".into(), None),
        (
            Method::POST,
            "/api/v1/sessions/{s}/questions".into(),
            Some(question_body),
        ),
        (Method::GET, "/api/v1/questions/{q}".into(), None),
        (
            Method::PATCH,
            "/api/v1/questions/{q}".into(),
            Some(patch_question),
        ),
        (Method::DELETE, "/api/v1/questions/{q}".into(), None),
    ];
    for (method, template, body) in &routes {
        for (sid, qid, token, status) in [
            (
                sid.as_str(),
                qid.as_str(),
                Some(intruder.access.as_str()),
                404,
            ),
            ("not-an-id", "not-an-id", Some(owner.access.as_str()), 404),
            (
                "0123456789abcdef0123456z",
                "zz",
                Some(owner.access.as_str()),
                404,
            ),
            (sid.as_str(), qid.as_str(), None, 401),
        ] {
            let path = template.replace("{s}", sid).replace("{q}", qid);
            let resp = app.call(method.clone(), token, &path, body.as_ref()).await;
            let problem = assert_problem(resp, status).await;
            assert!(
                problem["detail"].as_str().is_some(),
                "{method} {path}: {problem}"
            );
        }
    }

    let after = app
        .get_json(&owner.access, &format!("/api/v1/sessions/{sid}"))
        .await;
    assert_eq!(after["role"], "Owner's role");
    assert_eq!(after["question_count"], 1);
    let q = app
        .get_json(&owner.access, &format!("/api/v1/questions/{qid}"))
        .await;
    assert_eq!(
        (q["notes"].as_str(), q["is_pinned"].as_bool()),
        (Some(""), Some(false))
    );
}
