//! HTTP hardening: security headers on every response, CORS only for configured origins,
//! HSTS behind TLS, no server banner.

use std::collections::HashMap;

use common::config::Env;

use crate::support::{TestApp, isolated_env};

const APP_ORIGIN: &str = "https://app.example.com";

fn assert_security_headers(resp: &reqwest::Response, what: &str) {
    let h = resp.headers();
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
    assert_eq!(h["referrer-policy"], "no-referrer", "{what}");
    assert!(h.get("server").is_none(), "{what}: no server banner");
}

#[tokio::test]
async fn every_response_carries_security_headers_and_hsts_only_behind_tls() {
    let app = TestApp::spawn_with(isolated_env(&[(
        "CORS_ALLOWED_ORIGINS",
        APP_ORIGIN.to_owned(),
    )]))
    .await;

    for (path, status) in [
        ("/health/live", 200),
        ("/api/v1/me", 401),
        ("/api/v1/nowhere", 404),
        ("/openapi.json", 200),
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status(), status, "{path}");
        assert_security_headers(&resp, path);
        assert!(
            resp.headers().get("strict-transport-security").is_none(),
            "{path}: no HSTS over plain HTTP"
        );
    }

    let tls = app
        .http
        .get(app.url("/api/v1/me"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(tls.status(), 401);
    assert_security_headers(&tls, "behind TLS");
    let hsts = tls.headers()["strict-transport-security"].to_str().unwrap();
    assert!(hsts.starts_with("max-age=31536000"), "{hsts}");
}

#[tokio::test]
async fn cors_answers_configured_origins_only_and_never_with_credentials() {
    let app = TestApp::spawn_with(isolated_env(&[(
        "CORS_ALLOWED_ORIGINS",
        format!("{APP_ORIGIN}, http://localhost:5173"),
    )]))
    .await;

    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/sessions"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, idempotency-key",
            )
            .send()
    };

    let allowed = preflight(APP_ORIGIN).await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], APP_ORIGIN);
    assert!(
        h.get("access-control-allow-credentials")
            .is_none_or(|v| v != "true")
    );
    let methods = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_ascii_uppercase();
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{methods}"
    );
    let headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("idempotency-key"), "{headers}");

    let foreign = preflight("https://evil.example.net").await.unwrap();
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "a foreign origin gets no CORS grant ({})",
        foreign.status()
    );

    // A simple cross-origin request from an allowed origin: granted, request id exposed.
    let resp = app
        .http
        .get(app.url("/health/live"))
        .header("origin", APP_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["access-control-allow-origin"], APP_ORIGIN);
    let exposed = resp.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");

    // Without configured origins there is no CORS at all.
    let closed = TestApp::spawn().await;
    let resp = closed
        .http
        .get(closed.url("/health/live"))
        .header("origin", APP_ORIGIN)
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn a_wildcard_or_malformed_cors_origin_is_refused_at_start() {
    for bad in [
        "*",
        "https://*.example.com",
        "app.example.com",
        "https://a.example.com/path",
    ] {
        let mut vars: HashMap<String, String> = isolated_env(&[]);
        vars.insert("CORS_ALLOWED_ORIGINS".into(), bad.into());
        let err = api::config::ApiConfig::from_env(&Env::from_map(vars))
            .expect_err(&format!("{bad:?} must be refused"));
        assert!(err.to_string().contains("CORS_ALLOWED_ORIGINS"), "{err}");
    }
}
