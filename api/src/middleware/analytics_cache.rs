//! Drops a user's cached analytics after any successful change to their sessions,
//! questions or account, in one place instead of in every handler.

use common::db::analytics;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result, http::Method};

use crate::{auth::VerifiedToken, state::AppState};

/// The middleware.
#[derive(Debug, Default, Clone, Copy)]
pub struct InvalidateAnalytics;

impl<E: Endpoint> Middleware<E> for InvalidateAnalytics {
    type Output = InvalidateAnalyticsEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        InvalidateAnalyticsEndpoint { inner: ep }
    }
}

/// The wrapped endpoint.
#[derive(Debug)]
pub struct InvalidateAnalyticsEndpoint<E> {
    inner: E,
}

const CHANGING: [&str; 3] = ["/api/v1/sessions", "/api/v1/questions", "/api/v1/me"];

impl<E: Endpoint> Endpoint for InvalidateAnalyticsEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
            && CHANGING.iter().any(|p| req.uri().path().starts_with(p));
        let state = req.data::<AppState>().cloned();
        let user = match (&state, writes) {
            (Some(state), true) => VerifiedToken::of(&mut req, state).map(|u| u.id),
            _ => None,
        };
        let resp = self.inner.call(req).await?.into_response();
        if writes
            && resp.status().is_success()
            && let (Some(user), Some(state)) = (user, state)
        {
            analytics::invalidate(&state.kv, user).await;
        }
        Ok(resp)
    }
}
