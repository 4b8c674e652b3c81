//! Accounts.

use bson::{DateTime, oid::ObjectId};
use serde::{Deserialize, Serialize};

use super::{Invalid, check_length};

/// An email address: trimmed, lower-cased, shaped like `local@domain.tld`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Validates and normalizes `raw` (field name `field` in errors).
    pub fn parse_field(field: &'static str, raw: &str) -> Result<Self, Invalid> {
        let email = raw.trim().to_lowercase();
        check_length(field, &email, 3, 254)?;
        let bad = || Invalid::new(field, "must be a valid email address");
        let (local, domain) = email.split_once('@').ok_or_else(bad)?;
        let labels_ok = domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        if !local_ok || !labels_ok || !domain.contains('.') {
            return Err(bad());
        }
        Ok(Self(email))
    }

    /// Validates and normalizes the `email` field.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::parse_field("email", raw)
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IANA time zone name (`Europe/Paris`, `Pacific/Auckland`, `UTC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub chrono_tz::Tz);

impl Default for TimeZone {
    fn default() -> Self {
        Self(chrono_tz::UTC)
    }
}

impl TimeZone {
    /// Validates `raw` (field `time_zone`).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        raw.trim().parse::<chrono_tz::Tz>().map(Self).map_err(|_| {
            Invalid::new(
                "time_zone",
                "must be an IANA time zone such as Europe/Paris",
            )
        })
    }

    /// The user's zone (UTC when unset or no longer known).
    pub fn of(user: &User) -> Self {
        user.time_zone
            .as_deref()
            .and_then(|tz| tz.parse().ok())
            .map_or(Self(chrono_tz::UTC), Self)
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

/// A person's name: 2–100 characters after trimming, no control characters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FullName(String);

impl FullName {
    /// Validates `raw`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        check_length("fullname", name, 2, 100)?;
        if name.chars().any(char::is_control) {
            return Err(Invalid::new(
                "fullname",
                "must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed: 8–128 characters (kept exactly, spaces included).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Validates `raw` for field `field`.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, Invalid> {
        check_length(field, raw, 8, 128)?;
        Ok(Self(raw.to_owned()))
    }

    /// The password.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A stored account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Normalized, unique email.
    pub email: String,
    /// Display name.
    pub fullname: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Whether the holder entered a code mailed to the address (accounts from before
    /// verification existed read as unverified).
    #[serde(default)]
    pub email_verified: bool,
    /// IANA time zone for days, streaks and "today" (UTC when not set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Creation time.
    pub created_at: DateTime,
    /// Last change.
    pub updated_at: DateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for bad in [
            "", "a", "a@b", "@b.co", "a@.co", "a@b..co", "a b@c.co", "a@b.c o", ".a@b.co",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn name_and_password_lengths() {
        assert!(FullName::parse(" A ").is_err());
        assert!(FullName::parse("Ad").is_ok());
        assert!(FullName::parse(&"x".repeat(101)).is_err());
        assert!(Password::parse("password", "1234567").is_err());
        assert!(Password::parse("password", "12345678").is_ok());
        assert!(Password::parse("password", &"p".repeat(129)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("p", "secret-pass").unwrap()),
            "Password(<redacted>)"
        );
    }
}
