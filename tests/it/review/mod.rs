//! Spaced-repetition review (issue #19): FSRS schedules from ratings and graded attempts,
//! the due list (ordered, index-served, paging exactly once while reviews happen), streaks in
//! the user's time zone, cascades.

use std::collections::HashSet;

use bson::{doc, oid::ObjectId};
use common::db::reviews::{DueFilter, Reviews};
use serde_json::{Value, json};

use crate::{
    sessions::indexes::assert_scans,
    support::{Account, TestApp, assert_problem},
};

async fn rate(app: &TestApp, who: &Account, qid: &str, rating: &str) -> Value {
    let resp = app
        .post_as(
            &who.access,
            &format!("/api/v1/questions/{qid}/reviews"),
            &json!({ "rating": rating }),
        )
        .await;
    assert_eq!(resp.status(), 200, "rating {rating}");
    resp.json().await.unwrap()
}

/// Moves a question's review state (and its log) `days` into the past, as if that much
/// time had gone by since its last review.
async fn age(db: &mongodb::Database, qid: &str, days: i64) {
    let id = ObjectId::parse_str(qid).unwrap();
    let shift = days * 86_400_000;
    let states = db.collection::<bson::Document>("reviews");
    let s = states.find_one(doc! { "_id": id }).await.unwrap().unwrap();
    let back = |field: &str| {
        bson::DateTime::from_millis(s.get_datetime(field).unwrap().timestamp_millis() - shift)
    };
    states
        .update_one(
            doc! { "_id": id },
            doc! { "$set": { "due": back("due"), "last_review": back("last_review") } },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn ratings_schedule_with_fsrs() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let sid = app.session_id(&me.access, "Backend").await;
    let ids = app.add_questions(&me.access, &sid, 0..5).await;

    // From the same (new) state: again < hard < good < easy.
    let mut days = vec![];
    for (qid, rating) in ids.iter().zip(["again", "hard", "good", "easy"]) {
        let r = rate(&app, &me, qid, rating).await;
        assert_eq!(r["reps"], 1);
        assert_eq!(r["state"], "review");
        days.push(r["scheduled_days"].as_i64().unwrap());
    }
    assert!(days.windows(2).all(|w| w[0] < w[1]), "{days:?}");

    // `good` each time the question comes due: the intervals grow.
    let db = app.db().await;
    let qid = &ids[4];
    let mut intervals = vec![
        rate(&app, &me, qid, "good").await["scheduled_days"]
            .as_i64()
            .unwrap(),
    ];
    for _ in 0..3 {
        age(&db, qid, *intervals.last().unwrap()).await;
        let r = rate(&app, &me, qid, "good").await;
        intervals.push(r["scheduled_days"].as_i64().unwrap());
    }
    assert!(intervals.windows(2).all(|w| w[0] < w[1]), "{intervals:?}");
    let r = rate(&app, &me, qid, "again").await;
    assert!(r["scheduled_days"].as_i64().unwrap() < *intervals.last().unwrap());
    assert_eq!(r["lapses"], 1);

    // Bad input and others' questions change nothing.
    let other = app.register().await;
    assert_problem(
        app.post_as(
            &other.access,
            &format!("/api/v1/questions/{qid}/reviews"),
            &json!({ "rating": "good" }),
        )
        .await,
        404,
    )
    .await;
    assert_problem(
        app.post_as(
            &me.access,
            &format!("/api/v1/questions/{qid}/reviews"),
            &json!({ "rating": "perfect" }),
        )
        .await,
        400,
    )
    .await;
    let reps = db
        .collection::<bson::Document>("reviews")
        .find_one(doc! { "_id": ObjectId::parse_str(qid).unwrap() })
        .await
        .unwrap()
        .unwrap()
        .get_i32("reps")
        .unwrap();
    assert_eq!(reps, 5);
}

#[tokio::test]
async fn the_due_list_is_ordered_index_served_and_pages_exactly_once_while_reviews_happen() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let db = app.db().await;
    let s1 = app.session_id(&me.access, "Backend").await;
    let s2 = app.session_id(&me.access, "Frontend").await;
    let mut ids = app.add_questions(&me.access, &s1, 0..15).await;
    ids.extend(app.add_questions(&me.access, &s2, 15..25).await);
    // Every question reviewed once, then made overdue by different amounts.
    for (i, qid) in ids.iter().enumerate() {
        rate(&app, &me, qid, "good").await;
        age(&db, qid, 10 + i64::try_from(i % 7).unwrap()).await;
    }
    let fresh = app.add_questions(&me.access, &s1, 25..26).await;
    rate(&app, &me, &fresh[0], "good").await; // due in days: not listed

    let page = |cursor: Option<String>| {
        let app = &app;
        let token = me.access.clone();
        async move {
            let path = match cursor {
                Some(c) => format!("/api/v1/reviews/due?limit=7&cursor={c}"),
                None => "/api/v1/reviews/due?limit=7".to_owned(),
            };
            app.get_json(&token, &path).await
        }
    };
    let mut seen: Vec<Value> = vec![];
    let mut reviewed_unseen = HashSet::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let p = page(cursor.clone()).await;
        pages += 1;
        seen.extend(p["items"].as_array().unwrap().iter().cloned());
        // Between pages, review one question already seen and one not yet seen.
        if pages == 1 {
            let seen_id = seen[0]["question"]["id"].as_str().unwrap().to_owned();
            rate(&app, &me, &seen_id, "good").await;
            let unseen: Vec<&String> = ids
                .iter()
                .filter(|id| !seen.iter().any(|s| s["question"]["id"] == id.as_str()))
                .collect();
            rate(&app, &me, unseen[0], "good").await;
            reviewed_unseen.insert(unseen[0].clone());
        }
        match p["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let listed: Vec<&str> = seen
        .iter()
        .map(|s| s["question"]["id"].as_str().unwrap())
        .collect();
    let unique: HashSet<&str> = listed.iter().copied().collect();
    assert_eq!(unique.len(), listed.len(), "listed twice: {listed:?}");
    let expected: HashSet<&str> = ids
        .iter()
        .map(String::as_str)
        .filter(|id| !reviewed_unseen.contains(*id))
        .collect();
    assert_eq!(
        unique, expected,
        "every due question once, none reviewed before its page"
    );
    let dues: Vec<&str> = seen
        .iter()
        .map(|s| s["review"]["due"].as_str().unwrap())
        .collect();
    let mut sorted = dues.clone();
    sorted.sort();
    assert_eq!(dues, sorted, "most overdue first");
    assert!(seen.iter().all(|s| s["question"]["question"].is_string()));

    // Filters: one session, one kind; another user's session is 404.
    let only = app
        .get_json(
            &me.access,
            &format!("/api/v1/reviews/due?session_id={s2}&limit=100"),
        )
        .await;
    let items = only["items"].as_array().unwrap();
    assert!(
        !items.is_empty()
            && items
                .iter()
                .all(|i| i["question"]["session_id"] == s2.as_str())
    );
    let coding = app
        .get_json(&me.access, "/api/v1/reviews/due?kind=coding")
        .await;
    assert_eq!(coding["items"], json!([]));
    let other = app.register().await;
    assert_problem(
        app.get_as(
            &other.access,
            &format!("/api/v1/reviews/due?session_id={s2}"),
        )
        .await,
        404,
    )
    .await;
    assert_problem(
        app.get_as(&me.access, "/api/v1/reviews/due?cursor=garbage")
            .await,
        400,
    )
    .await;

    // Each shape of the query walks its compound index.
    let reviews = Reviews::new(&db);
    let user = ObjectId::parse_str(&me.id).unwrap();
    for (filter, index) in [
        (
            DueFilter::default(),
            doc! { "user_id": 1, "due": 1, "_id": 1 },
        ),
        (
            DueFilter {
                session_id: Some(ObjectId::parse_str(&s1).unwrap()),
                kind: None,
            },
            doc! { "user_id": 1, "session_id": 1, "due": 1, "_id": 1 },
        ),
        (
            DueFilter {
                session_id: None,
                kind: Some(common::domain::question::QuestionKind::Coding),
            },
            doc! { "user_id": 1, "kind": 1, "due": 1, "_id": 1 },
        ),
    ] {
        let explain = reviews
            .explain_due(user, &filter, bson::DateTime::now(), 20)
            .await
            .unwrap();
        assert_scans(&explain, &index);
    }
}

/// Sets the review log's times to these local wall-clock times (days before today, hour,
/// minute) in `tz`, one log entry each (made by rating the question that often).
async fn reviews_at(
    app: &TestApp,
    who: &Account,
    qid: &str,
    tz: chrono_tz::Tz,
    at: &[(i64, u32, u32)],
) {
    use chrono::TimeZone as _;
    let db = app.db().await;
    let logs = db.collection::<bson::Document>("review_logs");
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    for (days_ago, hour, minute) in at {
        rate(app, who, qid, "good").await;
        let day = today - chrono::Duration::days(*days_ago);
        let local = tz
            .from_local_datetime(&day.and_hms_opt(*hour, *minute, 0).unwrap())
            .single()
            .unwrap();
        let newest = logs
            .find_one(doc! { "question_id": ObjectId::parse_str(qid).unwrap() })
            .sort(doc! { "_id": -1 })
            .await
            .unwrap()
            .unwrap();
        logs.update_one(
            doc! { "_id": newest.get_object_id("_id").unwrap() },
            doc! { "$set": { "reviewed_at": bson::DateTime::from_chrono(local.with_timezone(&chrono::Utc)) } },
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn streaks_follow_the_users_time_zone() {
    let app = TestApp::spawn().await;
    // Auckland (UTC+13 in December): 00:10 and 23:50 of one local day are two UTC days.
    let kiwi = app.register().await;
    let resp = app
        .patch_as(
            &kiwi.access,
            "/api/v1/me",
            &json!({ "time_zone": "Pacific/Auckland" }),
        )
        .await;
    assert_eq!(
        resp.json::<Value>().await.unwrap()["time_zone"],
        "Pacific/Auckland"
    );
    let sid = app.session_id(&kiwi.access, "Backend").await;
    let q = app.add_questions(&kiwi.access, &sid, 0..1).await.remove(0);
    reviews_at(
        &app,
        &kiwi,
        &q,
        chrono_tz::Pacific::Auckland,
        &[(1, 0, 10), (1, 23, 50)],
    )
    .await;
    let numbers = app.get_json(&kiwi.access, "/api/v1/analytics/me").await;
    assert_eq!(
        (
            numbers["review_streak_days"].as_i64(),
            numbers["reviewed_today"].as_i64()
        ),
        (Some(1), Some(0)),
        "one local day (yesterday), nothing today: {numbers}"
    );
    rate(&app, &kiwi, &q, "good").await;
    let numbers = app.get_json(&kiwi.access, "/api/v1/analytics/me").await;
    assert_eq!(
        (
            numbers["review_streak_days"].as_i64(),
            numbers["reviewed_today"].as_i64()
        ),
        (Some(2), Some(1)),
        "{numbers}"
    );
    assert!(numbers["average_retrievability"].as_f64().unwrap() > 0.9);

    // Los Angeles (UTC-8): 23:50 one local day and 00:10 the next are one UTC day.
    let angeleno = app.register().await;
    app.patch_as(
        &angeleno.access,
        "/api/v1/me",
        &json!({ "time_zone": "America/Los_Angeles" }),
    )
    .await;
    let sid = app.session_id(&angeleno.access, "Backend").await;
    let q = app
        .add_questions(&angeleno.access, &sid, 0..1)
        .await
        .remove(0);
    reviews_at(
        &app,
        &angeleno,
        &q,
        chrono_tz::America::Los_Angeles,
        &[(2, 23, 50), (1, 0, 10), (4, 12, 0)],
    )
    .await;
    let numbers = app.get_json(&angeleno.access, "/api/v1/analytics/me").await;
    assert_eq!(
        numbers["review_streak_days"].as_i64(),
        Some(2),
        "yesterday and the day before; the gap on day 3 ends it: {numbers}"
    );

    // An unknown zone is refused and changes nothing.
    let problem = assert_problem(
        app.patch_as(
            &angeleno.access,
            "/api/v1/me",
            &json!({ "time_zone": "Mars/Olympus" }),
        )
        .await,
        400,
    )
    .await;
    assert!(problem.to_string().contains("time_zone"), "{problem}");
    assert_eq!(
        app.get_json(&angeleno.access, "/api/v1/me").await["time_zone"],
        "America/Los_Angeles"
    );
}

#[tokio::test]
async fn review_state_goes_with_its_question_session_and_account() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let db = app.db().await;
    let count = |col: &'static str| {
        let db = db.clone();
        async move {
            db.collection::<bson::Document>(col)
                .count_documents(doc! {})
                .await
                .unwrap()
        }
    };
    let s1 = app.session_id(&me.access, "Backend").await;
    let s2 = app.session_id(&me.access, "Frontend").await;
    let a = app.add_questions(&me.access, &s1, 0..2).await;
    let b = app.add_questions(&me.access, &s2, 2..3).await;
    for q in a.iter().chain(&b) {
        rate(&app, &me, q, "hard").await;
    }
    assert_eq!((count("reviews").await, count("review_logs").await), (3, 3));
    app.delete_as(&me.access, &format!("/api/v1/questions/{}", a[0]))
        .await;
    assert_eq!((count("reviews").await, count("review_logs").await), (2, 2));
    app.delete_as(&me.access, &format!("/api/v1/sessions/{s1}"))
        .await;
    assert_eq!((count("reviews").await, count("review_logs").await), (1, 1));
    assert_eq!(app.delete_as(&me.access, "/api/v1/me").await.status(), 204);
    assert_eq!((count("reviews").await, count("review_logs").await), (0, 0));
}
