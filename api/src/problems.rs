//! The problem-type catalogue: every `type` the api answers with, its title and what it
//! means. `GET /problems/{slug}` serves each as a page, so a problem's `type` resolves to
//! its documentation; `/problems` lists them all.

use poem::{
    IntoResponse, Response, handler,
    http::{StatusCode, header},
    web::Path,
};

/// A kind of problem.
#[derive(Debug, Clone, Copy)]
pub struct ProblemType {
    /// The last segment of `type` (`/problems/{slug}`).
    pub slug: &'static str,
    /// The usual HTTP status.
    pub status: u16,
    /// The `title` of every problem of this type.
    pub title: &'static str,
    /// What it means and what a client does about it.
    pub meaning: &'static str,
}

const fn p(
    slug: &'static str,
    status: u16,
    title: &'static str,
    meaning: &'static str,
) -> ProblemType {
    ProblemType {
        slug,
        status,
        title,
        meaning,
    }
}

/// Every problem type, by status.
pub const CATALOGUE: &[ProblemType] = &[
    p(
        "bad-request",
        400,
        "Bad request",
        "The request cannot be read (e.g. malformed JSON). Fix the request; repeating it unchanged fails again.",
    ),
    p(
        "validation-error",
        400,
        "Invalid fields",
        "One or more fields break a rule; `errors` names each field with the rule it breaks. Nothing was changed.",
    ),
    p(
        "invalid-code",
        400,
        "Invalid or expired code",
        "The 6-digit code is wrong, used, burnt after 5 wrong guesses, or older than 10 minutes. Ask for a new one.",
    ),
    p(
        "unauthorized",
        401,
        "Not signed in",
        "The access token is missing, invalid or expired, or the credentials are wrong. Refresh the token once; sign in again if that fails.",
    ),
    p(
        "forbidden",
        403,
        "Not allowed",
        "The caller is signed in but may not do this (operator endpoints need a verified listed address).",
    ),
    p(
        "not-found",
        404,
        "Not found",
        "No such resource for this caller: it does not exist, was deleted, or belongs to someone else (never told apart).",
    ),
    p(
        "method-not-allowed",
        405,
        "Method not allowed",
        "The path exists but not with this method; `Allow` lists the methods it takes.",
    ),
    p(
        "not-acceptable",
        406,
        "Not acceptable",
        "The `Accept` header asks for a representation the operation does not produce.",
    ),
    p(
        "conflict",
        409,
        "Conflict",
        "The request conflicts with the resource's current state.",
    ),
    p(
        "email-taken",
        409,
        "Email already registered",
        "An account with this address exists (case-insensitive). Sign in or reset the password.",
    ),
    p(
        "session-full",
        409,
        "Session full",
        "The session holds its maximum number of questions; delete some first.",
    ),
    p(
        "duplicate-question",
        409,
        "Duplicate question",
        "The session already has this question, ignoring case, spacing and punctuation.",
    ),
    p(
        "too-many-sessions",
        409,
        "Too many sessions",
        "The account holds its maximum number of sessions; delete some first.",
    ),
    p(
        "job-not-failed",
        409,
        "Job not failed",
        "Only a failed job can be retried.",
    ),
    p(
        "already-verified",
        409,
        "Already verified",
        "The account's address is verified already; there is no code to send.",
    ),
    p(
        "length-required",
        411,
        "Length required",
        "The request has a body without a length.",
    ),
    p(
        "payload-too-large",
        413,
        "Body too large",
        "The request body is larger than 1 MiB.",
    ),
    p(
        "unsupported-media-type",
        415,
        "Unsupported media type",
        "The body must be `application/json`.",
    ),
    p(
        "idempotency-key-reused",
        422,
        "Idempotency key reused",
        "This `Idempotency-Key` was used within 24 h for a different request; use a new key for a new request.",
    ),
    p(
        "rate-limited",
        429,
        "Too many requests",
        "A rate limit or quota is spent; wait the seconds in `Retry-After`. `RateLimit` and `RateLimit-Policy` describe the policy.",
    ),
    p(
        "token-budget-spent",
        429,
        "Daily AI budget spent",
        "The account used today's AI token budget; generation works again after `Retry-After` (UTC midnight). Practice grading goes on offline.",
    ),
    p(
        "internal-error",
        500,
        "Internal error",
        "An unexpected error; it is logged with the request id. Retrying may help; report the `request_id` if it persists.",
    ),
    p(
        "dependency-unavailable",
        503,
        "Dependency unavailable",
        "A service the api needs (database, queue, storage) did not answer; retry later.",
    ),
    p(
        "service-unavailable",
        503,
        "Service unavailable",
        "The api cannot take this request now; retry after `Retry-After`.",
    ),
    p(
        "server-busy",
        503,
        "Server busy",
        "Too many password checks are running at once; retry after `Retry-After`.",
    ),
    p(
        "client-error",
        400,
        "Client error",
        "The request was refused for a reason with no more specific type.",
    ),
];

/// The catalogue entry of `slug`.
pub fn lookup(slug: &str) -> Option<&'static ProblemType> {
    CATALOGUE.iter().find(|t| t.slug == slug)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "")
}

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family: sans-serif; max-width: 48rem; margin: 2rem auto\">{body}</body></html>",
        escape(title)
    );
    Response::builder()
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=86400")
        .body(html)
}

/// `GET /problems`: every problem type.
#[handler]
pub fn index() -> Response {
    let rows: String = CATALOGUE
        .iter()
        .map(|t| {
            format!(
                "<li><a href=\"/problems/{slug}\"><code>/problems/{slug}</code></a> ({status}): {title}</li>",
                slug = t.slug,
                status = t.status,
                title = escape(t.title)
            )
        })
        .collect();
    page(
        "Problem types",
        &format!(
            "<h1>Problem types</h1><p>Every error of the api is RFC 9457 problem+json; its <code>type</code> is one of these.</p><ul>{rows}</ul>"
        ),
    )
}

/// `GET /problems/{slug}`: one problem type.
#[handler]
pub fn show(Path(slug): Path<String>) -> Response {
    match lookup(&slug) {
        Some(t) => page(
            t.title,
            &format!(
                "<h1>{title}</h1><p><code>type: /problems/{slug}</code> · HTTP {status}</p><p>{meaning}</p>\
                 <p>Every problem also carries <code>status</code>, <code>detail</code> (this occurrence), \
                 <code>instance</code> (the request path) and <code>request_id</code>. \
                 <a href=\"/problems\">All problem types</a></p>",
                title = escape(t.title),
                slug = t.slug,
                status = t.status,
                meaning = escape(t.meaning)
            ),
        ),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
