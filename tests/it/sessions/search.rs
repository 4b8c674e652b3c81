use serde_json::{Value, json};

use crate::support::{TestApp, assert_problem};

async fn add(app: &TestApp, token: &str, sid: &str, question: &str, answer: &str) {
    let resp = app
        .post_as(
            token,
            &format!("/api/v1/sessions/{sid}/questions"),
            &json!({ "question": question, "answer": answer }),
        )
        .await;
    assert_eq!(resp.status(), 201, "{question}");
}

fn search_path(q: &str) -> String {
    let mut url = reqwest::Url::parse("http://x/api/v1/questions/search").unwrap();
    url.query_pairs_mut().append_pair("q", q);
    format!("{}?{}", url.path(), url.query().unwrap())
}

/// Every page of a search for `q`, following `next_cursor` (at most 20 pages).
async fn every_page(app: &TestApp, token: &str, q: &str, limit: u32) -> Vec<Value> {
    let path = format!("{}&limit={limit}", search_path(q));
    app.pages(token, &path, 20, async |_| {}).await
}

fn texts(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["question"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn search_is_literal_case_insensitive_and_private() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let other = app.register().await;
    let sid = app.session_id(&me.access, "Regex Wrangler").await;
    let other_sid = app.session_id(&other.access, "Other").await;
    // A pattern that backtracks catastrophically when used as a regex, and texts that
    // would feed it.
    add(
        &app,
        &me.access,
        &sid,
        "Explain the pattern (A+)+$ please",
        "It nests quantifiers badly.",
    )
    .await;
    add(
        &app,
        &me.access,
        &sid,
        &format!("{}!", "a".repeat(60)),
        "Only a run of letters here.",
    )
    .await;
    add(
        &app,
        &me.access,
        &sid,
        "What does a+ mean in a pattern?",
        "One or more of the letter a.",
    )
    .await;
    add(
        &app,
        &me.access,
        &sid,
        "Unrelated question?",
        "The answer mentions (a+)+$ too.",
    )
    .await;
    add(
        &app,
        &other.access,
        &other_sid,
        "Their (a+)+$ question",
        "Not yours to see at all.",
    )
    .await;

    let page = app.get_json(&me.access, &search_path("(a+)+$")).await;
    let mut found = texts(&page);
    found.sort();
    assert_eq!(
        found,
        ["Explain the pattern (A+)+$ please", "Unrelated question?"],
        "literal matches in question or answer, ignoring case, only mine"
    );
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["session_role"] == "Regex Wrangler")
    );

    // Regex syntax is plain text: "." does not match any character.
    assert_eq!(
        texts(&app.get_json(&me.access, &search_path("a.mean")).await).len(),
        0
    );
    assert_eq!(
        texts(&app.get_json(&me.access, &search_path("A+ MEAN")).await).len(),
        1
    );
    let others = app.get_json(&other.access, &search_path("question")).await;
    assert_eq!(texts(&others), ["Their (a+)+$ question"]);

    // Pagination over hits, newest first.
    let first = app
        .get_json(&me.access, &format!("{}&limit=2", search_path("a")))
        .await;
    assert_eq!(texts(&first).len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app
        .get_json(
            &me.access,
            &format!("{}&limit=2&cursor={cursor}", search_path("a")),
        )
        .await;
    let mut all = texts(&first);
    all.extend(texts(&second));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(second["next_cursor"].is_null());

    for bad in [search_path(""), search_path(&"q".repeat(101))] {
        assert_problem(app.get_as(&me.access, &bad).await, 400).await;
    }
    assert_problem(
        app.get_as(&me.access, "/api/v1/questions/search").await,
        400,
    )
    .await;
    assert_problem(
        app.call(reqwest::Method::GET, None, &search_path("a"), None)
            .await,
        401,
    )
    .await;
}

/// Hits come session by session, newest session first and newest question first within
/// one; following the cursor across sessions yields every hit once, in that order.
#[tokio::test]
async fn search_pages_walk_sessions_newest_first_and_yield_every_hit_once() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let mut expected = Vec::new();
    for s in 0..3 {
        let sid = app.session_id(&me.access, &format!("Role {s}")).await;
        let mut texts = Vec::new();
        for n in 0..4 {
            let question = format!("Session {s} question {n} about Lifetimes?");
            let (question, hit) = if n == 2 {
                (format!("Session {s} question {n} about ownership?"), false)
            } else {
                (question, true)
            };
            add(&app, &me.access, &sid, &question, "Borrowing rules.").await;
            if hit {
                texts.push(question);
            }
        }
        texts.reverse();
        expected.splice(0..0, texts);
    }
    let pages = every_page(&app, &me.access, "LIFETIMES", 5).await;
    let mut seen = Vec::new();
    for page in &pages {
        assert!(texts(page).len() <= 5);
        assert_ne!(page["partial"], true);
        seen.extend(texts(page));
    }
    assert_eq!(seen, expected);
    let roles: Vec<String> = app.get_json(&me.access, &search_path("question 0")).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["session_role"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(roles, ["Role 2", "Role 1", "Role 0"]);
    // A cursor that is not one the search issued is refused.
    assert_problem(
        app.get_as(
            &me.access,
            &format!("{}&cursor=eyJ0IjoxfQ", search_path("a")),
        )
        .await,
        400,
    )
    .await;
}

/// With no reading time left after its first read, a page answers what that read found,
/// says `partial`, and its cursor goes on: every hit arrives once, in order.
#[tokio::test]
async fn a_search_page_stops_at_its_time_budget_and_the_cursor_goes_on() {
    let app = TestApp::spawn_with(crate::support::isolated_env(&[(
        "SEARCH_TIME_BUDGET_MS",
        "0".to_owned(),
    )]))
    .await;
    let me = app.register().await;
    let mut expected = Vec::new();
    for s in 0..7 {
        let sid = app.session_id(&me.access, &format!("Role {s}")).await;
        let question = format!("Session {s}: what is a Monad?");
        add(
            &app,
            &me.access,
            &sid,
            &question,
            "A pattern for chaining steps.",
        )
        .await;
        add(
            &app,
            &me.access,
            &sid,
            &format!("Session {s}: something else?"),
            "Something else entirely.",
        )
        .await;
        expected.insert(0, question);
    }
    let pages = every_page(&app, &me.access, "monad", 100).await;
    let partial_pages = pages.iter().filter(|p| p["partial"] == true).count();
    let seen: Vec<String> = pages.iter().flat_map(texts).collect();
    assert_eq!(seen, expected);
    assert!(partial_pages >= 2, "{partial_pages} partial pages");
}
