use std::time::Duration;

use bson::{DateTime, doc, oid::ObjectId};
use serde_json::{Value, json};

use crate::support::{TestApp, isolated_env, wait_until};

const DAY_MS: i64 = 24 * 3600 * 1000;

async fn insert_session(app: &TestApp, topics: &[&str], days_ago: i64) {
    let at = DateTime::from_millis(DateTime::now().timestamp_millis() - days_ago * DAY_MS);
    app.db()
        .await
        .collection::<bson::Document>("sessions")
        .insert_one(doc! {
            "_id": ObjectId::new(), "user_id": ObjectId::new(), "role": "Seeded",
            "experience": "junior", "topics": topics, "description": "", "status": "pending",
            "duration_minutes": 60, "question_count": 0, "created_at": at, "updated_at": at,
        })
        .await
        .unwrap();
}

async fn trending(app: &TestApp) -> Value {
    app.get("/api/v1/analytics/trending-topics")
        .await
        .json()
        .await
        .unwrap()
}

fn count(view: &Value, topic: &str) -> Option<i64> {
    view["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == topic)
        .map(|t| t["count"].as_i64().unwrap())
}

#[tokio::test]
async fn trending_counts_the_last_seven_days_from_a_refreshed_snapshot() {
    let app = TestApp::spawn_with(isolated_env(&[("TRENDING_REFRESH_SECS", "1".to_owned())])).await;
    insert_session(&app, &["Cobol"], 8).await;
    insert_session(&app, &["Elixir", "Rust"], 6).await;
    let me = app.register().await;
    for topics in [json!(["rust", "SQL"]), json!(["Go"])] {
        let resp = app
            .post_as(
                &me.access,
                "/api/v1/sessions",
                &json!({ "role": "Backend", "experience": "mid-level", "topics": topics }),
            )
            .await;
        assert_eq!(resp.status(), 201);
    }
    // A generation request's topics count too (the job need not run).
    let sid = app.session_id(&me.access, "Backend").await;
    let resp = app
        .post_as(
            &me.access,
            &format!("/api/v1/sessions/{sid}/generate"),
            &json!({ "topics": ["Zig", "Rust"] }),
        )
        .await;
    assert_eq!(resp.status(), 202);

    wait_until(Duration::from_secs(5), || async {
        count(&trending(&app).await, "Zig").is_some()
    })
    .await
    .expect("the snapshot picks new activity up within a refresh");
    let view = trending(&app).await;
    // Six days ago, the two sessions of today ("rust", and the helper's "Rust") and the
    // generation request.
    assert_eq!(count(&view, "Rust"), Some(4), "{view}");
    assert_eq!(count(&view, "Elixir"), Some(1));
    assert_eq!(
        count(&view, "Cobol"),
        None,
        "8 days ago is outside the window"
    );
    assert_eq!(view["topics"][0]["topic"], "Rust");
    assert_eq!(view["window_days"], 7);

    // Cacheable, with an ETag that gives 304 while nothing changes.
    let resp = app.get("/api/v1/analytics/trending-topics").await;
    assert_eq!(resp.headers()["cache-control"], "public, max-age=300");
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .http
        .get(app.url("/api/v1/analytics/trending-topics"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    let limited: Value = app
        .get("/api/v1/analytics/trending-topics?limit=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(limited["topics"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.get("/api/v1/analytics/trending-topics?limit=51")
            .await
            .status(),
        400
    );
}
