//! Accounts and tokens: register, login, refresh, logout, and password reset by emailed code.

use bson::{DateTime, oid::ObjectId};
use common::{
    db::{
        tokens::{Exchange, Tokens},
        users::Users,
    },
    domain::user::{Email, FullName, Password, User},
    jobs::{self, EmailJob, SendEmail, StartJob},
    otp::{self, CodeCheck, Purpose},
};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use crate::{
    account::{AuthTokens, issue_tokens},
    auth::{BearerAuth, password},
    error::{ApiError, ApiResult},
    middleware::rate_limit::credential_limit,
    responses::NoContent,
    routes::{ApiTags, me::UserResponse},
    state::AppState,
    validation::AllValid,
};

/// New account.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct RegisterRequest {
    /// 2–100 characters.
    #[oai(validator(min_length = 2, max_length = 100))]
    pub fullname: String,
    /// A valid email address; unique, case-insensitive.
    #[oai(validator(min_length = 3, max_length = 254))]
    pub email: String,
    /// 8–128 characters.
    #[oai(validator(min_length = 8, max_length = 128))]
    pub password: String,
}

/// Credentials.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct LoginRequest {
    /// Email address.
    #[oai(validator(min_length = 3, max_length = 254))]
    pub email: String,
    /// Password.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub password: String,
}

/// A refresh token.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
    #[oai(validator(min_length = 1, max_length = 256))]
    pub refresh_token: String,
}

/// Request a reset code.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    /// The account's email address.
    #[oai(validator(min_length = 3, max_length = 254))]
    pub email: String,
}

/// Check a reset code without using it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct VerifyCodeRequest {
    /// The account's email address.
    #[oai(validator(min_length = 3, max_length = 254))]
    pub email: String,
    /// The 6-digit code from the email.
    #[oai(validator(pattern = r"^[0-9]{6}$"))]
    pub code: String,
}

/// Set a new password with a reset code.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The account's email address.
    #[oai(validator(min_length = 3, max_length = 254))]
    pub email: String,
    /// The 6-digit code from the email.
    #[oai(validator(pattern = r"^[0-9]{6}$"))]
    pub code: String,
    /// 8–128 characters.
    #[oai(validator(min_length = 8, max_length = 128))]
    pub new_password: String,
}

/// Confirm the account's address with the code mailed to it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The 6-digit code from the verification email.
    #[oai(validator(pattern = r"^[0-9]{6}$"))]
    pub code: String,
}

/// A request that was accepted for processing.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Accepted {
    /// What happens next.
    pub message: String,
}

/// The code is valid.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CodeValid {
    /// Always `true` (an invalid code is a 400).
    pub valid: bool,
}

/// Account created.
#[derive(Debug, ApiResponse)]
pub enum RegisterResponse {
    /// The account and its first token pair.
    #[oai(status = 201)]
    Created(Json<AuthTokens>),
}

/// Tokens issued.
#[derive(Debug, ApiResponse)]
pub enum TokensResponse {
    /// A new token pair.
    #[oai(status = 200)]
    Ok(Json<AuthTokens>),
}

/// Accepted.
#[derive(Debug, ApiResponse)]
pub enum AcceptedResponse {
    /// Accepted; the same answer whether or not the account exists.
    #[oai(status = 202)]
    Accepted(Json<Accepted>),
}

/// A verification code was queued for mailing.
#[derive(Debug, ApiResponse)]
pub enum CodeSentResponse {
    /// The code is on its way.
    #[oai(status = 202)]
    Accepted(Json<Accepted>),
}

/// The code check.
#[derive(Debug, ApiResponse)]
pub enum VerifyResponse {
    /// The code is valid (and still unused).
    #[oai(status = 200)]
    Valid(Json<CodeValid>),
}

