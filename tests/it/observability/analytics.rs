use bson::{DateTime, doc, oid::ObjectId};
use common::db::questions::Questions;
use serde_json::{Value, json};

use crate::support::{TestApp, ai_question, assert_problem};

const DAY_MS: i64 = 24 * 3600 * 1000;

fn day(offset: i64) -> String {
    let now = DateTime::now().timestamp_millis();
    DateTime::from_millis(now - offset * DAY_MS)
        .to_chrono()
        .format("%Y-%m-%d")
        .to_string()
}

#[tokio::test]
async fn my_numbers_match_a_seeded_dataset_and_follow_changes() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let other = app.register().await;
    let db = app.db().await;

    // Three sessions: two pending, one completed; five questions in the first two.
    let s1 = app.session_id(&me.access, "Backend").await;
    let s2 = app.session_id(&me.access, "Frontend").await;
    let s3 = app.session_id(&me.access, "Data").await;
    let resp = app
        .patch_as(
            &me.access,
            &format!("/api/v1/sessions/{s3}"),
            &json!({ "status": "completed" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let custom = app.add_questions(&me.access, &s1, 0..2).await; // medium, custom, today
    app.patch_as(
        &me.access,
        &format!("/api/v1/questions/{}", custom[0]),
        &json!({ "is_pinned": true, "difficulty": "hard" }),
    )
    .await;
    let user = ObjectId::parse_str(&me.id).unwrap();
    let questions = Questions::new(&db);
    let batch = vec![
        ai_question("Seeded AI question one?"),
        ai_question("Seeded AI question two?"),
        common::domain::question::NewQuestion {
            source: common::domain::question::Source::Bank,
            difficulty: common::domain::question::Difficulty::Easy,
            ..ai_question("Seeded bank question?")
        },
    ];
    let added = questions
        .add(user, ObjectId::parse_str(&s2).unwrap(), batch, 50)
        .await
        .unwrap()
        .unwrap();
    // Backdate: one question 3 days ago, one 40 days ago (outside the 30-day series).
    let col = db.collection::<bson::Document>("questions");
    for (q, days) in added.inserted.iter().zip([3i64, 40]) {
        let at = DateTime::from_millis(DateTime::now().timestamp_millis() - days * DAY_MS);
        col.update_one(doc! { "_id": q.id }, doc! { "$set": { "created_at": at } })
            .await
            .unwrap();
    }
    // Someone else's data never counts.
    let theirs = app.session_id(&other.access, "Theirs").await;
    app.add_questions(&other.access, &theirs, 0..4).await;

    let a: Value = app.get_json(&me.access, "/api/v1/analytics/me").await;
    assert_eq!(a["sessions_total"], 3);
    assert_eq!(
        a["sessions_by_status"],
        json!({ "pending": 2, "in-progress": 0, "completed": 1, "cancelled": 0 })
    );
    assert_eq!(a["questions_total"], 5);
    assert_eq!(a["questions_pinned"], 1);
    assert_eq!(
        a["questions_by_difficulty"],
        json!({ "easy": 1, "medium": 3, "hard": 1 })
    );
    assert_eq!(
        a["questions_by_source"],
        json!({ "ai": 2, "bank": 1, "custom": 2 })
    );
    assert_eq!(a["average_questions_per_session"], 5.0 / 3.0);
    let days = a["questions_per_day"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(days.last().unwrap()["date"], day(0));
    assert_eq!(days[0]["date"], day(29));
    let count_on = |d: String| {
        days.iter()
            .find(|x| x["date"] == d.as_str())
            .map_or(-1, |x| x["count"].as_i64().unwrap())
    };
    assert_eq!(
        count_on(day(0)),
        3,
        "two custom and the bank question today"
    );
    assert_eq!(count_on(day(3)), 1);
    assert_eq!(
        days.iter()
            .map(|d| d["count"].as_i64().unwrap())
            .sum::<i64>(),
        4,
        "40 days ago is out"
    );

    // Cached, then invalidated by a change.
    assert_eq!(app.get_json(&me.access, "/api/v1/analytics/me").await, a);
    app.add_questions(&me.access, &s3, 10..11).await;
    let after = app.get_json(&me.access, "/api/v1/analytics/me").await;
    assert_eq!(after["questions_total"], 6);
    assert_eq!(
        app.delete_as(&me.access, &format!("/api/v1/sessions/{s1}"))
            .await
            .status(),
        204
    );
    let after = app.get_json(&me.access, "/api/v1/analytics/me").await;
    assert_eq!(
        (
            after["sessions_total"].as_i64(),
            after["questions_total"].as_i64()
        ),
        (Some(2), Some(4))
    );

    // Owner only.
    assert_problem(app.get("/api/v1/analytics/me").await, 401).await;
    assert_problem(
        app.get_as(&other.access, &format!("/api/v1/sessions/{s2}/stats"))
            .await,
        404,
    )
    .await;
}
