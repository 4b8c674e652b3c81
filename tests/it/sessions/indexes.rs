use std::collections::HashSet;

use bson::{Document, doc, oid::ObjectId};
use common::{
    db::{
        RETIRED,
        notifications::Notifications,
        questions::{ListFilter, Questions},
        sessions::Sessions,
    },
    domain::session::SessionStatus,
};
use futures::TryStreamExt;

use crate::support::TestApp;

async fn index_keys(db: &mongodb::Database, collection: &str) -> HashSet<(String, bool)> {
    db.collection::<Document>(collection)
        .list_indexes()
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .map(|m| {
            let unique = m.options.and_then(|o| o.unique).unwrap_or(false);
            (pattern(&m.keys), unique)
        })
        .collect()
}

#[tokio::test]
async fn the_documented_indexes_exist() {
    let app = TestApp::spawn().await;
    let db = app.db().await;
    let sessions = index_keys(&db, "sessions").await;
    for keys in [
        doc! { "user_id": 1, "created_at": -1, "_id": -1 },
        doc! { "user_id": 1, "status": 1, "created_at": -1, "_id": -1 },
    ] {
        assert!(
            sessions.contains(&(pattern(&keys), false)),
            "{keys} in {sessions:?}"
        );
    }
    let questions = index_keys(&db, "questions").await;
    for (keys, unique) in [
        (
            doc! { "session_id": 1, "is_pinned": -1, "created_at": -1 },
            false,
        ),
        (doc! { "session_id": 1, "category": 1 }, false),
        (doc! { "session_id": 1, "text_hash": 1 }, true),
    ] {
        assert!(
            questions.contains(&(pattern(&keys), unique)),
            "{keys} (unique: {unique}) in {questions:?}"
        );
    }
}

