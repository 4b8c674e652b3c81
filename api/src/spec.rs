//! The OpenAPI document as clients get it: poem-openapi's output, completed where the
//! generator cannot say what the server does.
//!
//! - Request bodies refuse unknown fields (`deny_unknown_fields`), so their schemas say
//!   `additionalProperties: false`.
//! - Operations with a body can also answer 413 (over 1 MiB) and 415 (not JSON).
//! - Rules the domain enforces on text are stated as patterns ([`TEXT_RULES`]): names and
//!   topics are trimmed and must hold visible text without control characters; emails are
//!   emails; an `Idempotency-Key` is visible ASCII. Request bodies are validated against
//!   this finished document (`middleware::schema`), so the document is what is enforced.
//!
//! The same document feeds `/openapi.json`, the committed snapshot, the SDK and the `Allow`
//! header of 405 answers.

use std::sync::OnceLock;

use common::domain::{
    question::{ANSWER_LEN, CATEGORY_LEN, Length, NOTES_LEN, QUESTION_LEN},
    session::JOB_DESCRIPTION_MAX,
};
use serde_json::{Value, json};

use crate::error::PROBLEM_JSON;

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

/// Text with at least `n` (1 or 2) visible characters once surrounding white space is
/// trimmed, and no control characters.
const VISIBLE_1: &str = r"^[ \t\n\r]*[^\s\x00-\x1F\x7F-\x9F]([^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F])?[ \t\n\r]*$";
const VISIBLE_2: &str =
    r"^[ \t\n\r]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][ \t\n\r]*$";
/// At least `min` (2 or more) characters once surrounding white space is trimmed; any
/// text within.
fn trimmed(min: usize) -> String {
    format!(r"^\s*\S[\s\S]{{{},}}\S\s*$", min.saturating_sub(2))
}
/// 1–255 visible ASCII characters.
pub const IDEMPOTENCY_KEY: &str = "^[!-~]{1,255}$";

/// Any text without control characters ("" included).
const NO_CONTROL: &str = r"^[^\x00-\x1F\x7F-\x9F]*$";
/// At least one character that is not white space.
const NOT_BLANK: &str = r"^\s*\S[\s\S]*$";

/// `(schema, property, pattern, for the array's items)`.
const TEXT_RULES: &[(&str, &str, &str, bool)] = &[
    ("RegisterRequest", "fullname", VISIBLE_2, false),
    ("UpdateProfileRequest", "fullname", VISIBLE_2, false),
    ("CreateSessionRequest", "role", VISIBLE_2, false),
    ("UpdateSessionRequest", "role", VISIBLE_2, false),
    ("CreateSessionRequest", "topics", VISIBLE_1, true),
    ("UpdateSessionRequest", "topics", VISIBLE_1, true),
    ("GenerateRequest", "topics", VISIBLE_1, true),
    ("CreateSessionRequest", "company", NO_CONTROL, false),
    ("UpdateSessionRequest", "company", NO_CONTROL, false),
    ("AttemptRequest", "answer", NOT_BLANK, false),
];

/// `(schema, property, length)`: lengths of the domain (`common::domain::question`), stated
/// in the document as `minLength`/`maxLength`, in the description, and (with a minimum) as
/// a pattern counting the trimmed text.
const LENGTH_RULES: &[(&str, &str, Length)] = &[
    ("AddQuestionRequest", "question", QUESTION_LEN),
    ("AddQuestionRequest", "answer", ANSWER_LEN),
    ("AddQuestionRequest", "notes", NOTES_LEN),
    ("AddQuestionRequest", "category", CATEGORY_LEN),
    ("UpdateQuestionRequest", "question", QUESTION_LEN),
    ("UpdateQuestionRequest", "answer", ANSWER_LEN),
    ("UpdateQuestionRequest", "notes", NOTES_LEN),
    ("UpdateQuestionRequest", "category", CATEGORY_LEN),
    (
        "FromJobDescriptionRequest",
        "text",
        Length {
            min: 50,
            max: JOB_DESCRIPTION_MAX,
        },
    ),
];

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/problem+json": {
            "schema": { "$ref": "#/components/schemas/Problem" }
        } }
    })
}

/// Rewrites `format: uint64` as `int64` everywhere: generators such as openapi-generator
/// map `uint64` to 32-bit integers, and no value of this api comes near 2^63.
fn signed_formats(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("format").and_then(Value::as_str) == Some("uint64") {
                map.insert("format".to_owned(), json!("int64"));
            }
            map.values_mut().for_each(signed_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(signed_formats),
        _ => {}
    }
}

