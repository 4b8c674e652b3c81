//! `generate_questions`: new questions for a session from the provider, its cache or the
//! bank, validated, de-duplicated and added under the session's cap.
//!
//! Repeating an attempt is safe: questions carry the run that added them (`added_by`), so a
//! later attempt only makes up what is missing, and the unique text index refuses repeats.

use std::collections::HashSet;

use common::{
    db::{jobs::Jobs, questions::Questions, sessions::Sessions, usage::AiUsage},
    domain::{
        job::{GenerateOutput, GeneratePayload, JobRecord, TokenUsage},
        question::text_hash,
        session::Session,
    },
    jobs::GenerateQuestions,
};

use super::{
    Handler,
    runner::{Attempt, JobError},
};
use crate::ai::{self, Batch, Brief, Origin, cache};

/// The questions of a session the brief is for, and the hashes it already holds.
pub(super) struct SessionView {
    pub session: Session,
    pub existing: Vec<String>,
    pub taken: HashSet<String>,
}

impl SessionView {
    /// A brief for `count` questions of this session.
    pub fn brief(
        &self,
        topics: Vec<String>,
        difficulty: Option<common::domain::question::Difficulty>,
        count: u32,
    ) -> Brief {
        Brief {
            role: self.session.role.clone(),
            experience: self.session.experience.as_str().to_owned(),
            level: self.session.experience,
            topics,
            difficulty,
            count,
            existing: self.existing.clone(),
            description: self.session.description.clone(),
            company: self.session.company.clone(),
            job_description: self.session.job_description.clone(),
        }
    }
}

pub(super) async fn load(
    attempt: &Attempt,
    session_id: bson::oid::ObjectId,
) -> Result<SessionView, JobError> {
    let ctx = attempt.ctx();
    let session = Sessions::new(&ctx.db)
        .get(attempt.job.user_id, session_id)
        .await?
        .ok_or_else(|| JobError::permanent("the session no longer exists"))?;
    let existing = Questions::new(&ctx.db)
        .texts(session_id, i64::from(ctx.max_questions))
        .await?;
    let taken = existing.iter().map(|q| text_hash(q)).collect();
    Ok(SessionView {
        session,
        existing,
        taken,
    })
}

/// A seed that differs between jobs and attempts (the bank's pick varies with it).
pub(super) fn seed(job: &JobRecord) -> u64 {
    let digest = text_hash(&format!("{}:{}:{}", job.id, job.run, job.attempt));
    u64::from_str_radix(&digest[..16], 16).unwrap_or(0)
}

/// A batch for `brief`: the cache, then the provider (behind its breaker), then the bank
/// when no key is configured, the breaker is open, the user's daily token budget is spent,
/// or the provider failed on the last attempt. Other provider failures fail the attempt (it
/// is retried).
///
/// Only replies to prompts without user-written question texts are cached: what one user
/// wrote never reaches another user's questions.
pub(super) async fn batch(
    attempt: &Attempt,
    brief: &Brief,
    taken: &HashSet<String>,
    use_cache: bool,
) -> Result<Batch, JobError> {
    let ctx = attempt.ctx();
    let job = &attempt.job;
    let Some(provider) = ctx.ai.provider() else {
        return Ok(ai::from_bank(brief, taken, seed(job)));
    };
    let screen = brief.screen();
    let key = cache::key(&ctx.kv, brief);
    let cached = if use_cache {
        ai::unseen(cache::get(&ctx.kv, &key).await, taken)
    } else {
        Vec::new()
    };
    let usable = cached.iter().filter(|c| ai::is_valid(c, &screen)).count();
    if use_cache && usable >= brief.count as usize {
        metrics::counter!("ai_cache_total", "outcome" => "hit").increment(1);
        return Ok(Batch {
            candidates: cached,
            origin: Origin::Cache,
            tokens: Default::default(),
        });
    }
    metrics::counter!("ai_cache_total", "outcome" => "miss").increment(1);
    let budget = AiUsage::new(&ctx.db)
        .budget(job.user_id, ctx.token_budget)
        .await?;
    if budget.spent() {
        metrics::counter!("ai_budget_exhausted_total").increment(1);
        tracing::info!(
            used = budget.used,
            "daily token budget spent; using the offline bank"
        );
        return Ok(ai::from_bank(brief, taken, seed(job)));
    }
    match ctx.ai.call(provider, brief).await {
        Ok(batch) => {
            record_tokens(attempt, batch.tokens).await;
            if !brief.has_user_text() {
                let valid: Vec<_> = batch
                    .candidates
                    .iter()
                    .filter(|c| ai::is_valid(c, &screen))
                    .cloned()
                    .collect();
                cache::add(&ctx.kv, &key, &valid, ctx.ai.config.cache_ttl).await;
            }
            Ok(batch)
        }
        Err((e, tokens, open)) => {
            record_tokens(attempt, tokens).await;
            if open || job.attempt >= job.max_attempts {
                tracing::warn!(error = %e, breaker_open = open, "provider failed; using the offline bank");
                Ok(ai::from_bank(brief, taken, seed(job)))
            } else {
                Err(JobError::Retry(e.into()))
            }
        }
    }
}

