//! Sessions from a job advertisement (issue #19): extraction by the scripted provider and
//! offline on three adverts in `tests/data/`, the session it creates, the first questions,
//! and the job description in generation prompts.

use serde_json::{Value, json};

use super::{finished, questions, setup, vars_with};
use crate::support::{Account, TestApp, assert_problem, llm::Reply};

fn advert(name: &str) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// Starts the job; returns the finished job.
async fn prepare(app: &TestApp, who: &Account, text: &str, count: u32) -> Value {
    let resp = app
        .post_as(
            &who.access,
            "/api/v1/sessions/from-job-description",
            &json!({ "text": text, "count": count }),
        )
        .await;
    assert_eq!(resp.status(), 202);
    let id = resp.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    finished(app, &who.access, &id).await
}

#[tokio::test]
async fn offline_extraction_reads_three_real_world_adverts() {
    let app = TestApp::spawn_with(vars_with(None, &[])).await;
    let _worker = app.spawn_worker().await;
    let me = app.register().await;
    for (file, role, experience, topics, company) in [
        (
            "jd-backend-rust.txt",
            "Backend Engineer",
            "senior",
            vec![
                "Rust",
                "SQL and Databases",
                "DevOps and Cloud",
                "System Design",
            ],
            "Northwind Logistics",
        ),
        (
            "jd-frontend-react.txt",
            "Frontend Developer",
            "junior",
            vec!["React", "JavaScript and TypeScript", "Testing"],
            "Bloom Studio",
        ),
        (
            "jd-data-python.txt",
            "Data Engineer",
            "lead",
            vec!["DevOps and Cloud", "SQL and Databases", "Python", "Testing"],
            "Helix Health",
        ),
    ] {
        let text = advert(file);
        let job = prepare(&app, &me, &text, 3).await;
        assert_eq!(job["status"], "succeeded", "{file}: {job}");
        let r = &job["result"];
        assert_eq!(r["extracted_by"], "offline", "{file}");
        assert_eq!(r["role"], role, "{file}");
        assert_eq!(r["experience"], experience, "{file}");
        let mut got: Vec<&str> = r["topics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        got.sort_unstable();
        let mut want = topics.clone();
        want.sort_unstable();
        assert_eq!(got, want, "{file}");
        assert_eq!(r["company"], company, "{file}");
        assert_eq!(r["questions_added"], 3, "{file}: {job}");

        // The session holds the advert and the questions; the job belongs to it.
        let sid = r["session_id"].as_str().unwrap();
        assert_eq!(job["session_id"], sid);
        let session = app
            .get_json(&me.access, &format!("/api/v1/sessions/{sid}"))
            .await;
        assert_eq!(session["role"], role);
        assert_eq!(session["company"], company);
        assert_eq!(session["job_description"], text.trim());
        assert_eq!(questions(&app, &me.access, sid).await.len(), 3);
    }

    // Too short or too long is refused and creates nothing.
    for text in ["Engineer wanted.".to_owned(), "x".repeat(20_001)] {
        assert_problem(
            app.post_as(
                &me.access,
                "/api/v1/sessions/from-job-description",
                &json!({ "text": text }),
            )
            .await,
            400,
        )
        .await;
    }
    let sessions = app.get_json(&me.access, "/api/v1/sessions").await;
    assert_eq!(sessions["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn the_provider_reads_the_advert_and_generation_is_aimed_at_it() {
    let (llm, app, _worker, me) = setup(&[]).await;
    let text = advert("jd-frontend-react.txt");
    llm.script([
        Reply::Content(
            json!({
                "role": "Frontend Developer",
                "experience": "junior",
                "topics": ["React", "TypeScript", "Testing"],
                "company": "Bloom Studio",
            })
            .to_string(),
        ),
        Reply::Fresh(4),
    ]);
    let job = prepare(&app, &me, &text, 4).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let r = &job["result"];
    assert_eq!(
        (
            r["extracted_by"].as_str(),
            r["role"].as_str(),
            r["experience"].as_str()
        ),
        (Some("ai"), Some("Frontend Developer"), Some("junior"))
    );
    assert_eq!(r["topics"], json!(["React", "TypeScript", "Testing"]));
    assert_eq!(r["questions_added"], 4);
    assert_eq!(r["source"], "ai");
    // Both calls' tokens are on the job and count toward the budget.
    assert_eq!(
        job["tokens"]["prompt"],
        2 * crate::support::llm::PROMPT_TOKENS
    );

    // The extraction saw the advert only as data; generation got it in the brief.
    let requests = llm.requests();
    let extraction = requests[0]["messages"][1]["content"].as_str().unwrap();
    assert!(extraction.contains("<job_description>"), "{extraction}");
    assert!(extraction.contains("Bloom Studio is hiring"));
    let generation = requests[1]["messages"][1]["content"].as_str().unwrap();
    let start = generation.rfind("<brief>").unwrap();
    let end = generation.find("</brief>").unwrap();
    let brief: Value = serde_json::from_str(generation[start + 7..end].trim()).unwrap();
    assert_eq!(brief["job_description"], text.trim());
    assert_eq!(brief["company"], "Bloom Studio");

    // A session's description and job description reach the prompt of later generations,
    // and such prompts are not cached for others.
    let sid = r["session_id"].as_str().unwrap();
    let resp = app
        .patch_as(
            &me.access,
            &format!("/api/v1/sessions/{sid}"),
            &json!({ "description": "Focus on accessibility." }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let job = super::run_generation(&app, &me.access, sid, json!({ "count": 2 })).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let prompt = llm.requests()[2]["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(prompt.contains("Focus on accessibility."), "{prompt}");
}

#[tokio::test]
async fn a_garbled_extraction_is_retried_then_read_offline() {
    let (llm, app, _worker, me) = setup(&[]).await;
    llm.script([
        Reply::Content("The role is probably frontend.".to_owned()),
        Reply::Content(
            json!({ "role": "", "experience": "wizard", "topics": [], "company": "" }).to_string(),
        ),
        Reply::Content("Still not JSON.".to_owned()),
    ]);
    let job = prepare(&app, &me, &advert("jd-data-python.txt"), 2).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempt"], 3);
    assert_eq!(job["result"]["extracted_by"], "offline");
    assert_eq!(job["result"]["role"], "Data Engineer");
}