/// Replaces `allOf: [{$ref}, {description}]` — poem-openapi's way to describe a property
/// whose type is a named schema — with the `$ref` and its description side by side:
/// generators make an extra model class out of every such `allOf`.
fn flatten_described_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let single_ref = map
                .get("allOf")
                .and_then(Value::as_array)
                .filter(|parts: &&Vec<Value>| {
                    parts.iter().filter(|p| p.get("$ref").is_some()).count() == 1
                        && parts.iter().all(|p| {
                            p.get("$ref").is_some()
                                || p.as_object().is_some_and(|o| {
                                    o.keys().all(|k| k == "description" || k == "default")
                                })
                        })
                })
                .cloned();
            if let Some(parts) = single_ref {
                map.remove("allOf");
                for part in parts.iter().filter_map(Value::as_object) {
                    for (key, value) in part {
                        map.entry(key.clone()).or_insert_with(|| value.clone());
                    }
                }
            }
            map.values_mut().for_each(flatten_described_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(flatten_described_refs),
        _ => {}
    }
}

/// Keeps, of the problem answers poem-openapi lists on every operation, those the operation
/// can give (`crate::operation_errors`), with what they mean there.
fn operation_errors(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut().filter(|(p, _)| p.starts_with("/api/")) {
        for op in item
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            let statuses = crate::operation_errors::statuses(path, op);
            let Some(responses) = op["responses"].as_object_mut() else {
                continue;
            };
            responses.retain(|status, response| {
                let is_problem = response["content"].get(PROBLEM_JSON).is_some();
                let Ok(status) = status.parse::<u16>() else {
                    return true;
                };
                !is_problem || statuses.contains_key(&status)
            });
            for (status, why) in statuses {
                let Some(response) = responses.get_mut(&status.to_string()) else {
                    continue;
                };
                response["content"][PROBLEM_JSON]["example"] =
                    problem_example(path, status, why.as_deref());
                if let Some(why) = why {
                    response["description"] = json!(why);
                }
            }
        }
    }
}

/// An example problem for `status` at `path`: of the first type `why` names (in backticks),
/// or the status's generic type.
fn problem_example(path: &str, status: u16, why: Option<&str>) -> Value {
    let code = poem::http::StatusCode::from_u16(status).expect("a valid status");
    let slug = why
        .and_then(|w| w.strip_prefix('`'))
        .and_then(|w| w.split_once('`'))
        .map(|(slug, _)| slug)
        .filter(|slug| crate::problems::lookup(slug).is_some())
        .unwrap_or(match status {
            400 => "validation-error",
            503 => "dependency-unavailable",
            _ => crate::error::Problem::slug_for(code),
        });
    let entry = crate::problems::lookup(slug).expect("catalogued");
    let mut example = json!({
        "type": format!("/problems/{slug}"),
        "title": entry.title,
        "status": status,
        "detail": why.map_or_else(|| entry.meaning.to_owned(), occurrence),
        "instance": path.replace("{session_id}", "6741f0c2a3b4c5d6e7f80912")
            .replace("{question_id}", "6741f0c2a3b4c5d6e7f80913")
            .replace("{attempt_id}", "6741f0c2a3b4c5d6e7f80914")
            .replace("{job_id}", "6741f0c2a3b4c5d6e7f80915"),
        "request_id": "01JDXQ9ZK3B4C5D6E7F8G9H0J1",
    });
    if slug == "validation-error" {
        example["errors"] = json!([{ "field": "role", "message": "must not be blank" }]);
    }
    example
}

/// The first problem a `why` of `operation_errors::EXTRAS` names, as one occurrence's
/// detail: "`slug`: what happened; `other`: …" becomes "What happened."
fn occurrence(why: &str) -> String {
    let first = why.split("; `").next().unwrap_or(why);
    let text = first.split_once("`: ").map_or(first, |(_, d)| d);
    let mut detail = text.trim_end_matches('.').to_owned() + ".";
    detail[..1].make_ascii_uppercase();
    detail
}

