//! JSON shapes of the `/api/v1` HTTP API, shared by the server and the client.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{DeliveryId, DeliveryState, SubmissionId, SubmissionState};

/// Response header carrying the lowercase hex SHA-256 of a delivery's plaintext content.
pub const CONTENT_SHA256_HEADER: &str = "x-content-sha256";

/// An organisation as the other party sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrgRef {
    pub code: String,
    pub name: String,
}

/// The sender's view of one submission; returned on upload as the sender's receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubmissionView {
    pub id: SubmissionId,
    pub filename: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the plaintext, computed by the server while receiving.
    pub sha256: String,
    pub state: SubmissionState,
    #[serde(with = "timestamp")]
    pub received_at: OffsetDateTime,
    #[serde(with = "timestamp::option", default)]
    pub withdrawn_at: Option<OffsetDateTime>,
    pub sender: OrgRef,
    pub deliveries: Vec<SubmissionDelivery>,
    /// For converted submissions: records kept for the sender instead of delivered — those
    /// no route takes yet (per 保険者番号, released automatically once one does) and those
    /// that cannot be identified (returned as the rows sent). Each batch is a file the sender
    /// can download at `/api/v1/submissions/{id}/held/{batch}`.
    #[serde(default)]
    pub held: Vec<HeldBatchView>,
    /// For converted submissions: what the conversion did (the full report is at
    /// `/api/v1/submissions/{id}/report`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion: Option<ConversionSummary>,
    /// Hex key of the ledger's content commitment for this file: the ledger entry carries
    /// `content` = HMAC-SHA256(key, sha256 hex) instead of the hash itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitment_key: Option<String>,
    /// On the upload response only: the ledger receipt of the `received` entry (C2SP
    /// tlog-proof text: entry, inclusion proof, signed checkpoint), verifiable offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// A batch of records held for the sender.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeldBatchView {
    pub id: String,
    pub reason: crate::HeldReason,
    /// The 保険者番号 of an unrouted batch (empty when the records have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurer_number: Option<String>,
    pub filename: String,
    pub records: u64,
    pub size: u64,
    pub state: crate::HeldState,
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
    /// When the content is destroyed if it is still held.
    #[serde(with = "timestamp")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "timestamp::option", default)]
    pub released_at: Option<OffsetDateTime>,
    /// The receiver it was released to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_to: Option<OrgRef>,
    pub download_count: u64,
}

/// Counts and provenance of a conversion (真正性: how each output came to be).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversionSummary {
    pub records_in: u64,
    pub records_out: u64,
    pub records_rejected: u64,
    /// Records whose 保険者番号 no receiver takes; listed in the report.
    pub records_unrouted: u64,
    pub map: Option<String>,
    pub profile: Option<String>,
    pub converter: Option<String>,
}

/// A map file version, as its institution sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MapView {
    pub org: String,
    pub map_id: String,
    pub version: String,
    pub sha256: String,
    pub active: bool,
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
    #[serde(with = "timestamp::option", default)]
    pub activated_at: Option<OffsetDateTime>,
}

/// One delivery of a submission, as its sender sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubmissionDelivery {
    pub id: DeliveryId,
    pub receiver: OrgRef,
    pub state: DeliveryState,
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
    #[serde(with = "timestamp")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "timestamp::option", default)]
    pub first_downloaded_at: Option<OffsetDateTime>,
    #[serde(with = "timestamp::option", default)]
    pub confirmed_at: Option<OffsetDateTime>,
    /// When the content was destroyed (confirmation, expiry or withdrawal).
    #[serde(with = "timestamp::option", default)]
    pub shredded_at: Option<OffsetDateTime>,
    /// Records in this delivery (converted deliveries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
}

/// The receiver's view of one delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: DeliveryId,
    pub submission_id: SubmissionId,
    pub sender: OrgRef,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub state: DeliveryState,
    #[serde(with = "timestamp")]
    pub created_at: OffsetDateTime,
    /// Unconfirmed deliveries are destroyed at this time.
    #[serde(with = "timestamp")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "timestamp::option", default)]
    pub first_downloaded_at: Option<OffsetDateTime>,
    pub download_count: u32,
    #[serde(with = "timestamp::option", default)]
    pub confirmed_at: Option<OffsetDateTime>,
    #[serde(with = "timestamp::option", default)]
    pub shredded_at: Option<OffsetDateTime>,
    /// Records in this delivery (converted deliveries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    /// Hex key of the ledger's content commitment for this file (see [`SubmissionView`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitment_key: Option<String>,
    /// On the 受信完了 response only: the ledger receipt of the `confirmed` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    /// A converted delivery's format (`std-csv`, `mhlw-xml`, `fhir`); absent for pass-through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// A converted delivery's 保険者番号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurer_number: Option<String>,
    /// Present when the file is an age file sealed to the receiver's recipients (`size` and
    /// `sha256` above are the age file's, as downloaded): the size and SHA-256 of the content
    /// inside, which the receipt and the ledger commitment bind; check them after `age -d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<SealedContentView>,
}