/// `field:direction,...` whatever numeric type the server used for the directions.
fn pattern(keys: &Document) -> String {
    keys.iter()
        .map(|(k, v)| {
            let dir = match v {
                bson::Bson::Int32(n) => i64::from(*n),
                bson::Bson::Int64(n) => *n,
                #[expect(clippy::cast_possible_truncation, reason = "1 or -1")]
                bson::Bson::Double(n) => *n as i64,
                other => panic!("unexpected key value {other}"),
            };
            format!("{k}:{dir}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The stages of a plan from the top down to the stage that reads the collection.
fn stages(plan: &Document) -> Vec<&Document> {
    let mut out = vec![plan];
    // Classic plans nest stages in inputStage; newer servers wrap them in queryPlan.
    if let Some(inner) = ["inputStage", "queryPlan"]
        .iter()
        .find_map(|k| plan.get_document(k).ok())
    {
        out.extend(stages(inner));
    }
    out
}

/// The stage that reads the collection, wherever the planner nested it.
fn scan_stage(plan: &Document) -> Option<Document> {
    stages(plan)
        .into_iter()
        .find(|s| matches!(s.get_str("stage"), Ok("IXSCAN" | "COLLSCAN")))
        .cloned()
}

/// The index scan of an `explain`'s winning plan (and the plan, for messages); fails when
/// the plan reads the collection any other way.
fn index_scan(explain: &Document) -> (Document, Document) {
    let plan = explain
        .get_document("queryPlanner")
        .and_then(|p| p.get_document("winningPlan"))
        .unwrap()
        .clone();
    let scan = scan_stage(&plan).unwrap_or_else(|| panic!("no scan stage in {plan}"));
    assert_eq!(scan.get_str("stage").unwrap(), "IXSCAN", "{plan}");
    (scan, plan)
}

/// Asserts that the winning plan of an `explain` reads the collection through `index`.
pub fn assert_scans(explain: &Document, index: &Document) {
    let (scan, plan) = index_scan(explain);
    assert_eq!(
        pattern(scan.get_document("keyPattern").unwrap()),
        pattern(index),
        "{plan}"
    );
}

/// Asserts that the winning plan of an `explain` reads the collection through an index led
/// by `field`, bounded to the single value `value` of it.
fn assert_scans_only(explain: &Document, field: &str, value: ObjectId) {
    let (scan, plan) = index_scan(explain);
    let keys = scan.get_document("keyPattern").unwrap();
    assert_eq!(
        keys.keys().next().map(String::as_str),
        Some(field),
        "{plan}"
    );
    let bounds = scan
        .get_document("indexBounds")
        .and_then(|b| b.get_array(field))
        .unwrap_or_else(|_| panic!("no bounds on {field} in {plan}"));
    assert_eq!(
        bounds
            .iter()
            .filter_map(bson::Bson::as_str)
            .collect::<Vec<_>>(),
        [format!("[ObjectId('{value}'), ObjectId('{value}')]")],
        "{plan}"
    );
}

/// The page query of a session's questions is not forced onto an index (`hint`): the
/// planner picks one bounded to the session (the compound index, or the category index
/// and an in-memory sort of at most one session's questions), and with a category filter,
/// the category index bounded to the session and the category.
#[tokio::test]
async fn the_question_list_reads_only_its_sessions_index_entries() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let sid = app.session_id(&me.access, "Backend").await;
    app.add_questions(&me.access, &sid, 0..5).await;
    let questions = Questions::new(&app.db().await);
    let session = ObjectId::parse_str(&sid).unwrap();
    let user = ObjectId::parse_str(&me.id).unwrap();
    for filter in [
        ListFilter::default(),
        ListFilter {
            pinned: Some(true),
            ..ListFilter::default()
        },
    ] {
        let explain = questions
            .explain_list(user, session, &filter, 20)
            .await
            .unwrap();
        assert_scans_only(&explain, "session_id", session);
    }
    let by_category = ListFilter {
        category: Some("Databases".into()),
        ..ListFilter::default()
    };
    let explain = questions
        .explain_list(user, session, &by_category, 20)
        .await
        .unwrap();
    assert_scans(&explain, &doc! { "session_id": 1, "category": 1 });
    assert_scans_only(&explain, "session_id", session);
}

/// Asserts that the winning plan reads `index` bounded to `user` and in its own order: no
/// `SORT` stage, which would read every match of the filter for each page.
fn assert_pages_in_index_order(explain: &Document, index: &Document, user: ObjectId) {
    assert_scans(explain, index);
    assert_scans_only(explain, "user_id", user);
    let plan = explain
        .get_document("queryPlanner")
        .and_then(|p| p.get_document("winningPlan"))
        .unwrap();
    assert!(
        !stages(plan)
            .iter()
            .any(|s| s.get_str("stage") == Ok("SORT")),
        "the page is sorted after reading: {plan}"
    );
}

/// Pages of sessions (all, or of one status) and of notifications (all, or unread) are
/// read from an index in its order, so page 1 costs the same for 2 sessions or 2,000.
#[tokio::test]
async fn session_and_notification_pages_read_an_index_in_order() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let sid = app.session_id(&me.access, "Backend").await;
    app.add_questions(&me.access, &sid, 0..2).await;
    let db = app.db().await;
    let user = ObjectId::parse_str(&me.id).unwrap();
    let sessions = Sessions::new(&db);
    let newest = doc! { "user_id": 1, "created_at": -1, "_id": -1 };
    let by_status = doc! { "user_id": 1, "status": 1, "created_at": -1, "_id": -1 };
    let plan = sessions.explain_list(user, None, 20).await.unwrap();
    assert_pages_in_index_order(&plan, &newest, user);
    let plan = sessions
        .explain_list(user, Some(SessionStatus::Completed), 20)
        .await
        .unwrap();
    assert_pages_in_index_order(&plan, &by_status, user);
    let notifications = Notifications::new(&db);
    for unread_only in [false, true] {
        let plan = notifications
            .explain_list(user, unread_only, 20)
            .await
            .unwrap();
        assert_pages_in_index_order(&plan, &newest, user);
    }
}

/// A database created by an earlier release loses the indexes a longer one now serves,
/// and keeps the rest; starting again finds nothing to drop.
#[tokio::test]
async fn start_up_drops_the_retired_indexes() {
    let app = TestApp::spawn().await;
    let db = app.db().await;
    let old = [
        ("sessions", doc! { "user_id": 1, "created_at": -1 }),
        ("sessions", doc! { "user_id": 1, "status": 1 }),
        ("notifications", doc! { "user_id": 1, "created_at": -1 }),
    ];
    for (collection, keys) in &old {
        db.collection::<Document>(collection)
            .create_index(mongodb::IndexModel::builder().keys(keys.clone()).build())
            .await
            .unwrap();
    }
    for (collection, keys) in &old {
        let before = index_keys(&db, collection).await;
        assert!(
            before.contains(&(pattern(keys), false)),
            "{keys} in {before:?}"
        );
    }
    for _ in 0..2 {
        common::db::ensure_indexes(&db).await.unwrap();
    }
    for (collection, keys) in &old {
        let left = index_keys(&db, collection).await;
        assert!(
            !left.contains(&(pattern(keys), false)),
            "{keys} in {left:?}"
        );
    }
    assert_eq!(RETIRED.len(), old.len());
    assert!(index_keys(&db, "sessions").await.contains(&(
        pattern(&doc! { "user_id": 1, "created_at": -1, "_id": -1 }),
        false
    )));
}
