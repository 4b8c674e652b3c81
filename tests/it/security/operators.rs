//! Operator rights (issue #17, item 1): a listed address grants nothing until its holder
//! proves they read its mail; verification codes arrive by the email queue, can be asked for
//! again within a quota, and probes count against a per-operator quota.

use serde_json::{Value, json};

use crate::{
    auth::reset::code_in,
    jobs::ops_env,
    support::{Account, TestApp, assert_problem, newest_mail_to},
};

/// The verification mail's subject.
const VERIFY: &str = "Confirm your email address";

async fn verify(app: &TestApp, account: &Account, code: &str) -> reqwest::Response {
    app.post_as(
        &account.access,
        "/api/v1/auth/verify-email",
        &json!({ "code": code }),
    )
    .await
}

async fn resend(app: &TestApp, account: &Account) -> reqwest::Response {
    app.post_as(
        &account.access,
        "/api/v1/auth/verify-email/resend",
        &json!({}),
    )
    .await
}

fn other_code(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

#[tokio::test]
async fn operator_rights_need_a_verified_listed_address() {
    let (mut vars, listed) = ops_env(200);
    vars.insert("RATE_LIMIT_PROBE".into(), "2/3600".into());
    let app = TestApp::spawn_with(vars).await;
    let _worker = app.spawn_worker().await;

    // Someone registers the listed address: the account works, but is no operator.
    let ops = app.register_email(&listed).await;
    let me = app.get_json(&ops.access, "/api/v1/me").await;
    assert_eq!(me["email_verified"], false);
    let problem = assert_problem(
        app.get_as(&ops.access, "/api/v1/admin/jobs/dead").await,
        403,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("verified"),
        "{problem}"
    );
    let probe = json!({ "work_ms": 0 });
    assert_problem(
        app.post_as(&ops.access, "/api/v1/admin/jobs/probe", &probe)
            .await,
        403,
    )
    .await;
    let session = app.create_session(&ops.access, "Backend Developer").await;
    assert!(session["id"].is_string(), "unverified accounts practise");

    // The code mailed at registration proves the address; a wrong one does not.
    let code = code_in(&newest_mail_to(&listed, VERIFY, 0).await);
    let problem = assert_problem(verify(&app, &ops, &other_code(&code)).await, 400).await;
    assert_eq!(problem["type"], "/problems/invalid-code");
    assert_eq!(
        app.get_json(&ops.access, "/api/v1/me").await["email_verified"],
        false
    );
    let resp = verify(&app, &ops, &code).await;
    assert_eq!(resp.status(), 200);
    let profile: Value = resp.json().await.unwrap();
    assert_eq!(
        (
            profile["email"].as_str(),
            profile["email_verified"].as_bool()
        ),
        (Some(listed.as_str()), Some(true))
    );
    assert_eq!(
        app.get_json(&ops.access, "/api/v1/me").await["email_verified"],
        true
    );
    // Nothing left to confirm.
    let problem = assert_problem(resend(&app, &ops).await, 409).await;
    assert_eq!(problem["type"], "/problems/already-verified");

    // Now an operator, with a probe quota of 2 an hour.
    let resp = app.get_as(&ops.access, "/api/v1/admin/jobs/dead").await;
    assert_eq!(resp.status(), 200);
    for _ in 0..2 {
        let resp = app
            .post_as(&ops.access, "/api/v1/admin/jobs/probe", &probe)
            .await;
        assert_eq!(resp.status(), 202);
    }
    let resp = app
        .post_as(&ops.access, "/api/v1/admin/jobs/probe", &probe)
        .await;
    assert!(resp.headers().contains_key("retry-after"));
    assert_problem(resp, 429).await;

    // A verified address that is not listed is no operator either.
    let user = app.register().await;
    let code = code_in(&newest_mail_to(&user.email, VERIFY, 0).await);
    assert_eq!(verify(&app, &user, &code).await.status(), 200);
    assert_problem(
        app.get_as(&user.access, "/api/v1/admin/jobs/dead").await,
        403,
    )
    .await;
}

#[tokio::test]
async fn verification_codes_can_be_asked_for_again_within_a_quota() {
    let app = TestApp::spawn().await;
    let _worker = app.spawn_worker().await;
    let user = app.register().await;
    let first = code_in(&newest_mail_to(&user.email, VERIFY, 0).await);

    // Two more codes (each replaces the one before); a fourth within the hour is refused.
    assert_eq!(resend(&app, &user).await.status(), 202);
    let second = code_in(&newest_mail_to(&user.email, VERIFY, 1).await);
    assert_eq!(resend(&app, &user).await.status(), 202);
    let third = code_in(&newest_mail_to(&user.email, VERIFY, 2).await);
    let resp = resend(&app, &user).await;
    assert!(resp.headers().contains_key("retry-after"));
    assert_problem(resp, 429).await;

    // Only the newest code works, once; anonymous callers cannot use either endpoint.
    for old in [&first, &second] {
        if *old != third {
            assert_problem(verify(&app, &user, old).await, 400).await;
        }
    }
    assert_problem(
        app.post(
            "/api/v1/auth/verify-email",
            &json!({ "code": third.as_str() }),
        )
        .await,
        401,
    )
    .await;
    assert_eq!(verify(&app, &user, &third).await.status(), 200);
    // Verifying again is harmless (the profile says so); a reset code is not a
    // verification code and vice versa (separate stores).
    assert_eq!(verify(&app, &user, &third).await.status(), 200);
    let resp = app
        .post(
            "/api/v1/auth/password/verify",
            &json!({ "email": user.email, "code": third }),
        )
        .await;
    assert_problem(resp, 400).await;
}