/// What an age-sealed delivery holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SealedContentView {
    /// Always `age` (https://age-encryption.org/v1).
    pub format: String,
    pub size: u64,
    pub sha256: String,
}

/// One ledger entry as its parties see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LedgerEntryView {
    pub index: u64,
    /// The canonical entry text (docs/LEDGER.md).
    pub entry: String,
    /// Base64 of the RFC 6962 leaf hash.
    pub leaf_hash: String,
}

/// Proof hashes, base64, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProofView {
    pub hashes: Vec<String>,
}

/// A page of a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Number of items matching the filter, across all pages.
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

/// Every error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

/// Stable error codes. Clients branch on these, never on messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No client certificate was presented on an `/api` request.
    ClientCertificateRequired,
    /// The certificate was revoked.
    CertificateRevoked,
    /// The certificate is signed by our CA but not registered (or its organisation is gone).
    CertificateUnknown,
    /// The caller's organisation may not do this at all (e.g. an insurer uploading).
    Forbidden,
    /// No such object for this caller. Also the answer for other organisations' objects.
    NotFound,
    /// The object exists but its content was destroyed (confirmed, expired or withdrawn).
    Gone,
    /// The request is malformed; the message says which parameter and why.
    InvalidRequest,
    /// The submission cannot be withdrawn: a receiver has already downloaded it.
    AlreadyDownloaded,
    /// 受信完了 before any download.
    NotDownloaded,
    /// The request conflicts with the object's current state.
    InvalidState,
    /// The upload exceeds the configured size limit.
    PayloadTooLarge,
    /// The server's storage is full; nothing was stored.
    StorageFull,
    /// The upload ended before its announced length; nothing was stored.
    UploadIncomplete,
    /// Stored content failed authentication; no bytes of it were released.
    IntegrityError,
    /// The service cannot answer now (database or storage unavailable).
    Unavailable,
    /// An unexpected server error; the server log has the details.
    Internal,
    /// Login refused: the one answer for unknown login, wrong password, wrong code, locked.
    InvalidCredentials,
    /// The request needs a person's session (missing, expired, ended or account disabled).
    SessionRequired,
    /// A new password breaks the guideline's rules; the error's `problems` list them.
    WeakPassword,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ClientCertificateRequired => "client_certificate_required",
            ErrorCode::CertificateRevoked => "certificate_revoked",
            ErrorCode::CertificateUnknown => "certificate_unknown",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Gone => "gone",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::AlreadyDownloaded => "already_downloaded",
            ErrorCode::NotDownloaded => "not_downloaded",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::StorageFull => "storage_full",
            ErrorCode::UploadIncomplete => "upload_incomplete",
            ErrorCode::IntegrityError => "integrity_error",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::SessionRequired => "session_required",
            ErrorCode::WeakPassword => "weak_password",
        }
    }
}

/// `GET /health`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, `degraded` (working, but something needs attention, such as an unsynchronised
    /// clock), or `error` (database or storage unusable; answered with 503).
    pub status: String,
    pub version: String,
    pub database: ComponentHealth,
    pub storage: StorageHealth,
    pub clock: ClockHealth,
    /// Security alerts of the last 15 minutes (failed-login bursts, revoked certificates in
    /// use, probing for other organisations' objects); empty when there are none.
    #[serde(default)]
    pub alerts: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ComponentHealth {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StorageHealth {
    pub ok: bool,
    pub free_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
}

/// The guideline asks for trustworthy time on every record; this reports what the kernel says
/// about its synchronisation with a time source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClockHealth {
    pub synchronized: bool,
    /// Kernel's estimate of the maximum error, microseconds, when known.
    pub max_error_us: Option<i64>,
    #[serde(with = "timestamp")]
    pub now: OffsetDateTime,
    pub source: String,
}

/// Timestamps on the wire: RFC 3339, UTC, millisecond precision (`2026-04-01T09:30:00.123Z`).
pub mod timestamp {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    use time::{OffsetDateTime, UtcOffset};

    pub fn format(at: OffsetDateTime) -> String {
        let fmt = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        at.to_offset(UtcOffset::UTC)
            .format(&fmt)
            .expect("a UTC timestamp always formats")
    }

    pub fn serialize<S: Serializer>(at: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            at: &Option<OffsetDateTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => s.serialize_str(&format(*at)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|text| {
                    OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
                })
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_are_utc_milliseconds() {
        let at = datetime!(2026-04-01 18:30:00.123456 +09:00);
        assert_eq!(timestamp::format(at), "2026-04-01T09:30:00.123Z");
    }

    #[test]
    fn error_codes_serialise_as_their_stable_names() {
        let body = ErrorBody {
            error: ErrorDetail {
                code: ErrorCode::AlreadyDownloaded,
                message: "m".into(),
            },
        };
        let json = serde_json::to_string(&body).unwrap();
        assert_eq!(
            json,
            r#"{"error":{"code":"already_downloaded","message":"m"}}"#
        );
        assert_eq!(ErrorCode::AlreadyDownloaded.as_str(), "already_downloaded");
    }
}
