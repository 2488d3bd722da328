//! People's sessions: login with password and TOTP (or a recovery code), sessions with idle
//! and absolute timeouts, first-login TOTP enrolment and password change, logout, and the
//! rule that some people must present their own client certificate.
//!
//! Unknown users, wrong passwords, wrong codes and locked accounts all get the same refusal
//! ([`Refusal::InvalidCredentials`]), after the same argon2 work, so the answer tells an
//! attacker nothing.

use std::sync::OnceLock;

use kenshin_auth::{LoginThrottle, SessionId, SessionToken, TotpSecret};
use kenshin_crypto::{DataKey, WrappedKey};
use kenshin_store::{AccessRow, UserRecord};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::{Error, Refusal};
use crate::state::AppState;

/// Argon2id takes ~76 ms and 64 MiB; two at a time keeps a login burst from exhausting memory.
fn hashing() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| Semaphore::new(2))
}

/// The TOTP secret of an account is a data key wrapped by the KEK and bound to the account;
/// its first 20 bytes are the RFC 6238 secret.
fn unwrap_totp(state: &AppState, user: &UserRecord) -> Option<TotpSecret> {
    let wrapped = user.totp_secret.clone()?;
    let key = state
        .vault
        .keys()
        .unwrap(
            &WrappedKey::from_bytes(wrapped),
            format!("totp:{}", user.id).as_bytes(),
        )
        .ok()?;
    TotpSecret::from_bytes(&key.expose_secret()[..kenshin_auth::TOTP_SECRET_LEN]).ok()
}

/// Whether `password` is the person's current password (argon2id, off the async threads).
pub async fn password_matches(user: &UserRecord, password: &str) -> Result<bool, Error> {
    let _permit = hashing()
        .acquire()
        .await
        .map_err(|_| Error::Internal("session"))?;
    let (password, hash) = (password.to_owned(), user.password_hash.clone());
    tokio::task::spawn_blocking(move || kenshin_auth::verify_password(&password, &hash).is_ok())
        .await
        .map_err(|_| Error::Internal("session"))
}

/// Records a person's own action on their account in the access log.
pub async fn log_person(state: &AppState, user: &UserRecord, action: &str, outcome: &str) {
    log(state, Some(user), action, outcome, None).await
}

async fn log(
    state: &AppState,
    user: Option<&UserRecord>,
    action: &str,
    outcome: &str,
    source: Option<String>,
) {
    log_with(state, user, action, outcome, source, None).await
}

async fn log_with(
    state: &AppState,
    user: Option<&UserRecord>,
    action: &str,
    outcome: &str,
    source: Option<String>,
    detail: Option<&str>,
) {
    state
        .access
        .record(AccessRow {
            seq: 0,
            at: state.now(),
            org: user.map(|u| u.org_code.clone()),
            actor_kind: if user.is_some() { "user" } else { "anonymous" }.into(),
            actor: user.map(|u| u.login.clone()).unwrap_or_else(|| "-".into()),
            device: None,
            session: None,
            source,
            action: action.into(),
            method: Some("POST".into()),
            path: None,
            objects: user
                .map(|u| vec![format!("user:{}", u.login)])
                .unwrap_or_default(),
            outcome: outcome.into(),
            status: None,
            bytes: None,
            detail: detail.map(str::to_owned),
        })
        .await;
}

/// Checks a login (password, then TOTP or a recovery code; a person without TOTP yet may
/// only enrol) and opens a session. Every failure is the same `invalid_credentials`; failures
/// count towards the account's throttle and towards the source's (address and network).
///
/// Order matters: a source over its limit is refused before anything is looked at (no work,
/// nothing about any account learnt or changed); a locked account, a disabled one and a wrong
/// password are refused after the same argon2 work but *before* the second factor is tried, so
/// a refused attempt never spends a recovery code or a TOTP step.
pub async fn authenticate(
    state: &AppState,
    login: &str,
    password: &str,
    code: Option<&str>,
    peer: Option<std::net::SocketAddr>,
) -> Result<(UserRecord, SessionToken, SessionId), Error> {
    authenticate_with(state, login, password, SecondFactor::Code(code), peer).await
}

