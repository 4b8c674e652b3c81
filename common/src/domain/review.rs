//! Spaced-repetition review: each practised question's memory state, scheduled with FSRS
//! (`rs-fsrs`, long-term scheduler: whole-day intervals, no fuzz, so schedules are
//! reproducible), and the log of reviews behind the streaks.

use bson::{DateTime, oid::ObjectId};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::question::QuestionKind;

/// How well the user recalled a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum Rating {
    /// Forgotten.
    Again,
    /// Recalled with serious difficulty.
    Hard,
    /// Recalled after some thought.
    Good,
    /// Recalled at once.
    Easy,
}

impl Rating {
    /// The rating a graded attempt's score stands for: below 40 `again`, 40–64 `hard`,
    /// 65–84 `good`, 85 and above `easy`.
    pub fn from_score(score: i32) -> Self {
        match score {
            i32::MIN..=39 => Self::Again,
            40..=64 => Self::Hard,
            65..=84 => Self::Good,
            _ => Self::Easy,
        }
    }

    fn fsrs(self) -> rs_fsrs::Rating {
        match self {
            Self::Again => rs_fsrs::Rating::Again,
            Self::Hard => rs_fsrs::Rating::Hard,
            Self::Good => rs_fsrs::Rating::Good,
            Self::Easy => rs_fsrs::Rating::Easy,
        }
    }

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Again => "again",
            Self::Hard => "hard",
            Self::Good => "good",
            Self::Easy => "easy",
        }
    }
}

/// Where a question stands in FSRS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
#[cfg_attr(feature = "openapi", oai(rename_all = "snake_case"))]
pub enum CardState {
    /// Never reviewed.
    New,
    /// Being learnt.
    Learning,
    /// In regular review.
    Review,
    /// Forgotten, being learnt again.
    Relearning,
}

impl From<rs_fsrs::State> for CardState {
    fn from(s: rs_fsrs::State) -> Self {
        match s {
            rs_fsrs::State::New => Self::New,
            rs_fsrs::State::Learning => Self::Learning,
            rs_fsrs::State::Review => Self::Review,
            rs_fsrs::State::Relearning => Self::Relearning,
        }
    }
}

impl From<CardState> for rs_fsrs::State {
    fn from(s: CardState) -> Self {
        match s {
            CardState::New => Self::New,
            CardState::Learning => Self::Learning,
            CardState::Review => Self::Review,
            CardState::Relearning => Self::Relearning,
        }
    }
}

/// What produced a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewSource {
    /// `POST /questions/{id}/reviews`.
    Manual,
    /// A graded practice attempt.
    Attempt,
}

/// A question's memory state (one document per reviewed question, keyed by its id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewState {
    /// The question.
    #[serde(rename = "_id")]
    pub question_id: ObjectId,
    /// Owner.
    pub user_id: ObjectId,
    /// The question's session.
    pub session_id: ObjectId,
    /// The question's kind (kept in step with the question, for the due list's filter).
    pub kind: QuestionKind,
    /// When it is due next.
    pub due: DateTime,
    /// FSRS stability: days until recall probability falls to 90 %.
    pub stability: f64,
    /// FSRS difficulty, 1–10.
    pub difficulty: f64,
    /// Days between the last two reviews.
    pub elapsed_days: i64,
    /// Days from the last review to `due`.
    pub scheduled_days: i64,
    /// Reviews so far (also the optimistic-concurrency version).
    pub reps: i32,
    /// Times forgotten after being learnt.
    pub lapses: i32,
    /// FSRS state.
    pub state: CardState,
    /// The last review.
    pub last_review: DateTime,
}

/// One review, for "reviewed today" and streaks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewLog {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Owner.
    pub user_id: ObjectId,
    /// The question.
    pub question_id: ObjectId,
    /// The question's session.
    pub session_id: ObjectId,
    /// The rating given.
    pub rating: Rating,
    /// What produced it.
    pub source: ReviewSource,
    /// When.
    pub reviewed_at: DateTime,
}

fn scheduler() -> rs_fsrs::FSRS {
    rs_fsrs::FSRS::new(rs_fsrs::Parameters {
        enable_short_term: false,
        enable_fuzz: false,
        ..rs_fsrs::Parameters::default()
    })
}

