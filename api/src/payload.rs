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

/// About how many bytes a value's JSON takes: [`Direct`] writes into a buffer of that size,
/// so a page of 50 questions (about 40 KB) is not copied through the doublings of a buffer
/// grown from serde_json's 128 bytes.
pub trait JsonSize {
    /// The estimate (a little over is better than under: under costs a copy of it all).
    fn json_size(&self) -> usize;
}

/// Room for `text` as a JSON string: its bytes, its quotes, and some escapes.
pub fn text_size(text: &str) -> usize {
    text.len() + text.len() / 16 + 2
}

/// Room for a page: its items, its `next_cursor` and the keys around them.
pub fn page_size<T: JsonSize>(items: &[T], next_cursor: Option<&str>) -> usize {
    40 + 2
        + items.iter().map(|item| item.json_size() + 1).sum::<usize>()
        + next_cursor.map_or(0, text_size)
}

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

impl<T: Serialize + JsonSize + Send> IntoResponse for Direct<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(self.0.json_size());
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => Response::builder()
                .content_type(<Json<bool> as Payload>::CONTENT_TYPE)
                .body(body),
            Err(e) => {
                tracing::error!(error = %e, "a response body did not serialise");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// `id` as 24 lowercase hex digits, as `ObjectId::to_hex` writes it without going through
/// an iterator of `char`s (two ids per question of a page).
pub fn id_hex(id: &bson::oid::ObjectId) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(24);
    for byte in id.bytes() {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// Times as poem-openapi writes them (`to_rfc3339`: `+00:00`, not `Z`; a fraction of 3, 6
/// or 9 digits only when there is one), written on the stack: chrono's general formatter
/// and its `String` were a tenth of writing a page of questions.
pub fn rfc3339<S: serde::Serializer>(
    time: &chrono::DateTime<chrono::Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match Rfc3339::of(time) {
        Some(text) => serializer.serialize_str(text.as_str()),
        None => serializer.serialize_str(&time.to_rfc3339()),
    }
}

/// `YYYY-MM-DDTHH:MM:SS.fffffffff+00:00` at most.
struct Rfc3339 {
    bytes: [u8; 35],
    len: usize,
}

impl Rfc3339 {
    /// `time` written out; `None` for what chrono writes differently (years outside
    /// 0–9999, leap seconds).
    fn of(time: &chrono::DateTime<chrono::Utc>) -> Option<Self> {
        use chrono::{Datelike, Timelike};
        // The naive time: `DateTime`'s own accessors apply the (zero) offset on every call.
        let time = time.naive_utc();
        let (Ok(year @ 0..=9999), nanos @ 0..=999_999_999) =
            (u32::try_from(time.year()), time.nanosecond())
        else {
            return None;
        };
        let mut text = Self {
            bytes: [0; 35],
            len: 0,
        };
        text.digits(year, 4);
        text.byte(b'-');
        text.digits(time.month(), 2);
        text.byte(b'-');
        text.digits(time.day(), 2);
        text.byte(b'T');
        text.digits(time.hour(), 2);
        text.byte(b':');
        text.digits(time.minute(), 2);
        text.byte(b':');
        text.digits(time.second(), 2);
        let (fraction, width) = match nanos {
            0 => (0, 0),
            n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
            n if n % 1_000 == 0 => (n / 1_000, 6),
            n => (n, 9),
        };
        if width > 0 {
            text.byte(b'.');
            text.digits(fraction, width);
        }
        for b in *b"+00:00" {
            text.byte(b);
        }
        Some(text)
    }

    fn digits(&mut self, mut value: u32, width: usize) {
        for slot in self.bytes[self.len..self.len + width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.len += width;
    }

    fn byte(&mut self, b: u8) {
        self.bytes[self.len] = b;
        self.len += 1;
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).expect("ASCII digits and separators")
    }
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

    use proptest::strategy::Strategy;

    proptest::proptest! {
        #[test]
        fn times_are_written_as_chrono_writes_them(
            secs in -62_167_219_200_i64..253_402_300_800,
            nanos in proptest::prop_oneof![
                proptest::strategy::Just(0_u32),
                (0_u32..1000).prop_map(|ms| ms * 1_000_000),
                (0_u32..1_000_000).prop_map(|us| us * 1_000),
                0_u32..1_000_000_000,
            ],
        ) {
            let time = chrono::DateTime::from_timestamp(secs, nanos).unwrap();
            let text = super::Rfc3339::of(&time);
            proptest::prop_assert!(text.is_some());
            let text = text.unwrap();
            proptest::prop_assert_eq!(text.as_str(), time.to_rfc3339());
        }
    }

    #[test]
    fn times_chrono_writes_its_own_way_are_left_to_it() {
        let far = chrono::DateTime::from_timestamp(300_000_000_000, 0).unwrap();
        assert!(super::Rfc3339::of(&far).is_none());
        let json = serde_json::to_string(&Stamp(far)).unwrap();
        assert_eq!(json, format!("\"{}\"", far.to_rfc3339()));
    }

    #[test]
    fn ids_are_written_as_bson_writes_them() {
        for _ in 0..100 {
            let id = bson::oid::ObjectId::new();
            assert_eq!(super::id_hex(&id), id.to_hex());
        }
        let max = bson::oid::ObjectId::from_bytes([0xff; 12]);
        assert_eq!(super::id_hex(&max), "f".repeat(24));
    }

    #[derive(Serialize)]
    struct Stamp(#[serde(serialize_with = "super::rfc3339")] chrono::DateTime<chrono::Utc>);

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
                next_cursor: next_cursor.clone(),
            });
            let page = SessionPage {
                items: (0..20).map(|_| session(Some("Northwind"))).collect(),
                next_cursor,
            };
            room_for(&page);
        }
    }

    /// The buffer estimate holds the body, without wasting more than a third.
    fn room_for<T: Serialize + super::JsonSize>(value: &T) {
        let written = serde_json::to_vec(value).unwrap().len();
        let estimate = value.json_size();
        assert!(estimate >= written, "{estimate} < {written}");
        assert!(estimate <= written * 4 / 3, "{estimate} for {written}");
    }

    #[test]
    fn a_page_of_questions_fits_its_buffer() {
        let answer = "It depends: \"sharding\" by customer\nkeeps orders together. ".repeat(7);
        let page = QuestionPage {
            items: (0..50)
                .map(|i| QuestionView {
                    id: "6741f0c2a3b4c5d6e7f80913".into(),
                    session_id: "6741f0c2a3b4c5d6e7f80912".into(),
                    question: format!("Question {i}: how would you shard orders?"),
                    answer: answer.clone(),
                    notes: String::new(),
                    difficulty: Difficulty::Medium,
                    category: "Databases".into(),
                    kind: QuestionKind::SystemDesign,
                    is_pinned: i % 10 == 0,
                    source: Source::Ai,
                    created_at: at(1_733_000_000_123),
                    updated_at: at(1_733_000_000_000),
                })
                .collect(),
            next_cursor: Some("eyJ0IjoxfQ".to_owned()),
        };
        room_for(&page);
    }
}
