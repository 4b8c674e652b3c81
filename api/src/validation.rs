//! Collecting every field problem of a request, so that one 400 lists them all. Domain
//! parsers (`common::domain`) say what is wrong with a field; this turns their verdicts into
//! values or one problem+json.

use common::domain::Invalid;

use crate::error::{ApiError, ApiResult, FieldError};

/// Collects field problems while a request is parsed.
#[derive(Debug, Default)]
pub struct Validation {
    errors: Vec<FieldError>,
}

impl Validation {
    /// The value, or `None` after recording the problem.
    pub fn check<T>(&mut self, result: Result<T, Invalid>) -> Option<T> {
        result.map_err(|e| self.errors.push(e.into())).ok()
    }

    /// The value, or its type's default after recording the problem (the default is never
    /// used: [`Validation::finish`] fails when anything was recorded).
    pub fn field<T: Default>(&mut self, result: Result<T, Invalid>) -> T {
        self.check(result).unwrap_or_default()
    }

    /// Like [`Validation::field`] for an optional input.
    pub fn optional<I, T: Default>(
        &mut self,
        input: Option<I>,
        parse: impl FnOnce(I) -> Result<T, Invalid>,
    ) -> Option<T> {
        input.map(|i| self.field(parse(i)))
    }

    /// A 400 listing every problem, if there was one.
    pub fn finish(self) -> ApiResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}

impl From<Invalid> for FieldError {
    fn from(e: Invalid) -> Self {
        Self::new(e.field, e.message)
    }
}

/// Several parsed fields at once: `(a, b).all_valid()?` gives all their values, or one 400
/// listing the problems of each.
pub trait AllValid {
    /// The values.
    type Values;
    /// The values, or a 400 naming every bad field.
    fn all_valid(self) -> ApiResult<Self::Values>;
}

macro_rules! all_valid {
    ($($value:ident: $t:ident),+) => {
        impl<$($t),+> AllValid for ($(Result<$t, Invalid>,)+) {
            type Values = ($($t,)+);

            fn all_valid(self) -> ApiResult<Self::Values> {
                match self {
                    ($(Ok($value),)+) => Ok(($($value,)+)),
                    ($($value,)+) => Err(ApiError::validation(
                        [$($value.err()),+]
                            .into_iter()
                            .flatten()
                            .map(FieldError::from)
                            .collect(),
                    )),
                }
            }
        }
    };
}

all_valid!(a: A);
all_valid!(a: A, b: B);
all_valid!(a: A, b: B, c: C);

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: u8) -> Result<u8, Invalid> {
        Ok(v)
    }

    fn bad(field: &'static str) -> Result<u8, Invalid> {
        Err(Invalid::new(field, "is wrong"))
    }

    #[test]
    fn all_fields_valid_give_their_values_and_any_bad_one_names_every_bad_field() {
        assert_eq!((ok(1), ok(2), ok(3)).all_valid().ok(), Some((1, 2, 3)));
        let Err(ApiError::BadRequest(problem)) = (bad("a"), ok(2), bad("c")).all_valid() else {
            panic!("expected a 400");
        };
        let fields: Vec<String> = problem
            .0
            .errors
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["a", "c"]);
    }
}
