//! Passkeys (WebAuthn) as a second factor beside TOTP: a person registers one with their
//! current password, names it, removes it; at login a passkey's signature takes the place of
//! the six-digit code (the password is still asked: two factors, as the guideline says).
//!
//! The ceremonies' states (the challenge sent) live in memory for five minutes, keyed by the
//! session (registration) or by a random ceremony id (login); a ceremony is used once. Login
//! options are answered for any login id — for one without passkeys with a credential id that
//! does not exist, derived from the login id, so the answer does not tell who has passkeys.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use kenshin_store::{PasskeyRecord, UserRecord};
use webauthn_rs::prelude::{Passkey, RegisterPublicKeyCredential, Url, Uuid, Webauthn};

use super::sessions::Person;
use super::{Error, Refusal};
use crate::state::AppState;
use crate::webauthn::{random32, stored, Ceremony};

/// Passkeys a person may register.
pub const MAX_PASSKEYS: usize = 10;

fn webauthn(state: &AppState) -> Result<&Arc<Webauthn>, Error> {
    state
        .webauthn
        .as_ref()
        .ok_or(Error::Refused(Refusal::PasskeysOff))
}

fn user_handle(user: &UserRecord) -> Uuid {
    // "kenshin\0" and the account's number: stable, and nothing personal.
    Uuid::from_u64_pair(0x6b65_6e73_6869_6e00, user.id as u64)
}

/// A passkey as its owner's page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasskeyView {
    pub id: String,
    pub label: String,
    pub created_at: time::OffsetDateTime,
    pub last_used_at: Option<time::OffsetDateTime>,
}