/// What proves the second factor at login.
#[derive(Clone, Copy, Debug)]
pub enum SecondFactor<'a> {
    /// A TOTP code or a recovery code (`None` only for a first login, before enrolment).
    Code(Option<&'a str>),
    /// A passkey's answer (`PublicKeyCredential` JSON) to ceremony `ceremony`'s challenge
    /// (`passkeys::begin_login`).
    Passkey {
        ceremony: &'a str,
        credential: &'a str,
    },
}

/// [`authenticate`] with either second factor.
pub async fn authenticate_with(
    state: &AppState,
    login: &str,
    password: &str,
    second: SecondFactor<'_>,
    peer: Option<std::net::SocketAddr>,
) -> Result<(UserRecord, SessionToken, SessionId), Error> {
    let state = state.clone();
    let source = peer.map(|p| p.to_string());
    let now = state.now();
    let source_policy = state.config.source_throttle_policy();
    if let Some(addr) = peer {
        let refused = state
            .login_sources
            .lock()
            .expect("source throttle lock")
            .check(&source_policy, addr.ip(), now);
        if let Err(blocked) = refused {
            let reason = match blocked.source {
                kenshin_auth::Source::Address(_) => "address",
                kenshin_auth::Source::Prefix(..) => "prefix",
            };
            state.metrics.login_throttled(reason);
            // Not verified, so nothing about any account is known or changed.
            log_with(
                &state,
                None,
                "login_failed",
                "denied",
                source,
                Some("source_throttled"),
            )
            .await;
            return Err(Refusal::InvalidCredentials.into());
        }
    }
    let record_source_failure = |state: &AppState| {
        if let Some(addr) = peer {
            let blocked = state
                .login_sources
                .lock()
                .expect("source throttle lock")
                .record_failure(&source_policy, addr.ip(), now);
            for source in blocked {
                tracing::warn!(%source, "failed logins from this source: further logins refused for a while");
            }
        }
    };
    let user = state.db.user_by_login(login).await?;
    let _permit = hashing()
        .acquire()
        .await
        .map_err(|_| Error::Internal("session"))?;
    let Some(user) = user else {
        // The same work as a real check, so timing does not tell unknown from wrong.
        tokio::task::spawn_blocking(kenshin_auth::dummy_verify)
            .await
            .ok();
        record_source_failure(&state);
        log(&state, None, "login_failed", "denied", source).await;
        return Err(Refusal::InvalidCredentials.into());
    };
    let mut throttle: LoginThrottle = user
        .throttle
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let hash = user.password_hash.clone();
    let password = password.to_owned();
    let password_ok = tokio::task::spawn_blocking(move || {
        kenshin_auth::verify_password(&password, &hash).is_ok()
    })
    .await
    .map_err(|_| Error::Internal("session"))?;
    let active = user.is_active(now);
    let locked = throttle.check(now).is_err();
    // The second factor is tried only for an attempt that may succeed: a locked or disabled
    // account's attempt must not spend a recovery code or a TOTP step.
    let second_factor_ok = match (password_ok && active && !locked, unwrap_totp(&state, &user)) {
        (true, Some(_)) if matches!(second, SecondFactor::Passkey { .. }) => {
            let SecondFactor::Passkey {
                ceremony,
                credential,
            } = second
            else {
                unreachable!()
            };
            crate::webauthn::verify_login(
                state.webauthn.as_deref(),
                &state.ceremonies,
                &state.db,
                &user,
                ceremony,
                credential,
                now,
            )
            .await?
        }
        (true, Some(secret)) => match second {
            SecondFactor::Code(Some(code)) => {
                match kenshin_auth::verify_totp(&secret, code, now, user.totp_last_step) {
                    Ok(step) => state.db.advance_totp_step(user.id, step).await?,
                    // Not a current TOTP code: perhaps one of the one-time recovery codes.
                    Err(_) => use_recovery_code(&state, &user, code).await?,
                }
            }
            _ => false,
        },
        // Not enrolled yet: the session may only enrol (first login).
        (true, None) => true,
        (false, _) => false,
    };
    if !password_ok || !second_factor_ok || !active || locked {
        if !locked {
            throttle.record_failure(&state.config.throttle_policy(), now);
            // This failure locked the account: the person and their admins are told.
            if let Err(lock) = throttle.check(now) {
                if lock.kind == kenshin_auth::LockKind::Lockout {
                    super::notifications::account_locked(&state, user.id, user.org_id, lock.until)
                        .await;
                }
            }
        }
        record_source_failure(&state);
        state
            .db
            .set_throttle(
                user.id,
                &serde_json::to_string(&throttle).unwrap_or_default(),
            )
            .await?;
        log(&state, Some(&user), "login_failed", "denied", source).await;
        return Err(Refusal::InvalidCredentials.into());
    }
    throttle.record_success();
    state
        .db
        .set_throttle(
            user.id,
            &serde_json::to_string(&throttle).unwrap_or_default(),
        )
        .await?;
    let (token, session) = SessionToken::generate().map_err(|_| Error::Internal("session"))?;
    state
        .db
        .create_session(&session.to_hex(), user.id, source.as_deref(), now)
        .await?;
    log(&state, Some(&user), "login", "success", source).await;
    Ok((user, token, session))
}

