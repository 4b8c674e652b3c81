//! The account as its owner sees it, and the token pair that signs it in (register, login,
//! refresh).

use bson::oid::ObjectId;
use common::{
    db::tokens::Tokens,
    domain::user::{TimeZone, User},
};
use poem_openapi::Object;

use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
};

/// An account as its owner sees it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Email (normalized to lower case).
    pub email: String,
    /// Display name.
    pub fullname: String,
    /// Whether the address was confirmed with a mailed code (`POST
    /// /api/v1/auth/verify-email`). Everything works without it except operator rights.
    pub email_verified: bool,
    /// IANA time zone of days, "today" and review streaks (`UTC` unless set).
    pub time_zone: String,
    /// Creation time.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last change.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        let time_zone = TimeZone::of(&u).name().to_owned();
        Self {
            id: u.id.to_hex(),
            email: u.email,
            fullname: u.fullname,
            email_verified: u.email_verified,
            time_zone,
            created_at: u.created_at.to_chrono(),
            updated_at: u.updated_at.to_chrono(),
        }
    }
}

/// A token pair and the account it belongs to.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuthTokens {
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Opaque token for `/auth/refresh`; single use, rotated on every refresh.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The account.
    pub user: UserView,
}

/// Issues an access token and a refresh token of `family` for `user`.
pub async fn issue_tokens(state: &AppState, user: User, family: ObjectId) -> ApiResult<AuthTokens> {
    let refresh_token = Tokens::new(&state.db)
        .issue(user.id, family, state.config.auth.refresh_ttl)
        .await?
        .ok_or_else(|| ApiError::unauthorized("This sign-in has been revoked."))?;
    let access_token = state
        .jwt
        .issue(user.id)
        .map_err(|e| ApiError::internal(&anyhow::Error::new(e)))?;
    Ok(AuthTokens {
        access_token,
        refresh_token,
        token_type: "Bearer".to_owned(),
        expires_in: state.jwt.ttl_secs(),
        user: user.into(),
    })
}
