//! Which error statuses each operation can answer with.
//!
//! Every handler returns the one [`crate::error::ApiError`] type, so poem-openapi lists all
//! of its statuses on every operation. The document instead lists, per operation, those it
//! can actually return, derived from what the operation is:
//!
//! - every `/api/` operation: 429 (the rate limiter sits in front of all of them), 500 (a
//!   panic or an unexpected driver error) and 503 (MongoDB or Redis unreachable);
//! - with `security`: 401 (no, a bad or an expired access token);
//! - with a request body: 400 (fails validation), 413 and 415 (`spec` adds those two);
//! - with query parameters or an `Idempotency-Key` header: 400;
//! - with a path parameter: 404 (no such resource, or someone else's);
//! - and what [`EXTRAS`] names for the operations that have more, less what [`EXCEPT`]
//!   names.
//!
//! `tests/it/foundation/error_statuses.rs` drives every listed status of every operation
//! (500 aside) and fails on an answer the document does not list; at run time
//! `middleware::observe` counts undocumented answers in
//! `http_undocumented_responses_total`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use serde_json::Value;

/// `(operationId, status, what it means there)` beyond the derived statuses.
pub const EXTRAS: &[(&str, u16, &str)] = &[
    (
        "auth_register",
        409,
        "`email-taken`: an account with this email address exists.",
    ),
    ("auth_login", 401, "The email address or password is wrong."),
    (
        "auth_refresh",
        401,
        "The refresh token is invalid or expired, or was used before (which revokes its \
         whole family).",
    ),
    (
        "auth_verify_email",
        404,
        "The account was deleted (its access token has not expired yet).",
    ),
    (
        "auth_verify_email_resend",
        404,
        "The account was deleted (its access token has not expired yet).",
    ),
    (
        "auth_verify_email_resend",
        409,
        "`already-verified`: the address is verified; there is nothing to confirm.",
    ),
    (
        "me_get",
        404,
        "The account was deleted (its access token has not expired yet).",
    ),
    (
        "me_update",
        404,
        "The account was deleted (its access token has not expired yet).",
    ),
    (
        "me_delete",
        404,
        "The account was deleted already (its access token has not expired yet).",
    ),
    (
        "me_change_password",
        404,
        "The account was deleted (its access token has not expired yet).",
    ),
    (
        "sessions_create",
        409,
        "`too-many-sessions`: the account holds its maximum of sessions.",
    ),
    (
        "sessions_from_job_description",
        409,
        "`too-many-sessions`: the account holds its maximum of sessions.",
    ),
    (
        "sessions_generate",
        409,
        "`session-full`: the session holds its maximum of questions.",
    ),
    (
        "questions_add",
        409,
        "`duplicate-question`: the session has this question (ignoring case, spacing and \
         punctuation); `session-full`: the session holds its maximum of questions.",
    ),
    (
        "questions_update",
        409,
        "`duplicate-question`: another question of the session reads the same.",
    ),
    (
        "reviews_due",
        404,
        "`session_id` names no session of the caller's.",
    ),
    (
        "admin_dead_jobs",
        403,
        "The caller is not an operator (a listed and verified address).",
    ),
    (
        "admin_retry_job",
        403,
        "The caller is not an operator (a listed and verified address).",
    ),
    (
        "admin_retry_job",
        409,
        "`job-not-failed`: only a failed job can be retried.",
    ),
    (
        "admin_probe",
        403,
        "The caller is not an operator (a listed and verified address).",
    ),
];

/// `(operationId, status)` an operation never answers although the rules above say so.
const EXCEPT: &[(&str, u16)] = &[
    // Served from a snapshot in memory, refreshed in the background (`trending`); the rate
    // limiter fails open for it.
    ("analytics_trending_topics", 503),
];

/// What a job start answers when its `Idempotency-Key` was used for a different request.
const KEY_REUSED: &str = "`idempotency-key-reused`: this `Idempotency-Key` was used for a \
     different request in the last 24 hours.";

/// The error statuses of `operation` (an operation object of the document at `path`),
/// each with what it means there when that is more than the shared description says.
pub fn statuses(path: &str, operation: &Value) -> BTreeMap<u16, Option<String>> {
    let mut out = BTreeMap::new();
    let id = operation["operationId"].as_str().unwrap_or_default();
    if path.starts_with("/api/") {
        for status in [429, 500, 503] {
            out.insert(status, None);
        }
    }
    if operation.get("security").is_some() {
        out.insert(401, None);
    }
    if operation.get("requestBody").is_some() {
        for status in [400, 413, 415] {
            out.insert(status, None);
        }
    }
    let params = operation["parameters"].as_array().into_iter().flatten();
    for param in params {
        match (param["in"].as_str(), param["name"].as_str()) {
            (Some("path"), _) => {
                out.insert(404, None);
            }
            (Some("query"), _) => {
                out.insert(400, None);
            }
            (Some("header"), Some("Idempotency-Key")) => {
                out.insert(400, None);
                out.insert(422, Some(KEY_REUSED.to_owned()));
            }
            _ => {}
        }
    }
    for (_, status) in EXCEPT.iter().filter(|(op, _)| *op == id) {
        out.remove(status);
    }
    for (_, status, why) in EXTRAS.iter().filter(|(op, _, _)| *op == id) {
        out.insert(*status, Some((*why).to_owned()));
    }
    out
}

/// Whether the finished document lists `status` for the operation `operation_id`
/// (statuses below 400 and unknown operations count as listed).
pub fn is_documented(operation_id: &str, status: u16) -> bool {
    static LISTED: OnceLock<HashMap<String, HashSet<u16>>> = OnceLock::new();
    if status < 400 {
        return true;
    }
    let listed = LISTED.get_or_init(|| {
        let doc: Value =
            serde_json::from_str(crate::spec::document()).expect("the document is JSON");
        let mut listed = HashMap::new();
        for item in doc["paths"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.values())
        {
            for op in item.as_object().into_iter().flat_map(|o| o.values()) {
                let Some(id) = op["operationId"].as_str() else {
                    continue;
                };
                let statuses = op["responses"]
                    .as_object()
                    .into_iter()
                    .flat_map(|r| r.keys())
                    .filter_map(|s| s.parse().ok())
                    .collect();
                listed.insert(id.to_owned(), statuses);
            }
        }
        listed
    });
    listed
        .get(operation_id)
        .is_none_or(|statuses| statuses.contains(&status))
}
