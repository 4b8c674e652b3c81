use bson::doc;
use serde_json::{Value, json};

use crate::support::{TestApp, assert_problem};

async fn register(app: &TestApp, body: Value) -> Value {
    assert_problem(app.post("/api/v1/auth/register", &body).await, 400).await
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no field errors in {problem}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn invalid_registrations_name_the_field_and_store_nothing() {
    let app = TestApp::spawn().await;
    let bad_email = register(
        &app,
        json!({ "fullname": "Ada", "email": "not-an-email", "password": "long enough" }),
    )
    .await;
    assert_eq!(fields(&bad_email), ["email"]);
    let short = register(
        &app,
        json!({ "fullname": "Ada", "email": "ada@example.com", "password": "short" }),
    )
    .await;
    assert_eq!(fields(&short), ["password"]);
    let unknown = register(
        &app,
        json!({ "fullname": "Ada", "email": "ada@example.com", "password": "long enough", "is_admin": true }),
    )
    .await;
    assert_eq!(fields(&unknown), ["is_admin"]);
    let blank_name = register(
        &app,
        json!({ "fullname": "   ", "email": "ada@example.com", "password": "long enough" }),
    )
    .await;
    assert_eq!(fields(&blank_name), ["fullname"]);

    let users = app
        .db()
        .await
        .collection::<bson::Document>("users")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(users, 0, "an invalid registration stored something");
}