/// Mails `user` a fresh verification code through the email queue, within the address's
/// hourly quota of codes; `false` when the quota is spent.
async fn send_verification(state: &AppState, user: &User) -> ApiResult<bool> {
    if !otp::take_issue_quota(&state.kv, Purpose::EmailVerification, &user.email).await? {
        return Ok(false);
    }
    let job = StartJob::<SendEmail> {
        user_id: user.id,
        payload: EmailJob::VerificationCode {
            email: user.email.clone(),
            fullname: user.fullname.clone(),
        },
        session_id: None,
        max_attempts: state.config.common.job_max_attempts,
        idempotency_key: None,
    };
    jobs::start(&state.db, &state.kv, job, None).await?;
    Ok(true)
}

/// The caller's account (a deleted account's token finds none).
async fn caller(state: &AppState, auth: &BearerAuth) -> ApiResult<User> {
    Users::new(&state.db)
        .by_id(auth.0.id)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))
}

/// Applies the `auth` policy per email address (the middleware applies it per IP).
async fn limit_email(state: &AppState, email: &Email) -> ApiResult<()> {
    credential_limit(state, "auth-email", &format!("email:{}", email.as_str())).await
}

fn invalid_code() -> ApiError {
    ApiError::BadRequest(poem_openapi::payload::Json(crate::error::Problem::new(
        poem::http::StatusCode::BAD_REQUEST,
        "invalid-code",
        Some("The code is invalid or has expired; request a new one.".to_owned()),
    )))
}

/// Account and token operations.
#[derive(Debug)]
pub struct AuthApi;