/// The headers every answer carries, and those of rate-limited routes.
fn documented_headers(doc: &mut Value) {
    let request_id = json!({
        "description": "The request's id (the client's `x-request-id`, or one made up); also in the logs.",
        "schema": { "type": "string" }
    });
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let limited = path.starts_with("/api/");
        for op in item
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            for response in op["responses"]
                .as_object_mut()
                .into_iter()
                .flat_map(|r| r.values_mut())
            {
                let headers = &mut response["headers"];
                if !headers.is_object() {
                    *headers = json!({});
                }
                headers["x-request-id"] = request_id.clone();
                if limited {
                    headers["RateLimit-Policy"] = json!({
                        "description": "The policy applied, e.g. `300;w=60` (IETF draft syntax).",
                        "schema": { "type": "string" }
                    });
                    headers["RateLimit"] = json!({
                        "description": "Requests left and seconds until the quota is whole, e.g. `limit=300, remaining=299, reset=1`.",
                        "schema": { "type": "string" }
                    });
                }
            }
        }
    }
}

/// A real-looking string for a property named `name`.
fn string_example(name: &str) -> Option<&'static str> {
    Some(match name {
        "email" => "ada@example.com",
        "fullname" => "Ada Lovelace",
        "password" | "current_password" | "new_password" => "correct horse battery",
        "access_token" => "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI2NzQxZjBjMmEzYjRjNWQ2ZTdmODA5MTIifQ.sig",
        "refresh_token" => "Jq3Vd0k3mXo2Cw1oI6T8m0r9kG5Yb2hR8u1wLxEa4sE",
        "token_type" => "Bearer",
        "role" | "session_role" => "Backend Engineer",
        "question" => "How does a B-tree index speed up a range query?",
        "answer" => {
            "It keeps keys sorted in a shallow, balanced tree, so the database finds the first key \
             in a few page reads and then walks the leaves in order."
        }
        "notes" => "Mention the fill factor.",
        "category" | "topic" => "Databases",
        "company" => "Northwind Logistics",
        "description" => "Final round for the platform team.",
        "job_description" | "text" => {
            "Senior Backend Engineer (Rust). You will design high-throughput services in Rust \
             and PostgreSQL and run them on Kubernetes. 5+ years of backend experience."
        }
        "detail" => "A session holds at most 50 questions; delete some first.",
        "title" => "Session full",
        "message" => "Question generation finished.",
        "filename" => "backend-engineer-questions-2026-12-02.xlsx",
        "download_url" => {
            "https://exports.example.com/exports/6741f0c2/01JDXQ7M.xlsx?X-Amz-Signature=abc"
        }
        "status_url" => "/api/v1/jobs/01JDXQ7M6W2Y8V5T3R1N0K9H4G",
        "events_url" => "/api/v1/events",
        "attempt_url" => "/api/v1/attempts/6741f0c2a3b4c5d6e7f80913",
        "code" => "482913",
        "time_zone" => "Europe/Paris",
        "next_cursor" => "eyJ0IjoxNzY0NjY0MjAwMDAwLCJpZCI6IjY3NDFmMGMyIn0",
        "mark" => "probe-01JDXQ7M6W2Y8V5T3R1N0K9H4G-1",
        "reason" => "States the main idea correctly, with an example.",
        "point" => "Say what happens when the key is not in the index.",
        "model_point" => "The tree is searched from the root in a few page reads.",
        "suggested_answer" => {
            "A B-tree keeps keys sorted, so a range query finds its first key in a few page \
             reads and then scans the leaves in order."
        }
        "error" | "result_error" => "the question provider failed: timed out",
        "extracted_by" => "ai",
        "request_id" => "01JDXQ9ZK3B4C5D6E7F8G9H0J1",
        "instance" => "/api/v1/sessions/6741f0c2a3b4c5d6e7f80912",
        "date" => "2026-12-02",
        "name" => "mongodb",
        "field" => "role",
        "type" => "/problems/session-full",
        _ => return None,
    })
}

