use serde_json::{Value, json};

use super::{assert_ended, finished, generate, questions, run_generation, session, vars_with};
use crate::support::{
    TestApp, assert_problem,
    llm::{COMPLETION_TOKENS, FakeLlm, PROMPT_TOKENS, Reply, batch},
};

#[tokio::test]
async fn a_structured_reply_adds_five_ai_questions_and_records_tokens() {
    let (llm, app, _worker, me) = super::setup(&[]).await;
    let sid = session(&app, &me.access, &["Rust", "SQL"]).await;

    let job_id = generate(&app, &me.access, &sid, json!({})).await;
    let job = finished(&app, &me.access, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["kind"], "generate_questions");
    assert_eq!(job["result"]["questions_added"], 5);
    assert_eq!(job["result"]["source"], "ai");
    assert_eq!(job["result"]["cached"], false);
    assert_eq!(
        job["tokens"],
        json!({ "prompt": PROMPT_TOKENS, "completion": COMPLETION_TOKENS })
    );
    let stored = questions(&app, &me.access, &sid).await;
    assert_eq!(stored.len(), 5);
    assert!(
        stored
            .iter()
            .all(|q| q["source"] == "ai" && q["category"] == "Generated")
    );
    let ids: Vec<&str> = job["result"]["question_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        stored
            .iter()
            .all(|q| ids.contains(&q["id"].as_str().unwrap()))
    );

    // The request asked for structured output and described the session.
    let request = &llm.requests()[0];
    assert_eq!(request["model"], "test-model");
    assert_eq!(request["response_format"]["type"], "json_schema");
    assert_eq!(request["response_format"]["json_schema"]["strict"], true);
    let prompt = request["messages"][1]["content"].as_str().unwrap();
    for needle in [
        "5 interview questions",
        "senior candidate",
        r#"{"role":"Backend Developer","topics":["Rust","SQL"]}"#,
    ] {
        assert!(prompt.contains(needle), "{needle:?} not in {prompt:?}");
    }

    // The next batch is told which questions exist already; it asks for what is wanted.
    let job_id = generate(
        &app,
        &me.access,
        &sid,
        json!({ "count": 3, "difficulty": "hard", "topics": ["Tokio"] }),
    )
    .await;
    finished(&app, &me.access, &job_id).await;
    let prompt = llm.requests()[1]["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        prompt.contains("3 interview questions")
            && prompt.contains("Every question is hard")
            && prompt.contains(r#""topics":["Tokio"]"#),
        "{prompt}"
    );
    for q in &stored {
        assert!(
            prompt.contains(q["question"].as_str().unwrap()),
            "existing question not in the prompt"
        );
    }
    assert_eq!(questions(&app, &me.access, &sid).await.len(), 8);
}

#[tokio::test]
async fn replies_in_fences_with_prose_and_brackets_in_answers_are_read() {
    let (llm, app, _worker, me) = super::setup(&[]).await;
    let sid = session(&app, &me.access, &["Rust"]).await;
    let items = json!({ "questions": [
        { "question": "What does Vec<[u8; 4]> hold?", "answer": "Arrays of four bytes, e.g. [1, 2, 3, 4]]; braces } and ]] in answers are fine.", "difficulty": "easy", "category": "Rust" },
        { "question": "How do you write an empty JSON object?", "answer": "As {} — an object with no keys; an empty array is [].", "difficulty": "easy", "category": "JSON" },
    ] });
    llm.script([Reply::Content(format!(
        "Sure! Here are 2 questions [as requested]:\n```json\n{items}\n```\nGood luck {{you}} got this ]"
    ))]);
    let job_id = generate(&app, &me.access, &sid, json!({ "count": 2 })).await;
    let job = finished(&app, &me.access, &job_id).await;
    assert_ended(&job, "succeeded", 1);
    let mut answers: Vec<String> = questions(&app, &me.access, &sid)
        .await
        .iter()
        .map(|q| q["answer"].as_str().unwrap().to_owned())
        .collect();
    answers.sort();
    assert_eq!(
        answers,
        [
            "Arrays of four bytes, e.g. [1, 2, 3, 4]]; braces } and ]] in answers are fine.",
            "As {} — an object with no keys; an empty array is [].",
        ]
    );
}

#[tokio::test]
async fn rate_limited_then_ok_slow_then_retried_and_garbage_then_retried() {
    let (llm, app, _worker, me) = super::setup(&[("AI_TIMEOUT_MS", "700")]).await;

    // 429 with Retry-After: the client waits and retries within the same attempt.
    let sid = session(&app, &me.access, &["Go"]).await;
    llm.script([Reply::Error(429, Some(1)), Reply::Fresh(5)]);
    let job = run_generation(&app, &me.access, &sid, json!({})).await;
    assert_ended(&job, "succeeded", 1);
    assert_eq!(job["result"]["source"], "ai");
    assert_eq!(llm.requests().len(), 2);

    // A reply slower than the timeout fails the attempt; the next attempt succeeds.
    let sid = session(&app, &me.access, &["Go", "gRPC"]).await;
    llm.script([
        Reply::Slow(
            std::time::Duration::from_millis(2_000),
            Box::new(Reply::Fresh(5)),
        ),
        Reply::Fresh(5),
    ]);
    let job = run_generation(&app, &me.access, &sid, json!({})).await;
    assert_ended(&job, "succeeded", 2);
    assert!(
        job["attempts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("provider"),
        "{job}"
    );

    // Garbage fails the attempt (the job retries); invalid and duplicate items are dropped.
    let sid = session(&app, &me.access, &["Go", "Channels"]).await;
    let existing = app.add_question(&me.access, &sid, 7).await;
    assert_eq!(existing.status(), 201);
    let mixed = json!({ "questions": [
        { "question": "QUESTION NUMBER 7:   what does it do", "answer": "Already in the session, differently cased.", "difficulty": "easy", "category": "Dup" },
        { "question": "What is a goroutine leak?", "answer": "Too short", "difficulty": "hard", "category": "Go" },
        { "question": "What is a nil channel used for in select?", "answer": "Disabling a case: operations on a nil channel block forever.", "difficulty": "hard", "category": "Go" },
        { "question": "What is a buffered channel?", "answer": "A channel with capacity; sends block only when it is full.", "difficulty": "extreme", "category": "Go" },
        { "question": "What does sync.Once guarantee?", "answer": "That the function runs exactly once, even when called from many goroutines.", "difficulty": "medium", "category": "Go" },
    ] });
    llm.script([
        Reply::Content("I'm sorry, I can't help with that.".to_owned()),
        Reply::Content(mixed.to_string()),
    ]);
    let job = run_generation(&app, &me.access, &sid, json!({})).await;
    assert_ended(&job, "succeeded", 2);
    assert!(
        job["attempts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not the JSON"),
        "{job}"
    );
    assert_eq!(job["result"]["questions_added"], 2);
    assert_eq!(job["result"]["invalid_dropped"], 2);
    assert_eq!(job["result"]["duplicates_dropped"], 1);
    assert_eq!(questions(&app, &me.access, &sid).await.len(), 3);
}

#[tokio::test]
async fn repeated_server_errors_open_the_breaker_and_the_bank_answers() {
    let llm = FakeLlm::start().await;
    llm.set_default(Reply::Error(500, None));
    let app = TestApp::spawn_with(vars_with(Some(&llm), &[])).await;
    let _worker = app.spawn_worker().await;
    let me = app.register().await;
    let sid = session(&app, &me.access, &["Rust"]).await;
    let job = run_generation(&app, &me.access, &sid, json!({})).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["source"], "bank");
    assert_eq!(
        job["attempt"], 3,
        "two failed attempts opened the breaker on the third"
    );
    let stored = questions(&app, &me.access, &sid).await;
    assert_eq!(stored.len(), 5);
    assert!(
        stored
            .iter()
            .all(|q| q["source"] == "bank" && q["category"] == "Rust")
    );

    // While it is open, jobs go straight to the bank without calling the provider.
    let calls = llm.requests().len();
    let sid = session(&app, &me.access, &["SQL"]).await;
    let job = run_generation(&app, &me.access, &sid, json!({})).await;
    assert_eq!(
        (job["result"]["source"].as_str(), job["attempt"].as_i64()),
        (Some("bank"), Some(1))
    );
    assert_eq!(llm.requests().len(), calls);
}

#[tokio::test]
async fn without_a_key_generation_uses_the_bank() {
    let app = TestApp::spawn_with(vars_with(None, &[])).await;
    let _worker = app.spawn_worker().await;
    let me = app.register().await;
    let sid = session(&app, &me.access, &["React", "TypeScript"]).await;
    let job = run_generation(&app, &me.access, &sid, json!({ "count": 10 })).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["source"], "bank");
    assert_eq!(job["tokens"], json!({ "prompt": 0, "completion": 0 }));
    let first = questions(&app, &me.access, &sid).await;
    assert_eq!(first.len(), 10);
    assert!(first.iter().all(|q| {
        ["React", "JavaScript and TypeScript"].contains(&q["category"].as_str().unwrap())
    }));

    // A second batch never repeats the first.
    let job = run_generation(&app, &me.access, &sid, json!({ "count": 10 })).await;
    assert_eq!(job["result"]["questions_added"], 10);
    let all = questions(&app, &me.access, &sid).await;
    let mut texts: Vec<&str> = all
        .iter()
        .map(|q| q["question"].as_str().unwrap())
        .collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), 20);
}

