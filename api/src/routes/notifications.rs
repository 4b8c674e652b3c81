//! Notifications: one per finished job run.

use bson::oid::ObjectId;
use common::{
    db::notifications::{Notifications, Selection},
    domain::job::{JobKind, JobStatus, Notification},
};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Query, payload::Json};

use crate::{
    auth::BearerAuth,
    error::{ApiError, ApiResult},
    lookup::page_args,
    routes::ApiTags,
    state::AppState,
};

/// A notification about a finished job.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NotificationView {
    /// Id.
    pub id: String,
    /// The job it reports on.
    pub job_id: String,
    /// The job's kind.
    pub kind: JobKind,
    /// How the job ended (`succeeded` or `failed`).
    pub status: JobStatus,
    /// One line for people.
    pub message: String,
    /// Whether it was marked read.
    pub read: bool,
    /// Creation time.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id.to_hex(),
            job_id: n.job_id,
            kind: n.kind,
            status: n.status,
            message: n.message,
            read: n.read,
            created_at: n.created_at.to_chrono(),
        }
    }
}

/// A page of notifications, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NotificationPage {
    /// The notifications.
    pub items: Vec<NotificationView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Unread notifications in all.
    pub unread_count: u64,
}

/// Which notifications to mark read: `ids`, or `all: true`.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct MarkReadRequest {
    /// Up to 100 notification ids (others' and unknown ids are ignored).
    #[oai(validator(max_items = 100))]
    pub ids: Option<Vec<String>>,
    /// Mark every notification read.
    #[oai(default)]
    pub all: bool,
}

/// How many notifications changed.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Changed {
    /// Notifications changed (or removed).
    pub count: u64,
}

/// A page of notifications.
#[derive(Debug, ApiResponse)]
pub enum NotificationList {
    /// The page.
    #[oai(status = 200)]
    Ok(Json<NotificationPage>),
}

/// A count of changed notifications.
#[derive(Debug, ApiResponse)]
pub enum ChangedResponse {
    /// Done.
    #[oai(status = 200)]
    Ok(Json<Changed>),
}

/// Notifications.
#[derive(Debug)]
pub struct NotificationsApi;

#[OpenApi(prefix_path = "/api/v1/notifications", tag = "ApiTags::Notifications")]
impl NotificationsApi {
    /// The caller's notifications, newest first
    ///
    /// The caller's notifications, newest first.
    #[oai(path = "/", method = "get", operation_id = "notifications_list")]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// Only unread ones.
        #[oai(default)]
        unread: Query<bool>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 256))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<NotificationList> {
        let (limit, cursor) = page_args(limit.0, cursor.0.as_deref())?;
        let notifications = Notifications::new(&state.db);
        let page = notifications
            .list(auth.0.id, unread.0, cursor.as_ref(), limit)
            .await?;
        let unread_count = notifications.unread(auth.0.id).await?;
        Ok(NotificationList::Ok(Json(NotificationPage {
            next_cursor: page.next.map(|c| c.encode()),
            items: page.items.into_iter().map(Into::into).collect(),
            unread_count,
        })))
    }

    /// Mark notifications read: the given ids, or all
    ///
    /// Mark notifications read: the given ids, or all.
    #[oai(
        path = "/read",
        method = "post",
        operation_id = "notifications_mark_read"
    )]
    async fn mark_read(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<MarkReadRequest>,
    ) -> ApiResult<ChangedResponse> {
        let which = match (&body.ids, body.all) {
            (None, true) => Selection::All,
            (Some(ids), false) if !ids.is_empty() => {
                // Malformed ids cannot name a notification of the caller's: skip them.
                Selection::Ids(
                    ids.iter()
                        .filter_map(|id| ObjectId::parse_str(id).ok())
                        .collect(),
                )
            }
            _ => {
                return Err(ApiError::invalid_field(
                    "ids",
                    "give either a non-empty `ids` or `all: true`",
                ));
            }
        };
        let count = Notifications::new(&state.db)
            .mark_read(auth.0.id, which)
            .await?;
        Ok(ChangedResponse::Ok(Json(Changed { count })))
    }

    /// Delete all the caller's notifications
    ///
    /// Delete all the caller's notifications.
    #[oai(path = "/", method = "delete", operation_id = "notifications_clear")]
    async fn clear(&self, auth: BearerAuth, state: Data<&AppState>) -> ApiResult<ChangedResponse> {
        let count = Notifications::new(&state.db).clear(auth.0.id).await?;
        Ok(ChangedResponse::Ok(Json(Changed { count })))
    }
}