/// The provider for this job: configured, its breaker letting a call through, and the job's
/// owner with budget left today (a spent budget is counted). `None` means: do it offline.
pub(super) async fn provider_within_budget(
    attempt: &Attempt,
) -> Result<Option<&crate::ai::openai::OpenAi>, JobError> {
    let ctx = attempt.ctx();
    let Some(provider) = ctx.ai.provider() else {
        return Ok(None);
    };
    let budget = AiUsage::new(&ctx.db)
        .budget(attempt.job.user_id, ctx.token_budget)
        .await?;
    if budget.spent() {
        metrics::counter!("ai_budget_exhausted_total").increment(1);
        return Ok(None);
    }
    Ok(Some(provider))
}

/// Counts tokens a provider call used: on the job, in the user's daily ledger, in metrics.
pub(super) async fn record_tokens(attempt: &Attempt, t: TokenUsage) {
    if t.prompt <= 0 && t.completion <= 0 {
        return;
    }
    metrics::counter!("ai_tokens_total", "kind" => "prompt")
        .increment(u64::try_from(t.prompt).unwrap_or(0));
    metrics::counter!("ai_tokens_total", "kind" => "completion")
        .increment(u64::try_from(t.completion).unwrap_or(0));
    let db = &attempt.ctx().db;
    let job = &attempt.job;
    if let Err(e) = Jobs::new(db).add_tokens(&job.id, t).await {
        tracing::warn!(error = %e, "tokens not recorded on the job");
    }
    if let Err(e) = AiUsage::new(db).add(job.user_id, t).await {
        tracing::warn!(error = %e, "tokens not counted against the daily budget");
    }
}

/// Times one attempt waits out a session held by other transactions before it fails.
const MAX_CONTENDED_ROUNDS: u32 = 4;

impl Handler for GenerateQuestions {
    async fn run(attempt: &Attempt, p: GeneratePayload) -> Result<GenerateOutput, JobError> {
        run(attempt, p).await
    }
}

async fn run(attempt: &Attempt, p: GeneratePayload) -> Result<GenerateOutput, JobError> {
    let session_id = attempt
        .job
        .session_id
        .ok_or_else(|| JobError::permanent("the job names no session"))?;
    fill(attempt, session_id, p).await
}