#[OpenApi(prefix_path = "/api/v1/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create an account and sign in
    ///
    /// Create an account and sign in. A 6-digit code to confirm the address is mailed at
    /// once (see `/verify-email`).
    #[oai(path = "/register", method = "post", operation_id = "auth_register")]
    async fn register(
        &self,
        state: Data<&AppState>,
        body: Json<RegisterRequest>,
    ) -> ApiResult<RegisterResponse> {
        let (fullname, email, password) = (
            FullName::parse(&body.fullname),
            Email::parse(&body.email),
            Password::parse("password", &body.password),
        )
            .all_valid()?;
        limit_email(&state, &email).await?;

        let now = DateTime::now();
        let user = User {
            id: ObjectId::new(),
            email: email.as_str().to_owned(),
            fullname: fullname.as_str().to_owned(),
            password_hash: password::hash(password.expose().to_owned()).await?,
            email_verified: false,
            time_zone: None,
            created_at: now,
            updated_at: now,
        };
        if !Users::new(&state.db).insert(&user).await? {
            return Err(ApiError::conflict(
                "email-taken",
                "An account with this email already exists.",
            ));
        }
        tracing::info!(user_id = %user.id, "account registered");
        // The account is made: a verification mail that cannot be queued now is not a
        // reason to fail the registration (the user can ask for it again).
        if let Err(e) = send_verification(&state, &user).await {
            tracing::warn!(user_id = %user.id, error = ?e, "verification code not queued");
        }
        let tokens = issue_tokens(&state, user, ObjectId::new()).await?;
        Ok(RegisterResponse::Created(Json(tokens)))
    }

    /// Sign in with email and password
    ///
    /// Sign in with email and password.
    #[oai(path = "/login", method = "post", operation_id = "auth_login")]
    async fn login(
        &self,
        state: Data<&AppState>,
        body: Json<LoginRequest>,
    ) -> ApiResult<TokensResponse> {
        let email = Email::parse(&body.email)?;
        limit_email(&state, &email).await?;
        let users = Users::new(&state.db);
        let Some(user) = users.by_email(email.as_str()).await? else {
            password::verify_dummy(body.password.clone()).await?;
            return Err(ApiError::unauthorized(
                "The email or password is incorrect.",
            ));
        };
        let verified = password::verify(body.password.clone(), user.password_hash.clone()).await?;
        if !verified.ok {
            return Err(ApiError::unauthorized(
                "The email or password is incorrect.",
            ));
        }
        if verified.needs_rehash {
            let new_hash = password::hash(body.password.clone()).await?;
            users
                .set_password_hash(user.id, &new_hash, Some(&user.password_hash))
                .await?;
            tracing::info!(user_id = %user.id, "password rehashed with current parameters");
        }
        let tokens = issue_tokens(&state, user, ObjectId::new()).await?;
        Ok(TokensResponse::Ok(Json(tokens)))
    }

    /// Exchange a refresh token for a new pair
    ///
    /// Exchange a refresh token for a new pair. Each refresh token works once; presenting a
    /// used one again revokes every token descended from the same login.
    #[oai(path = "/refresh", method = "post", operation_id = "auth_refresh")]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        body: Json<RefreshRequest>,
    ) -> ApiResult<TokensResponse> {
        match Tokens::new(&state.db).exchange(&body.refresh_token).await? {
            Exchange::Rotated { user_id, family_id } => {
                let user = Users::new(&state.db)
                    .by_id(user_id)
                    .await?
                    .ok_or_else(|| ApiError::unauthorized("The refresh token is invalid."))?;
                let tokens = issue_tokens(&state, user, family_id).await?;
                Ok(TokensResponse::Ok(Json(tokens)))
            }
            Exchange::Reused => Err(ApiError::unauthorized(
                "The refresh token was already used; this sign-in has been revoked.",
            )),
            Exchange::Invalid => Err(ApiError::unauthorized(
                "The refresh token is invalid or expired.",
            )),
        }
    }

    /// Sign out: revokes the refresh token's whole family
    ///
    /// Sign out: revokes the refresh token's whole family.
    #[oai(path = "/logout", method = "post", operation_id = "auth_logout")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        body: Json<RefreshRequest>,
    ) -> ApiResult<NoContent> {
        let tokens = Tokens::new(&state.db);
        if let Some(family) = tokens.family_of(&body.refresh_token).await? {
            tokens.revoke_family(family).await?;
        }
        Ok(NoContent::Done)
    }

    /// Email a 6-digit reset code (valid 10 minutes)
    ///
    /// Email a 6-digit reset code (valid 10 minutes). Always 202 with the same body,
    /// whether or not the account exists; at most 3 codes per address per hour.
    #[oai(
        path = "/password/forgot",
        method = "post",
        operation_id = "auth_password_forgot"
    )]
    async fn forgot(
        &self,
        state: Data<&AppState>,
        body: Json<ForgotPasswordRequest>,
    ) -> ApiResult<AcceptedResponse> {
        let email = Email::parse(&body.email)?;
        limit_email(&state, &email).await?;
        if !otp::take_issue_quota(&state.kv, Purpose::PasswordReset, email.as_str()).await? {
            return Err(ApiError::too_many_requests(3600));
        }
        if let Some(user) = Users::new(&state.db).by_email(email.as_str()).await? {
            let job = StartJob::<SendEmail> {
                user_id: user.id,
                payload: EmailJob::PasswordResetCode {
                    email: user.email,
                    fullname: user.fullname,
                },
                session_id: None,
                max_attempts: state.config.common.job_max_attempts,
                idempotency_key: None,
            };
            jobs::start(&state.db, &state.kv, job, None).await?;
        }
        Ok(AcceptedResponse::Accepted(Json(Accepted {
            message: "If an account exists for this address, a reset code is on its way."
                .to_owned(),
        })))
    }

    /// Check a reset code without using it
    ///
    /// Check a reset code without using it. Wrong guesses count towards the code's limit of
    /// 5, shared with `/password/reset`.
    #[oai(
        path = "/password/verify",
        method = "post",
        operation_id = "auth_password_verify"
    )]
    async fn verify(
        &self,
        state: Data<&AppState>,
        body: Json<VerifyCodeRequest>,
    ) -> ApiResult<VerifyResponse> {
        let email = Email::parse(&body.email)?;
        limit_email(&state, &email).await?;
        match otp::check(
            &state.kv,
            Purpose::PasswordReset,
            email.as_str(),
            &body.code,
            false,
        )
        .await?
        {
            CodeCheck::Valid => Ok(VerifyResponse::Valid(Json(CodeValid { valid: true }))),
            CodeCheck::Wrong | CodeCheck::Missing => Err(invalid_code()),
        }
    }

    /// Set a new password with a reset code
    ///
    /// Set a new password with a reset code. Uses the code up and signs out every session.
    #[oai(
        path = "/password/reset",
        method = "post",
        operation_id = "auth_password_reset"
    )]
    async fn reset(
        &self,
        state: Data<&AppState>,
        body: Json<ResetPasswordRequest>,
    ) -> ApiResult<NoContent> {
        let (email, password) = (
            Email::parse(&body.email),
            Password::parse("new_password", &body.new_password),
        )
            .all_valid()?;
        limit_email(&state, &email).await?;
        if otp::check(
            &state.kv,
            Purpose::PasswordReset,
            email.as_str(),
            &body.code,
            true,
        )
        .await?
            != CodeCheck::Valid
        {
            return Err(invalid_code());
        }
        // A code is only ever issued for an existing account; it may have been deleted since.
        let Some(user) = Users::new(&state.db).by_email(email.as_str()).await? else {
            return Err(invalid_code());
        };
        let hash = password::hash(password.expose().to_owned()).await?;
        Users::new(&state.db)
            .set_password_hash(user.id, &hash, None)
            .await?;
        Tokens::new(&state.db).revoke_user(user.id).await?;
        tracing::info!(user_id = %user.id, "password reset; every session revoked");
        Ok(NoContent::Done)
    }

    /// Confirm the caller's email address with the mailed code
    ///
    /// Confirm the caller's address with the code mailed at registration or by
    /// `/verify-email/resend`. Wrong guesses count towards the code's limit of 5. Answers
    /// the profile, now with `email_verified: true` (also when it already was).
    #[oai(
        path = "/verify-email",
        method = "post",
        operation_id = "auth_verify_email"
    )]
    async fn verify_email(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<VerifyEmailRequest>,
    ) -> ApiResult<UserResponse> {
        credential_limit(&state, "verify-email", &format!("user:{}", auth.0.id)).await?;
        let user = caller(&state, &auth).await?;
        if user.email_verified {
            return Ok(UserResponse::Ok(Json(user.into())));
        }
        let check = otp::check(
            &state.kv,
            Purpose::EmailVerification,
            &user.email,
            &body.code,
            true,
        )
        .await?;
        if check != CodeCheck::Valid {
            return Err(invalid_code());
        }
        let user = Users::new(&state.db)
            .mark_verified(user.id)
            .await?
            .ok_or_else(|| ApiError::not_found("account"))?;
        tracing::info!(user_id = %user.id, "email address verified");
        Ok(UserResponse::Ok(Json(user.into())))
    }

    /// Mail the caller a new verification code (the earlier one stops working)
    ///
    /// Mail the caller a new verification code (the earlier one stops working). At most 3
    /// codes per address per hour, registration's included; 409 `already-verified` when
    /// there is nothing to confirm.
    #[oai(
        path = "/verify-email/resend",
        method = "post",
        operation_id = "auth_verify_email_resend"
    )]
    async fn resend_verification(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
    ) -> ApiResult<CodeSentResponse> {
        let user = caller(&state, &auth).await?;
        if user.email_verified {
            return Err(ApiError::conflict(
                "already-verified",
                "This address is already verified.",
            ));
        }
        if !send_verification(&state, &user).await? {
            return Err(ApiError::too_many_requests(3600));
        }
        Ok(CodeSentResponse::Accepted(Json(Accepted {
            message: format!("A new code is on its way to {}.", user.email),
        })))
    }
}
