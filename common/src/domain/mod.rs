//! Domain types: validated inputs (`parse` constructors) and stored records.

pub mod attempt;
pub mod job;
pub mod question;
pub mod review;
pub mod session;
pub mod user;

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
