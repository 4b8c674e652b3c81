use bson::oid::ObjectId;
use common::{
    db::questions::Questions,
    domain::question::{Difficulty, NewQuestion, Source},
};
use serde_json::{Value, json};

use crate::support::{TestApp, ai_question, assert_problem};

fn item(
    n: u32,
    answer: &str,
    difficulty: Difficulty,
    category: &str,
    pinned: bool,
    source: Source,
) -> NewQuestion {
    NewQuestion {
        answer: answer.to_owned(),
        difficulty,
        category: category.to_owned(),
        kind: Default::default(),
        is_pinned: pinned,
        source,
        ..ai_question(&format!("Seeded question {n}?"))
    }
}

#[tokio::test]
async fn stats_match_a_session_counted_by_hand() {
    let app = TestApp::spawn().await;
    let me = app.register().await;
    let sid = app.session_id(&me.access, "Backend").await;
    let stats_path = format!("/api/v1/sessions/{sid}/stats");

    let empty = app.get_json(&me.access, &stats_path).await;
    assert_eq!(empty["total"], 0);
    assert_eq!(empty["average_answer_words"], 0.0);

    use Difficulty::{Easy, Hard, Medium};
    use Source::{Ai, Bank, Custom};
    let seed = vec![
        // answer words: 4, 6, 2, 8, 5  → 25 words over 5 answers = 5.0
        item(1, "one two three four", Easy, "Databases", true, Ai),
        item(
            2,
            "one two three four five six",
            Hard,
            "Databases",
            false,
            Ai,
        ),
        item(3, "one\n\ttwo   ", Hard, "Networking", true, Bank),
        item(4, "a b c d e f g h", Medium, "", false, Custom),
        item(5, "x y z w v", Hard, "Databases", false, Custom),
    ];
    Questions::new(&app.db().await)
        .add(
            ObjectId::parse_str(&me.id).unwrap(),
            ObjectId::parse_str(&sid).unwrap(),
            seed,
            50,
        )
        .await
        .unwrap()
        .unwrap();

    let stats: Value = app.get_json(&me.access, &stats_path).await;
    assert_eq!(stats["session_id"], sid.as_str());
    assert_eq!(stats["total"], 5);
    assert_eq!(stats["pinned"], 2);
    assert_eq!(
        stats["by_difficulty"],
        json!({ "easy": 1, "medium": 1, "hard": 3 })
    );
    assert_eq!(
        stats["by_source"],
        json!({ "ai": 2, "bank": 1, "custom": 2 })
    );
    assert_eq!(
        stats["by_category"],
        json!([
            { "category": "Databases", "count": 3 },
            { "count": 1 },
            { "category": "Networking", "count": 1 },
        ])
    );
    assert_eq!(stats["average_answer_words"], 5.0);

    // Editing an answer moves the average: question 4 goes from 8 words to 3 → 20 / 5.
    let page = app
        .get_json(
            &me.access,
            &format!("/api/v1/sessions/{sid}/questions?difficulty=medium"),
        )
        .await;
    let q4 = page["items"][0]["id"].as_str().unwrap();
    let resp = app
        .patch_as(
            &me.access,
            &format!("/api/v1/questions/{q4}"),
            &json!({ "answer": "just three words" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let stats: Value = app.get_json(&me.access, &stats_path).await;
    assert_eq!(stats["average_answer_words"], 4.0);

    let other = app.register().await;
    assert_problem(app.get_as(&other.access, &stats_path).await, 404).await;
}
