//! Outgoing email over SMTP (lettre).

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::authentication::Credentials,
};
use secrecy::ExposeSecret;

use crate::config::{SmtpConfig, SmtpTls};

/// A rendered message: both parts are required (clients pick the one they show).
#[derive(Debug, Clone)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body (every user-supplied value already escaped).
    pub html: String,
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The recipient address is malformed: retrying cannot help.
    #[error("invalid recipient address: {0}")]
    InvalidRecipient(String),
    /// The message could not be built.
    #[error("building the message: {0}")]
    Build(#[from] lettre::error::Error),
    /// The SMTP server refused or could not be reached (may succeed later).
    #[error("SMTP: {0}")]
    Transport(#[from] lettre::transport::smtp::Error),
}

impl MailError {
    /// Whether retrying cannot succeed.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::InvalidRecipient(_) | Self::Build(_) => true,
            Self::Transport(e) => e.is_permanent(),
        }
    }
}

/// An SMTP client with a connection pool.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl Mailer {
    /// Builds the transport (no connection yet).
    pub fn new(config: &SmtpConfig) -> anyhow::Result<Self> {
        let mut builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            SmtpTls::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)?,
        }
        .port(config.port)
        .timeout(Some(std::time::Duration::from_secs(15)));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("EMAIL_FROM is not a valid mailbox: {e}"))?;
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }

    /// Sends `email`.
    pub async fn send(&self, email: Email) -> Result<(), MailError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e: lettre::address::AddressError| {
                MailError::InvalidRecipient(e.to_string())
            })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject)
            .multipart(MultiPart::alternative_plain_html(email.text, email.html))?;
        self.transport.send(message).await?;
        Ok(())
    }
}

/// Escapes text for inclusion in HTML.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_html;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_html(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;"
        );
    }
}
