use serde_json::{Value, json};

use crate::support::{TestApp, assert_problem};

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.post("/api/v1/auth/refresh", &json!({ "refresh_token": token }))
        .await
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.post(
        "/api/v1/auth/login",
        &json!({ "email": email, "password": password }),
    )
    .await
}

#[tokio::test]
async fn register_login_refresh_reuse_and_logout() {
    let app = TestApp::spawn().await;
    let account = app.register().await;

    // Login is case-insensitive on the email and returns a full token pair.
    let resp = login(&app, &account.email.to_uppercase(), &account.password).await;
    assert_eq!(resp.status(), 200);
    let pair: Value = resp.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert_eq!(pair["user"]["email"], account.email);
    let access = pair["access_token"].as_str().unwrap();
    let first_refresh = pair["refresh_token"].as_str().unwrap();

    let me: Value = app.get_as(access, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["id"], account.id);
    assert_eq!(me["fullname"], "Ada Lovelace");
    assert!(me.get("password_hash").is_none());

    // Refresh rotates: a new pair, both tokens different.
    let resp = refresh(&app, first_refresh).await;
    assert_eq!(resp.status(), 200);
    let second: Value = resp.json().await.unwrap();
    let second_refresh = second["refresh_token"].as_str().unwrap();
    assert_ne!(second_refresh, first_refresh);
    assert_eq!(
        app.get_as(second["access_token"].as_str().unwrap(), "/api/v1/me")
            .await
            .status(),
        200
    );

    // Reusing the spent token is refused and revokes the family: the newer token dies too.
    assert_problem(refresh(&app, first_refresh).await, 401).await;
    assert_problem(refresh(&app, second_refresh).await, 401).await;

    // Another login (another family) is unaffected; logout revokes it.
    let third: Value = login(&app, &account.email, &account.password)
        .await
        .json()
        .await
        .unwrap();
    let third_refresh = third["refresh_token"].as_str().unwrap();
    let resp = app
        .post(
            "/api/v1/auth/logout",
            &json!({ "refresh_token": third_refresh }),
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert_problem(refresh(&app, third_refresh).await, 401).await;

    // The registration's own pair still works: families are independent.
    assert_eq!(refresh(&app, &account.refresh).await.status(), 200);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = TestApp::spawn().await;
    let account = app.register().await;
    let mut wrong =
        assert_problem(login(&app, &account.email, "not the password").await, 401).await;
    let mut unknown = assert_problem(
        login(&app, "nobody-here@example.com", "not the password").await,
        401,
    )
    .await;
    // Everything but the request's own id is the same.
    for problem in [&mut wrong, &mut unknown] {
        assert!(problem["request_id"].is_string());
        problem.as_object_mut().unwrap().remove("request_id");
    }
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn duplicate_email_is_409_regardless_of_case() {
    let app = TestApp::spawn().await;
    let account = app.register().await;
    let resp = app
        .post(
            "/api/v1/auth/register",
            &json!({ "fullname": "Someone Else", "email": format!("  {}  ", account.email.to_uppercase()), "password": "another password" }),
        )
        .await;
    let body = assert_problem(resp, 409).await;
    assert_eq!(body["type"], "/problems/email-taken");
}

#[tokio::test]
async fn profile_update_password_change_and_account_deletion() {
    let app = TestApp::spawn().await;
    let account = app.register().await;
    let other_session: Value = login(&app, &account.email, &account.password)
        .await
        .json()
        .await
        .unwrap();

    let resp = app
        .http
        .patch(app.url("/api/v1/me"))
        .bearer_auth(&account.access)
        .json(&json!({ "fullname": "  Grace Hopper " }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["fullname"],
        "Grace Hopper"
    );

    // A wrong current password changes nothing.
    let resp = app
        .http
        .post(app.url("/api/v1/me/password"))
        .bearer_auth(&account.access)
        .json(&json!({ "current_password": "wrong wrong", "new_password": "a brand new password" }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(resp, 400).await;
    assert_eq!(body["errors"][0]["field"], "current_password");

    let resp = app
        .http
        .post(app.url("/api/v1/me/password"))
        .bearer_auth(&account.access)
        .json(&json!({ "current_password": account.password, "new_password": "a brand new password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let fresh: Value = resp.json().await.unwrap();
    // Every earlier session is signed out; the new pair works.
    assert_problem(
        refresh(&app, other_session["refresh_token"].as_str().unwrap()).await,
        401,
    )
    .await;
    assert_problem(refresh(&app, &account.refresh).await, 401).await;
    assert_problem(login(&app, &account.email, &account.password).await, 401).await;
    assert_eq!(
        login(&app, &account.email, "a brand new password")
            .await
            .status(),
        200
    );
    let fresh_refresh = fresh["refresh_token"].as_str().unwrap();

    // Deletion removes the account and its tokens.
    let resp = app
        .http
        .delete(app.url("/api/v1/me"))
        .bearer_auth(fresh["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_problem(
        login(&app, &account.email, "a brand new password").await,
        401,
    )
    .await;
    assert_problem(refresh(&app, fresh_refresh).await, 401).await;
    assert_problem(
        app.get_as(fresh["access_token"].as_str().unwrap(), "/api/v1/me")
            .await,
        404,
    )
    .await;
    let db = app.db().await;
    let tokens = db
        .collection::<bson::Document>("refresh_tokens")
        .count_documents(bson::doc! {})
        .await
        .unwrap();
    assert_eq!(tokens, 0, "tokens left behind after account deletion");
}

#[tokio::test]
async fn protected_routes_need_a_token() {
    let app = TestApp::spawn().await;
    assert_problem(app.get("/api/v1/me").await, 401).await;
    let resp = app.http.delete(app.url("/api/v1/me")).send().await.unwrap();
    assert_problem(resp, 401).await;
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let app = TestApp::spawn().await;
    let resp = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(r#"{"email": "a@b.co", "password": "#)
        .send()
        .await
        .unwrap();
    let body = assert_problem(resp, 400).await;
    assert_eq!(body["type"], "/problems/validation-error");
}
