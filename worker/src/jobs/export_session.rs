//! `export_session`: renders a session's questions as XLSX, CSV, PDF or DOCX and stores the
//! file in S3 under `exports/{user}/{job}/{random}.{ext}`.
//!
//! Repeating an attempt is safe: the object key is fixed when the job is created (a retry
//! overwrites the same object), the upload is a single PUT (an object appears whole or not
//! at all), and the export record is unique per job.

use anyhow::Context;
use bson::{DateTime, oid::ObjectId};
use common::{
    db::{
        attempts::Attempts, exports::Exports, questions::Questions, reviews::Reviews,
        sessions::Sessions,
    },
    domain::job::{ExportOutput, ExportPayload, ExportRecord},
    jobs::ExportSession,
};

use super::{
    Handler,
    runner::{Attempt, JobError},
};
use crate::export::{self, Progress, Sheet};

impl Handler for ExportSession {
    async fn run(attempt: &Attempt, p: ExportPayload) -> Result<ExportOutput, JobError> {
        run(attempt, p).await
    }
}

async fn run(attempt: &Attempt, p: ExportPayload) -> Result<ExportOutput, JobError> {
    let ctx = attempt.ctx();
    let job = &attempt.job;
    let exports = Exports::new(&ctx.db);
    if let Some(done) = exports.by_job(&job.id).await? {
        return Ok(ExportOutput::from(&done));
    }
    let session_id = job
        .session_id
        .ok_or_else(|| JobError::permanent("the job names no session"))?;
    let session = Sessions::new(&ctx.db)
        .get(job.user_id, session_id)
        .await?
        .ok_or_else(|| JobError::permanent("the session no longer exists"))?;
    let questions = Questions::new(&ctx.db).in_order(session_id).await?;
    let count = i32::try_from(questions.len()).unwrap_or(i32::MAX);
    attempt.progress(20);

    let now = DateTime::now();
    let filename = export::filename(&session, now, p.format);
    let ids = questions.iter().map(|q| q.id).collect();
    let progress = Progress {
        last_scores: Attempts::new(&ctx.db)
            .scores_by_question(session_id)
            .await?
            .into_iter()
            .map(|(id, s)| (id, s.last))
            .collect(),
        due: Reviews::new(&ctx.db)
            .of_questions(&ids)
            .await?
            .into_iter()
            .map(|r| (r.question_id, r.due))
            .collect(),
    };
    let sheet = Sheet::new(&session, questions, &progress, now);
    // Only PDF needs fonts (loaded once per process, on the first PDF export).
    let fonts = (p.format == common::domain::job::ExportFormat::Pdf).then(|| ctx.fonts());
    let format = p.format;
    let bytes =
        tokio::task::spawn_blocking(move || export::render(format, &sheet, fonts.as_deref()))
            .await
            .map_err(|e| JobError::Retry(anyhow::anyhow!("the renderer stopped: {e}")))?
            .map_err(|e| JobError::Permanent(e.context("the file could not be rendered")))?;
    attempt.progress(60);

    let key = format!(
        "exports/{}/{}/{}.{}",
        job.user_id.to_hex(),
        job.id,
        p.token,
        p.format.as_str()
    );
    let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    ctx.storage
        .put(
            &key,
            bytes,
            p.format.content_type(),
            &export::disposition(&filename),
        )
        .await
        .context("the file store did not accept the export")
        .map_err(JobError::Retry)?;
    attempt.progress(90);

    let retention = i64::try_from(ctx.export_retention.as_millis()).unwrap_or(i64::MAX);
    let record = ExportRecord {
        id: ObjectId::new(),
        user_id: job.user_id,
        session_id,
        job_id: job.id.clone(),
        format: p.format,
        key,
        filename,
        size_bytes: size,
        question_count: count,
        created_at: now,
        expires_at: DateTime::from_millis(now.timestamp_millis().saturating_add(retention)),
    };
    // The owner may have deleted the session or the account while the file was written:
    // then nothing of this export may remain.
    if !attempt.still_held().await? {
        if let Err(e) = ctx.storage.delete(&record.key).await {
            tracing::warn!(error = format!("{e:#}"), key = %record.key, "export object of a cancelled job not deleted");
        }
        return Err(JobError::permanent(
            "the job was cancelled while the file was written",
        ));
    }
    let stored = exports.insert_once(&record).await?;
    metrics::counter!("exports_total", "format" => p.format.as_str()).increment(1);
    metrics::histogram!("export_size_bytes", "format" => p.format.as_str()).record(size as f64);
    Ok(ExportOutput::from(&stored))
}
