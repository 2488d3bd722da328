//! The caller of a request, as extractors: [`Caller`] (a client certificate or a person's
//! session) and [`Person`] (a session only). Who may do what is the use-case layer's; this
//! reads the certificate and the cookie, asks it, and records who it was in the access log.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use kenshin_auth::SessionId;
use kenshin_store::UserRecord;

use crate::error::ApiError;
use crate::service::sessions::Person;
use crate::service::{caller, Caller, Error, Principal, Refusal};
use crate::state::AppState;

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let certificate = super::peer_certificate(parts);
        // The device of a person's own certificate, for the access log.
        let mut personal_device = None;
        let caller = match certificate {
            Some(certificate) => {
                let caller = caller::of_certificate(state, certificate.as_ref()).await?;
                match &caller.principal {
                    // A person's certificate is a factor of that person's login, never a
                    // credential on its own: a browser presents it to every request for this
                    // origin, cross-site ones included, so alone it would let any web page act
                    // as the person (CSRF). With it comes the person's session (and, on a
                    // state change, its CSRF token).
                    Principal::Certificate(cert) if cert.user_id.is_some() => {
                        let owner = cert.user_id;
                        let device = cert.device.clone();
                        let person =
                            person_caller(parts, state, Refusal::PersonCertificateAlone).await?;
                        match person.person() {
                            Some(user) if Some(user.id) == owner => {
                                personal_device = Some(device);
                                person
                            }
                            _ => return Err(Refusal::CertificateOfAnotherPerson.into()),
                        }
                    }
                    _ => caller,
                }
            }
            None => person_caller(parts, state, Refusal::NoCredential).await?,
        };
        let org = caller.org.code.to_string();
        match &caller.principal {
            Principal::Certificate(cert) => {
                crate::access::identify(parts, &org, "certificate", &cert.serial);
                set_device(parts, Some(cert.device.clone()));
            }
            Principal::Person { user, .. } => {
                crate::access::identify(parts, &org, "user", &user.login);
                set_device(parts, personal_device);
            }
        }
        Ok(caller)
    }
}

/// Records the device a request came from in the access log.
fn set_device(parts: &Parts, device: Option<String>) {
    if let (Some(device), Some(slot)) = (
        device,
        parts.extensions.get::<crate::access::IdentitySlot>(),
    ) {
        if let Ok(mut identity) = slot.0.lock() {
            identity.device = Some(device);
        }
    }
}

/// The caller of a person's session on this request; `missing` says why a request without
/// one is refused (no credential at all, or only a person's certificate).
async fn person_caller(
    parts: &mut Parts,
    state: &AppState,
    missing: Refusal,
) -> Result<Caller, ApiError> {
    let Some((user, session)) = super::session_of(parts, state).await? else {
        return Err(Error::from(missing).into());
    };
    // A person's state-changing request carries the session's CSRF token.
    let csrf = (!matches!(parts.method, Method::GET | Method::HEAD)).then(|| {
        parts
            .headers
            .get(super::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    });
    let certificate = super::peer_certificate(parts);
    Ok(caller::of_session(
        state,
        user,
        session,
        csrf.as_deref(),
        certificate.as_deref(),
    )
    .await?)
}

impl FromRequestParts<AppState> for Person {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (user, session): (UserRecord, SessionId) = super::session_of(parts, state)
            .await?
            .ok_or(ApiError::session_required())?;
        crate::access::identify(parts, &user.org_code, "user", &user.login);
        Ok(Person { user, session })
    }
}

/// A person's state-changing request carries the session's CSRF token in `x-csrf-token`.
pub fn require_csrf(
    state: &AppState,
    person: &Person,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let presented = headers
        .get(super::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    kenshin_auth::verify_csrf(&state.server_key, &person.session, presented)
        .map_err(|_| Error::from(Refusal::CsrfMissing).into())
}