/// Adds `p.count` generated questions to the session (what this run added already
/// counts), under its cap.
pub(super) async fn fill(
    attempt: &Attempt,
    session_id: bson::oid::ObjectId,
    p: GeneratePayload,
) -> Result<GenerateOutput, JobError> {
    let ctx = attempt.ctx();
    let job = &attempt.job;
    let questions = Questions::new(&ctx.db);
    let tag = format!("{}:{}", job.id, job.run);
    let before: Vec<String> = questions
        .added_by(session_id, &tag)
        .await?
        .into_iter()
        .map(bson::oid::ObjectId::to_hex)
        .collect();
    let wanted = u64::from(p.count).saturating_sub(before.len() as u64);
    if wanted == 0 {
        // An earlier attempt of this run added everything; it just did not get to finish.
        return Ok(GenerateOutput {
            questions_added: i64::try_from(before.len()).unwrap_or(0),
            question_ids: before,
            duplicates_dropped: 0,
            invalid_dropped: 0,
            source: None,
            cached: None,
        });
    }
    attempt.progress(10);

    // Jobs of one session running at once can pick the same candidate (from the cache, or
    // a provider repeating itself); the unique index lets one of them have it. The loser
    // looks again with the session as it is now, and without the cache, instead of
    // spending an attempt.
    let mut round = 0;
    let mut contended = 0;
    let (batch, checked, repeats, added) = loop {
        let view = load(attempt, session_id).await?;
        let room = i64::from(ctx.max_questions) - i64::from(view.session.question_count);
        if room <= 0 {
            return Err(JobError::permanent(format!(
                "the session is full: it holds the maximum of {} questions",
                ctx.max_questions
            )));
        }
        let want = u32::try_from(i64::try_from(wanted).unwrap_or(i64::MAX).min(room)).unwrap_or(0);
        let topics = if p.topics.is_empty() {
            view.session.topics.clone()
        } else {
            p.topics.clone()
        };
        let brief = view.brief(topics, p.difficulty, want);
        let use_cache = round == 0 && job.attempt == 1;
        let batch = batch(attempt, &brief, &view.taken, use_cache).await?;
        attempt.progress(60);

        let checked = ai::check(
            &batch.candidates,
            batch.origin.source(),
            &tag,
            &brief.screen(),
        );
        let mut seen = view.taken.clone();
        let (fresh, repeats): (Vec<_>, Vec<_>) = checked
            .items
            .iter()
            .cloned()
            .partition(|q| seen.insert(text_hash(&q.question)));
        let mut fresh = fresh;
        fresh.truncate(want as usize);
        let added = match questions
            .add(job.user_id, session_id, fresh, ctx.max_questions)
            .await
        {
            // The session stayed locked past the transaction's retry budget (a burst of
            // jobs on one session, or a killed worker's transaction not yet expired): wait
            // and look again within this attempt rather than spend one.
            Err(e)
                if e.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR)
                    && contended < MAX_CONTENDED_ROUNDS =>
            {
                contended += 1;
                tracing::info!(contended, "session busy; adding again");
                tokio::time::sleep(std::time::Duration::from_millis(500) * contended).await;
                continue;
            }
            other => other?.ok_or_else(|| JobError::permanent("the session no longer exists"))?,
        };
        round += 1;
        let raced = added.inserted.is_empty() && added.duplicates > 0 && added.over_cap == 0;
        if raced && round < 3 {
            continue;
        }
        break (batch, checked, repeats, added);
    };
    metrics::counter!("ai_items_dropped_total", "reason" => "duplicate")
        .increment((repeats.len() + added.duplicates) as u64);
    if added.inserted.is_empty() {
        if added.over_cap > 0 {
            return Err(JobError::permanent("the session is full"));
        }
        if batch.origin == Origin::Bank && batch.candidates.is_empty() {
            return Err(JobError::Retry(anyhow::anyhow!(
                "the offline bank has no question left for these topics that the session \
                 does not have (the provider is unavailable or today's AI budget is spent)"
            )));
        }
        return Err(JobError::Retry(anyhow::anyhow!(
            "the reply held no usable new question ({} invalid, {} refused, {} duplicates)",
            checked.invalid,
            checked.refused,
            repeats.len() + added.duplicates
        )));
    }
    common::db::analytics::invalidate(&ctx.kv, job.user_id).await;
    attempt.progress(95);
    let mut ids = before;
    ids.extend(added.inserted.iter().map(|q| q.id.to_hex()));
    Ok(GenerateOutput {
        questions_added: i64::try_from(ids.len()).unwrap_or(0),
        question_ids: ids,
        duplicates_dropped: i64::try_from(repeats.len() + added.duplicates).unwrap_or(0),
        invalid_dropped: i64::try_from(checked.invalid + checked.refused).unwrap_or(0),
        source: Some(batch.origin.source()),
        cached: Some(batch.origin == Origin::Cache),
    })
}
