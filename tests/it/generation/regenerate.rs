use serde_json::{Value, json};

use super::finished;
use crate::support::{assert_problem, llm::Reply};

#[tokio::test]
async fn regenerating_replaces_text_and_answer_but_keeps_id_pin_and_notes() {
    let (llm, app, _worker, me) = super::setup(&[]).await;
    let other = app.register().await;
    let sid = app.session_id(&me.access, "Backend").await;
    let created: Value = app
        .post_as(
            &me.access,
            &format!("/api/v1/sessions/{sid}/questions"),
            &json!({
                "question": "What is ownership?",
                "answer": "Each value has one owner that drops it.",
                "notes": "Mention moves",
                "category": "Rust",
                "difficulty": "easy",
                "is_pinned": true,
            }),
        )
        .await
        .json()
        .await
        .unwrap();
    let qid = created["id"].as_str().unwrap();
    let path = format!("/api/v1/questions/{qid}/regenerate");

    // The first candidate repeats the current question; the second is used.
    llm.script([Reply::Content(
        json!({ "questions": [
            { "question": "what is OWNERSHIP", "answer": "The same question again, rephrased.", "difficulty": "easy", "category": "Rust" },
            { "question": "What does the borrow checker verify?", "answer": "That references never outlive their data and never alias a mutable borrow.", "difficulty": "easy", "category": "Rust" },
        ] })
        .to_string(),
    )]);
    let resp = app.post_as(&me.access, &path, &json!({})).await;
    assert_eq!(resp.status(), 202);
    let job_id = resp.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = finished(&app, &me.access, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["question_id"], qid);

    let q = app
        .get_json(&me.access, &format!("/api/v1/questions/{qid}"))
        .await;
    assert_eq!(q["question"], "What does the borrow checker verify?");
    assert!(q["answer"].as_str().unwrap().starts_with("That references"));
    assert_eq!(
        (q["is_pinned"].as_bool(), q["notes"].as_str()),
        (Some(true), Some("Mention moves"))
    );
    assert_eq!(
        (q["category"].as_str(), q["source"].as_str()),
        (Some("Rust"), Some("ai"))
    );
    let session = app
        .get_json(&me.access, &format!("/api/v1/sessions/{sid}"))
        .await;
    assert_eq!(session["question_count"], 1);

    // Ownership: another user's question, a malformed id, no token.
    assert_problem(app.post_as(&other.access, &path, &json!({})).await, 404).await;
    assert_problem(
        app.post_as(&me.access, "/api/v1/questions/xyz/regenerate", &json!({}))
            .await,
        404,
    )
    .await;
    assert_problem(
        app.call(reqwest::Method::POST, None, &path, None).await,
        401,
    )
    .await;
}
