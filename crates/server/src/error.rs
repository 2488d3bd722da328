//! Errors as the API answers them: a status and `{"error": {"code", "message"}}`. The
//! use-case layer's typed [`service::Error`](crate::service::Error) becomes one here: its
//! status, its stable code and its words.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use kenshin_core::api::{ErrorBody, ErrorCode, ErrorDetail};
use kenshin_store::StoreError;

use crate::service::certificates::{CertificateError, CertificateProblem};
use crate::service::{Error, Refusal};
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

    /// A request that needs a person's session and has none (or an ended one).
    pub fn session_required() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::SessionRequired,
            "ログインしてください / please log in (the session is missing, expired or ended)",
        )
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

impl From<Error> for ApiError {
    fn from(err: Error) -> ApiError {
        match err {
            Error::NotFound => ApiError::not_found(),
            Error::NotPermitted { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, err.to_string())
            }
            Error::Refused(refusal) => refusal.into(),
            Error::Account(problem) => ApiError::invalid(problem.to_string()),
            Error::Map(map) => ApiError::invalid(map.to_string()),
            Error::TooLarge { limit } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                format!(
                    "at most {limit} bytes are accepted here ({} MiB)",
                    limit >> 20
                ),
            ),
            Error::Store(store) => store.into(),
            Error::Vault(vault) => vault.into(),
            Error::Ledger(crate::ledger::LedgerError::Store(store)) => store.into(),
            Error::Ledger(other) => {
                tracing::error!(error = %other, "ledger error");
                ApiError::internal()
            }
            Error::Certificate(CertificateError::Problem(CertificateProblem::NoSuchSerial(_))) => {
                ApiError::not_found()
            }
            Error::Certificate(CertificateError::Problem(problem)) => {
                ApiError::invalid(problem.to_string())
            }
            Error::Certificate(CertificateError::Store(store)) => store.into(),
            Error::Certificate(other) => {
                tracing::error!(error = %other, "certificate error");
                ApiError::internal()
            }
            Error::Internal(what) => {
                tracing::error!(%what, "internal error");
                ApiError::internal()
            }
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        use ErrorCode as C;
        use StatusCode as S;
        let (status, code, message): (StatusCode, ErrorCode, String) = match &refusal {
            Refusal::InvalidCredentials => (
                S::UNAUTHORIZED,
                C::InvalidCredentials,
                "ログインIDまたはパスワード、確認コードが正しくありません / the login, password or code is not correct".into(),
            ),
            Refusal::CertificateUnknown | Refusal::CertificateExpired => {
                (S::UNAUTHORIZED, C::CertificateUnknown, refusal.to_string())
            }
            Refusal::CertificateRevoked | Refusal::CertificateOwnerInactive => {
                (S::UNAUTHORIZED, C::CertificateRevoked, refusal.to_string())
            }
            Refusal::CertificateOfAnotherPerson => {
                (S::FORBIDDEN, C::ClientCertificateRequired, refusal.to_string())
            }
            Refusal::PersonCertificateRequired => (
                S::FORBIDDEN,
                C::ClientCertificateRequired,
                "本人のクライアント証明書が必要です。組織管理者から本人用の証明書（client.p12）を受け取り、ブラウザまたはクライアントに設定して接続し直してください / you must present your own client certificate: get your personal certificate (client.p12) from your organisation's admin, install it in the browser or client, and connect again".into(),
            ),
            Refusal::NoCredential => (
                S::UNAUTHORIZED,
                C::ClientCertificateRequired,
                "this API requires a client certificate issued to your organisation, or a person's session".into(),
            ),
            Refusal::PersonCertificateAlone => (
                S::UNAUTHORIZED,
                C::SessionRequired,
                "ログインしてください: 本人の証明書はログイン（パスワードと確認コード）と一緒に使います / \
                 this certificate belongs to a person: it works together with that person's login \
                 (password and second factor), not on its own"
                    .into(),
            ),
            Refusal::SetupUnfinished => (
                S::FORBIDDEN,
                C::Forbidden,
                "finish setting up the account first: enrol the second factor and change the initial password".into(),
            ),
            Refusal::CsrfMissing => (
                S::FORBIDDEN,
                C::Forbidden,
                "the request lacks this session's CSRF token (x-csrf-token)".into(),
            ),
            Refusal::PersonOnly => (
                S::FORBIDDEN,
                C::Forbidden,
                "accounts are managed by a person signed in with two factors, not by a client certificate".into(),
            ),
            Refusal::OwnAccount => (
                S::CONFLICT,
                C::InvalidState,
                "you cannot change your own account this way; ask another administrator".into(),
            ),
            Refusal::LastDay | Refusal::MapUnnamed => {
                (S::BAD_REQUEST, C::InvalidRequest, refusal.to_string())
            }
            Refusal::NotASender | Refusal::CannotSend(_) => {
                (S::FORBIDDEN, C::Forbidden, refusal.to_string())
            }
            Refusal::NoCheckpointOfSize { .. }
            | Refusal::IndexNotBelowSize
            | Refusal::FromAboveTo => (S::BAD_REQUEST, C::InvalidRequest, refusal.to_string()),
            Refusal::NoRoute { .. } | Refusal::NoConvertRoute { .. } => {
                (S::NOT_FOUND, C::NotFound, refusal.to_string())
            }
            Refusal::NoActiveMap => (
                S::CONFLICT,
                C::InvalidState,
                "no active map file (変換テーブル) for this institution; upload and activate one first".into(),
            ),
            Refusal::NoLongerHeld(_) => (S::GONE, C::Gone, refusal.to_string()),
            Refusal::ReportDestroyed => (S::GONE, C::Gone, refusal.to_string()),
            Refusal::NoReport => (
                S::CONFLICT,
                C::InvalidState,
                "this submission has no conversion report (not converted yet, or pass-through)".into(),
            ),
            Refusal::AlreadyEnrolled => (
                S::CONFLICT,
                C::InvalidState,
                "a second factor is already enrolled; an administrator must reset it first".into(),
            ),
            Refusal::NoEnrolment => (
                S::CONFLICT,
                C::InvalidState,
                "start with /auth/totp/enroll".into(),
            ),
            Refusal::NotAReceiver(_) => (S::FORBIDDEN, C::Forbidden, refusal.to_string()),
            Refusal::UnknownOutputFormat(_)
            | Refusal::NoOutputFormat
            | Refusal::BadRecipient(_)
            | Refusal::BadDate(_)
            | Refusal::BadInsurerNumber
            | Refusal::BadNotification(_) => {
                (S::BAD_REQUEST, C::InvalidRequest, refusal.to_string())
            }
            Refusal::Directory(
                crate::service::DirectoryProblem::Exists(_)
                | crate::service::DirectoryProblem::RouteExists { .. }
                | crate::service::DirectoryProblem::LoginTaken(_),
            ) => (S::CONFLICT, C::InvalidState, refusal.to_string()),
            Refusal::Directory(
                crate::service::DirectoryProblem::NoSuchOrg(_)
                | crate::service::DirectoryProblem::NoRoute { .. },
            ) => (S::NOT_FOUND, C::NotFound, refusal.to_string()),
            Refusal::PasskeysOff => (S::CONFLICT, C::InvalidState, refusal.to_string()),
            Refusal::TooManyPasskeys(_) | Refusal::PasskeyLabel | Refusal::PasskeyCeremony => {
                (S::BAD_REQUEST, C::InvalidRequest, refusal.to_string())
            }
            Refusal::Directory(_) => {
                (S::BAD_REQUEST, C::InvalidRequest, refusal.to_string())
            }
        };
        ApiError::new(status, code, message)
    }
}