#[tokio::test]
async fn the_cache_serves_other_sessions_but_never_repeats_within_one() {
    let (llm, app, _worker, me) = super::setup(&[]).await;
    let first = session(&app, &me.access, &["Rust", "Tokio"]).await;
    let job = run_generation(&app, &me.access, &first, json!({})).await;
    assert_eq!(job["result"]["cached"], false);
    assert_eq!(llm.requests().len(), 1);

    // Same role, level and topics (other order and case): served from the cache.
    let second = session(&app, &me.access, &["tokio", "RUST"]).await;
    let job = run_generation(&app, &me.access, &second, json!({})).await;
    assert_eq!(
        (
            job["result"]["cached"].as_bool(),
            job["result"]["source"].as_str()
        ),
        (Some(true), Some("ai"))
    );
    assert_eq!(job["tokens"]["prompt"], 0);
    assert_eq!(llm.requests().len(), 1, "no provider call");
    let a: Vec<Value> = questions(&app, &me.access, &first)
        .await
        .iter()
        .map(|q| q["question"].clone())
        .collect();
    let b: Vec<Value> = questions(&app, &me.access, &second)
        .await
        .iter()
        .map(|q| q["question"].clone())
        .collect();
    let mut a_sorted = a.clone();
    a_sorted.sort_by_key(|v| v.to_string());
    let mut b_sorted = b.clone();
    b_sorted.sort_by_key(|v| v.to_string());
    assert_eq!(a_sorted, b_sorted);

    // The first session already has everything cached: it goes to the provider again.
    let job = run_generation(&app, &me.access, &first, json!({})).await;
    assert_eq!(job["result"]["cached"], false);
    assert_eq!(llm.requests().len(), 2);
    assert_eq!(questions(&app, &me.access, &first).await.len(), 10);
    let _ = batch(0, 0);
}