impl From<PasskeyRecord> for PasskeyView {
    fn from(r: PasskeyRecord) -> PasskeyView {
        PasskeyView {
            id: r.id,
            label: r.label,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

/// Whether passkeys can be used on this relay.
pub fn enabled(state: &AppState) -> bool {
    state.webauthn.is_some()
}

/// The person's passkeys.
pub async fn list(state: &AppState, person: &Person) -> Result<Vec<PasskeyView>, Error> {
    Ok(state
        .db
        .passkeys_of(person.user.id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Starts registering a passkey for the person: the options for `navigator.credentials.create`.
pub async fn begin_registration(
    state: &AppState,
    person: &Person,
) -> Result<serde_json::Value, Error> {
    let webauthn = webauthn(state)?;
    let existing = state.db.passkeys_of(person.user.id).await?;
    if existing.len() >= MAX_PASSKEYS {
        return Err(Refusal::TooManyPasskeys(MAX_PASSKEYS).into());
    }
    let exclude = existing
        .iter()
        .filter_map(stored)
        .map(|p| p.cred_id().clone())
        .collect();
    let (options, registration) = webauthn
        .start_passkey_registration(
            user_handle(&person.user),
            &person.user.login,
            &person.user.display_name,
            Some(exclude),
        )
        .map_err(|_| Error::Internal("passkey registration"))?;
    state
        .ceremonies
        .lock()
        .map_err(|_| Error::Internal("ceremonies"))?
        .put(
            format!("register:{}", person.session.to_hex()),
            Ceremony::Registration {
                user_id: person.user.id,
                state: registration,
            },
        );
    serde_json::to_value(options).map_err(|_| Error::Internal("passkey registration"))
}

/// Finishes a registration begun in this session: the person's current password, a label and
/// the browser's answer (`RegisterPublicKeyCredential` JSON).
pub async fn finish_registration(
    state: &AppState,
    person: &Person,
    password: &str,
    label: &str,
    credential: &str,
) -> Result<PasskeyView, Error> {
    let webauthn = webauthn(state)?;
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 100 {
        return Err(Refusal::PasskeyLabel.into());
    }
    if !super::sessions::password_matches(&person.user, password).await? {
        super::sessions::log_person(state, &person.user, "passkey_add", "denied").await;
        return Err(Refusal::InvalidCredentials.into());
    }
    let ceremony = state
        .ceremonies
        .lock()
        .map_err(|_| Error::Internal("ceremonies"))?
        .take(&format!("register:{}", person.session.to_hex()));
    let Some(Ceremony::Registration {
        user_id,
        state: registration,
    }) = ceremony
    else {
        return Err(Refusal::PasskeyCeremony.into());
    };
    if user_id != person.user.id {
        return Err(Refusal::PasskeyCeremony.into());
    }
    let answer: RegisterPublicKeyCredential =
        serde_json::from_str(credential).map_err(|_| Refusal::PasskeyCeremony)?;
    let passkey = webauthn
        .finish_passkey_registration(&answer, &registration)
        .map_err(|_| Refusal::PasskeyCeremony)?;
    let record = PasskeyRecord {
        id: URL_SAFE_NO_PAD.encode(passkey.cred_id().as_slice()),
        user_id: person.user.id,
        org_id: person.user.org_id,
        label: label.to_owned(),
        credential: serde_json::to_string(&passkey).map_err(|_| Error::Internal("passkey"))?,
        created_at: state.now(),
        last_used_at: None,
    };
    state.db.add_passkey(&record).await?;
    super::sessions::log_person(state, &person.user, "passkey_add", "success").await;
    Ok(record.into())
}

/// Removes one of the person's passkeys.
pub async fn remove(state: &AppState, person: &Person, id: &str) -> Result<(), Error> {
    state.db.remove_passkey(person.user.id, id).await?;
    super::sessions::log_person(state, &person.user, "passkey_remove", "success").await;
    Ok(())
}

/// The options for `navigator.credentials.get` to log in as `login`, and the ceremony's id to
/// send back with the answer. Answered alike whether or not the login exists or has passkeys.
pub async fn begin_login(
    state: &AppState,
    login: &str,
) -> Result<(String, serde_json::Value), Error> {
    let webauthn = webauthn(state)?;
    let ceremony_id = hex::encode(random32());
    let user = state.db.user_by_login(login.trim()).await?;
    let passkeys: Vec<Passkey> = match &user {
        Some(user) => state
            .db
            .passkeys_of(user.id)
            .await?
            .iter()
            .filter_map(stored)
            .collect(),
        None => Vec::new(),
    };
    let (options, ceremony) = if passkeys.is_empty() {
        // A credential that exists nowhere, the same for the same login id every time.
        let salt = state
            .ceremonies
            .lock()
            .map_err(|_| Error::Internal("ceremonies"))?
            .decoy_salt();
        let fake = kenshin_crypto::sha256(&[&salt[..], login.trim().as_bytes()].concat());
        let options = serde_json::json!({
            "publicKey": {
                "challenge": URL_SAFE_NO_PAD.encode(random32()),
                "timeout": 300000,
                "rpId": webauthn_rp_id(state),
                "allowCredentials": [{"type": "public-key", "id": URL_SAFE_NO_PAD.encode(&fake[..16])}],
                "userVerification": "required",
            }
        });
        (
            options,
            Ceremony::Login {
                user_id: None,
                state: None,
            },
        )
    } else {
        let (options, authentication) = webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|_| Error::Internal("passkey login"))?;
        (
            serde_json::to_value(options).map_err(|_| Error::Internal("passkey login"))?,
            Ceremony::Login {
                user_id: user.as_ref().map(|u| u.id),
                state: Some(authentication),
            },
        )
    };
    state
        .ceremonies
        .lock()
        .map_err(|_| Error::Internal("ceremonies"))?
        .put(format!("login:{ceremony_id}"), ceremony);
    Ok((ceremony_id, options))
}

fn webauthn_rp_id(state: &AppState) -> String {
    Url::parse(&state.notifier.base_url)
        .ok()
        .and_then(|u| u.domain().map(str::to_owned))
        .unwrap_or_default()
}
