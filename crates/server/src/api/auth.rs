//! Who is calling: the organisation behind the request's client certificate.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use kenshin_core::api::ErrorCode;
use kenshin_store::{CertRecord, Org};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::tls::PeerInfo;
use crate::AppState;

/// A request authenticated by a registered, unrevoked client certificate.
#[derive(Clone, Debug)]
pub struct Caller {
    pub org: Org,
    pub cert: CertRecord,
}

impl Caller {
    /// How this caller appears in events.
    pub fn actor(&self) -> String {
        format!("cert:{}", self.cert.serial)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let certificate = parts
            .extensions
            .get::<PeerInfo>()
            .and_then(|peer| peer.certificate.as_ref())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::ClientCertificateRequired,
                    "this API requires a client certificate issued to your organisation",
                )
            })?;
        // The handshake proved the certificate chains to our CA and is not on the loaded CRL;
        // the database is the authority on whether it is registered and still valid now.
        let fingerprint = kenshin_pki::fingerprint_sha256(certificate.as_ref());
        let cert = state
            .db
            .cert_by_fingerprint(&fingerprint)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::CertificateUnknown,
                    "this client certificate is not registered with the service",
                )
            })?;
        if cert.revoked_at.is_some() {
            tracing::warn!(serial = %cert.serial, org = %cert.org_code, "revoked certificate used");
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::CertificateRevoked,
                "this client certificate has been revoked",
            ));
        }
        if cert.not_after <= OffsetDateTime::now_utc() {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::CertificateUnknown,
                "this client certificate has expired",
            ));
        }
        let org = state.db.org_by_id(cert.org_id).await?;
        if let Some(slot) = parts.extensions.get::<crate::access::IdentitySlot>() {
            if let Ok(mut identity) = slot.0.lock() {
                identity.org = Some(org.code.to_string());
                identity.actor = Some(cert.serial.clone());
                identity.device = Some(cert.device.clone());
            }
        }
        Ok(Caller { org, cert })
    }
}
