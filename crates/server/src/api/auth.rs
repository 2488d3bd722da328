//! Who is calling, and what they may do.
//!
//! A caller is either a machine — a registered, unrevoked client certificate of an
//! organisation — or a person with a valid session (set up: TOTP enrolled, initial password
//! changed). Every handler asks [`Caller::require`] for its (resource, action); the answer
//! comes from the one permission matrix in `kenshin-auth` (`docs/SECURITY.md`), so no operator
//! role can reach file content or conversion reports by any route.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use kenshin_auth::{Action, Resource, Role, SessionId};
use kenshin_core::api::ErrorCode;
use kenshin_store::{CertRecord, Org, UserRecord};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::state::AppState;
use crate::tls::PeerInfo;

#[derive(Clone, Debug)]
pub enum Principal {
    /// A batch job or system of the organisation, by its client certificate.
    Certificate(CertRecord),
    /// A person, by session.
    Person {
        user: UserRecord,
        session: SessionId,
    },
}

#[derive(Clone, Debug)]
pub struct Caller {
    pub org: Org,
    pub principal: Principal,
    /// What the caller may do, looked up in the permission matrix: a person's role; a device
    /// certificate's own roles; for a person's certificate, that person's role.
    pub roles: Vec<Role>,
}

impl Caller {
    /// How this caller appears in events and the access log.
    pub fn actor(&self) -> String {
        match &self.principal {
            Principal::Certificate(cert) => format!("cert:{}", cert.serial),
            Principal::Person { user, .. } => format!("user:{}", user.login),
        }
    }

    pub fn cert_serial(&self) -> Option<String> {
        match &self.principal {
            Principal::Certificate(cert) => Some(cert.serial.clone()),
            Principal::Person { .. } => None,
        }
    }

    /// Whether the caller may do `action` on `resource`: whether any of its roles is granted
    /// it by the permission matrix in an organisation of the caller's kind. Whether the
    /// particular object is the caller's is the handler's question (tenant scoping).
    pub fn may(&self, resource: Resource, action: Action) -> bool {
        let kind = crate::accounts::org_kind(self.org.kind);
        self.roles
            .iter()
            .any(|&role| kenshin_auth::allowed(role, kind, resource, action))
    }

    pub fn require(&self, resource: Resource, action: Action) -> Result<(), ApiError> {
        if self.may(resource, action) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                format!(
                    "this role may not {} {} (see the permission matrix)",
                    action.as_str(),
                    resource.as_str()
                ),
            ))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let certificate = parts
            .extensions
            .get::<PeerInfo>()
            .and_then(|peer| peer.certificate.clone());
        // The device of a person's own certificate, for the access log.
        let mut personal_device = None;
        let caller = match certificate {
            Some(certificate) => {
                let caller = certificate_caller(state, certificate.as_ref()).await?;
                match &caller.principal {
                    // A person's certificate is a factor of that person's login, never a
                    // credential on its own: a browser presents it to every request for this
                    // origin, cross-site ones included, so alone it would let any web page act
                    // as the person (CSRF). With it comes the person's session (and, on a
                    // state change, its CSRF token).
                    Principal::Certificate(cert) if cert.user_id.is_some() => {
                        let owner = cert.user_id;
                        let person = person_caller(parts, state, PERSON_CERTIFICATE_ALONE).await?;
                        match &person.principal {
                            Principal::Person { user, .. } if Some(user.id) == owner => {
                                if let Principal::Certificate(cert) = &caller.principal {
                                    personal_device = Some(cert.device.clone());
                                }
                                person
                            }
                            _ => {
                                return Err(ApiError::new(
                                    StatusCode::FORBIDDEN,
                                    ErrorCode::ClientCertificateRequired,
                                    "this client certificate belongs to another person than the one logged in",
                                ))
                            }
                        }
                    }
                    _ => caller,
                }
            }
            None => person_caller(parts, state, NO_CREDENTIAL).await?,
        };
        let org = caller.org.code.to_string();
        match &caller.principal {
            Principal::Certificate(cert) => {
                crate::access::identify(parts, &org, "certificate", &cert.serial);
                if let Some(slot) = parts.extensions.get::<crate::access::IdentitySlot>() {
                    if let Ok(mut identity) = slot.0.lock() {
                        identity.device = Some(cert.device.clone());
                    }
                }
            }
            Principal::Person { user, .. } => {
                crate::access::identify(parts, &org, "user", &user.login);
                if let (Some(device), Some(slot)) = (
                    personal_device,
                    parts.extensions.get::<crate::access::IdentitySlot>(),
                ) {
                    if let Ok(mut identity) = slot.0.lock() {
                        identity.device = Some(device);
                    }
                }
            }
        }
        Ok(caller)
    }
}

async fn certificate_caller(state: &AppState, der: &[u8]) -> Result<Caller, ApiError> {
    // The handshake proved the certificate chains to our CA and is not on the loaded CRL;
    // the database is the authority on whether it is registered and still valid now.
    let fingerprint = kenshin_pki::fingerprint_sha256(der);
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
    let roles = match cert.user_id {
        // A person's certificate acts as that person; disabling the person revoked it, so a
        // disabled or expired account here means the revocation has not been seen yet.
        Some(user_id) => {
            let user = state.db.user_by_id(user_id).await?;
            if !user.is_active(OffsetDateTime::now_utc()) {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::CertificateRevoked,
                    "the account this certificate was issued to is disabled or expired",
                ));
            }
            user.role.parse::<Role>().into_iter().collect()
        }
        None => crate::accounts::stored_roles(cert.roles.as_deref().unwrap_or_default()),
    };
    let org = state.db.org_by_id(cert.org_id).await?;
    Ok(Caller {
        org,
        principal: Principal::Certificate(cert),
        roles,
    })
}

/// Why a request without a session is refused: no credential at all, or only a person's
/// certificate.
const NO_CREDENTIAL: (ErrorCode, &str) = (
    ErrorCode::ClientCertificateRequired,
    "this API requires a client certificate issued to your organisation, or a person's session",
);
const PERSON_CERTIFICATE_ALONE: (ErrorCode, &str) = (
    ErrorCode::SessionRequired,
    "ログインしてください: 本人の証明書はログイン（パスワードと確認コード）と一緒に使います / \
     this certificate belongs to a person: it works together with that person's login \
     (password and second factor), not on its own",
);

async fn person_caller(
    parts: &mut Parts,
    state: &AppState,
    missing: (ErrorCode, &str),
) -> Result<Caller, ApiError> {
    let Some((user, session)) = super::people::session_of(parts, state).await? else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            missing.0,
            missing.1,
        ));
    };
    if user.totp_secret.is_none() || user.must_change_password {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "finish setting up the account first: enrol the second factor and change the initial password",
        ));
    }
    // A person's state-changing request carries the session's CSRF token.
    if !matches!(parts.method, http::Method::GET | http::Method::HEAD) {
        let presented = parts
            .headers
            .get(super::people::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        kenshin_auth::verify_csrf(&state.server_key, &session, presented).map_err(|_| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "the request lacks this session's CSRF token (x-csrf-token)",
            )
        })?;
    }
    let org = state.db.org_by_id(user.org_id).await?;
    super::people::check_person_certificate(state, parts.extensions.get::<PeerInfo>(), &user, &org)
        .await?;
    let roles = user.role.parse::<Role>().into_iter().collect();
    Ok(Caller {
        org,
        principal: Principal::Person { user, session },
        roles,
    })
}
