use serde_json::{Value, json};

use crate::support::{TestApp, assert_problem, mail_count, newest_mail_to};

/// The reset mail's subject: fixed, so the code is never in it.
pub const RESET: &str = "Your password reset code";

/// The 6-digit code in a mail's text.
pub fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap_or_else(|| panic!("no 6-digit code in {text:?}"))
        .to_owned()
}

async fn forgot(app: &TestApp, email: &str) -> reqwest::Response {
    app.post("/api/v1/auth/password/forgot", &json!({ "email": email }))
        .await
}

fn wrong_code(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

#[tokio::test]
async fn reset_by_emailed_code_with_guess_limit_and_quota() {
    let app = TestApp::spawn().await;
    let _worker = app.spawn_worker().await;
    let account = app.register().await;

    // Known and unknown addresses get the same answer.
    let known = forgot(&app, &account.email).await;
    assert_eq!(known.status(), 202);
    let known: Value = known.json().await.unwrap();
    let unknown = forgot(&app, "no-such-account@example.com").await;
    assert_eq!(unknown.status(), 202);
    assert_eq!(known, unknown.json::<Value>().await.unwrap());

    // The code arrives by SMTP (read from the server, not from logs), in both parts.
    // Not in the subject (mail clients show subjects on lock screens and in previews): the
    // mail is found by its fixed subject.
    let plain = newest_mail_to(&account.email, RESET, 0).await;
    let code = code_in(&plain);
    assert!(plain.contains("Ada Lovelace"));

    // Five wrong guesses, mixing both endpoints, burn the code.
    let wrong = wrong_code(&code);
    for i in 0..5 {
        let resp = if i % 2 == 0 {
            app.post(
                "/api/v1/auth/password/verify",
                &json!({ "email": account.email, "code": wrong }),
            )
            .await
        } else {
            app.post(
                "/api/v1/auth/password/reset",
                &json!({ "email": account.email, "code": wrong, "new_password": "new password 1" }),
            )
            .await
        };
        let body = assert_problem(resp, 400).await;
        assert_eq!(body["type"], "/problems/invalid-code");
    }
    let resp = app
        .post(
            "/api/v1/auth/password/verify",
            &json!({ "email": account.email, "code": code }),
        )
        .await;
    assert_problem(resp, 400).await;

    // A new code works: verify does not consume it, reset does and revokes every session.
    assert_eq!(forgot(&app, &account.email).await.status(), 202);
    let plain = newest_mail_to(&account.email, RESET, 1).await;
    let code = code_in(&plain);
    let resp = app
        .post(
            "/api/v1/auth/password/verify",
            &json!({ "email": account.email, "code": code }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let resp = app
        .post(
            "/api/v1/auth/password/reset",
            &json!({ "email": account.email, "code": code, "new_password": "a fresh password" }),
        )
        .await;
    assert_eq!(resp.status(), 204);
    let resp = app
        .post(
            "/api/v1/auth/refresh",
            &json!({ "refresh_token": account.refresh }),
        )
        .await;
    assert_problem(resp, 401).await;
    let resp = app
        .post(
            "/api/v1/auth/password/reset",
            &json!({ "email": account.email, "code": code, "new_password": "again again" }),
        )
        .await;
    assert_problem(resp, 400).await;
    let resp = app
        .post(
            "/api/v1/auth/login",
            &json!({ "email": account.email, "password": "a fresh password" }),
        )
        .await;
    assert_eq!(resp.status(), 200);

    // Third code request is fine; a fourth within the hour is refused.
    assert_eq!(forgot(&app, &account.email).await.status(), 202);
    let resp = forgot(&app, &account.email).await;
    assert!(resp.headers().contains_key("retry-after"));
    assert_problem(resp, 429).await;
    newest_mail_to(&account.email, RESET, 2).await;
    // Let the worker drain anything (wrongly) enqueued for the refused request.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(mail_count(&account.email, RESET).await, 3);
}
