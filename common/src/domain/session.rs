//! Practice sessions: validated inputs.

use bson::{DateTime, oid::ObjectId};
use serde::{Deserialize, Serialize};

use super::{Invalid, check_length};

/// Seniority the questions target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "kebab-case"))]
pub enum Experience {
    /// `entry-level`
    EntryLevel,
    /// `junior`
    Junior,
    /// `mid-level`
    MidLevel,
    /// `senior`
    Senior,
    /// `lead`
    Lead,
    /// `expert`
    Expert,
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "kebab-case"))]
pub enum SessionStatus {
    /// `pending`
    Pending,
    /// `in-progress`
    InProgress,
    /// `completed`
    Completed,
    /// `cancelled`
    Cancelled,
}

impl Experience {
    /// The stored (and wire) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EntryLevel => "entry-level",
            Self::Junior => "junior",
            Self::MidLevel => "mid-level",
            Self::Senior => "senior",
            Self::Lead => "lead",
            Self::Expert => "expert",
        }
    }
}

impl SessionStatus {
    /// The stored (and wire) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A change to a session: each field present (already validated) is set; the
/// repository owns how they are stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionPatch {
    /// New role.
    pub role: Option<String>,
    /// New experience level.
    pub experience: Option<Experience>,
    /// New topics.
    pub topics: Option<Vec<String>>,
    /// New description.
    pub description: Option<String>,
    /// New company ("" clears it).
    pub company: Option<String>,
    /// New job description ("" clears it).
    pub job_description: Option<String>,
    /// New planned duration.
    pub duration_minutes: Option<u32>,
    /// New status.
    pub status: Option<SessionStatus>,
}

impl SessionPatch {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A stored practice session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Owner.
    pub user_id: ObjectId,
    /// The role practised for.
    pub role: String,
    /// Target seniority.
    pub experience: Experience,
    /// Topics to cover.
    pub topics: Vec<String>,
    /// Free-text description.
    pub description: String,
    /// The company applied to (at most 100 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// The job advertisement prepared for (at most 20,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_description: Option<String>,
    /// Where the session stands.
    pub status: SessionStatus,
    /// Planned duration in minutes.
    pub duration_minutes: i32,
    /// Questions the session holds: changed only together with the questions themselves
    /// (in one transaction), so it is exact and guards the per-session cap.
    pub question_count: i32,
    /// Creation time.
    #[serde(deserialize_with = "super::read_time")]
    pub created_at: DateTime,
    /// Last change of the session's own fields.
    #[serde(deserialize_with = "super::read_time")]
    pub updated_at: DateTime,
}

/// The role practised for, 2–100 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role(String);

impl Role {
    /// Validates `raw`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let role = raw.trim();
        check_length("role", role, 2, 100)?;
        no_control("role", role)?;
        Ok(Self(role.to_owned()))
    }

    /// The role.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Up to 10 topics of 1–50 characters each, trimmed, duplicates (ignoring case) removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics(Vec<String>);

impl Topics {
    /// Validates `raw`.
    pub fn parse(raw: &[String]) -> Result<Self, Invalid> {
        if raw.len() > 10 {
            return Err(Invalid::new("topics", "at most 10 topics"));
        }
        let mut topics: Vec<String> = Vec::with_capacity(raw.len());
        for topic in raw {
            let topic = topic.trim();
            check_length("topics", topic, 1, 50)?;
            no_control("topics", topic)?;
            if !topics.iter().any(|t| t.eq_ignore_ascii_case(topic)) {
                topics.push(topic.to_owned());
            }
        }
        Ok(Self(topics))
    }

    /// The topics.
    pub fn into_inner(self) -> Vec<String> {
        self.0
    }
}

/// A free-text description of at most 500 characters.
pub fn parse_description(raw: &str) -> Result<String, Invalid> {
    let text = raw.trim();
    check_length("description", text, 0, 500)?;
    Ok(text.to_owned())
}

/// A company name: at most 100 characters, no control characters.
pub fn parse_company(raw: &str) -> Result<String, Invalid> {
    let text = raw.trim();
    check_length("company", text, 0, 100)?;
    no_control("company", text)?;
    Ok(text.to_owned())
}

/// The longest job description, in characters.
pub const JOB_DESCRIPTION_MAX: usize = 20_000;

/// A job advertisement: at most 20,000 characters.
pub fn parse_job_description(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let text = raw.trim();
    check_length(field, text, 0, JOB_DESCRIPTION_MAX)?;
    Ok(text.to_owned())
}

/// Planned duration: 1–300 minutes.
pub fn parse_duration_minutes(raw: i64) -> Result<u32, Invalid> {
    u32::try_from(raw)
        .ok()
        .filter(|m| (1..=300).contains(m))
        .ok_or_else(|| Invalid::new("duration_minutes", "must be between 1 and 300"))
}

fn no_control(field: &'static str, value: &str) -> Result<(), Invalid> {
    if value.chars().any(char::is_control) {
        Err(Invalid::new(field, "must not contain control characters"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_trimmed_deduplicated_and_bounded() {
        let t = Topics::parse(&["  Rust ".into(), "rust".into(), "SQL".into()]).unwrap();
        assert_eq!(t.into_inner(), ["Rust", "SQL"]);
        assert!(Topics::parse(&vec!["x".to_owned(); 11]).is_err());
        assert!(Topics::parse(&["   ".into()]).is_err());
        assert!(Topics::parse(&["x".repeat(51)]).is_err());
    }

    #[test]
    fn role_duration_and_description_bounds() {
        assert!(Role::parse(" B ").is_err());
        assert_eq!(
            Role::parse(" Backend Developer ").unwrap().into_inner(),
            "Backend Developer"
        );
        assert!(parse_duration_minutes(0).is_err());
        assert!(parse_duration_minutes(301).is_err());
        assert_eq!(parse_duration_minutes(60).unwrap(), 60);
        assert!(parse_description(&"d".repeat(501)).is_err());
    }

    #[test]
    fn enums_use_the_documented_spelling() {
        assert_eq!(
            serde_json::to_string(&Experience::EntryLevel).unwrap(),
            r#""entry-level""#
        );
        assert_eq!(
            serde_json::to_string(&SessionStatus::InProgress).unwrap(),
            r#""in-progress""#
        );
    }
}
