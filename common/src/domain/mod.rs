//! Domain types: validated inputs (`parse` constructors) and stored records.

pub mod attempt;
pub mod job;
pub mod question;
pub mod review;
pub mod session;
pub mod user;

/// A stored date-time read straight from its BSON element, for the records read in bulk
/// (`#[serde(deserialize_with = "read_time")]`).
///
/// `bson::DateTime`'s own `Deserialize` takes the element through its extended-JSON form:
/// a map `{"$date": {"$numberLong": "…"}}` buffered by serde, the milliseconds written out as
/// text and parsed back. That was a third of reading a page of 50 questions; asking for the
/// raw element is a copy of eight bytes.
pub fn read_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bson::DateTime, D::Error> {
    match <bson::RawBson as serde::Deserialize>::deserialize(d)? {
        bson::RawBson::DateTime(time) => Ok(time),
        other => Err(serde::de::Error::custom(format!(
            "expected a date-time, found {:?}",
            other.element_type()
        ))),
    }
}

/// A rejected input value, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The field at fault (as the client named it).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl Invalid {
    /// A problem with `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Checks that `value` has between `min` and `max` characters (not bytes).
pub fn check_length(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), Invalid> {
    let n = value.chars().count();
    if n < min {
        Err(Invalid::new(
            field,
            format!("must be at least {min} characters"),
        ))
    } else if n > max {
        Err(Invalid::new(
            field,
            format!("must be at most {max} characters"),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bson::{DateTime, doc};
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Stamped {
        #[serde(deserialize_with = "super::read_time")]
        at: DateTime,
    }

    #[test]
    fn times_are_read_from_raw_bytes_and_from_documents_alike() {
        for ms in [0, 1_733_000_000_123, -86_400_001, i64::MAX] {
            let stored = doc! { "at": DateTime::from_millis(ms) };
            let bytes = bson::to_vec(&stored).unwrap();
            let raw: Stamped = bson::from_slice(&bytes).unwrap();
            let owned: Stamped = bson::from_document(stored).unwrap();
            assert_eq!(raw.at.timestamp_millis(), ms);
            assert_eq!(owned.at.timestamp_millis(), ms);
        }
    }

    #[test]
    fn a_time_of_another_type_is_an_error() {
        let bytes = bson::to_vec(&doc! { "at": "2024-12-01T00:00:00Z" }).unwrap();
        let err = bson::from_slice::<Stamped>(&bytes).unwrap_err();
        assert!(err.to_string().contains("expected a date-time"), "{err}");
    }
}