/// A real-looking value for a property named `name` whose schema is `schema`.
fn example_of(name: &str, schema: &Value, doc: &Value, depth: usize) -> Value {
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if depth > 24 {
        return Value::Null;
    }
    if let Some(target) = schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        return example_of(name, &doc["components"]["schemas"][target], doc, depth + 1);
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    for composite in ["oneOf", "anyOf"] {
        if let Some(first) = schema[composite].as_array().and_then(|v| v.first()) {
            return example_of(name, first, doc, depth + 1);
        }
    }
    if let Some(parts) = schema["allOf"].as_array() {
        let mut merged = serde_json::Map::new();
        for part in parts {
            if let Value::Object(fields) = example_of(name, part, doc, depth + 1) {
                merged.extend(fields);
            }
        }
        return Value::Object(merged);
    }
    match schema["type"].as_str() {
        Some("object") | None if schema["properties"].is_object() => {
            let mut out = serde_json::Map::new();
            for (prop, sub) in schema["properties"].as_object().into_iter().flatten() {
                out.insert(prop.clone(), example_of(prop, sub, doc, depth + 1));
            }
            Value::Object(out)
        }
        Some("object") => match schema.get("additionalProperties") {
            Some(inner) if inner.is_object() => {
                json!({ "medium": example_of(name, inner, doc, depth + 1) })
            }
            _ => json!({}),
        },
        Some("array") => json!([example_of(name, &schema["items"], doc, depth + 1)]),
        Some("string") => {
            let format = schema["format"].as_str().unwrap_or_default();
            if format == "date-time" {
                return json!("2026-12-02T09:30:00Z");
            }
            if let Some(text) = string_example(name) {
                return json!(text);
            }
            if name == "id" || name.ends_with("_id") {
                return json!(if name == "job_id" {
                    "01JDXQ7M6W2Y8V5T3R1N0K9H4G"
                } else {
                    "6741f0c2a3b4c5d6e7f80912"
                });
            }
            if name.ends_with("_ids") || name == "ids" {
                return json!("6741f0c2a3b4c5d6e7f80912");
            }
            json!("Backend Engineer")
        }
        Some("integer") => {
            let n = match name {
                "score" | "last_score" | "best_score" => 72,
                "status" => 409,
                "progress" => 60,
                "size_bytes" => 18_432,
                "expires_in" => 900,
                "work_ms" => 1_000,
                "duration_minutes" => 60,
                "duration_secs" => 95,
                "limit" | "daily_limit" => 100_000,
                _ => 3,
            };
            let lo = schema["minimum"].as_i64().unwrap_or(i64::MIN);
            let hi = schema["maximum"].as_i64().unwrap_or(i64::MAX);
            json!(n.clamp(lo, hi))
        }
        Some("number") => json!(match name {
            "stability" => 12.4,
            "difficulty" => 4.6,
            "retrievability" | "average_retrievability" => 0.93,
            _ => 68.5,
        }),
        Some("boolean") => json!(matches!(name, "valid" | "sent" | "ok" | "email_verified")),
        _ => Value::Null,
    }
}

/// An example on every schema of the components and on every operation's JSON request and
/// responses, composed from real-looking property values.
fn examples(doc: &mut Value) {
    let snapshot = doc.clone();
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        for (name, schema) in schemas.iter_mut() {
            if schema.get("example").is_none() {
                let example = example_of(name, schema, &snapshot, 0);
                if !example.is_null() {
                    schema["example"] = example;
                }
            }
        }
    }
    let snapshot = doc.clone();
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for op in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|ops| ops.values_mut())
    {
        let Some(op) = op.as_object_mut() else {
            continue;
        };
        let mut medias: Vec<&mut Value> = Vec::new();
        for (key, part) in op.iter_mut() {
            match key.as_str() {
                "requestBody" => {
                    if let Some(content) = part.get_mut("content").and_then(Value::as_object_mut) {
                        medias.extend(content.values_mut());
                    }
                }
                "responses" => {
                    for response in part
                        .as_object_mut()
                        .into_iter()
                        .flat_map(|r| r.values_mut())
                    {
                        if let Some(content) =
                            response.get_mut("content").and_then(Value::as_object_mut)
                        {
                            medias.extend(content.values_mut());
                        }
                    }
                }
                _ => {}
            }
        }
        for media in medias {
            if media.get("example").is_none() && media["schema"].is_object() {
                let example = example_of("body", &media["schema"], &snapshot, 0);
                if !example.is_null() {
                    media["example"] = example;
                }
            }
        }
    }
}

