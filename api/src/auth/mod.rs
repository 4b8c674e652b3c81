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

/// A verified access token, put in the request by the rate limiter so it is checked once.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedToken(pub Option<AuthUser>);

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
