//! [`Direct`]: a JSON response body serialised straight from the value.
//!
//! poem-openapi's `Json<T>` first turns the value into a `serde_json::Value` tree
//! (`ToJSON`) and then serialises the tree: for a page of 50 questions, hundreds of small
//! allocations per request that the bytes do not need. `Direct<T>` documents the same
//! schema (`T`'s) and writes the bytes at once with serde. `T` derives `serde::Serialize`
//! to the same form as its `Object` derive gives; [`tests::same_json`] and the contract
//! tests hold the two together.

use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{
    payload::{Json, Payload},
    registry::{MetaSchemaRef, Registry},
    types::Type,
};
use serde::Serialize;

/// A JSON body written with serde (see the module docs).
#[derive(Debug)]
pub struct Direct<T>(pub T);

impl<T: Type> Payload for Direct<T> {
    const CONTENT_TYPE: &'static str = <Json<T> as Payload>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        <Json<T> as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Serialize + Send> IntoResponse for Direct<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder()
                .content_type(<Json<bool> as Payload>::CONTENT_TYPE)
                .body(body),
            Err(e) => {
                tracing::error!(error = %e, "a response body did not serialise");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// Times as poem-openapi writes them (`to_rfc3339`: `+00:00`, not `Z`).
pub fn rfc3339<S: serde::Serializer>(
    time: &chrono::DateTime<chrono::Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&time.to_rfc3339())
}

#[cfg(test)]
pub(crate) mod tests {
    use poem_openapi::types::ToJSON;
    use serde::Serialize;

    use crate::routes::{
        questions::{QuestionPage, QuestionView},
        sessions::{SessionPage, SessionView},
    };
    use common::domain::{
        question::{Difficulty, QuestionKind, Source},
        session::{Experience, SessionStatus},
    };

    /// Asserts that serde and poem-openapi write `value` alike.
    pub fn same_json<T: Serialize + ToJSON>(value: &T) {
        assert_eq!(
            serde_json::to_value(value).unwrap(),
            value.to_json().unwrap()
        );
    }

    fn at(ms: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(ms).unwrap()
    }

    #[test]
    fn question_pages_are_written_as_their_schema_says() {
        let question = |kind, pinned| QuestionView {
            id: "6741f0c2a3b4c5d6e7f80913".into(),
            session_id: "6741f0c2a3b4c5d6e7f80912".into(),
            question: "What does \"é\" cost in UTF-8?".into(),
            answer: "Two bytes.\nAnd a tab\t.".into(),
            notes: String::new(),
            difficulty: Difficulty::Hard,
            category: "Text".into(),
            kind,
            is_pinned: pinned,
            source: Source::Ai,
            created_at: at(1_733_000_000_123),
            updated_at: at(1_733_000_000_000),
        };
        for next_cursor in [None, Some("eyJ0IjoxfQ".to_owned())] {
            same_json(&QuestionPage {
                items: vec![
                    question(QuestionKind::SystemDesign, true),
                    question(QuestionKind::Technical, false),
                ],
                next_cursor,
            });
        }
    }

    #[test]
    fn session_pages_are_written_as_their_schema_says() {
        let session = |company: Option<&str>| SessionView {
            id: "6741f0c2a3b4c5d6e7f80912".into(),
            role: "Backend Engineer".into(),
            experience: Experience::MidLevel,
            topics: vec!["Rust".into(), "SQL".into()],
            description: String::new(),
            company: company.map(str::to_owned),
            job_description: company.map(|c| format!("Work at {c}.")),
            status: SessionStatus::InProgress,
            duration_minutes: 45,
            question_count: 12,
            pinned_count: 3,
            created_at: at(1_733_000_000_999),
            updated_at: at(1_733_000_000_001),
        };
        for next_cursor in [None, Some("eyJ0IjoxfQ".to_owned())] {
            same_json(&SessionPage {
                items: vec![session(None), session(Some("Northwind"))],
                next_cursor,
            });
        }
    }
}
