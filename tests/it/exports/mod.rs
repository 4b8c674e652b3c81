//! Exports (issue #7): XLSX, CSV, PDF and DOCX files in S3, downloaded through presigned
//! URLs with a plain HTTP client and read back with independent readers.

mod files;
mod lifecycle;

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{TestApp, client};

/// The seeded questions: accents, CJK, an emoji, a long answer, a formula-like answer.
pub fn seed() -> Vec<Value> {
    vec![
        json!({ "question": "Qu'est-ce qu'un café crème ?", "answer": "Un espresso allongé de lait chaud, servi en tasse.", "category": "Français", "notes": "Accents: é è à ç", "is_pinned": true }),
        json!({ "question": "東京の人口は何人ですか？", "answer": "東京都の人口は約1400万人です。", "category": "日本語", "difficulty": "easy" }),
        json!({ "question": "Why is the crab 🦀 the Rust mascot?", "answer": "Ferris the crab 🦀 is a pun on rustaceans, the community's name.", "difficulty": "hard" }),
        json!({ "question": "Explain the ownership model in depth.", "answer": format!("Ownership means {}", "each value has exactly one owner, and borrowing is checked. ".repeat(60)).trim_end().to_owned() }),
        json!({ "question": "What does a spreadsheet do with this?", "answer": "=SUM(A1:A2) would be evaluated as a formula if not neutralised.", "category": "-Security" }),
    ]
}

/// A session holding [`seed`]; returns its id and its questions in list order.
pub async fn seeded_session(app: &TestApp, token: &str) -> (String, Vec<Value>) {
    let resp = app
        .post_as(
            token,
            "/api/v1/sessions",
            &json!({ "role": "Développeur Backend", "experience": "senior", "topics": ["Rust", "日本語"] }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let sid = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for q in seed() {
        let resp = app
            .post_as(token, &format!("/api/v1/sessions/{sid}/questions"), &q)
            .await;
        assert_eq!(resp.status(), 201, "{q}");
    }
    let page = app
        .get_json(
            token,
            &format!("/api/v1/sessions/{sid}/questions?limit=100"),
        )
        .await;
    (sid, page["items"].as_array().unwrap().clone())
}

/// Starts an export; returns the job id.
pub async fn start_export(app: &TestApp, token: &str, sid: &str, format: &str) -> String {
    let resp = app
        .post_as(
            token,
            &format!("/api/v1/sessions/{sid}/exports"),
            &json!({ "format": format }),
        )
        .await;
    assert_eq!(resp.status(), 202, "export refused");
    resp.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Exports and waits; returns the finished job.
pub async fn export(app: &TestApp, token: &str, sid: &str, format: &str) -> Value {
    let id = start_export(app, token, sid, format).await;
    crate::jobs::wait_finished(app, token, &id, Duration::from_secs(60)).await
}

/// Downloads a URL with a plain client (no credentials).
pub async fn download(url: &str) -> reqwest::Response {
    client().get(url).send().await.unwrap()
}
