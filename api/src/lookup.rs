//! Reading what a request names: path ids (a malformed one is a 404 like a missing one),
//! the caller's own resources (anyone else's is a 404 too) and list pages.

use bson::oid::ObjectId;
use common::{
    db::sessions::Sessions,
    domain::session::Session,
    pagination::{Cursor, page_limit},
};

use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
};

/// A path id: a malformed one answers 404 like a missing one, never 400 or 500.
pub fn object_id(raw: &str, what: &str) -> ApiResult<ObjectId> {
    ObjectId::parse_str(raw).map_err(|_| ApiError::not_found(what))
}

/// The page size and the decoded cursor of a list request.
pub fn page_args(limit: Option<u32>, cursor: Option<&str>) -> ApiResult<(u32, Option<Cursor>)> {
    let limit = page_limit(limit)?;
    let cursor = cursor.map(Cursor::decode).transpose()?;
    Ok((limit, cursor))
}

/// The user's session `raw_id`, or 404 (malformed, missing, or someone else's).
pub async fn owned_session(
    state: &AppState,
    user_id: ObjectId,
    raw_id: &str,
) -> ApiResult<Session> {
    let id = object_id(raw_id, "session")?;
    Sessions::new(&state.db)
        .get(user_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("session"))
}