/// Spends a recovery code if `code` is one of the account's unused ones.
async fn use_recovery_code(state: &AppState, user: &UserRecord, code: &str) -> Result<bool, Error> {
    let Some(stored) = user.recovery_codes.as_deref() else {
        return Ok(false);
    };
    let Ok(mut set) = serde_json::from_str::<kenshin_auth::RecoveryCodeSet>(stored) else {
        return Ok(false);
    };
    if kenshin_auth::use_recovery_code(&mut set, &state.server_key, &user.login, code).is_err() {
        return Ok(false);
    }
    let remaining = serde_json::to_string(&set).map_err(|_| Error::Internal("session"))?;
    let spent = state
        .db
        .swap_recovery_codes(user.id, stored, &remaining)
        .await?;
    if spent {
        tracing::warn!(login = %user.login, remaining = set.remaining(), "recovery code used");
    }
    Ok(spent)
}

/// A request made with a valid session of an active person.
pub struct Person {
    pub user: UserRecord,
    pub session: SessionId,
}

/// Whether an organisation's people must present their own client certificate: the
/// operator's always, everyone's under the relay-wide `people_require_certificate`, otherwise
/// where the organisation requires it.
pub fn person_certificate_required(state: &AppState, org: &kenshin_store::Org) -> bool {
    org.kind == kenshin_core::OrgKind::Operator
        || state.config.people_require_certificate
        || org.browser_certificate_required
}

/// Whether this person must present their own client certificate (the operator's people
/// always; an organisation's people when it requires it), and if so, whether the TLS peer
/// did: registered to this very person, not revoked, not expired.
pub async fn check_person_certificate(
    state: &AppState,
    certificate: Option<&[u8]>,
    user: &UserRecord,
    org: &kenshin_store::Org,
) -> Result<(), Error> {
    if !person_certificate_required(state, org) {
        return Ok(());
    }
    let refused = || Error::from(Refusal::PersonCertificateRequired);
    let der = certificate.ok_or_else(refused)?;
    let cert = state
        .db
        .cert_by_fingerprint(&kenshin_pki::fingerprint_sha256(der))
        .await?
        .ok_or_else(refused)?;
    let now = state.now();
    if cert.user_id != Some(user.id) || cert.revoked_at.is_some() || cert.not_after <= now {
        return Err(refused());
    }
    Ok(())
}

/// The valid session of an active person that `token` (a session cookie's value) opens, if
/// any (updates its last use).
pub async fn session_of(
    state: &AppState,
    token: &str,
) -> Result<Option<(UserRecord, SessionId)>, Error> {
    let Ok(session) = SessionId::from_token(token) else {
        return Ok(None);
    };
    let hash = session.to_hex();
    let Some(record) = state.db.session(&hash).await? else {
        return Ok(None);
    };
    let now = state.now();
    if record.revoked_at.is_some()
        || !state
            .config
            .session_policy()
            .is_valid(record.created_at, record.last_seen, now)
    {
        return Ok(None);
    }
    let user = state.db.user_by_id(record.user_id).await?;
    if !user.is_active(now) {
        return Ok(None);
    }
    state.db.touch_session(&hash, now).await?;
    Ok(Some((user, session)))
}

