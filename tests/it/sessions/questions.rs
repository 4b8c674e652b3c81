use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use crate::support::{TestApp, assert_problem, isolated_env};

fn questions_path(session_id: &str) -> String {
    format!("/api/v1/sessions/{session_id}/questions")
}

#[tokio::test]
async fn custom_question_lifecycle() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let session = app.create_session(&me.access, "Backend Developer").await;
    let sid = session["id"].as_str().unwrap();

    let resp = app
        .post_as(
            &me.access,
            &questions_path(sid),
            &json!({
                "question": "  What is a mutex? ",
                "answer": "A lock that gives one thread at a time access.",
                "category": "Concurrency",
            }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let q: Value = resp.json().await.unwrap();
    assert_eq!(q["question"], "What is a mutex?");
    assert_eq!(q["source"], "custom");
    assert_eq!(q["difficulty"], "medium");
    assert_eq!(q["is_pinned"], false);
    assert_eq!(q["notes"], "");
    assert_eq!(q["session_id"], sid);
    let path = format!("/api/v1/questions/{}", q["id"].as_str().unwrap());
    assert_eq!(app.get_json(&me.access, &path).await, q);

    // Partial update, pinning twice is idempotent (a set, not a toggle).
    for _ in 0..2 {
        let resp = app
            .patch_as(
                &me.access,
                &path,
                &json!({ "notes": "Ask about poisoning", "difficulty": "hard", "is_pinned": true }),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let updated: Value = resp.json().await.unwrap();
        assert_eq!(updated["notes"], "Ask about poisoning");
        assert_eq!(updated["difficulty"], "hard");
        assert_eq!(updated["is_pinned"], true);
        assert_eq!(updated["question"], "What is a mutex?");
    }
    let s = app
        .get_json(&me.access, &format!("/api/v1/sessions/{sid}"))
        .await;
    assert_eq!(
        (s["question_count"].as_i64(), s["pinned_count"].as_i64()),
        (Some(1), Some(1))
    );

    // Invalid edits change nothing.
    let problem = assert_problem(
        app.patch_as(
            &me.access,
            &path,
            &json!({ "answer": "short", "notes": "x" }),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "answer", "{problem}");
    assert_problem(
        app.patch_as(&me.access, &path, &json!({ "source": "ai" }))
            .await,
        400,
    )
    .await;
    assert_eq!(
        app.get_json(&me.access, &path).await["notes"],
        "Ask about poisoning"
    );

    // Delete frees the slot.
    assert_eq!(app.delete_as(&me.access, &path).await.status(), 204);
    assert_problem(app.get_as(&me.access, &path).await, 404).await;
    assert_problem(app.delete_as(&me.access, &path).await, 404).await;
    let s = app
        .get_json(&me.access, &format!("/api/v1/sessions/{sid}"))
        .await;
    assert_eq!(
        (s["question_count"].as_i64(), s["pinned_count"].as_i64()),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn the_same_text_with_other_case_spacing_or_punctuation_is_a_conflict() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let sid = app.session_id(&me.access, "Backend").await;
    let path = questions_path(&sid);
    let add = async |text: &str| {
        app.post_as(
            &me.access,
            &path,
            &json!({ "question": text, "answer": "Some answer of enough length." }),
        )
        .await
    };
    assert_eq!(add("What is a closure?").await.status(), 201);
    let problem = assert_problem(add("  what IS   a closure ").await, 409).await;
    assert_eq!(problem["type"], "/problems/duplicate-question");
    assert_problem(add("What is a closure?!").await, 409).await;

    // Renaming another question onto the same text is refused too.
    let other = add("What is a trait object?").await;
    assert_eq!(other.status(), 201);
    let other_path = format!(
        "/api/v1/questions/{}",
        other.json::<Value>().await.unwrap()["id"].as_str().unwrap()
    );
    let problem = assert_problem(
        app.patch_as(
            &me.access,
            &other_path,
            &json!({ "question": "WHAT is a closure" }),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(problem["type"], "/problems/duplicate-question");

    // The same text in another session is fine.
    let sid2 = app.session_id(&me.access, "Frontend").await;
    let resp = app
        .post_as(
            &me.access,
            &questions_path(&sid2),
            &json!({ "question": "What is a closure?", "answer": "Some answer of enough length." }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let s = app
        .get_json(&me.access, &format!("/api/v1/sessions/{sid}"))
        .await;
    assert_eq!(s["question_count"], 2);
}

#[tokio::test]
async fn filters_select_by_pinned_difficulty_and_category() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let sid = app.session_id(&me.access, "Backend").await;
    let specs = [
        ("easy", "Databases", true),
        ("hard", "Databases", false),
        ("hard", "Networking", true),
        ("medium", "", false),
    ];
    for (i, (difficulty, category, pinned)) in specs.iter().enumerate() {
        let resp = app
            .post_as(
                &me.access,
                &questions_path(&sid),
                &json!({
                    "question": format!("Filter question {i}?"),
                    "answer": "An answer that is long enough.",
                    "difficulty": difficulty,
                    "category": category,
                    "is_pinned": pinned,
                }),
            )
            .await;
        assert_eq!(resp.status(), 201);
    }
    let count = |query: &'static str| {
        let path = format!("{}?{query}", questions_path(&sid));
        let app = &app;
        let token = me.access.clone();
        async move {
            let page = app.get_json(&token, &path).await;
            page["items"].as_array().unwrap().clone()
        }
    };
    let pinned = count("pinned=true").await;
    assert_eq!(pinned.len(), 2);
    assert!(pinned.iter().all(|q| q["is_pinned"] == true));
    assert_eq!(count("pinned=false").await.len(), 2);
    let hard = count("difficulty=hard").await;
    assert_eq!(hard.len(), 2);
    assert!(hard.iter().all(|q| q["difficulty"] == "hard"));
    let db = count("category=Databases").await;
    assert_eq!(db.len(), 2);
    assert!(db.iter().all(|q| q["category"] == "Databases"));
    assert_eq!(
        count("category=Databases&difficulty=hard&pinned=false")
            .await
            .len(),
        1
    );
    assert_eq!(count("category=Nothing").await.len(), 0);
    let all = count("").await;
    assert_eq!(all.len(), 4);
    assert_eq!(
        all.iter()
            .map(|q| q["is_pinned"] == true)
            .collect::<Vec<_>>(),
        [true, true, false, false],
        "pinned first"
    );
    assert_problem(
        app.get_as(
            &me.access,
            &format!("{}?difficulty=extreme", questions_path(&sid)),
        )
        .await,
        400,
    )
    .await;
}

/// Walks every page; returns the ids in the order served.
async fn walk(
    app: &TestApp,
    token: &str,
    sid: &str,
    limit: u32,
    between: impl AsyncFnMut(usize),
) -> Vec<Value> {
    let path = format!("{}?limit={limit}", questions_path(sid));
    app.pages(token, &path, usize::MAX, between)
        .await
        .iter()
        .flat_map(|page| page["items"].as_array().unwrap().iter().cloned())
        .collect()
}

#[tokio::test]
async fn paging_through_250_questions_serves_each_once_in_order_despite_inserts() {
    let app = TestApp::spawn_with(isolated_env(&[(
        "MAX_QUESTIONS_PER_SESSION",
        "400".to_owned(),
    )]))
    .await;
    let me = app.register().await;
    let sid = app.session_id(&me.access, "Backend").await;
    let mut pinned = HashSet::new();
    for i in 0..250 {
        let resp = app.add_question(&me.access, &sid, i).await;
        assert_eq!(resp.status(), 201);
        if i % 10 == 3 {
            let id = resp.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let resp = app
                .patch_as(
                    &me.access,
                    &format!("/api/v1/questions/{id}"),
                    &json!({ "is_pinned": true }),
                )
                .await;
            assert_eq!(resp.status(), 200);
            pinned.insert(id);
        }
    }
    assert_eq!(pinned.len(), 25);

    // New questions (pinned ones too) arrive while the client pages.
    let mut extra = 1000;
    let served = walk(&app, &me.access, &sid, 17, async |_| {
        for pin in [false, true] {
            extra += 1;
            let resp = app
                .post_as(
                    &me.access,
                    &questions_path(&sid),
                    &json!({
                        "question": format!("Late question {extra}?"),
                        "answer": "Arrived while paging.",
                        "is_pinned": pin,
                    }),
                )
                .await;
            assert_eq!(resp.status(), 201);
        }
    })
    .await;

    let originals: Vec<&Value> = served
        .iter()
        .filter(|q| !q["question"].as_str().unwrap().starts_with("Late"))
        .collect();
    let ids: Vec<&str> = originals
        .iter()
        .map(|q| q["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 250, "each original question served");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 250, "none twice");
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for q in &served {
        *per_id.entry(q["id"].as_str().unwrap()).or_default() += 1;
    }
    assert!(
        per_id.values().all(|n| *n == 1),
        "no item of any kind repeats"
    );

    // Pinned first, then newest: (is_pinned, created_at, id) never increases.
    let keys: Vec<(bool, i64, String)> = served
        .iter()
        .map(|q| {
            let at = bson::DateTime::parse_rfc3339_str(q["created_at"].as_str().unwrap());
            (
                q["is_pinned"].as_bool().unwrap(),
                at.unwrap().timestamp_millis(),
                q["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(keys.windows(2).all(|w| w[0] >= w[1]), "order broken");
    let served_pinned: HashSet<String> = originals
        .iter()
        .filter(|q| q["is_pinned"] == true)
        .map(|q| q["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(served_pinned, pinned);
    assert_eq!(
        originals[..25]
            .iter()
            .filter(|q| q["is_pinned"] == true)
            .count(),
        25,
        "the pinned originals come before every unpinned one"
    );
}

#[tokio::test]
async fn invalid_questions_are_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let sid = app.session_id(&me.access, "Backend").await;
    let cases = [
        (
            json!({ "question": "Why?", "answer": "Because it is so." }),
            "question",
        ),
        (
            json!({ "question": "Why is it so?", "answer": "Because" }),
            "answer",
        ),
        (
            json!({ "question": "Why is it so?", "answer": "Because it is so.", "difficulty": "extreme" }),
            "difficulty",
        ),
        (
            json!({ "question": "Why is it so?", "answer": "Because it is so.", "notes": "n".repeat(1001) }),
            "notes",
        ),
        (
            json!({ "question": "Why is it so?", "answer": "Because it is so.", "source": "ai" }),
            "source",
        ),
    ];
    for (body, field) in cases {
        let problem = assert_problem(
            app.post_as(&me.access, &questions_path(&sid), &body).await,
            400,
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{body} → {problem}");
    }
    let s = app
        .get_json(&me.access, &format!("/api/v1/sessions/{sid}"))
        .await;
    assert_eq!(s["question_count"], 0);
}
