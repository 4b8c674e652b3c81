use std::time::{SystemTime, UNIX_EPOCH};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::{TestApp, assert_problem};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Every forged or broken token is a 401 problem on a protected route; a correct one is 200.
#[tokio::test]
async fn forged_and_broken_tokens_are_rejected() {
    let app = TestApp::spawn().await;
    let account = app.register().await;
    let secret = app.vars["JWT_SECRET"].clone();
    let good = json!({
        "iss": "interview-prep", "aud": "interview-prep-clients", "sub": account.id,
        "exp": now() + 600, "iat": now(), "jti": "01HZZZZZZZZZZZZZZZZZZZZZZZ",
    });
    let with = |key: &str, value: Value| {
        let mut c = good.clone();
        c[key] = value;
        c
    };
    let without = |key: &str| {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(key);
        c
    };

    // Sanity: a token built this way is accepted, so the rejections below are meaningful.
    assert_eq!(
        app.get_as(&sign(&good, &secret), "/api/v1/me")
            .await
            .status(),
        200
    );

    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(good.to_string());
    let alg_none = format!("{header_none}.{payload}.");

    let valid = sign(&good, &secret);
    let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(with("sub", json!("0123456789abcdef01234567")).to_string());
    let tampered = parts.join(".");

    let cases = [
        ("alg none", alg_none),
        (
            "another key",
            sign(&good, "a-completely-different-secret-of-32+bytes"),
        ),
        (
            "wrong iss",
            sign(&with("iss", json!("someone-else")), &secret),
        ),
        (
            "wrong aud",
            sign(&with("aud", json!("other-audience")), &secret),
        ),
        ("expired", sign(&with("exp", json!(now() - 5)), &secret)),
        ("tampered payload", tampered),
        ("missing sub", sign(&without("sub"), &secret)),
        ("missing jti", sign(&without("jti"), &secret)),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (name, token) in cases {
        let resp = app.get_as(&token, "/api/v1/me").await;
        assert_eq!(resp.status(), 401, "{name} was not rejected");
        assert_problem(resp, 401).await;
    }
}
