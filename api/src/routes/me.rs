//! The caller's own account: profile, password change, deletion.

use bson::oid::ObjectId;
use common::{
    db::{tokens::Tokens, users::Users},
    domain::user::{FullName, Password, TimeZone},
    service,
};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use crate::{
    account::{AuthTokens, UserView, issue_tokens},
    auth::{BearerAuth, password},
    error::{ApiError, ApiResult},
    middleware::rate_limit::credential_limit,
    responses::NoContent,
    routes::ApiTags,
    state::AppState,
    validation::{AllValid, Validation},
};

/// Profile changes (only the fields given are changed).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct UpdateProfileRequest {
    /// 2–100 characters.
    #[oai(validator(min_length = 2, max_length = 100))]
    pub fullname: Option<String>,
    /// An IANA time zone (`Europe/Paris`): days, "today" and review streaks follow it.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub time_zone: Option<String>,
}

/// A password change.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The current password.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub current_password: String,
    /// 8–128 characters.
    #[oai(validator(min_length = 8, max_length = 128))]
    pub new_password: String,
}

/// The account.
#[derive(Debug, ApiResponse)]
pub enum UserResponse {
    /// The account.
    #[oai(status = 200)]
    Ok(Json<UserView>),
}

/// New tokens after a password change.
#[derive(Debug, ApiResponse)]
pub enum PasswordChanged {
    /// Password changed; every other session is signed out and this pair replaces the
    /// caller's.
    #[oai(status = 200)]
    Ok(Json<AuthTokens>),
}

async fn load(state: &AppState, id: ObjectId) -> ApiResult<common::domain::user::User> {
    Users::new(&state.db)
        .by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))
}

/// The caller's account.
#[derive(Debug)]
pub struct MeApi;

#[OpenApi(prefix_path = "/api/v1/me", tag = "ApiTags::Me")]
impl MeApi {
    /// The caller's profile
    ///
    /// The caller's profile.
    #[oai(path = "/", method = "get", operation_id = "me_get")]
    async fn get(&self, auth: BearerAuth, state: Data<&AppState>) -> ApiResult<UserResponse> {
        Ok(UserResponse::Ok(Json(
            load(&state, auth.0.id).await?.into(),
        )))
    }

    /// Update the profile
    ///
    /// Update the profile.
    #[oai(path = "/", method = "patch", operation_id = "me_update")]
    async fn update(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<UpdateProfileRequest>,
    ) -> ApiResult<UserResponse> {
        let mut v = Validation::default();
        let fullname = v.optional(body.fullname.clone(), |n| FullName::parse(&n));
        let time_zone = v.optional(body.time_zone.clone(), |tz| TimeZone::parse(&tz));
        v.finish()?;
        if fullname.is_none() && time_zone.is_none() {
            return Ok(UserResponse::Ok(Json(
                load(&state, auth.0.id).await?.into(),
            )));
        }
        let user = Users::new(&state.db)
            .set_profile(
                auth.0.id,
                fullname.as_ref().map(FullName::as_str),
                time_zone.map(TimeZone::name),
            )
            .await?
            .ok_or_else(|| ApiError::not_found("account"))?;
        Ok(UserResponse::Ok(Json(user.into())))
    }

    /// Delete the account and everything it owns
    ///
    /// Delete the account and everything it owns.
    #[oai(path = "/", method = "delete", operation_id = "me_delete")]
    async fn delete(&self, auth: BearerAuth, state: Data<&AppState>) -> ApiResult<NoContent> {
        load(&state, auth.0.id).await?;
        service::accounts::delete(&state.stores(), auth.0.id).await?;
        Ok(NoContent::Done)
    }

    /// Change the password (needs the current one)
    ///
    /// Change the password (needs the current one). Signs out every other session.
    #[oai(
        path = "/password",
        method = "post",
        operation_id = "me_change_password"
    )]
    async fn change_password(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<ChangePasswordRequest>,
    ) -> ApiResult<PasswordChanged> {
        let (new_password,) = (Password::parse("new_password", &body.new_password),).all_valid()?;
        credential_limit(&state, "auth-user", &format!("user:{}", auth.0.id)).await?;
        let user = load(&state, auth.0.id).await?;
        let verified =
            password::verify(body.current_password.clone(), user.password_hash.clone()).await?;
        if !verified.ok {
            return Err(ApiError::invalid_field("current_password", "is incorrect"));
        }
        let hash = password::hash(new_password.expose().to_owned()).await?;
        Users::new(&state.db)
            .set_password_hash(user.id, &hash, None)
            .await?;
        Tokens::new(&state.db).revoke_user(user.id).await?;
        let tokens = issue_tokens(&state, user, ObjectId::new()).await?;
        Ok(PasswordChanged::Ok(Json(tokens)))
    }
}
