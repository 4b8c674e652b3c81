//! `session_from_job_description`: reads a job advertisement (the provider's structured
//! output, or offline rules), creates a session for it and generates its first questions.
//!
//! Repeating an attempt is safe: the session's id is derived from the job's, so a later
//! attempt finds the session an earlier one created and only makes up missing questions.

use bson::{DateTime, oid::ObjectId};
use common::{
    db::{jobs::Jobs, sessions::Sessions},
    domain::{
        job::{FromJobDescriptionOutput, FromJobDescriptionPayload, GeneratePayload},
        session::{Session, SessionStatus},
    },
    jobs::SessionFromJobDescription,
};
use sha2::{Digest, Sha256};

use super::{
    Handler,
    generate::{fill, provider_within_budget, record_tokens},
    runner::{Attempt, JobError},
};
use crate::ai::{
    jd::{self, Extracted},
    openai::ProviderError,
};

impl Handler for SessionFromJobDescription {
    async fn run(
        attempt: &Attempt,
        p: FromJobDescriptionPayload,
    ) -> Result<FromJobDescriptionOutput, JobError> {
        run(attempt, p).await
    }
}

/// The session id of a job: the same for every attempt.
fn session_id(job_id: &str) -> ObjectId {
    let digest = Sha256::digest(format!("session-of-job:{job_id}").as_bytes());
    let mut bytes = [0u8; 12];
    bytes.copy_from_slice(&digest[..12]);
    ObjectId::from_bytes(bytes)
}

async fn run(
    attempt: &Attempt,
    p: FromJobDescriptionPayload,
) -> Result<FromJobDescriptionOutput, JobError> {
    let ctx = attempt.ctx();
    let job = &attempt.job;
    let sessions = Sessions::new(&ctx.db);
    let id = session_id(&job.id);
    let (session, extracted_by) = match sessions.get(job.user_id, id).await? {
        Some(session) => (session, None),
        None => {
            attempt.progress(5);
            let (found, by) = extract(attempt, &p.text).await?;
            attempt.progress(25);
            let now = DateTime::now();
            let session = Session {
                id,
                user_id: job.user_id,
                role: found.role,
                experience: found.experience,
                topics: found.topics,
                description: String::new(),
                company: found.company,
                job_description: Some(p.text.clone()),
                status: SessionStatus::Pending,
                duration_minutes: 60,
                question_count: 0,
                created_at: now,
                updated_at: now,
            };
            match sessions.insert(&session).await {
                Ok(()) => {}
                // A repeated delivery created it meanwhile: go on with that one.
                Err(e) if common::db::is_duplicate_key(&e) => {}
                Err(e) => return Err(e.into()),
            }
            (session, Some(by.to_owned()))
        }
    };
    Jobs::new(&ctx.db).set_session(&job.id, id).await?;
    attempt.progress(30);
    let generated = fill(
        attempt,
        id,
        GeneratePayload {
            count: p.count,
            topics: Vec::new(),
            difficulty: None,
        },
    )
    .await?;
    Ok(FromJobDescriptionOutput {
        session_id: id.to_hex(),
        role: session.role,
        experience: session.experience,
        topics: session.topics,
        company: session.company,
        extracted_by,
        generated,
    })
}

/// The provider's reading of the advert (behind its breaker and the user's budget), else
/// the offline one; a failed provider call on the last attempt or with the breaker open
/// falls back offline, others fail the attempt.
async fn extract(attempt: &Attempt, text: &str) -> Result<(Extracted, &'static str), JobError> {
    let ctx = attempt.ctx();
    let job = &attempt.job;
    let Some(provider) = provider_within_budget(attempt).await? else {
        return Ok((jd::offline(text), "offline"));
    };
    let call = async {
        let (reply, tokens) = provider
            .chat_json(
                jd::SYSTEM,
                jd::prompt(text),
                "job_description_brief",
                "What a job advertisement asks for",
                jd::schema(),
            )
            .await?;
        match jd::from_reply(&reply) {
            Some(found) => Ok((found, tokens)),
            None => Err((ProviderError::Garbage, tokens)),
        }
    };
    match ctx.ai.guarded(call).await {
        Ok((found, tokens)) => {
            record_tokens(attempt, tokens).await;
            Ok((found, "ai"))
        }
        Err((e, tokens, open)) => {
            record_tokens(attempt, tokens).await;
            if open || job.attempt >= job.max_attempts {
                tracing::warn!(error = %e, breaker_open = open, "provider failed; reading the advert offline");
                Ok((jd::offline(text), "offline"))
            } else {
                Err(JobError::Retry(e.into()))
            }
        }
    }
}
