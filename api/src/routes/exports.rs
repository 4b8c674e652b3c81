//! Starting an export of a session (202; a worker renders and stores the file).

use common::{
    domain::job::{ExportFormat, ExportPayload},
    jobs::{ExportSession, Quota},
};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path},
    payload::Json,
};
use rand::{RngCore, TryRngCore};

use crate::{
    auth::BearerAuth,
    error::ApiResult,
    jobs::{JobStarted, start},
    lookup::owned_session,
    routes::ApiTags,
    state::AppState,
};

/// What to export.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, deny_unknown_fields)]
pub struct ExportRequest {
    /// `xlsx`, `csv`, `pdf` or `docx`.
    pub format: ExportFormat,
}

/// Exports.
#[derive(Debug)]
pub struct ExportsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Exports")]
impl ExportsApi {
    /// Export a session's questions to a file, in the background
    ///
    /// Export a session's questions to a file, in the background. The finished job's
    /// `result.download_url` is a short-lived signed link, minted on every status read.
    /// Honours `Idempotency-Key`; counts against a per-user limit.
    #[oai(
        path = "/sessions/:session_id/exports",
        method = "post",
        operation_id = "sessions_export"
    )]
    async fn export(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// A session of the caller's (anything else is 404).
        session_id: Path<String>,
        /// Repeating a request with the same key (within 24 h) returns the same job.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: Json<ExportRequest>,
    ) -> ApiResult<JobStarted> {
        let session = owned_session(&state, auth.0.id, &session_id).await?;
        let mut token = [0u8; 16];
        rand::rngs::OsRng.unwrap_err().fill_bytes(&mut token);
        let payload = ExportPayload {
            format: body.format,
            token: hex::encode(token),
        };
        start::<ExportSession>(
            &state,
            auth.0.id,
            payload,
            Some(session.id),
            idempotency_key.0,
            Some(Quota {
                name: "export",
                policy: state.config.rate_limit.export,
            }),
        )
        .await
    }
}
