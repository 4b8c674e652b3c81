//! Reading a model's reply: the JSON it was asked for, wherever it sits in the text.
//!
//! Servers that honour `response_format` return bare JSON. Others wrap it in code fences or
//! prose. We never cut the text with patterns (an answer may contain `]` or `}`): we let a
//! JSON parser read a complete value starting at each `{` or `[` in turn and keep the
//! first that has the expected shape.

use serde::Deserialize;

/// One question as a model (or the cache) proposes it, not validated yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Candidate {
    /// The question.
    #[serde(default)]
    pub question: String,
    /// Its model answer.
    #[serde(default)]
    pub answer: String,
    /// `easy`, `medium` or `hard`.
    #[serde(default)]
    pub difficulty: String,
    /// A short category.
    #[serde(default)]
    pub category: String,
    /// `technical`, `behavioural`, `system-design` or `coding` (empty in replies cached
    /// before kinds existed: technical).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
}

#[derive(Deserialize)]
struct Wrapped {
    questions: Vec<serde_json::Value>,
}

/// The candidates in `text`, or `None` when it holds no JSON of either accepted shape
/// (`{"questions": [...]}` or a bare array of question objects). Items of the wrong shape
/// are skipped (validation counts them).
pub fn candidates(text: &str) -> Option<Vec<Candidate>> {
    let starts = text
        .char_indices()
        .filter(|(_, c)| *c == '{' || *c == '[')
        .map(|(i, _)| i);
    for start in starts {
        let mut values =
            serde_json::Deserializer::from_str(&text[start..]).into_iter::<serde_json::Value>();
        let Some(Ok(value)) = values.next() else {
            continue;
        };
        let items = match value {
            serde_json::Value::Array(items) => items,
            obj @ serde_json::Value::Object(_) => match serde_json::from_value::<Wrapped>(obj) {
                Ok(w) => w.questions,
                Err(_) => continue,
            },
            _ => continue,
        };
        if items.is_empty() || !items.iter().any(serde_json::Value::is_object) {
            continue;
        }
        return Some(
            items
                .into_iter()
                .map(|item| serde_json::from_value(item).unwrap_or_default())
                .collect(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ITEM: &str = r#"{"question": "What does Vec<[u8; 4]> hold?", "answer": "A growable list of 4-byte arrays, e.g. [1, 2, 3, 4]; closing } and ] inside strings are fine.", "difficulty": "easy", "category": "Rust"}"#;

    #[test]
    fn bare_json_object() {
        let text = format!(r#"{{"questions": [{ITEM}]}}"#);
        let c = candidates(&text).unwrap();
        assert_eq!(c.len(), 1);
        assert!(c[0].answer.contains("} and ]"));
    }

    #[test]
    fn fenced_with_prose_around() {
        let text = format!(
            "Sure! Here are your questions [as requested]:\n```json\n{{\"questions\": [{ITEM}, {ITEM}]}}\n```\nGood luck {{you}} got this."
        );
        assert_eq!(candidates(&text).unwrap().len(), 2);
    }

    #[test]
    fn bare_array() {
        let text = format!("[{ITEM}]");
        assert_eq!(candidates(&text).unwrap()[0].category, "Rust");
    }

    #[test]
    fn garbage_is_none() {
        for text in [
            "",
            "no json here",
            "{not json",
            "[1, 2, 3]",
            r#"{"answer": 1}"#,
            "[]",
        ] {
            assert_eq!(candidates(text), None, "{text:?}");
        }
    }

    #[test]
    fn wrong_shaped_items_become_empty_candidates() {
        let c = candidates(r#"{"questions": [{"question": 5}, {"question": "Why?"}]}"#).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].question, "");
        assert_eq!(c[1].question, "Why?");
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn candidate() -> impl Strategy<Value = Candidate> {
            // Text with brackets, braces, quotes and fences inside, as real answers have.
            let text = "[a-zA-Z0-9 \\[\\]{}\"`:,.\n東京📌]{0,80}";
            (text, text, "easy|medium|hard", "[a-zA-Z ]{0,20}").prop_map(
                |(question, answer, difficulty, category)| Candidate {
                    question,
                    answer,
                    difficulty,
                    category,
                    kind: String::new(),
                },
            )
        }

        proptest! {
            /// Any text at all: no panic.
            #[test]
            fn never_panics(text in "\\PC{0,400}", noisy in "[\\[\\]{}\":,a-z0-9 ]{0,200}") {
                let _ = candidates(&text);
                let _ = candidates(&noisy);
            }

            /// The JSON we asked for, wrapped in prose (without brackets) and code fences,
            /// bare or as `{"questions": [...]}`: read back exactly.
            #[test]
            fn reads_the_reply_wherever_it_sits(
                items in proptest::collection::vec(candidate(), 1..6),
                before in "[a-zA-Z .,!:\\n]{0,60}",
                after in "\\PC{0,60}",
                wrapped in any::<bool>(),
                fenced in any::<bool>(),
            ) {
                let json = if wrapped {
                    serde_json::json!({ "questions": items }).to_string()
                } else {
                    serde_json::to_string(&items).unwrap()
                };
                let body = if fenced { format!("```json\n{json}\n```") } else { json };
                let text = format!("{before}{body}{after}");
                prop_assert_eq!(candidates(&text), Some(items));
            }

            /// Text with no object inside an array or a `questions` list is never taken
            /// for questions.
            #[test]
            fn no_questions_without_objects(text in "[^{]{0,300}") {
                prop_assert_eq!(candidates(&text), None);
            }
        }
    }
}
