//! Request bodies are checked against the OpenAPI document before any handler sees them.
//!
//! poem-openapi's own parsing is lenient in places (a JSON number or boolean is accepted
//! where the document says string; `null` where a field is optional), so a client could
//! send what the contract forbids and be served. Here every JSON body is validated against
//! its operation's request schema, exactly as published: anything the document does not
//! allow is a 400 problem+json naming the field, and nothing changes.

use jsonschema::{ValidationError, Validator, error::ValidationErrorKind};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response, Result, http::Method};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, FieldError},
    spec,
};

/// One operation that takes a JSON body.
struct Operation {
    method: Method,
    segments: Vec<String>,
    validator: Validator,
}

/// The middleware: one compiled validator per operation with a body.
///
/// The validators are compiled on the first JSON body a process receives, not at start:
/// compiling builds the whole OpenAPI document and parses it again (megabytes of JSON
/// values, freed at once but held by the allocator for seconds), which an idle instance,
/// or one serving only reads, need not pay. The first body waits for it (tens of
/// milliseconds, on the blocking pool), every later one finds it done.
#[derive(Clone, Copy, Debug)]
pub struct ValidateBodies;

/// The compiled validators, once per process and shared by every app built in it.
static OPERATIONS: tokio::sync::OnceCell<Vec<Operation>> = tokio::sync::OnceCell::const_new();

impl ValidateBodies {
    /// The validators, compiled on the first call.
    async fn operations() -> &'static [Operation] {
        OPERATIONS
            .get_or_init(|| async {
                tokio::task::spawn_blocking(compile)
                    .await
                    .expect("the request schemas compile")
            })
            .await
    }

    /// The validator of the operation `method path` answers to, if it takes a body.
    async fn validator(method: &Method, path: &str) -> Option<&'static Validator> {
        let wanted = spec::segments(path);
        Self::operations()
            .await
            .iter()
            .find(|op| op.method == method && spec::matches(&op.segments, &wanted))
            .map(|op| &op.validator)
    }
}

/// Compiles the request schemas of [`spec::document`].
fn compile() -> Vec<Operation> {
    let doc: Value = serde_json::from_str(spec::document()).expect("document is JSON");
    let components = doc["components"].clone();
    let mut ops = Vec::new();
    for (template, methods) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in methods.as_object().into_iter().flatten() {
            let Some(schema) = op["requestBody"]["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|media| media["schema"].clone())
            else {
                continue;
            };
            // Only the schemas this one refers to: a validator keeps its whole root, and
            // the full components section in each of them was most of the api's idle heap.
            let components = referenced_components(&components, &schema);
            let root = json!({ "allOf": [schema], "components": components });
            // Formats are the domain's business (it trims and normalises emails first).
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft4)
                .should_validate_formats(false)
                .build(&root)
                .unwrap_or_else(|e| {
                    panic!("the request schema of {method} {template} does not compile: {e}")
                });
            ops.push(Operation {
                method: Method::from_bytes(method.to_uppercase().as_bytes())
                    .expect("an HTTP method"),
                segments: spec::segments(template),
                validator,
            });
        }
    }
    ops
}

/// `components` reduced to the schemas `schema` refers to, directly or through others.
fn referenced_components(components: &Value, schema: &Value) -> Value {
    const PREFIX: &str = "#/components/schemas/";
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(name) = map
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix(PREFIX))
                {
                    out.push(name);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let all = &components["schemas"];
    let mut kept = serde_json::Map::new();
    let mut pending = Vec::new();
    refs(schema, &mut pending);
    while let Some(name) = pending.pop() {
        if kept.contains_key(name) {
            continue;
        }
        let found = &all[name];
        refs(found, &mut pending);
        kept.insert(name.to_owned(), found.clone());
    }
    json!({ "schemas": kept })
}

/// The field a validation error is about: the top-level property it sits under, or the
/// property a `required`/`additionalProperties` error names.
fn field_of(error: &ValidationError<'_>) -> String {
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            return property.as_str().unwrap_or("body").to_owned();
        }
        ValidationErrorKind::AdditionalProperties { unexpected }
            if error.instance_path().to_string().is_empty() =>
        {
            return unexpected
                .first()
                .cloned()
                .unwrap_or_else(|| "body".to_owned());
        }
        _ => {}
    }
    let path = error.instance_path().to_string();
    path.split('/')
        .find(|s| !s.is_empty())
        .map_or_else(|| "body".to_owned(), str::to_owned)
}

fn message_of(error: &ValidationError<'_>) -> String {
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { .. } => "is not a known field".to_owned(),
        ValidationErrorKind::Required { .. } => "is required".to_owned(),
        ValidationErrorKind::Type { .. } => format!("{}", error),
        _ => error.to_string(),
    }
}

impl<E: Endpoint> Middleware<E> for ValidateBodies {
    type Output = ValidateBodiesEndpoint<E>;
    fn transform(&self, inner: E) -> Self::Output {
        ValidateBodiesEndpoint { inner }
    }
}

/// See [`ValidateBodies`].
#[derive(Debug)]
pub struct ValidateBodiesEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for ValidateBodiesEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Response> {
        let is_json = req
            .content_type()
            .is_some_and(|ct| ct.starts_with("application/json"));
        let validator = if is_json {
            ValidateBodies::validator(req.method(), req.uri().path()).await
        } else {
            None
        };
        if let Some(validator) = validator {
            let bytes = req.take_body().into_bytes().await?;
            // A body that is not JSON at all is left to the parser's own error.
            if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
                let mut errors: Vec<FieldError> = Vec::new();
                for error in validator.iter_errors(&value) {
                    let field = field_of(&error);
                    if !errors.iter().any(|e| e.field == field) {
                        errors.push(FieldError::new(field, message_of(&error)));
                    }
                }
                if !errors.is_empty() {
                    return Ok(ApiError::validation(errors).into_response());
                }
            }
            req.set_body(Body::from(bytes));
        }
        Ok(self.inner.call(req).await?.into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_operation_with_a_body_gets_a_validator_on_first_use() {
        let doc: Value = serde_json::from_str(spec::document()).unwrap();
        let with_body = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|ops| ops.as_object().unwrap().values())
            .filter(|op| op.get("requestBody").is_some())
            .count();
        assert!(with_body > 10, "{with_body} operations take a body");
        assert_eq!(ValidateBodies::operations().await.len(), with_body);

        let register = ValidateBodies::validator(&Method::POST, "/api/v1/auth/register")
            .await
            .expect("register takes a body");
        assert!(!register.is_valid(&json!({ "email": 5 })));
        let reads = ValidateBodies::validator(&Method::GET, "/api/v1/sessions").await;
        assert!(reads.is_none());
    }
}
