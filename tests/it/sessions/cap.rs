use bson::{doc, oid::ObjectId};
use common::{db::questions::Questions, domain::question::Source};
use serde_json::Value;

use crate::support::{TestApp, ai_question, assert_problem};

#[tokio::test]
async fn twenty_concurrent_adds_to_a_session_of_45_leave_exactly_50() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let sid = app.session_id(&me.access, "Backend").await;
    app.add_questions(&me.access, &sid, 0..45).await;

    let attempts = (100..120).map(|i| app.add_question(&me.access, &sid, i));
    let responses = futures::future::join_all(attempts).await;
    let mut created = 0;
    let mut refused = Vec::new();
    for resp in responses {
        match resp.status().as_u16() {
            201 => created += 1,
            _ => refused.push(assert_problem(resp, 409).await),
        }
    }
    assert_eq!(created, 5, "exactly the free slots are taken");
    assert_eq!(refused.len(), 15);
    assert!(
        refused
            .iter()
            .all(|p| p["type"] == "/problems/session-full"),
        "{refused:?}"
    );

    let session: Value = app
        .get_json(&me.access, &format!("/api/v1/sessions/{sid}"))
        .await;
    assert_eq!(session["question_count"], 50);
    let stored = app
        .db()
        .await
        .collection::<bson::Document>("questions")
        .count_documents(doc! { "session_id": ObjectId::parse_str(&sid).unwrap() })
        .await
        .unwrap();
    assert_eq!(stored, 50);

    // Deleting one frees exactly one slot.
    let page = app
        .get_json(
            &me.access,
            &format!("/api/v1/sessions/{sid}/questions?limit=1"),
        )
        .await;
    let qid = page["items"][0]["id"].as_str().unwrap();
    assert_eq!(
        app.delete_as(&me.access, &format!("/api/v1/questions/{qid}"))
            .await
            .status(),
        204
    );
    assert_eq!(app.add_question(&me.access, &sid, 500).await.status(), 201);
    assert_problem(app.add_question(&me.access, &sid, 501).await, 409).await;
}

/// The function workers use: a batch is cut at the cap, duplicates (within the batch or
/// against the session) are skipped, and repeating the batch adds nothing.
#[tokio::test]
async fn batches_respect_the_cap_and_skip_duplicates_and_repeat_safely() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let sid = app.session_id(&me.access, "Backend").await;
    app.add_questions(&me.access, &sid, 0..46).await;
    let questions = Questions::new(&app.db().await);
    let user = ObjectId::parse_str(&me.id).unwrap();
    let session = ObjectId::parse_str(&sid).unwrap();
    let batch = vec![
        ai_question("Question number 3: what does it do?"), // already in the session
        ai_question("Fresh one?"),
        ai_question("fresh ONE"), // duplicate within the batch
        ai_question("Fresh two?"),
        ai_question("Fresh three?"),
        ai_question("Fresh four?"),
        ai_question("Fresh five?"),
    ];
    let added = questions
        .add(user, session, batch.clone(), 50)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(added.inserted.len(), 4);
    assert_eq!(added.duplicates, 2);
    assert_eq!(added.over_cap, 1);
    assert!(added.inserted.iter().all(|q| q.source == Source::Ai));

    // A retry of the same batch finds everything there (or the session full).
    let again = questions
        .add(user, session, batch, 50)
        .await
        .unwrap()
        .unwrap();
    assert!(again.inserted.is_empty());
    let session_view = app
        .get_json(&me.access, &format!("/api/v1/sessions/{sid}"))
        .await;
    assert_eq!(session_view["question_count"], 50);

    // Someone else's session, or none, adds nothing.
    let stranger = ObjectId::new();
    assert!(
        questions
            .add(stranger, session, vec![ai_question("Sneaky?")], 50)
            .await
            .unwrap()
            .is_none()
    );
}
