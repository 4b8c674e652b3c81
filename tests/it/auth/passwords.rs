use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version, password_hash::SaltString};
use bson::{DateTime, doc, oid::ObjectId};
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn stored_hash_is_argon2id_with_owasp_parameters() {
    let app = TestApp::spawn().await;
    let account = app.register().await;
    let user = app
        .db()
        .await
        .collection::<bson::Document>("users")
        .find_one(doc! { "email": &account.email })
        .await
        .unwrap()
        .unwrap();
    let hash = user.get_str("password_hash").unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(&account.password));
}

#[tokio::test]
async fn weaker_hash_is_upgraded_at_login() {
    let app = TestApp::spawn().await;
    let weak = Argon2::new(
        Algorithm::Argon2i,
        Version::V0x13,
        Params::new(4096, 1, 1, None).unwrap(),
    );
    let salt = SaltString::encode_b64(b"legacy-salt-1234").unwrap();
    let old_hash = weak
        .hash_password(b"legacy password", &salt)
        .unwrap()
        .to_string();
    let users = app.db().await.collection::<bson::Document>("users");
    users
        .insert_one(doc! {
            "_id": ObjectId::new(), "email": "legacy@example.com", "fullname": "Legacy User",
            "password_hash": &old_hash, "created_at": DateTime::now(), "updated_at": DateTime::now(),
        })
        .await
        .unwrap();

    let resp = app
        .post(
            "/api/v1/auth/login",
            &json!({ "email": "legacy@example.com", "password": "legacy password" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let user = users
        .find_one(doc! { "email": "legacy@example.com" })
        .await
        .unwrap()
        .unwrap();
    let new_hash = user.get_str("password_hash").unwrap();
    assert!(
        new_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "not rehashed: {new_hash}"
    );
    // And the new hash still accepts the same password.
    let resp = app
        .post(
            "/api/v1/auth/login",
            &json!({ "email": "legacy@example.com", "password": "legacy password" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
}