#[tokio::test]
async fn generation_is_rate_limited_per_user_and_validated() {
    let llm = FakeLlm::start().await;
    let app =
        TestApp::spawn_with(vars_with(Some(&llm), &[("RATE_LIMIT_GENERATE", "2/3600")])).await;
    let me = app.register().await;
    let other = app.register().await;
    let sid = session(&app, &me.access, &["Rust"]).await;
    let path = format!("/api/v1/sessions/{sid}/generate");

    // Refused requests do not count.
    for (body, status) in [
        (json!({ "count": 0 }), 400),
        (json!({ "count": 11 }), 400),
        (json!({ "difficulty": "extreme" }), 400),
        (json!({ "topics": vec!["t"; 11] }), 400),
        (json!({ "model": "gpt-5" }), 400),
    ] {
        assert_problem(app.post_as(&me.access, &path, &body).await, status).await;
    }
    assert_problem(app.post_as(&other.access, &path, &json!({})).await, 404).await;
    assert_problem(
        app.post_as(&me.access, "/api/v1/sessions/nope/generate", &json!({}))
            .await,
        404,
    )
    .await;
    assert_problem(
        app.call(reqwest::Method::POST, None, &path, Some(&json!({})))
            .await,
        401,
    )
    .await;

    for _ in 0..2 {
        assert_eq!(
            app.post_as(&me.access, &path, &json!({})).await.status(),
            202
        );
    }
    let resp = app.post_as(&me.access, &path, &json!({})).await;
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0);
    assert_problem(resp, 429).await;
    // Another user has their own quota.
    let theirs = session(&app, &other.access, &["Go"]).await;
    let resp = app
        .post_as(
            &other.access,
            &format!("/api/v1/sessions/{theirs}/generate"),
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 202);
}
