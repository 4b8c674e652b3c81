//! Responses shared by many operations.

use poem_openapi::ApiResponse;

/// Done, nothing to return.
#[derive(Debug, ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}
