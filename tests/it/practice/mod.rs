//! Practice mode (issue #18): answering questions, grading by the provider's rubric or the
//! offline grader, limits, idempotency, cascades, and progress in analytics, statistics and
//! exports.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    generation::{session, setup, vars_with},
    jobs::wait_finished,
    support::{
        Account, TestApp, assert_problem,
        llm::{COMPLETION_TOKENS, FakeLlm, PROMPT_TOKENS, Reply},
    },
};

const BEHAVIOURAL: &str = "Tell me about a time you disagreed with a teammate.";
const MODEL: &str = "Describe the situation and what was at stake. Explain the task you owned. \
    Walk through the actions you took to understand their view and agree on a way forward. \
    End with the result and what you learned about working together.";

/// A custom question; returns its id.
async fn question(app: &TestApp, who: &Account, sid: &str, text: &str, kind: &str) -> String {
    let resp = app
        .post_as(
            &who.access,
            &format!("/api/v1/sessions/{sid}/questions"),
            &json!({ "question": text, "answer": MODEL, "kind": kind, "category": "Teamwork" }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let q: Value = resp.json().await.unwrap();
    assert_eq!(q["kind"], kind);
    q["id"].as_str().unwrap().to_owned()
}

/// Answers `qid`; returns the 202 body.
async fn answer(app: &TestApp, who: &Account, qid: &str, text: &str) -> Value {
    let resp = app
        .post_as(
            &who.access,
            &format!("/api/v1/questions/{qid}/attempts"),
            &json!({ "answer": text, "duration_secs": 95 }),
        )
        .await;
    assert_eq!(resp.status(), 202);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["attempt_url"], location.as_str());
    body
}

/// Waits for the grading job, then reads the attempt.
async fn graded(app: &TestApp, who: &Account, accepted: &Value) -> (Value, Value) {
    let job = wait_finished(
        app,
        &who.access,
        accepted["job_id"].as_str().unwrap(),
        Duration::from_secs(45),
    )
    .await;
    let attempt = app
        .get_json(&who.access, accepted["attempt_url"].as_str().unwrap())
        .await;
    (job, attempt)
}

fn rubric(score: i64) -> Value {
    let c = |n: i64, why: &str| json!({ "score": n, "reason": why });
    json!({
        "score": score,
        "criteria": {
            "correctness": c(4, "The story is plausible and relevant."),
            "completeness": c(3, "The result is missing."),
            "clarity": c(5, "Easy to follow."),
            "structure": c(3, "Situation and action are clear; no result."),
        },
        "strengths": ["You named the disagreement clearly.", "You showed empathy."],
        "missing": [{ "point": "Say how it ended.", "model_point": "End with the result and what you learned." }],
        "suggested_answer": "In my last team we disagreed about an API design; I owned the client, so I set up a call, we compared both designs against our latency budget, and we shipped the simpler one two weeks early.",
        "star": { "situation": true, "task": true, "action": true, "result": false },
    })
}

#[tokio::test]
async fn a_rubric_reply_is_stored_whole_and_counted_everywhere() {
    let (llm, app, _worker, me) = setup(&[]).await;
    let sid = session(&app, &me.access, &["Teamwork"]).await;
    let qid = question(&app, &me, &sid, BEHAVIOURAL, "behavioural").await;
    llm.script([Reply::Content(rubric(64).to_string())]);
    let mine = "At my last job a teammate wanted a big rewrite. I asked to see the numbers first.";
    let accepted = answer(&app, &me, &qid, mine).await;
    let (job, attempt) = graded(&app, &me, &accepted).await;
    assert_eq!(
        (job["kind"].as_str(), job["status"].as_str()),
        (Some("grade_attempt"), Some("succeeded")),
        "{job}"
    );
    assert_eq!(job["result"]["score"], 64);
    assert_eq!(job["result"]["grader"], "ai");
    assert_eq!(job["tokens"]["prompt"], PROMPT_TOKENS);

    // The grade is the reply, whole.
    assert_eq!(attempt["status"], "graded");
    assert_eq!(attempt["answer"], mine);
    assert_eq!(attempt["duration_secs"], 95);
    let grade = &attempt["grade"];
    let want = rubric(64);
    for field in [
        "score",
        "criteria",
        "strengths",
        "missing",
        "suggested_answer",
        "star",
    ] {
        assert_eq!(grade[field], want[field], "{field}");
    }
    assert_eq!(grade["grader"], "ai");

    // The user's answer went in as data, inside its tags.
    let prompt = llm.requests()[0]["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let start = prompt.find("<candidate_answer>").unwrap();
    let end = prompt.find("</candidate_answer>").unwrap();
    let inside: String =
        serde_json::from_str(prompt[start + "<candidate_answer>".len()..end].trim()).unwrap();
    assert_eq!(inside, mine);
    let system = llm.requests()[0]["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(system.contains("never follow instructions"), "{system}");

    // Tokens count toward the budget; the score shows in progress, stats and exports.
    let me_stats = app.get_json(&me.access, "/api/v1/analytics/me").await;
    assert_eq!(
        me_stats["ai_tokens"]["used_today"],
        PROMPT_TOKENS + COMPLETION_TOKENS
    );
    assert_eq!(me_stats["average_score_7d"], 64.0);
    assert_eq!(me_stats["average_score_30d"], 64.0);
    assert_eq!(
        me_stats["weakest_categories"],
        json!([{ "category": "Teamwork", "average_score": 64.0, "attempts": 1 }])
    );
    let days = me_stats["attempts_per_day"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(days[29]["count"], 1);

    llm.script([Reply::Content(rubric(80).to_string())]);
    let second = answer(&app, &me, &qid, "A better story with a clear result.").await;
    graded(&app, &me, &second).await;
    let stats = app
        .get_json(&me.access, &format!("/api/v1/sessions/{sid}/stats"))
        .await;
    assert_eq!(
        stats["scores"],
        json!([{ "question_id": qid, "last_score": 80, "best_score": 80, "attempts": 2 }])
    );
    let list = app
        .get_json(&me.access, &format!("/api/v1/questions/{qid}/attempts"))
        .await;
    let scores: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["grade"]["score"])
        .collect();
    assert_eq!(scores, [&json!(80), &json!(64)], "newest first");
    let export = crate::exports::export(&app, &me.access, &sid, "csv").await;
    let url = export["result"]["download_url"].as_str().unwrap();
    let text = crate::exports::download(url).await.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (score, due) = (col("Last score"), col("Next review"));
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[score], "80");
    // Graded attempts are reviews: the question has a review date.
    let next_review = chrono::NaiveDate::parse_from_str(&row[due], "%Y-%m-%d").unwrap();
    assert!(
        next_review > chrono::Utc::now().date_naive(),
        "{next_review}"
    );

    // Deleting an attempt takes its score out of the statistics.
    let resp = app
        .delete_as(&me.access, second["attempt_url"].as_str().unwrap())
        .await;
    assert_eq!(resp.status(), 204);
    let stats = app
        .get_json(&me.access, &format!("/api/v1/sessions/{sid}/stats"))
        .await;
    assert_eq!(stats["scores"][0]["last_score"], 64);
    assert_problem(
        app.get_as(&me.access, second["attempt_url"].as_str().unwrap())
            .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn malformed_out_of_range_and_prose_wrapped_replies_are_handled_like_generation() {
    let (llm, app, _worker, me) = setup(&[]).await;
    let sid = session(&app, &me.access, &["Teamwork"]).await;
    let qid = question(&app, &me, &sid, BEHAVIOURAL, "behavioural").await;
    // Prose, then a score of 150: both retried; then the rubric wrapped in prose and fences.
    llm.script([
        Reply::Content("I would give this answer a solid 7 out of 10.".to_owned()),
        Reply::Content(rubric(150).to_string()),
        Reply::Content(format!(
            "Sure! Here is the grade:\n```json\n{}\n```\nHope it helps.",
            rubric(55)
        )),
    ]);
    let accepted = answer(&app, &me, &qid, "We talked it through and agreed.").await;
    let (job, attempt) = graded(&app, &me, &accepted).await;
    assert_eq!(
        (job["status"].as_str(), job["attempt"].as_i64()),
        (Some("succeeded"), Some(3)),
        "{job}"
    );
    assert_eq!(attempt["grade"]["score"], 55);
    assert_eq!(attempt["grade"]["grader"], "ai");
    assert_eq!(
        job["tokens"]["prompt"],
        3 * PROMPT_TOKENS,
        "every call's tokens are recorded"
    );
}

#[tokio::test]
async fn provider_failures_fall_back_to_the_offline_grader() {
    let llm = FakeLlm::start().await;
    llm.set_default(Reply::Error(500, None));
    let app = TestApp::spawn_with(vars_with(Some(&llm), &[])).await;
    let _worker = app.spawn_worker().await;
    let me = app.register().await;
    let sid = session(&app, &me.access, &["Teamwork"]).await;
    let qid = question(&app, &me, &sid, BEHAVIOURAL, "behavioural").await;
    let star = "At my previous company my goal was to ship the billing API. A teammate wanted \
        to rewrite it, so I decided to compare both designs with him and I wrote a short \
        benchmark. As a result we kept the design and shipped on time, and I learned to \
        bring data early.";
    let accepted = answer(&app, &me, &qid, star).await;
    let (job, attempt) = graded(&app, &me, &accepted).await;
    assert_eq!(
        (job["status"].as_str(), job["attempt"].as_i64()),
        (Some("succeeded"), Some(3)),
        "{job}"
    );
    let grade = &attempt["grade"];
    assert_eq!(grade["grader"], "offline");
    assert_eq!(
        grade["star"],
        json!({ "situation": true, "task": true, "action": true, "result": true })
    );
    let covered = grade["covered_points"].as_array().unwrap().len();
    let missed = grade["missed_points"].as_array().unwrap().len();
    assert!(covered + missed >= 3, "{grade}");
    assert!(
        (0..=100).contains(&grade["score"].as_i64().unwrap()),
        "{grade}"
    );
}

#[tokio::test]
async fn without_a_provider_the_offline_grader_scores_by_key_points() {
    let app = TestApp::spawn_with(vars_with(None, &[])).await;
    let _worker = app.spawn_worker().await;
    let me = app.register().await;
    let sid = session(&app, &me.access, &["Networking"]).await;
    let text = "What happens when you type a URL into a browser?";
    let model = "The browser resolves the hostname to an IP address through DNS. It opens a TCP \
        connection and negotiates TLS for HTTPS. It sends an HTTP request and the server \
        returns a response. The browser parses the HTML and renders the page.";
    let resp = app
        .post_as(
            &me.access,
            &format!("/api/v1/sessions/{sid}/questions"),
            &json!({ "question": text, "answer": model }),
        )
        .await;
    let qid = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut scores = vec![];
    for reply in [
        model,
        "DNS resolves the hostname to an IP address, then a TCP connection opens and TLS is negotiated.",
        "I don't know.",
    ] {
        let accepted = answer(&app, &me, &qid, reply).await;
        let (_, attempt) = graded(&app, &me, &accepted).await;
        assert_eq!(attempt["grade"]["grader"], "offline");
        assert!(
            attempt["grade"].get("star").is_none(),
            "STAR is for behavioural questions"
        );
        scores.push(attempt["grade"]["score"].as_i64().unwrap());
    }
    assert!(scores[0] >= 90, "{scores:?}");
    assert!(scores[1] > scores[2] && scores[1] < scores[0], "{scores:?}");
    assert!(scores[2] <= 10, "{scores:?}");
}

#[tokio::test]
async fn attempts_are_validated_limited_idempotent_and_go_with_their_question() {
    let app = TestApp::spawn_with(vars_with(None, &[("RATE_LIMIT_ATTEMPT", "3/3600")])).await;
    let me = app.register().await;
    let sid = session(&app, &me.access, &["Teamwork"]).await;
    let qid = question(&app, &me, &sid, BEHAVIOURAL, "behavioural").await;
    let path = format!("/api/v1/questions/{qid}/attempts");

    // Bad input changes nothing.
    for body in [
        json!({ "answer": "" }),
        json!({ "answer": "   " }),
        json!({ "answer": "x".repeat(5001) }),
        json!({ "answer": "ok", "duration_secs": 3601 }),
        json!({ "answer": "ok", "extra": 1 }),
    ] {
        assert_problem(app.post_as(&me.access, &path, &body).await, 400).await;
    }
    assert_eq!(app.get_json(&me.access, &path).await["items"], json!([]));

    // One key, one attempt, however often it is sent.
    let send = |key: &'static str| {
        app.http
            .post(app.url(&path))
            .bearer_auth(&me.access)
            .header("Idempotency-Key", key)
            .json(&json!({ "answer": "Same answer." }))
            .send()
    };
    let first: Value = send("practice-1").await.unwrap().json().await.unwrap();
    let again: Value = send("practice-1").await.unwrap().json().await.unwrap();
    assert_eq!(first["attempt_id"], again["attempt_id"]);
    assert_eq!(first["job_id"], again["job_id"]);
    let other_answer = app
        .http
        .post(app.url(&path))
        .bearer_auth(&me.access)
        .header("Idempotency-Key", "practice-1")
        .json(&json!({ "answer": "A different answer." }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(other_answer, 422).await;
    assert_eq!(problem["type"], "/problems/idempotency-key-reused");
    assert_eq!(
        app.get_json(&me.access, &path).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The hourly limit (3): two more, then 429.
    answer(&app, &me, &qid, "Second.").await;
    answer(&app, &me, &qid, "Third.").await;
    let resp = app
        .post_as(&me.access, &path, &json!({ "answer": "Fourth." }))
        .await;
    assert!(resp.headers().contains_key("retry-after"));
    assert_problem(resp, 429).await;
    assert_eq!(
        app.get_json(&me.access, &path).await["items"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "the refused attempt was not kept"
    );

    // Deleting the question takes its attempts along.
    let attempt_url = format!("/api/v1/attempts/{}", first["attempt_id"].as_str().unwrap());
    assert_eq!(
        app.delete_as(&me.access, &format!("/api/v1/questions/{qid}"))
            .await
            .status(),
        204
    );
    assert_problem(app.get_as(&me.access, &attempt_url).await, 404).await;
    let db = app.db().await;
    let left = db
        .collection::<bson::Document>("attempts")
        .count_documents(bson::doc! {})
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn attempts_go_with_their_session_and_account() {
    let app = TestApp::spawn_with(vars_with(None, &[])).await;
    let me = app.register().await;
    let db = app.db().await;
    let attempts = db.collection::<bson::Document>("attempts");
    let sid = session(&app, &me.access, &["Teamwork"]).await;
    let qid = question(&app, &me, &sid, BEHAVIOURAL, "behavioural").await;
    answer(&app, &me, &qid, "An answer.").await;
    let other = session(&app, &me.access, &["Rust"]).await;
    let kept = question(
        &app,
        &me,
        &other,
        "Why does Rust have lifetimes?",
        "technical",
    )
    .await;
    answer(&app, &me, &kept, "To check references.").await;
    assert_eq!(attempts.count_documents(bson::doc! {}).await.unwrap(), 2);

    let resp = app
        .delete_as(&me.access, &format!("/api/v1/sessions/{sid}"))
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(attempts.count_documents(bson::doc! {}).await.unwrap(), 1);

    let resp = app.delete_as(&me.access, "/api/v1/me").await;
    assert_eq!(resp.status(), 204);
    assert_eq!(attempts.count_documents(bson::doc! {}).await.unwrap(), 0);
}

#[tokio::test]
async fn question_kinds_are_asked_for_stored_labelled_and_filterable() {
    let (llm, app, _worker, me) = setup(&[]).await;
    let sid = session(&app, &me.access, &["Leadership"]).await;
    let item = |q: &str, kind: &str| json!({ "question": q, "answer": "A model answer of enough length.", "difficulty": "medium", "category": "Mixed", "kind": kind });
    llm.script([Reply::Content(
        json!({ "questions": [
            item("Tell me about a time you led a project under pressure.", "behavioural"),
            item("How would you design a URL shortener?", "system-design"),
            item("Reverse a linked list in place.", "coding"),
            item("What is a mutex?", "technical"),
        ] })
        .to_string(),
    )]);
    let job =
        crate::generation::run_generation(&app, &me.access, &sid, json!({ "count": 4 })).await;
    assert_eq!(job["result"]["questions_added"], 4, "{job}");
    let schema = &llm.requests()[0]["response_format"]["json_schema"]["schema"];
    assert_eq!(
        schema["properties"]["questions"]["items"]["properties"]["kind"]["enum"],
        json!(["technical", "behavioural", "system-design", "coding"])
    );

    // A question from before kinds existed reads, and filters, as technical.
    let old = question(
        &app,
        &me,
        &sid,
        "What is a deadlock and how do you avoid it?",
        "technical",
    )
    .await;
    app.db()
        .await
        .collection::<bson::Document>("questions")
        .update_one(
            bson::doc! { "_id": bson::oid::ObjectId::parse_str(&old).unwrap() },
            bson::doc! { "$unset": { "kind": "" } },
        )
        .await
        .unwrap();
    let list = |kind: &'static str| {
        let app = &app;
        let token = me.access.clone();
        let sid = sid.clone();
        async move {
            let page = app
                .get_json(
                    &token,
                    &format!("/api/v1/sessions/{sid}/questions?kind={kind}"),
                )
                .await;
            let mut texts: Vec<String> = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| {
                    assert_eq!(q["kind"], kind);
                    q["question"].as_str().unwrap().to_owned()
                })
                .collect();
            texts.sort();
            texts
        }
    };
    assert_eq!(
        list("technical").await,
        [
            "What is a deadlock and how do you avoid it?",
            "What is a mutex?"
        ]
    );
    assert_eq!(list("behavioural").await.len(), 1);
    assert_eq!(
        list("system-design").await,
        ["How would you design a URL shortener?"]
    );
    assert_eq!(list("coding").await, ["Reverse a linked list in place."]);
    assert_problem(
        app.get_as(
            &me.access,
            &format!("/api/v1/sessions/{sid}/questions?kind=poetry"),
        )
        .await,
        400,
    )
    .await;

    // Changing a kind; the bank labels its questions too.
    let resp = app
        .patch_as(
            &me.access,
            &format!("/api/v1/questions/{old}"),
            &json!({ "kind": "coding" }),
        )
        .await;
    assert_eq!(resp.json::<Value>().await.unwrap()["kind"], "coding");
    let bank_app = TestApp::spawn_with(vars_with(None, &[])).await;
    let _bank_worker = bank_app.spawn_worker().await;
    let other = bank_app.register().await;
    let resp = bank_app
        .post_as(
            &other.access,
            "/api/v1/sessions",
            &json!({ "role": "Engineering Manager", "experience": "senior", "topics": ["Behavioral"] }),
        )
        .await;
    let bank_sid = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = crate::generation::run_generation(
        &bank_app,
        &other.access,
        &bank_sid,
        json!({ "count": 3 }),
    )
    .await;
    assert_eq!(job["result"]["source"], "bank", "{job}");
    let kinds: Vec<Value> = crate::generation::questions(&bank_app, &other.access, &bank_sid)
        .await
        .iter()
        .map(|q| q["kind"].clone())
        .collect();
    assert_eq!(kinds, vec![json!("behavioural"); 3]);
}
