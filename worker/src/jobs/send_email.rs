//! The `email` queue: renders and sends transactional mail.

use common::{
    domain::job::EmailSent,
    jobs::{EmailJob, SendEmail},
    otp,
};

use super::{
    Handler,
    runner::{Attempt, JobError},
};
use crate::mail::{Email, escape_html};

impl Handler for SendEmail {
    async fn run(attempt: &Attempt, payload: EmailJob) -> Result<EmailSent, JobError> {
        run(attempt, payload).await
    }
}

/// Sends one email. A bad payload or an address the server refuses is permanent; SMTP and
/// Redis failures are retried.
async fn run(attempt: &Attempt, payload: EmailJob) -> Result<EmailSent, JobError> {
    let ctx = attempt.ctx();
    match payload {
        EmailJob::PasswordResetCode { email, fullname } => {
            if attempt.lost() {
                // Another delivery owns the job now: a second code would void this one.
                return Err(JobError::Retry(anyhow::anyhow!(
                    "the attempt's lease was lost"
                )));
            }
            let code = otp::issue(&ctx.kv, &email).await?;
            let message = password_reset(&email, &fullname, &code);
            match ctx.mailer.send(message).await {
                Ok(()) => {
                    metrics::counter!("emails_sent_total", "kind" => "password_reset").increment(1);
                    tracing::info!("password reset code sent");
                    Ok(EmailSent {})
                }
                Err(e) if e.is_permanent() => Err(JobError::Permanent(e.into())),
                Err(e) => Err(JobError::Retry(e.into())),
            }
        }
    }
}

/// The password-reset message (both parts); `fullname` is escaped in the HTML part.
pub fn password_reset(to: &str, fullname: &str, code: &str) -> Email {
    let minutes = otp::CODE_TTL_SECS / 60;
    let text = format!(
        "Hello {fullname},\n\nYour password reset code is {code}.\nIt is valid for {minutes} minutes \
         and can be used once.\n\nIf you did not ask to reset your password, ignore this message.\n"
    );
    let html = format!(
        "<p>Hello {name},</p><p>Your password reset code is <strong>{code}</strong>.<br>It is valid \
         for {minutes} minutes and can be used once.</p><p>If you did not ask to reset your password, \
         ignore this message.</p>",
        name = escape_html(fullname),
    );
    Email {
        to: to.to_owned(),
        // The code stays out of the subject, which lock screens and previews show.
        subject: "Your password reset code".to_owned(),
        text,
        html,
    }
}
