use std::collections::HashSet;

use serde_json::{Value, json};

use crate::support::{TestApp, assert_problem};

#[tokio::test]
async fn create_get_update_and_delete_a_session() {
    let app = TestApp::spawn().await;
    let me = app.register().await;

    let resp = app
        .post_as(
            &me.access,
            "/api/v1/sessions",
            &json!({
                "role": "  Backend Developer ",
                "experience": "senior",
                "topics": [" Rust ", "rust", "SQL"],
                "description": "Prep for Friday",
            }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["role"], "Backend Developer");
    assert_eq!(created["experience"], "senior");
    assert_eq!(created["topics"], json!(["Rust", "SQL"]));
    assert_eq!(created["status"], "pending");
    assert_eq!(created["duration_minutes"], 60);
    assert_eq!(created["question_count"], 0);
    assert_eq!(created["pinned_count"], 0);
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/sessions/{id}");

    assert_eq!(app.get_json(&me.access, &path).await, created);

    // A partial update changes only what it names.
    let resp = app
        .patch_as(
            &me.access,
            &path,
            &json!({ "status": "in-progress", "duration_minutes": 90 }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let updated: Value = resp.json().await.unwrap();
    assert_eq!(updated["status"], "in-progress");
    assert_eq!(updated["duration_minutes"], 90);
    assert_eq!(updated["role"], "Backend Developer");
    assert_eq!(updated["description"], "Prep for Friday");

    // An invalid update is refused whole: the valid field in it is not applied either.
    let body = assert_problem(
        app.patch_as(
            &me.access,
            &path,
            &json!({ "role": " x ", "topics": ["a"], "description": "changed" }),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "role", "{body}");
    let after = app.get_json(&me.access, &path).await;
    assert_eq!(after["description"], "Prep for Friday");
    assert_eq!(after["topics"], json!(["Rust", "SQL"]));

    // Deleting removes the session and its questions.
    let q = app.add_question(&me.access, id, 1).await;
    assert_eq!(q.status(), 201);
    let qid = q.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.delete_as(&me.access, &path).await.status(), 204);
    assert_problem(app.get_as(&me.access, &path).await, 404).await;
    assert_problem(
        app.get_as(&me.access, &format!("/api/v1/questions/{qid}"))
            .await,
        404,
    )
    .await;
    let remaining = app
        .db()
        .await
        .collection::<bson::Document>("questions")
        .count_documents(bson::doc! {})
        .await
        .unwrap();
    assert_eq!(remaining, 0);
    assert_problem(app.delete_as(&me.access, &path).await, 404).await;
}

#[tokio::test]
async fn invalid_sessions_are_refused_with_field_errors() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let cases = [
        (json!({ "role": "B", "experience": "senior" }), "role"),
        (
            json!({ "role": "Backend", "experience": "guru" }),
            "experience",
        ),
        (
            json!({ "role": "Backend", "experience": "senior", "topics": vec!["t"; 11] }),
            "topics",
        ),
        (
            json!({ "role": "Backend", "experience": "senior", "topics": ["  "] }),
            "topics",
        ),
        (
            json!({ "role": "Backend", "experience": "senior", "duration_minutes": 0 }),
            "duration_minutes",
        ),
        (
            json!({ "role": "Backend", "experience": "senior", "description": "d".repeat(501) }),
            "description",
        ),
        (
            json!({ "role": "Backend", "experience": "senior", "owner": "x" }),
            "owner",
        ),
    ];
    for (body, field) in cases {
        let problem = assert_problem(
            app.post_as(&me.access, "/api/v1/sessions", &body).await,
            400,
        )
        .await;
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .map(|e| e.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default();
        assert!(fields.contains(&field), "{body} → {problem}");
    }
    let page = app.get_json(&me.access, "/api/v1/sessions").await;
    assert_eq!(page["items"], json!([]), "nothing was created");
}

#[tokio::test]
async fn list_is_newest_first_filtered_and_paginated() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let other = app.register().await;
    app.create_session(&other.access, "Someone else's").await;
    let mut made = Vec::new();
    for i in 0..25 {
        let s = app.create_session(&me.access, &format!("Role {i}")).await;
        if i % 5 == 0 {
            let path = format!("/api/v1/sessions/{}", s["id"].as_str().unwrap());
            let resp = app
                .patch_as(&me.access, &path, &json!({ "status": "completed" }))
                .await;
            assert_eq!(resp.status(), 200);
        }
        made.push(s["id"].as_str().unwrap().to_owned());
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/sessions?limit=10&cursor={c}"),
            None => "/api/v1/sessions?limit=10".to_owned(),
        };
        let page = app.get_json(&me.access, &path).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 10);
        seen.extend(items.iter().map(|s| s["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    made.reverse();
    assert_eq!(
        seen, made,
        "every session once, newest first, none of others"
    );

    let completed = app
        .get_json(&me.access, "/api/v1/sessions?status=completed")
        .await;
    let items = completed["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert!(items.iter().all(|s| s["status"] == "completed"));
    let ids: HashSet<&str> = items.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 5);

    for bad in [
        "/api/v1/sessions?limit=0",
        "/api/v1/sessions?limit=101",
        "/api/v1/sessions?cursor=bm90LWEtY3Vyc29y",
        "/api/v1/sessions?status=archived",
    ] {
        assert_problem(app.get_as(&me.access, bad).await, 400).await;
    }
}

#[tokio::test]
async fn deleting_the_account_removes_its_sessions_and_questions_only() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let other = app.register().await;
    for account in [&me, &other] {
        let sid = app.session_id(&account.access, "Backend").await;
        for i in 0..3 {
            assert_eq!(
                app.add_question(&account.access, &sid, i).await.status(),
                201
            );
        }
    }
    assert_eq!(app.delete_as(&me.access, "/api/v1/me").await.status(), 204);
    let db = app.db().await;
    let owned_by = |id: &str| bson::doc! { "user_id": bson::oid::ObjectId::parse_str(id).unwrap() };
    for collection in ["sessions", "questions"] {
        let col = db.collection::<bson::Document>(collection);
        assert_eq!(
            col.count_documents(owned_by(&me.id)).await.unwrap(),
            0,
            "{collection}"
        );
        assert!(
            col.count_documents(owned_by(&other.id)).await.unwrap() > 0,
            "{collection}"
        );
    }
}
