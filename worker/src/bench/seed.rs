//! `worker bench seed <user_id> <sessions> <questions_per_session> <answer_chars>`: seeds a user's
//! data through the same repository code the api uses (`Sessions::insert`, `Questions::add`
//! with its cap transaction), without HTTP: 100,000 questions take seconds instead of
//! minutes. MONGODB_URI and MONGODB_DATABASE from the environment; prints the session ids.

use bson::{DateTime, oid::ObjectId};
use common::{
    config::{Env, MongoConfig},
    db::{questions::Questions, sessions::Sessions},
    domain::{
        question::{Difficulty, NewQuestion, Source},
        session::{Experience, Session, SessionStatus},
    },
};
use futures::{StreamExt, stream};

#[expect(clippy::print_stdout, reason = "prints the seeded session ids")]
pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let usage = "worker bench seed <user_id> <sessions> <questions_per_session> <answer_chars>";
    let user: ObjectId = args
        .first()
        .ok_or_else(|| anyhow::anyhow!(usage))?
        .parse()?;
    let sessions: usize = args.get(1).ok_or_else(|| anyhow::anyhow!(usage))?.parse()?;
    let per: usize = args.get(2).ok_or_else(|| anyhow::anyhow!(usage))?.parse()?;
    let answer_chars: usize = args.get(3).ok_or_else(|| anyhow::anyhow!(usage))?.parse()?;
    let env = Env::process();
    let db = common::db::connect(&MongoConfig {
        uri: env.secret("MONGODB_URI")?,
        database: env.required("MONGODB_DATABASE")?,
        server_selection_timeout: std::time::Duration::from_secs(5),
    })
    .await?;
    let filler = "Explain the trade-offs, then give a concrete example from production. ";
    let answer: String = filler.chars().cycle().take(answer_chars).collect();
    let ids: Vec<ObjectId> = stream::iter(0..sessions)
        .map(|s| {
            let (db, answer) = (db.clone(), answer.clone());
            async move {
                let now = DateTime::now();
                let session = Session {
                    id: ObjectId::new(),
                    user_id: user,
                    role: format!("Backend Engineer {s}"),
                    experience: Experience::Senior,
                    topics: vec!["Databases".to_owned(), "Rust".to_owned()],
                    description: String::new(),
                    company: None,
                    job_description: None,
                    status: SessionStatus::Pending,
                    duration_minutes: 60,
                    question_count: 0,
                    created_at: now,
                    updated_at: now,
                };
                Sessions::new(&db).insert(&session).await?;
                let items = (0..per)
                    .map(|q| NewQuestion {
                        question: format!(
                            "Session {s} question {q}: how would you shard a table of orders?"
                        ),
                        answer: answer.clone(),
                        notes: String::new(),
                        difficulty: [Difficulty::Easy, Difficulty::Medium, Difficulty::Hard][q % 3],
                        category: ["Databases", "Design", "Rust"][q % 3].to_owned(),
                        kind: Default::default(),
                        is_pinned: q % 10 == 0,
                        source: Source::Custom,
                        added_by: None,
                    })
                    .collect();
                Questions::new(&db)
                    .add(
                        user,
                        session.id,
                        items,
                        u32::try_from(per).unwrap_or(u32::MAX),
                    )
                    .await?;
                anyhow::Ok(session.id)
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    for id in ids {
        println!("{}", id.to_hex());
    }
    Ok(())
}
