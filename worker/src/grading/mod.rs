//! Grading practice attempts: the provider with a fixed rubric as structured output, or the
//! deterministic offline grader when there is no provider, its breaker is open, the user's
//! token budget is spent, or it failed on the job's last attempt.

pub mod offline;
pub mod rubric;

use common::domain::question::Question;

/// What a grader is given.
#[derive(Debug, Clone, Copy)]
pub struct Task<'a> {
    /// The question answered (its text, model answer and kind).
    pub question: &'a Question,
    /// The user's answer.
    pub answer: &'a str,
}