/// Ends the person's session server-side.
pub async fn end_session(state: &AppState, person: &Person) -> Result<(), Error> {
    state
        .db
        .revoke_session(&person.session.to_hex(), state.now())
        .await?;
    log(state, Some(&person.user), "logout", "success", None).await;
    Ok(())
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Enrolment {
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// The enrolment pending for this session, shown again (a page reload must not change
/// the QR code the person may already have scanned), or a new one.
pub async fn current_enrolment(state: &AppState, person: &Person) -> Result<Enrolment, Error> {
    match pending_secret(state, person)? {
        Some((_, secret)) => enrolment_of(&secret, &person.user),
        None => begin_enrolment(state, person).await,
    }
}

/// The TOTP secret shown to this session for enrolment and not yet confirmed, if any: its
/// data key and the secret it holds.
fn pending_secret(
    state: &AppState,
    person: &Person,
) -> Result<Option<(DataKey, TotpSecret)>, Error> {
    let pending = state
        .pending_totp
        .lock()
        .map_err(|_| Error::Internal("session"))?
        .get(&person.session.to_hex())
        .cloned();
    let Some(wrapped) = pending else {
        return Ok(None);
    };
    let key = state
        .vault
        .keys()
        .unwrap(
            &WrappedKey::from_bytes(wrapped),
            format!("pending-totp:{}", person.session.to_hex()).as_bytes(),
        )
        .map_err(|_| Error::Internal("session"))?;
    let secret = TotpSecret::from_bytes(&key.expose_secret()[..kenshin_auth::TOTP_SECRET_LEN])
        .map_err(|_| Error::Internal("session"))?;
    Ok(Some((key, secret)))
}

fn enrolment_of(secret: &TotpSecret, user: &UserRecord) -> Result<Enrolment, Error> {
    let uri = kenshin_auth::totp_uri(
        secret,
        &user.login,
        &user.org_code,
        kenshin_auth::TotpIssuer::Japanese,
    )
    .map_err(|_| Error::Internal("otpauth URI"))?;
    let svg = kenshin_auth::totp_qr_svg(&uri).map_err(|_| Error::Internal("session"))?;
    Ok(Enrolment {
        otpauth_uri: uri.to_string(),
        qr_svg: svg.to_string(),
    })
}

/// A new TOTP secret for the person, kept (wrapped) for this session until confirmed.
pub async fn begin_enrolment(state: &AppState, person: &Person) -> Result<Enrolment, Error> {
    if person.user.totp_secret.is_some() {
        return Err(Refusal::AlreadyEnrolled.into());
    }
    let key = DataKey::generate().map_err(|_| Error::Internal("session"))?;
    let secret = TotpSecret::from_bytes(&key.expose_secret()[..kenshin_auth::TOTP_SECRET_LEN])
        .map_err(|_| Error::Internal("session"))?;
    let enrolment = enrolment_of(&secret, &person.user)?;
    let wrapped = state
        .vault
        .keys()
        .wrap(
            &key,
            format!("pending-totp:{}", person.session.to_hex()).as_bytes(),
        )
        .map_err(|_| Error::Internal("session"))?;
    state
        .pending_totp
        .lock()
        .map_err(|_| Error::Internal("session"))?
        .insert(person.session.to_hex(), wrapped.as_bytes().to_vec());
    Ok(enrolment)
}

/// Confirms the pending TOTP secret with a code and enrols it; returns the recovery codes
/// (shown once).
pub async fn finish_enrolment(
    state: &AppState,
    person: &Person,
    code: &str,
) -> Result<Vec<String>, Error> {
    let (key, secret) = pending_secret(state, person)?.ok_or(Refusal::NoEnrolment)?;
    let step = kenshin_auth::verify_totp(&secret, code, state.now(), None)
        .map_err(|_| Error::from(Refusal::InvalidCredentials))?;
    let (codes, set) = kenshin_auth::generate_recovery_codes(&state.server_key, &person.user.login)
        .map_err(|_| Error::Internal("session"))?;
    let wrapped = state
        .vault
        .keys()
        .wrap(&key, format!("totp:{}", person.user.id).as_bytes())
        .map_err(|_| Error::Internal("session"))?;
    state
        .db
        .set_totp(
            person.user.id,
            Some(wrapped.as_bytes()),
            Some(&serde_json::to_string(&set).unwrap_or_default()),
        )
        .await?;
    state.db.advance_totp_step(person.user.id, step).await?;
    state
        .pending_totp
        .lock()
        .map_err(|_| Error::Internal("session"))?
        .remove(&person.session.to_hex());
    Ok(codes.iter().map(|c| c.as_str().to_owned()).collect())
}

/// Changes the person's password after checking the current one (`invalid_credentials`
/// if wrong); the inner `Err` lists what the guideline's rules find wrong with the new one.
/// A person changes their own password: the current password and a current TOTP code (a
/// recovery code is not accepted here), the guideline's rules for the new one. Every other
/// session of the person ends (one opened by someone who knew the old password included);
/// this one goes on. The code's step is spent only when the change succeeds.
pub async fn change_own_password(
    state: &AppState,
    person: &Person,
    current: &str,
    new: &str,
    code: &str,
) -> Result<Result<u64, Vec<kenshin_auth::PasswordProblem>>, Error> {
    let user = &person.user;
    let secret = unwrap_totp(state, user).ok_or(Refusal::SetupUnfinished)?;
    let step = kenshin_auth::verify_totp(&secret, code.trim(), state.now(), user.totp_last_step)
        .map_err(|_| Refusal::InvalidCredentials)?;
    match replace_password(state, person, current, new).await? {
        Ok(()) => {
            state.db.advance_totp_step(user.id, step).await?;
            let ended = state
                .db
                .revoke_other_sessions(user.id, &person.session.to_hex(), state.now())
                .await?;
            tracing::info!(login = %user.login, other_sessions_ended = ended, "password changed by its owner");
            Ok(Ok(ended))
        }
        Err(problems) => Ok(Err(problems)),
    }
}

/// A person makes new recovery codes (the old ones void), with a current TOTP code; the new
/// ones are answered once.
pub async fn regenerate_recovery_codes(
    state: &AppState,
    person: &Person,
    code: &str,
) -> Result<Vec<String>, Error> {
    let user = &person.user;
    let secret = unwrap_totp(state, user).ok_or(Refusal::SetupUnfinished)?;
    let step = kenshin_auth::verify_totp(&secret, code.trim(), state.now(), user.totp_last_step)
        .map_err(|_| Refusal::InvalidCredentials)?;
    if !state.db.advance_totp_step(user.id, step).await? {
        return Err(Refusal::InvalidCredentials.into());
    }
    let (codes, set) = kenshin_auth::generate_recovery_codes(&state.server_key, &user.login)
        .map_err(|_| Error::Internal("session"))?;
    state
        .db
        .replace_recovery_codes(user.id, &serde_json::to_string(&set).unwrap_or_default())
        .await?;
    tracing::info!(login = %user.login, "recovery codes made anew by their owner");
    Ok(codes.iter().map(|c| c.as_str().to_owned()).collect())
}

/// When and from where the person logged in before this session (the address, without the
/// port), if ever.
pub async fn previous_login(
    state: &AppState,
    person: &Person,
) -> Result<Option<(time::OffsetDateTime, Option<String>)>, Error> {
    let found = state
        .db
        .previous_login(person.user.id, &person.session.to_hex())
        .await?;
    Ok(found.map(|(at, source)| {
        let address = source.map(|s| {
            s.parse::<std::net::SocketAddr>()
                .map(|a| a.ip().to_string())
                .unwrap_or(s)
        });
        (at, address)
    }))
}

pub async fn replace_password(
    state: &AppState,
    person: &Person,
    current: &str,
    new: &str,
) -> Result<Result<(), Vec<kenshin_auth::PasswordProblem>>, Error> {
    let user = &person.user;
    let hash = user.password_hash.clone();
    let current = current.to_owned();
    let _permit = hashing()
        .acquire()
        .await
        .map_err(|_| Error::Internal("session"))?;
    let ok =
        tokio::task::spawn_blocking(move || kenshin_auth::verify_password(&current, &hash).is_ok())
            .await
            .map_err(|_| Error::Internal("session"))?;
    if !ok {
        return Err(Refusal::InvalidCredentials.into());
    }
    let names: Vec<&str> = user.display_name.split_whitespace().collect();
    let context = kenshin_auth::PasswordContext {
        login_id: &user.login,
        name_parts: &names,
        org_code: &user.org_code,
        second_factor_enrolled: user.totp_secret.is_some(),
    };
    if let Err(problems) = kenshin_auth::check_password(new, &context) {
        return Ok(Err(problems));
    }
    let new = new.to_owned();
    let hash = tokio::task::spawn_blocking(move || kenshin_auth::hash_password(&new))
        .await
        .map_err(|_| Error::Internal("session"))?
        .map_err(|_| Error::Internal("session"))?;
    state.db.set_password(user.id, &hash, false).await?;
    Ok(Ok(()))
}
