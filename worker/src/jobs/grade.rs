//! `grade_attempt`: grades a practice attempt with the provider's rubric, or offline.
//!
//! Repeating an attempt is safe: a graded attempt is answered from its stored grade.

use common::{
    db::{attempts::Attempts, questions::Questions, reviews::Reviews},
    domain::{
        attempt::{Grade, GradeOutput, GradePayload},
        review::{Rating, ReviewSource},
    },
    jobs::GradeAttempt,
};

use super::{
    Handler,
    generate::{provider_within_budget, record_tokens},
    runner::{Attempt, JobError},
};
use crate::{
    ai::openai::ProviderError,
    grading::{Task, offline, rubric},
};

impl Handler for GradeAttempt {
    async fn run(attempt: &Attempt, p: GradePayload) -> Result<GradeOutput, JobError> {
        run(attempt, p).await
    }
}

fn output(id: bson::oid::ObjectId, grade: &Grade) -> GradeOutput {
    GradeOutput {
        attempt_id: id.to_hex(),
        score: grade.score,
        grader: grade.grader,
    }
}

async fn run(attempt: &Attempt, p: GradePayload) -> Result<GradeOutput, JobError> {
    let ctx = attempt.ctx();
    let attempts = Attempts::new(&ctx.db);
    let record = attempts
        .by_id(p.attempt_id)
        .await?
        .ok_or_else(|| JobError::permanent("the attempt no longer exists"))?;
    if let Some(grade) = &record.grade {
        // An earlier attempt of the job graded it; it just did not get to finish.
        return Ok(output(record.id, grade));
    }
    let Some(question) = Questions::new(&ctx.db)
        .get(record.user_id, record.question_id)
        .await?
    else {
        attempts.discard(record.id).await?;
        return Err(JobError::permanent("the question no longer exists"));
    };
    attempt.progress(10);
    let task = Task {
        question: &question,
        answer: &record.answer,
    };
    let grade = grade(attempt, &task).await?;
    attempt.progress(90);
    if attempt.lost() {
        return Err(JobError::Retry(anyhow::anyhow!(
            "the attempt's lease was lost"
        )));
    }
    if !attempts.record_grade(record.id, &grade).await? {
        return Err(JobError::permanent("the attempt was deleted"));
    }
    metrics::counter!("attempts_graded_total", "grader" => grade.grader.as_str()).increment(1);
    // The grade is a review: its score, as a rating, moves the question's schedule.
    Reviews::new(&ctx.db)
        .record(
            &question,
            Rating::from_score(grade.score),
            ReviewSource::Attempt,
            chrono::Utc::now(),
        )
        .await?;
    common::db::analytics::invalidate(&ctx.kv, record.user_id).await;
    Ok(output(record.id, &grade))
}

/// The offline grade of the task's answer.
fn offline(task: &Task<'_>) -> Grade {
    let q = task.question;
    offline::grade(&q.question, &q.answer, q.kind, task.answer)
}

/// The provider's grade (behind its breaker, within the user's budget), else the offline
/// one: without a provider, with the breaker open or the budget spent, or when the provider
/// failed on the job's last attempt. Other failures fail the attempt (it is retried).
async fn grade(attempt: &Attempt, task: &Task<'_>) -> Result<Grade, JobError> {
    let ctx = attempt.ctx();
    let job = &attempt.job;
    let Some(provider) = provider_within_budget(attempt).await? else {
        return Ok(offline(task));
    };
    let kind = task.question.kind;
    let call = async {
        let (text, tokens) = provider
            .chat_json(
                rubric::SYSTEM,
                rubric::prompt(task),
                "answer_grade",
                "A graded interview answer",
                rubric::schema(),
            )
            .await?;
        match rubric::grade(&text, kind) {
            Some(grade) => Ok((grade, tokens)),
            None => Err((ProviderError::Garbage, tokens)),
        }
    };
    match ctx.ai.guarded(call).await {
        Ok((grade, tokens)) => {
            record_tokens(attempt, tokens).await;
            Ok(grade)
        }
        Err((e, tokens, open)) => {
            record_tokens(attempt, tokens).await;
            if open || job.attempt >= job.max_attempts {
                tracing::warn!(error = %e, breaker_open = open, "provider failed; grading offline");
                Ok(offline(task))
            } else {
                Err(JobError::Retry(e.into()))
            }
        }
    }
}
