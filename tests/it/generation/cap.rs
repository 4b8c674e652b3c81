use std::{collections::HashSet, time::Duration};

use serde_json::json;

use super::{generate, questions, session, vars_with};
use crate::support::{TestApp, llm::FakeLlm, process::Proc};

/// Ten generation jobs of five on a session holding 30, run concurrently by two worker
/// processes: the session ends with exactly 50 distinct questions.
#[tokio::test]
async fn concurrent_generation_by_two_workers_stops_at_the_cap() {
    let llm = FakeLlm::start().await;
    let vars = vars_with(Some(&llm), &[("GENERATION_CONCURRENCY", "5")]);
    let app = TestApp::spawn_with(vars.clone()).await;
    let me = app.register().await;
    let sid = session(&app, &me.access, &["Rust"]).await;
    app.add_questions(&me.access, &sid, 0..30).await;

    // All ten are queued before a worker runs: once four have run the session is full and
    // a further request would be refused up front.
    let mut jobs = Vec::new();
    for _ in 0..10 {
        jobs.push(generate(&app, &me.access, &sid, json!({ "count": 5 })).await);
    }
    let _workers = [
        Proc::start("worker", vars.clone()).await,
        Proc::start("worker", vars.clone()).await,
    ];
    let mut added = 0;
    for id in &jobs {
        let job = crate::jobs::wait_finished(&app, &me.access, id, Duration::from_secs(60)).await;
        if job["status"] == "succeeded" {
            added += job["result"]["questions_added"].as_i64().unwrap();
        } else {
            assert!(job["error"].as_str().unwrap().contains("full"), "{job}");
        }
    }
    assert_eq!(added, 20);
    let all = questions(&app, &me.access, &sid).await;
    assert_eq!(all.len(), 50);
    let distinct: HashSet<&str> = all
        .iter()
        .map(|q| q["question"].as_str().unwrap())
        .collect();
    assert_eq!(distinct.len(), 50);
    let s = app
        .get_json(&me.access, &format!("/api/v1/sessions/{sid}"))
        .await;
    assert_eq!(s["question_count"], 50);
}
