//! The `email` queue: renders and sends transactional mail.

use common::{
    domain::job::EmailSent,
    jobs::{EmailJob, SendEmail},
    otp::{self, Purpose},
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
    let (purpose, email, fullname, kind) = match payload {
        EmailJob::PasswordResetCode { email, fullname } => {
            (Purpose::PasswordReset, email, fullname, "password_reset")
        }
        EmailJob::VerificationCode { email, fullname } => {
            (Purpose::EmailVerification, email, fullname, "verification")
        }
    };
    if attempt.lost() {
        // Another delivery owns the job now: a second code would void this one.
        return Err(JobError::Retry(anyhow::anyhow!(
            "the attempt's lease was lost"
        )));
    }
    let code = otp::issue(&ctx.kv, purpose, &email).await?;
    let message = match purpose {
        Purpose::PasswordReset => password_reset(&email, &fullname, &code),
        Purpose::EmailVerification => verification(&email, &fullname, &code),
    };
    match ctx.mailer.send(message).await {
        Ok(()) => {
            metrics::counter!("emails_sent_total", "kind" => kind).increment(1);
            tracing::info!(kind, "code sent");
            Ok(EmailSent {})
        }
        Err(e) if e.is_permanent() => Err(JobError::Permanent(e.into())),
        Err(e) => Err(JobError::Retry(e.into())),
    }
}

/// The e-mail verification message (both parts); `fullname` is escaped in the HTML part.
pub fn verification(to: &str, fullname: &str, code: &str) -> Email {
    let minutes = otp::CODE_TTL_SECS / 60;
    let text = format!(
        "Hello {fullname},\n\nYour verification code is {code}.\nEnter it in the app within \
         {minutes} minutes to confirm this address.\n\nIf you did not create an account, ignore \
         this message.\n"
    );
    let html = format!(
        "<p>Hello {name},</p><p>Your verification code is <strong>{code}</strong>.<br>Enter it \
         in the app within {minutes} minutes to confirm this address.</p><p>If you did not \
         create an account, ignore this message.</p>",
        name = escape_html(fullname),
    );
    Email {
        to: to.to_owned(),
        subject: "Confirm your email address".to_owned(),
        text,
        html,
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
