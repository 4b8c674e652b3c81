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
    // Works offline: no script or stylesheet from another host.
    for marker in ["src=\"http", "href=\"http", "src='http", "href='http"] {
        assert!(
            !html.contains(marker),
            "docs page loads an external asset ({marker})"
        );
    }
}
