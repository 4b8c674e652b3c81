use serde_json::{Value, json};

use crate::support::{TestApp, assert_problem};

fn outcomes(body: &Value) -> Vec<(String, String)> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn bulk_reports_each_id_and_touches_only_the_callers_questions() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let other = app.register().await;
    let sid = app.session_id(&me.access, "Backend").await;
    let other_sid = app.session_id(&other.access, "Theirs").await;
    let mine = app.add_questions(&me.access, &sid, 0..4).await;
    let theirs = app.add_questions(&other.access, &other_sid, 0..1).await;
    let missing = bson::oid::ObjectId::new().to_hex();

    let ids = json!([mine[0], theirs[0], "not-an-id", mine[1], missing]);
    let resp = app
        .post_as(
            &me.access,
            "/api/v1/questions/bulk",
            &json!({ "action": "set_pinned", "ids": ids, "value": true }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        outcomes(&body),
        [
            (mine[0].clone(), "ok".to_owned()),
            (theirs[0].clone(), "not_found".to_owned()),
            ("not-an-id".to_owned(), "invalid".to_owned()),
            (mine[1].clone(), "ok".to_owned()),
            (missing.clone(), "not_found".to_owned()),
        ]
    );
    assert_eq!(body["succeeded"], 2);
    let get = |token: &str, id: &str| {
        let path = format!("/api/v1/questions/{id}");
        let token = token.to_owned();
        let app = &app;
        async move { app.get_json(&token, &path).await }
    };
    assert_eq!(get(&me.access, &mine[0]).await["is_pinned"], true);
    assert_eq!(get(&me.access, &mine[2]).await["is_pinned"], false);
    assert_eq!(get(&other.access, &theirs[0]).await["is_pinned"], false);

    let resp = app
        .post_as(
            &me.access,
            "/api/v1/questions/bulk",
            &json!({ "action": "set_difficulty", "ids": [mine[2], theirs[0]], "value": "hard" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(get(&me.access, &mine[2]).await["difficulty"], "hard");
    assert_eq!(get(&other.access, &theirs[0]).await["difficulty"], "medium");

    let resp = app
        .post_as(
            &me.access,
            "/api/v1/questions/bulk",
            &json!({ "action": "set_category", "ids": [mine[3]], "value": " Databases " }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(get(&me.access, &mine[3]).await["category"], "Databases");

    // Delete: the session's counts follow; the foreign question survives.
    let resp = app
        .post_as(
            &me.access,
            "/api/v1/questions/bulk",
            &json!({ "action": "delete", "ids": [mine[0], mine[2], theirs[0], mine[0]] }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let results: Vec<String> = outcomes(&body).into_iter().map(|(_, r)| r).collect();
    assert_eq!(results, ["ok", "ok", "not_found", "ok"]);
    let session = app
        .get_json(&me.access, &format!("/api/v1/sessions/{sid}"))
        .await;
    assert_eq!(session["question_count"], 2);
    assert_eq!(session["pinned_count"], 1);
    assert_eq!(
        get(&other.access, &theirs[0]).await["id"],
        theirs[0].as_str()
    );
}

#[tokio::test]
async fn bad_bulk_requests_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let sid = app.session_id(&me.access, "Backend").await;
    let mine = app.add_questions(&me.access, &sid, 0..1).await;

    let too_many: Vec<String> = (0..101)
        .map(|_| bson::oid::ObjectId::new().to_hex())
        .collect();
    let cases = [
        json!({ "action": "delete", "ids": too_many }),
        json!({ "action": "delete", "ids": [] }),
        json!({ "action": "explode", "ids": [mine[0]] }),
        json!({ "action": "set_difficulty", "ids": [mine[0]], "value": "extreme" }),
        json!({ "action": "set_pinned", "ids": [mine[0]], "value": "yes" }),
        json!({ "action": "set_pinned", "ids": [mine[0]] }),
        json!({ "action": "set_category", "ids": [mine[0]], "value": "c".repeat(101) }),
        json!({ "action": "delete", "ids": [mine[0]], "extra": 1 }),
    ];
    for body in cases {
        let problem = assert_problem(
            app.post_as(&me.access, "/api/v1/questions/bulk", &body)
                .await,
            400,
        )
        .await;
        assert!(problem["errors"].is_array(), "{body} → {problem}");
    }
    let q = app
        .get_json(&me.access, &format!("/api/v1/questions/{}", mine[0]))
        .await;
    assert_eq!(
        (q["is_pinned"].as_bool(), q["difficulty"].as_str()),
        (Some(false), Some("medium"))
    );
}
