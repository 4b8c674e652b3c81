//! Request ids, one structured log line per request, and request metrics.

use std::time::Instant;

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{HeaderName, HeaderValue},
};
use poem_openapi::OperationId;
use tracing::Instrument;

/// The header carrying the request id, in both directions.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request (also in the log span and the response header).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Plain (non-OpenAPI) routes that get their path as the metrics label.
const PLAIN_ROUTES: &[&str] = &["/metrics", "/openapi.json", "/docs"];

/// Accepts a client-supplied id only if it is short and plain, so logs stay clean.
fn accept_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| s.to_owned())
}

/// The middleware; see the module docs.
#[derive(Debug, Default, Clone, Copy)]
pub struct Observe;

impl<E: Endpoint> Middleware<E> for Observe {
    type Output = ObserveEndpoint<E>;
    fn transform(&self, inner: E) -> Self::Output {
        ObserveEndpoint { inner }
    }
}

/// See [`Observe`].
#[derive(Debug)]
pub struct ObserveEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for ObserveEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let started = Instant::now();
        let request_id = req
            .headers()
            .get(&REQUEST_ID)
            .and_then(accept_request_id)
            .unwrap_or_else(|| ulid::Ulid::generate().to_string());
        req.set_data(RequestId(request_id.clone()));
        let method = req.method().clone();
        let path = req.uri().path().to_owned();

        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %method,
            user_id = tracing::field::Empty,
        );
        let result = self.inner.call(req).instrument(span.clone()).await;
        let mut resp = match result {
            Ok(output) => output.into_response(),
            Err(err) => err.into_response(),
        };

        let route = match resp.data::<OperationId>() {
            Some(op) => op.0,
            None => PLAIN_ROUTES
                .iter()
                .copied()
                .find(|r| *r == path)
                .unwrap_or("unmatched"),
        };
        let status = resp.status().as_u16();
        let elapsed = started.elapsed();
        let status_label = status.to_string();
        let labels = [
            ("route", route.to_owned()),
            ("method", method.to_string()),
            ("status", status_label),
        ];
        metrics::counter!("http_requests_total", &labels).increment(1);
        metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
        if status >= 500 {
            metrics::counter!("http_server_errors_total", "route" => route).increment(1);
        }
        if !crate::operation_errors::is_documented(route, status) {
            tracing::warn!(
                route,
                status,
                "answer not listed for this operation in the OpenAPI document"
            );
            metrics::counter!("http_undocumented_responses_total", "route" => route, "status" => status.to_string())
                .increment(1);
        }

        span.in_scope(|| {
            tracing::info!(
                route,
                status,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                "request"
            );
        });

        if let Ok(value) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert(REQUEST_ID.clone(), value);
        }
        Ok(with_occurrence(resp, &path, &request_id).await)
    }
}

/// A problem+json answer with its `instance` (the request path) and `request_id` filled
/// in, whichever layer made it (rate limiter, handler, router).
async fn with_occurrence(resp: Response, path: &str, request_id: &str) -> Response {
    let is_problem = resp
        .headers()
        .get(poem::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(crate::error::PROBLEM_JSON));
    if !is_problem {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = body.into_bytes().await.unwrap_or_default();
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut problem)) => {
            problem
                .entry("instance")
                .or_insert_with(|| serde_json::Value::from(path));
            problem
                .entry("request_id")
                .or_insert_with(|| serde_json::Value::from(request_id));
            serde_json::to_vec(&problem).unwrap_or_else(|_| bytes.to_vec())
        }
        _ => bytes.to_vec(),
    };
    let mut resp = Response::from_parts(parts, poem::Body::from(body));
    resp.headers_mut()
        .remove(poem::http::header::CONTENT_LENGTH);
    resp
}
