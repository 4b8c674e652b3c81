//! Practice attempts: a user's answer to a question and the grade it got.

use bson::{DateTime, oid::ObjectId};
use serde::{Deserialize, Serialize};

use super::{Invalid, question::Length};

/// An attempt's answer.
pub const ATTEMPT_ANSWER_LEN: Length = Length { min: 1, max: 5000 };
/// The longest time an attempt may report (s).
pub const MAX_DURATION_SECS: u32 = 3600;
/// A reason, strength or point of a grade.
pub const GRADE_TEXT_LEN: Length = Length { min: 1, max: 300 };
/// A suggested better answer.
pub const SUGGESTED_ANSWER_LEN: Length = Length { min: 1, max: 2000 };
/// Most strengths in a grade.
pub const MAX_STRENGTHS: usize = 3;
/// Most missing points in a grade.
pub const MAX_MISSING: usize = 5;

/// Validates an attempt's answer ([`ATTEMPT_ANSWER_LEN`] after trimming).
pub fn parse_attempt_answer(raw: &str) -> Result<String, Invalid> {
    ATTEMPT_ANSWER_LEN.check("answer", raw)
}

/// Who graded an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum Grader {
    /// The language model, with the rubric as structured output.
    Ai,
    /// The deterministic offline grader (key-point coverage).
    Offline,
}

impl Grader {
    /// The stored (and wire) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ai => "ai",
            Self::Offline => "offline",
        }
    }
}

/// One criterion of the rubric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Criterion {
    /// 1 (poor) to 5 (excellent).
    pub score: i32,
    /// Why, in one sentence.
    pub reason: String,
}

/// The rubric's criteria.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Criteria {
    /// Is what the answer says right?
    pub correctness: Criterion,
    /// Does it cover the model answer's points?
    pub completeness: Criterion,
    /// Is it easy to follow?
    pub clarity: Criterion,
    /// Is it well organised?
    pub structure: Criterion,
}

/// A point the answer missed, tied to the model answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct MissingPoint {
    /// What is missing.
    pub point: String,
    /// The point of the model answer it comes from.
    pub model_point: String,
}

/// Which parts of the STAR method (Situation, Task, Action, Result) a behavioural answer
/// covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Star {
    /// The context is set.
    pub situation: bool,
    /// The goal or responsibility is stated.
    pub task: bool,
    /// What the candidate did is described.
    pub action: bool,
    /// The outcome is given.
    pub result: bool,
}

/// The grade of an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
#[cfg_attr(feature = "openapi", oai(skip_serializing_if_is_none))]
pub struct Grade {
    /// Who graded it.
    pub grader: Grader,
    /// Overall, 0–100.
    pub score: i32,
    /// The rubric.
    pub criteria: Criteria,
    /// Up to 3 things done well.
    pub strengths: Vec<String>,
    /// Up to 5 points missing, each tied to the model answer.
    pub missing: Vec<MissingPoint>,
    /// A better answer (at most 2,000 characters).
    pub suggested_answer: String,
    /// STAR coverage, for behavioural questions only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub star: Option<Star>,
    /// The model answer's key points the answer covers (offline grader only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", oai(default))]
    pub covered_points: Vec<String>,
    /// The model answer's key points it misses (offline grader only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", oai(default))]
    pub missed_points: Vec<String>,
}

/// A stored attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Owner.
    pub user_id: ObjectId,
    /// The question's session.
    pub session_id: ObjectId,
    /// The question answered.
    pub question_id: ObjectId,
    /// The question's category when answered (for the weakest-categories view).
    pub category: String,
    /// The answer.
    pub answer: String,
    /// Time the user took (s), if the client measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<i32>,
    /// The grading job (absent for an instant while it is started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The grade, once graded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<Grade>,
    /// `grade.score`, kept flat for statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<i32>,
    /// Creation time.
    pub created_at: DateTime,
    /// When it was graded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graded_at: Option<DateTime>,
}

/// What the grading job needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradePayload {
    /// The attempt to grade (picked by the server: not part of the request's identity).
    pub attempt_id: ObjectId,
    /// The question answered.
    pub question_id: ObjectId,
    /// SHA-256 of what the client sent (answer and duration), so that an
    /// `Idempotency-Key` reused for another answer is refused.
    pub request: String,
}

impl GradePayload {
    /// The payload for attempt `attempt_id` answering `question_id` with `answer` in
    /// `duration_secs`.
    pub fn new(
        attempt_id: ObjectId,
        question_id: ObjectId,
        answer: &str,
        duration_secs: Option<i32>,
    ) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("{duration_secs:?}|{answer}").as_bytes());
        Self {
            attempt_id,
            question_id,
            request: hex::encode(digest),
        }
    }
}

/// What grading produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct GradeOutput {
    /// The attempt graded.
    pub attempt_id: String,
    /// Its score, 0–100.
    pub score: i32,
    /// Who graded it.
    pub grader: Grader,
}
