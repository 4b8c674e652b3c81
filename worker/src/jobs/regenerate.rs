//! `regenerate_question`: replaces one question's text and answer with a new one (keeping
//! its id, pin, notes and category), through the same provider, cache and bank.

use common::{
    db::questions::{Questions, WriteError},
    domain::job::{RegenerateOutput, RegeneratePayload},
    jobs::RegenerateQuestion,
};

use super::{
    Handler,
    generate::{batch, load},
    runner::{Attempt, JobError},
};
use crate::ai;

impl Handler for RegenerateQuestion {
    async fn run(attempt: &Attempt, p: RegeneratePayload) -> Result<RegenerateOutput, JobError> {
        run(attempt, p).await
    }
}

async fn run(attempt: &Attempt, p: RegeneratePayload) -> Result<RegenerateOutput, JobError> {
    let ctx = attempt.ctx();
    let job = &attempt.job;
    let questions = Questions::new(&ctx.db);
    let tag = format!("{}:{}", job.id, job.run);
    let current = questions
        .get(job.user_id, p.question_id)
        .await?
        .ok_or_else(|| JobError::permanent("the question no longer exists"))?;
    if current.regenerated_by.as_deref() == Some(tag.as_str()) {
        // An earlier attempt of this run replaced it; it just did not get to finish.
        return Ok(RegenerateOutput {
            question_id: current.id.to_hex(),
            source: current.source,
        });
    }
    let view = load(attempt, current.session_id).await?;
    attempt.progress(10);
    let mut topics = view.session.topics.clone();
    if !current.category.is_empty() {
        topics.insert(0, current.category.clone());
    }
    // A few candidates, so that one survives validation and de-duplication.
    let brief = view.brief(topics, Some(current.difficulty), 3);
    let batch = batch(attempt, &brief, &view.taken, attempt.job.attempt == 1).await?;
    attempt.progress(60);
    let checked = ai::check(
        &batch.candidates,
        batch.origin.source(),
        &tag,
        &brief.screen(),
    );
    for item in &checked.items {
        if view
            .taken
            .contains(&common::domain::question::text_hash(&item.question))
        {
            continue;
        }
        match questions
            .replace_text(job.user_id, current.id, item, &tag)
            .await
        {
            Ok(Some(q)) => {
                common::db::analytics::invalidate(&ctx.kv, job.user_id).await;
                return Ok(RegenerateOutput {
                    question_id: q.id.to_hex(),
                    source: q.source,
                });
            }
            Ok(None) => return Err(JobError::permanent("the question no longer exists")),
            // Another question of the session has this text: try the next candidate.
            Err(WriteError::Duplicate) => {}
            Err(WriteError::Db(e)) => return Err(e.into()),
        }
    }
    Err(JobError::Retry(anyhow::anyhow!(
        "the reply held no usable replacement ({} invalid, {} refused)",
        checked.invalid,
        checked.refused
    )))
}
