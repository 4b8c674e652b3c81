//! The OpenAPI document as clients get it: poem-openapi's output, completed where the
//! generator cannot say what the server does.
//!
//! - Request bodies refuse unknown fields (`deny_unknown_fields`), so their schemas say
//!   `additionalProperties: false`.
//! - Operations with a body can also answer 413 (over 1 MiB) and 415 (not JSON).
//!
//! The same document feeds `/openapi.json`, the committed snapshot, the SDK and the `Allow`
//! header of 405 answers.

use std::sync::OnceLock;

use serde_json::{Value, json};

/// The finished document, built once.
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let raw = crate::routes::openapi().spec();
        let mut doc: Value = serde_json::from_str(&raw).expect("poem-openapi emits JSON");
        complete(&mut doc);
        serde_json::to_string_pretty(&doc).expect("a JSON value serializes")
    })
}

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/problem+json": {
            "schema": { "$ref": "#/components/schemas/Problem" }
        } }
    })
}

fn complete(doc: &mut Value) {
    let mut body_schemas = Vec::new();
    if let Some(paths) = doc["paths"].as_object_mut() {
        for op in paths.values_mut().filter_map(Value::as_object_mut) {
            for op in op.values_mut() {
                let Some(body) = op.get("requestBody") else {
                    continue;
                };
                for media in body["content"]
                    .as_object()
                    .into_iter()
                    .flat_map(|c| c.values())
                {
                    if let Some(name) = media["schema"]["$ref"]
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    {
                        body_schemas.push(name.to_owned());
                    }
                }
                let responses = &mut op["responses"];
                responses["413"] = problem("The request body is larger than 1 MiB.");
                responses["415"] = problem("The request body is not `application/json`.");
            }
        }
    }
    for name in body_schemas {
        let schema = &mut doc["components"]["schemas"][&name];
        if schema["type"] == "object" {
            schema["additionalProperties"] = json!(false);
        }
    }
}

/// The methods `path` answers to, for the `Allow` header of a 405 (`None`: no such path).
pub fn allowed_methods(path: &str) -> Option<String> {
    static ROUTES: OnceLock<Vec<(Vec<String>, String)>> = OnceLock::new();
    let routes = ROUTES.get_or_init(|| {
        let doc: Value = serde_json::from_str(document()).expect("document is JSON");
        let mut routes: Vec<(Vec<String>, String)> = doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(template, ops)| {
                let methods: Vec<String> = ops
                    .as_object()
                    .into_iter()
                    .flat_map(|o| o.keys())
                    .map(|m| m.to_uppercase())
                    .collect();
                (segments(template), methods.join(", "))
            })
            .collect();
        for plain in ["/openapi.json", "/metrics"] {
            routes.push((segments(plain), "GET".to_owned()));
        }
        routes
    });
    let wanted = segments(path);
    routes
        .iter()
        .find(|(template, _)| matches(template, &wanted))
        .map(|(_, methods)| methods.clone())
}

/// Whether a path's segments fit a template's (`{name}` matches any one segment).
pub fn matches(template: &[String], path: &[String]) -> bool {
    template.len() == path.len()
        && template
            .iter()
            .zip(path)
            .all(|(t, p)| t.starts_with('{') || t == p)
}

/// The non-empty segments of a path.
pub fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_the_methods_of_the_matching_template() {
        assert_eq!(
            allowed_methods("/api/v1/sessions/abc").as_deref(),
            Some("GET, PATCH, DELETE")
        );
        assert_eq!(allowed_methods("/health/live").as_deref(), Some("GET"));
        assert_eq!(allowed_methods("/nowhere"), None);
    }

    #[test]
    fn request_bodies_refuse_unknown_fields_and_document_413_and_415() {
        let doc: Value = serde_json::from_str(document()).unwrap();
        assert_eq!(
            doc["components"]["schemas"]["CreateSessionRequest"]["additionalProperties"],
            false
        );
        let create = &doc["paths"]["/api/v1/sessions"]["post"]["responses"];
        assert!(create.get("413").is_some() && create.get("415").is_some());
        let list = &doc["paths"]["/api/v1/sessions"]["get"]["responses"];
        assert!(list.get("415").is_none());
    }
}
