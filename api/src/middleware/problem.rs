//! Turns every error that reaches the top — unknown route, wrong method, a body that does
//! not parse, a panic — into an `application/problem+json` response.

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{StatusCode, header},
};
use poem_openapi::payload::Json;

use crate::error::{FieldError, PROBLEM_JSON, Problem};

/// Field errors recovered from a body parse error: poem-openapi names the field for
/// unknown fields and failed validators (`field `x` verification failed. maxLength(5)`).
pub fn field_errors(message: &str) -> Vec<FieldError> {
    let named = |marker: &str| {
        let start = message.find(marker)? + marker.len();
        let end = message[start..].find('`')? + start;
        Some(message[start..end].to_owned())
    };
    if let Some(field) = named("unknown field `") {
        return vec![FieldError::new(field, "is not a known field")];
    }
    if let Some(field) = named("field `") {
        let reason = message
            .split("verification failed.")
            .nth(1)
            .map_or("is invalid", str::trim);
        return vec![FieldError::new(
            field,
            format!("fails the constraint {reason}"),
        )];
    }
    // An enum value outside its set: poem-openapi names the type, not the field, so the
    // request enums (each used by exactly one field name) are mapped back to it.
    if let Some(field) = named_type(message).and_then(|ty| {
        ENUM_FIELDS
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|(_, field)| *field)
    }) {
        let found = message
            .split(", found ")
            .nth(1)
            .and_then(|rest| rest.split(". (occurred").next())
            .unwrap_or("?");
        return vec![FieldError::new(
            field,
            format!("{found} is not one of the allowed values"),
        )];
    }
    vec![FieldError::new(
        "body",
        message.trim_start_matches("parse request payload error: "),
    )]
}

/// Enum types of request bodies and query strings, and the one field each is used for.
const ENUM_FIELDS: &[(&str, &str)] = &[
    ("Experience", "experience"),
    ("SessionStatus", "status"),
    ("Difficulty", "difficulty"),
    ("BulkActionName", "action"),
];

/// `T` in `Expected input type "T", found ...`.
fn named_type(message: &str) -> Option<&str> {
    let start = message.find("Expected input type \"")? + "Expected input type \"".len();
    let end = message[start..].find('"')? + start;
    Some(&message[start..end])
}

fn is_problem(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON))
}

/// Renders `problem` with the problem+json media type.
pub fn problem_response(problem: Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = Json(problem).into_response();
    resp.set_status(status);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(PROBLEM_JSON),
    );
    resp
}

/// A human-readable detail for an error raised outside our handlers.
fn detail_for(status: StatusCode, message: String) -> Option<String> {
    match status {
        StatusCode::NOT_FOUND => Some("No resource exists at this path.".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => {
            Some("This method is not allowed on this path.".to_owned())
        }
        StatusCode::PAYLOAD_TOO_LARGE => Some("The request body is larger than 1 MiB.".to_owned()),
        // Parse errors say which field or value was wrong: useful, and free of internals.
        s if s.is_client_error() => Some(message),
        _ => None,
    }
}

/// The middleware; see the module docs.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProblemJson;

impl<E: Endpoint> Middleware<E> for ProblemJson {
    type Output = ProblemJsonEndpoint<E>;
    fn transform(&self, inner: E) -> Self::Output {
        ProblemJsonEndpoint { inner }
    }
}

/// See [`ProblemJson`].
#[derive(Debug)]
pub struct ProblemJsonEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for ProblemJsonEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let path = req.uri().path().to_owned();
        let resp = match self.inner.call(req).await {
            Ok(output) => output.into_response(),
            Err(err) => {
                let status = err.status();
                let message = err.to_string();
                let payload_error = err.is::<poem_openapi::error::ParseRequestPayloadError>();
                let data = err.data::<poem_openapi::OperationId>().copied();
                let resp = err.into_response();
                if is_problem(&resp) {
                    resp
                } else {
                    if status.is_server_error() {
                        tracing::error!(error = %message, "unhandled server error");
                    }
                    let mut problem =
                        Problem::from_status(status, detail_for(status, message.clone()));
                    if payload_error {
                        problem = Problem::new(
                            status,
                            "validation-error",
                            Some("The request body is invalid.".to_owned()),
                        );
                        problem.errors = Some(field_errors(&message));
                    }
                    let mut resp = problem_response(problem);
                    if let Some(op) = data {
                        resp.set_data(op);
                    }
                    if status == StatusCode::METHOD_NOT_ALLOWED
                        && let Some(allow) = crate::spec::allowed_methods(&path)
                        && let Ok(value) = header::HeaderValue::from_str(&allow)
                    {
                        resp.headers_mut().insert(header::ALLOW, value);
                    }
                    resp
                }
            }
        };
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::field_errors;

    #[test]
    fn names_the_field_of_parse_errors() {
        let unknown = field_errors(
            r#"parse request payload error: failed to parse "RegisterRequest": unknown field `admin`."#,
        );
        assert_eq!(unknown[0].field, "admin");
        let short = field_errors(
            r#"parse request payload error: failed to parse "RegisterRequest": field `password` verification failed. minLength(8)"#,
        );
        assert_eq!(short[0].field, "password");
        assert!(short[0].message.contains("minLength(8)"));
        let variant = field_errors(
            r#"parse request payload error: Expected input type "Difficulty", found "extreme". (occurred while parsing "optional_Difficulty") (occurred while parsing "AddQuestionRequest")"#,
        );
        assert_eq!(variant[0].field, "difficulty");
        assert_eq!(
            variant[0].message,
            r#""extreme" is not one of the allowed values"#
        );
        let other = field_errors("parse request payload error: expected value at line 1 column 1");
        assert_eq!(other[0].field, "body");
    }
}
