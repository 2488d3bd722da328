//! Who is calling, and what they may do.
//!
//! A caller is either a machine — a registered, unrevoked client certificate of an
//! organisation — or a person with a valid session (set up: TOTP enrolled, initial password
//! changed). Every use case asks [`Caller::require`] for its (resource, action); the answer
//! comes from the one permission matrix in `kenshin-auth` (`docs/SECURITY.md`), so no operator
//! role can reach file content or conversion reports by any route.

use kenshin_auth::{Action, Resource, Role, SessionId};
use kenshin_store::{CertRecord, Org, UserRecord};

use super::{Error, Refusal};
use crate::state::AppState;

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

    /// The person behind the call, if it is one.
    pub fn person(&self) -> Option<&UserRecord> {
        match &self.principal {
            Principal::Person { user, .. } => Some(user),
            Principal::Certificate(_) => None,
        }
    }

    /// Whether the caller may do `action` on `resource`: whether any of its roles is granted
    /// it by the permission matrix in an organisation of the caller's kind. Whether the
    /// particular object is the caller's is the use case's question (tenant scoping).
    pub fn may(&self, resource: Resource, action: Action) -> bool {
        let kind = super::roles::org_kind(self.org.kind);
        self.roles
            .iter()
            .any(|&role| kenshin_auth::allowed(role, kind, resource, action))
    }

    pub fn require(&self, resource: Resource, action: Action) -> Result<(), Error> {
        if self.may(resource, action) {
            Ok(())
        } else {
            Err(Error::NotPermitted { resource, action })
        }
    }

    /// A person's call with `session`, acting with the person's role.
    pub fn of_person(org: Org, user: UserRecord, session: SessionId) -> Caller {
        let roles = user.role.parse::<Role>().into_iter().collect();
        Caller {
            org,
            principal: Principal::Person { user, session },
            roles,
        }
    }
}

/// The caller a client certificate (DER) stands for. The handshake proved it chains to our CA
/// and is not on the loaded CRL; the database is the authority on whether it is registered
/// and still valid now.
pub async fn of_certificate(state: &AppState, der: &[u8]) -> Result<Caller, Error> {
    let fingerprint = kenshin_pki::fingerprint_sha256(der);
    let cert = state
        .db
        .cert_by_fingerprint(&fingerprint)
        .await?
        .ok_or(Refusal::CertificateUnknown)?;
    if cert.revoked_at.is_some() {
        tracing::warn!(serial = %cert.serial, org = %cert.org_code, "revoked certificate used");
        return Err(Refusal::CertificateRevoked.into());
    }
    let now = state.now();
    if cert.not_after <= now {
        return Err(Refusal::CertificateExpired.into());
    }
    let roles = match cert.user_id {
        // A person's certificate acts as that person; disabling the person revoked it, so a
        // disabled or expired account here means the revocation has not been seen yet.
        Some(user_id) => {
            let user = state.db.user_by_id(user_id).await?;
            if !user.is_active(now) {
                return Err(Refusal::CertificateOwnerInactive.into());
            }
            user.role.parse::<Role>().into_iter().collect()
        }
        None => super::roles::stored_roles(cert.roles.as_deref().unwrap_or_default()),
    };
    let org = state.db.org_by_id(cert.org_id).await?;
    Ok(Caller {
        org,
        principal: Principal::Certificate(cert),
        roles,
    })
}

/// The caller a person's session stands for, once the person has finished setting up,
/// carries the session's CSRF token on a state-changing request (`csrf`: `None` for a safe
/// one), and presents their own certificate where that is required (`certificate`: the TLS
/// peer's).
pub async fn of_session(
    state: &AppState,
    user: UserRecord,
    session: SessionId,
    csrf: Option<&str>,
    certificate: Option<&[u8]>,
) -> Result<Caller, Error> {
    if user.totp_secret.is_none() || user.must_change_password {
        return Err(Refusal::SetupUnfinished.into());
    }
    if let Some(presented) = csrf {
        kenshin_auth::verify_csrf(&state.server_key, &session, presented)
            .map_err(|_| Refusal::CsrfMissing)?;
    }
    let org = state.db.org_by_id(user.org_id).await?;
    super::sessions::check_person_certificate(state, certificate, &user, &org).await?;
    Ok(Caller::of_person(org, user, session))
}
