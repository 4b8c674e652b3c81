//! Authentication: the bearer security scheme, access tokens and password hashing.

pub mod jwt;
pub mod password;

use bson::oid::ObjectId;
use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};

use crate::{error::ApiError, state::AppState};

/// The authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    /// The user's id.
    pub id: ObjectId,
    /// When the access token expires (seconds since the epoch): long-lived responses
    /// (event streams) end then.
    pub token_expires_at: u64,
}

/// The request's access token, verified once: whichever layer asks first (the rate
/// limiter, as the app is assembled) verifies it and keeps the outcome in the request, and
/// every later layer reads that. A layer that runs first in another assembly verifies it
/// itself, so no layer depends on the order of `.with()` calls for correctness.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedToken(pub Option<AuthUser>);

impl VerifiedToken {
    /// The caller `Authorization: Bearer` names, if its token is valid; verified at most
    /// once per request.
    pub fn of(req: &mut Request, state: &AppState) -> Option<AuthUser> {
        if let Some(VerifiedToken(user)) = req.data::<VerifiedToken>() {
            return *user;
        }
        let user = req
            .headers()
            .get(poem::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|token| state.jwt.verify(token.trim()));
        req.set_data(VerifiedToken(user));
        user
    }
}

/// `Authorization: Bearer <access token>` (a JWT from login, register or refresh).
#[derive(Debug, SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub AuthUser);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<AuthUser> {
    let user = match req.data::<VerifiedToken>() {
        Some(VerifiedToken(user)) => *user,
        None => req
            .data::<AppState>()
            .and_then(|state| state.jwt.verify(&bearer.token)),
    };
    match user {
        Some(user) => {
            tracing::Span::current().record("user_id", user.id.to_hex());
            Ok(user)
        }
        None => {
            Err(ApiError::unauthorized("The access token is missing, invalid or expired.").into())
        }
    }
}
