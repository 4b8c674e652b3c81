use crate::support::{TestApp, assert_problem};

#[tokio::test]
async fn unknown_route_is_404_problem() {
    let app = TestApp::spawn().await;
    let body = assert_problem(app.get("/api/v1/nothing-here").await, 404).await;
    assert_eq!(body["type"], "/problems/not-found");
}

#[tokio::test]
async fn wrong_method_is_405_problem() {
    let app = TestApp::spawn().await;
    let resp = app
        .http
        .delete(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 405).await;
}

#[tokio::test]
async fn body_over_one_mebibyte_is_413_problem() {
    let app = TestApp::spawn().await;
    let big = vec![b'a'; 1024 * 1024 + 1];
    let resp = app
        .http
        .post(app.url("/health/live"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_problem(resp, 413).await;

    // Without a Content-Length (chunked), the limit holds too.
    let stream = futures::stream::iter(
        big.chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let resp = app
        .http
        .post(app.url("/health/live"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 413).await;
}

#[tokio::test]
async fn request_id_is_echoed_or_generated() {
    let app = TestApp::spawn().await;
    let resp = app
        .http
        .get(app.url("/health/live"))
        .header("x-request-id", "client-req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "client-req-42");

    // An unsafe id is replaced, not echoed.
    let resp = app
        .http
        .get(app.url("/health/live"))
        .header("x-request-id", "bad id\twith spaces")
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 26, "a generated ULID, got {id:?}");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = TestApp::spawn().await;
    app.get("/health/live").await;
    app.get("/no/such/route").await;
    let resp = app.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total{")
            && l.contains(r#"route="health_live""#)
            && l.contains(r#"status="200""#)),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("http_request_duration_seconds_bucket{")
                && l.contains(r#"route="unmatched""#)
                && l.contains(r#"status="404""#)),
        "{text}"
    );
}

#[tokio::test]
async fn docs_page_is_served_without_external_assets() {
    let app = TestApp::spawn().await;
    let resp = app.get("/docs").await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("swagger"), "not the docs page");
    // The published contract, with its per-operation errors and typed examples.
    assert!(
        html.contains("/problems/duplicate-question"),
        "the page shows the published document"
    );
    assert_eq!(app.get("/docs/").await.status(), 200);
    // Works offline: no script or stylesheet from another host.
    for marker in ["src=\"http", "href=\"http", "src='http", "href='http"] {
        assert!(
            !html.contains(marker),
            "docs page loads an external asset ({marker})"
        );
    }
}

/// Every problem names its occurrence (path and request id) and a type whose page says what
/// it means; titles are the type's, not the HTTP reason phrase.
#[tokio::test]
async fn problems_name_their_occurrence_and_their_type_resolves_to_a_page() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let path = "/api/v1/sessions/000000000000000000000000";
    let resp = app
        .http
        .get(app.url(path))
        .bearer_auth(&me.access)
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(resp, 404).await;
    assert_eq!(problem["instance"], path);
    assert_eq!(problem["request_id"], "trace-me-42");
    assert_eq!(problem["title"], "Not found");

    // A problem made by the rate limiter or the router gets them too.
    let resp = app.get("/api/v1/no-such-route").await;
    let problem = assert_problem(resp, 404).await;
    assert_eq!(problem["instance"], "/api/v1/no-such-route");
    assert!(problem["request_id"].is_string());

    // The validation problem of a session.
    let resp = app
        .post_as(
            &me.access,
            "/api/v1/sessions",
            &serde_json::json!({ "role": "x" }),
        )
        .await;
    let problem = assert_problem(resp, 400).await;
    assert_eq!(problem["title"], "Invalid fields");

    // Each type resolves to a page; the index lists them; unknown types are 404.
    let page = app.get("/problems/validation-error").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Invalid fields") && html.contains("/problems/validation-error"));
    let index = app.get("/problems").await.text().await.unwrap();
    for slug in [
        "session-full",
        "token-budget-spent",
        "idempotency-key-reused",
        "invalid-code",
    ] {
        assert!(index.contains(&format!("/problems/{slug}")), "{slug}");
    }
    assert_eq!(app.get("/problems/no-such-type").await.status(), 404);
}