/// Contact, licence, servers, and a version that changes whenever the contract does (the
/// package version plus a digest of the paths and schemas).
fn document_info(doc: &mut Value) {
    use sha2::{Digest, Sha256};
    let contract = json!({ "paths": doc["paths"], "components": doc["components"] });
    let digest = Sha256::digest(contract.to_string().as_bytes());
    let version = format!(
        "{}+{}",
        env!("CARGO_PKG_VERSION"),
        &hex::encode(digest)[..8]
    );
    doc["info"]["version"] = json!(version);
    doc["info"]["contact"] = json!({ "name": "Interview Prep backend team", "url": "https://github.com/interview-prep/backend" });
    doc["info"]["license"] = json!({ "name": "MIT", "url": "https://opensource.org/licenses/MIT" });
    doc["servers"] = json!([
        { "url": "http://127.0.0.1:8080", "description": "Local (`scripts/dev.sh`)" }
    ]);
}

fn complete(doc: &mut Value) {
    flatten_described_refs(doc);
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
        if let Some(email) = schema["properties"].get_mut("email") {
            email["format"] = json!("email");
        }
    }
    operation_errors(doc);
    unsigned_minimums(doc);
    for (schema, property, pattern, items) in TEXT_RULES {
        let field = &mut doc["components"]["schemas"][*schema]["properties"][*property];
        assert!(
            field.is_object(),
            "{schema}.{property} is not in the document"
        );
        let target = if *items {
            field["items"]["minLength"] = json!(1);
            field["items"]["maxLength"] = json!(50);
            &mut field["items"]
        } else {
            field
        };
        target["pattern"] = json!(pattern);
    }
    for (schema, property, length) in LENGTH_RULES {
        let field = &mut doc["components"]["schemas"][*schema]["properties"][*property];
        assert!(
            field.is_object(),
            "{schema}.{property} is not in the document"
        );
        if length.min > 0 {
            field["minLength"] = json!(length.min);
            field["pattern"] = json!(trimmed(length.min));
        }
        field["maxLength"] = json!(length.max);
        let said = field["description"].as_str().unwrap_or_default().to_owned();
        let mut rule = length.describe();
        rule[..1].make_ascii_uppercase();
        field["description"] = json!(format!("{rule}. {said}").trim_end().to_owned());
    }
    for path in doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.values_mut())
    {
        for op in path
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            let params = op.get_mut("parameters").and_then(Value::as_array_mut);
            for param in params.into_iter().flatten() {
                if param["name"] == "Idempotency-Key" {
                    param["schema"]["pattern"] = json!(IDEMPOTENCY_KEY);
                    param["schema"]["maxLength"] = json!(255);
                }
            }
        }
    }
    // A bulk action's value has a type per action (poem-openapi only sees a JSON value).
    doc["components"]["schemas"]["BulkRequest"]["properties"]["value"] = json!({
        "description": "Per action: `set_difficulty` a difficulty, `set_pinned` a boolean, \
            `set_category` a category of at most 100 characters; absent for `delete`.",
        "anyOf": [
            { "$ref": "#/components/schemas/Difficulty" },
            { "type": "boolean" },
            { "type": "string", "maxLength": 100 }
        ]
    });
    // Added by `middleware::observe` to every problem, whichever layer made it.
    let problem = &mut doc["components"]["schemas"]["Problem"]["properties"];
    problem["instance"] = json!({
        "type": "string",
        "description": "The request path this occurrence is about."
    });
    problem["request_id"] = json!({
        "type": "string",
        "description": "The request's id (also the `x-request-id` header, and in the logs)."
    });
    // After `unsigned_minimums` has read the unsigned formats.
    signed_formats(doc);
    documented_headers(doc);
    examples(doc);
    document_info(doc);
}

/// poem-openapi marks unsigned integers with `format: uint32` (or 8/16/64) but no
/// `minimum`; say `minimum: 0`, which is what parsing enforces.
fn unsigned_minimums(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let unsigned = map
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| f.starts_with("uint"));
            if unsigned && map.get("type").is_some_and(|t| t == "integer") {
                map.entry("minimum").or_insert(json!(0));
            }
            map.values_mut().for_each(unsigned_minimums);
        }
        Value::Array(items) => items.iter_mut().for_each(unsigned_minimums),
        _ => {}
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
        for plain in ["/openapi.json", "/metrics", "/problems", "/problems/{slug}"] {
            routes.push((segments(plain), "GET".to_owned()));
        }
        routes
    });
    let wanted = segments(path);
    // The router prefers literal segments to parameters (`/sessions/from-job-description`
    // over `/sessions/{session_id}`): so does this.
    routes
        .iter()
        .filter(|(template, _)| matches(template, &wanted))
        .min_by_key(|(template, _)| template.iter().filter(|t| t.starts_with('{')).count())
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
