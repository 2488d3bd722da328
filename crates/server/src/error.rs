//! Errors as the API answers them: a status and `{"error": {"code", "message"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use kenshin_core::api::{ErrorBody, ErrorCode, ErrorDetail};
use kenshin_store::StoreError;

use crate::vault::VaultError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// The one answer for "no such object" and "not yours": nothing tells them apart.
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such object")
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, message)
    }

    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error; the server log has the details",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code.as_str())
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        // The access log records the stable code (never the message, which may name input).
        response.extensions_mut().insert(self.code);
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Gone(message) => ApiError::new(StatusCode::GONE, ErrorCode::Gone, message),
            StoreError::AlreadyDownloaded => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::AlreadyDownloaded,
                err.to_string(),
            ),
            StoreError::NotDownloaded => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::NotDownloaded,
                err.to_string(),
            ),
            StoreError::InvalidState(message) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::InvalidState, message)
            }
            StoreError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::InvalidState, message)
            }
            ref other if other.is_storage_full() => storage_full(),
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "the database is not available; try again later",
                )
            }
        }
    }
}

fn storage_full() -> ApiError {
    ApiError::new(
        StatusCode::INSUFFICIENT_STORAGE,
        ErrorCode::StorageFull,
        "the server's storage is full; nothing was stored. Try again later",
    )
}

impl From<VaultError> for ApiError {
    fn from(err: VaultError) -> ApiError {
        match err {
            VaultError::TooLarge { limit } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                format!("the upload exceeds the limit of {limit} bytes; nothing was stored"),
            ),
            VaultError::Incomplete(reason) => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::UploadIncomplete,
                format!("the upload did not complete ({reason}); nothing was stored"),
            ),
            VaultError::Integrity(detail) => {
                tracing::error!(%detail, "stored object failed authentication");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::IntegrityError,
                    "the stored file failed its integrity check; no bytes of it were sent. \
                     The operator has been alerted",
                )
            }
            VaultError::Io(ref io) if kenshin_store::is_storage_full(io) => storage_full(),
            other => {
                tracing::error!(error = %other, "vault error");
                ApiError::internal()
            }
        }
    }
}