impl ReviewState {
    fn card(&self) -> rs_fsrs::Card {
        rs_fsrs::Card {
            due: self.due.to_chrono(),
            stability: self.stability,
            difficulty: self.difficulty,
            elapsed_days: self.elapsed_days,
            scheduled_days: self.scheduled_days,
            reps: self.reps,
            lapses: self.lapses,
            state: self.state.into(),
            last_review: self.last_review.to_chrono(),
        }
    }

    /// The state after `rating` at `now`, from `current` (a question never reviewed when
    /// `None`; `kind` and the ids come from `base`).
    pub fn next(
        current: Option<&Self>,
        base: (ObjectId, ObjectId, ObjectId, QuestionKind),
        rating: Rating,
        now: chrono::DateTime<Utc>,
    ) -> Self {
        let (question_id, user_id, session_id, kind) = base;
        let card = current.map_or_else(
            || rs_fsrs::Card {
                due: now,
                last_review: now,
                ..rs_fsrs::Card::default()
            },
            Self::card,
        );
        let next = scheduler().next(card, now, rating.fsrs()).card;
        Self {
            question_id,
            user_id,
            session_id,
            kind,
            due: DateTime::from_chrono(next.due),
            stability: next.stability,
            difficulty: next.difficulty,
            elapsed_days: next.elapsed_days,
            scheduled_days: next.scheduled_days,
            reps: next.reps,
            lapses: next.lapses,
            state: next.state.into(),
            last_review: DateTime::from_chrono(now),
        }
    }

    /// The probability of recalling it at `now` (FSRS's forgetting curve).
    pub fn retrievability(&self, now: chrono::DateTime<Utc>) -> f64 {
        self.card().get_retrievability(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> (ObjectId, ObjectId, ObjectId, QuestionKind) {
        (
            ObjectId::new(),
            ObjectId::new(),
            ObjectId::new(),
            QuestionKind::Technical,
        )
    }

    fn interval(s: &ReviewState) -> i64 {
        (s.due.timestamp_millis() - s.last_review.timestamp_millis()) / 86_400_000
    }

    #[test]
    fn from_one_state_again_hard_good_easy_give_strictly_growing_intervals() {
        let now = Utc::now();
        let b = base();
        // From a new question, and from one reviewed twice (good, then good 3 days later).
        let first = ReviewState::next(None, b, Rating::Good, now);
        let later = now + chrono::Duration::days(3);
        let second = ReviewState::next(Some(&first), b, Rating::Good, later);
        let then = later + chrono::Duration::days(interval(&second));
        for (from, at) in [(None, now), (Some(&second), then)] {
            let days: Vec<i64> = [Rating::Again, Rating::Hard, Rating::Good, Rating::Easy]
                .into_iter()
                .map(|r| interval(&ReviewState::next(from, b, r, at)))
                .collect();
            assert!(days.windows(2).all(|w| w[0] < w[1]), "{days:?}");
            assert!(days[0] >= 1, "{days:?}");
        }
    }

    #[test]
    fn good_again_and_again_grows_the_interval_and_again_shrinks_it() {
        let b = base();
        let mut now = Utc::now();
        let mut state = ReviewState::next(None, b, Rating::Good, now);
        let mut intervals = vec![interval(&state)];
        for _ in 0..6 {
            now += chrono::Duration::days(interval(&state));
            state = ReviewState::next(Some(&state), b, Rating::Good, now);
            intervals.push(interval(&state));
        }
        assert!(intervals.windows(2).all(|w| w[0] < w[1]), "{intervals:?}");
        let forgot = ReviewState::next(Some(&state), b, Rating::Again, now);
        assert!(interval(&forgot) < interval(&state));
        assert_eq!(forgot.lapses, state.lapses + 1);
        assert!(state.retrievability(now) > 0.8);
    }

    #[test]
    fn scores_map_to_ratings() {
        assert_eq!(
            [0, 39, 40, 64, 65, 84, 85, 100].map(Rating::from_score),
            [
                Rating::Again,
                Rating::Again,
                Rating::Hard,
                Rating::Hard,
                Rating::Good,
                Rating::Good,
                Rating::Easy,
                Rating::Easy
            ]
        );
    }
}
