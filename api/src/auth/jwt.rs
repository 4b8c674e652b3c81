//! Access tokens: HS256 JWTs. The algorithm is fixed here, never read from the token.

use std::time::{SystemTime, UNIX_EPOCH};

use bson::oid::ObjectId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::AuthConfig;

/// The claims of an access token; all are required.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user id (ObjectId hex).
    pub sub: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// Token id.
    pub jti: String,
}

/// Signing and verification keys with the pinned validation rules.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: u64,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl JwtKeys {
    /// Keys for `config`.
    pub fn new(config: &AuthConfig) -> Self {
        let secret = config.jwt_secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl_secs: config.access_ttl.as_secs(),
        }
    }

    /// Lifetime of issued tokens, in seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// Issues an access token for `user_id`.
    pub fn issue(&self, user_id: ObjectId) -> Result<String, jsonwebtoken::errors::Error> {
        let now = now_secs();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_hex(),
            exp: now + self.ttl_secs,
            iat: now,
            jti: ulid::Ulid::generate().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Verifies `token` and returns its holder.
    pub fn verify(&self, token: &str) -> Option<super::AuthUser> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        if data.claims.jti.is_empty() || data.claims.iat > now_secs() + 60 {
            return None;
        }
        Some(super::AuthUser {
            id: ObjectId::parse_str(&data.claims.sub).ok()?,
            token_expires_at: data.claims.exp,
        })
    }
}
