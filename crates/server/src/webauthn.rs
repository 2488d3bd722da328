//! The WebAuthn relying party of this relay and the passkey ceremonies in progress (their
//! challenges, five minutes each, per node): what the state holds for `service::passkeys`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kenshin_store::{Database, PasskeyRecord, StoreError, UserRecord};
use time::OffsetDateTime;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, Url, Webauthn,
    WebauthnBuilder,
};

/// How long a ceremony's challenge stays valid.
const CEREMONY_LIFETIME: Duration = Duration::from_secs(300);
/// Ceremonies kept at most (login options are asked before authentication: bounded memory).
const MAX_CEREMONIES: usize = 10_000;

/// The relying party: the host of `public_url` (or the first server name), any port. `None`
/// when that host cannot be a WebAuthn relying party (an IP address): passkeys are then off.
pub fn relying_party(base_url: &str) -> Option<Arc<Webauthn>> {
    let origin = Url::parse(base_url).ok()?;
    let rp_id = origin.domain()?.to_owned();
    let built = WebauthnBuilder::new(&rp_id, &origin).and_then(|b| {
        b.rp_name("健診リレー Kenshin Relay")
            .allow_any_port(true)
            .build()
    });
    match built {
        Ok(webauthn) => Some(Arc::new(webauthn)),
        Err(err) => {
            tracing::warn!(error = %err, %base_url, "passkeys are off: this address cannot be a WebAuthn relying party");
            None
        }
    }
}

pub enum Ceremony {
    Registration {
        user_id: i64,
        state: PasskeyRegistration,
    },
    Login {
        user_id: Option<i64>,
        state: Option<PasskeyAuthentication>,
    },
}

/// Ceremonies in progress.
pub struct Ceremonies {
    open: HashMap<String, (Instant, Ceremony)>,
    /// Keys the decoy credential ids of logins without passkeys.
    decoy_salt: [u8; 32],
}

impl Default for Ceremonies {
    fn default() -> Ceremonies {
        Ceremonies {
            open: HashMap::new(),
            decoy_salt: random32(),
        }
    }
}

pub fn random32() -> [u8; 32] {
    let key = kenshin_crypto::DataKey::generate().expect("the system's random source works");
    *key.expose_secret()
}

impl Ceremonies {
    /// Keys the decoy credential ids of logins without passkeys.
    pub fn decoy_salt(&self) -> [u8; 32] {
        self.decoy_salt
    }

    pub fn put(&mut self, key: String, ceremony: Ceremony) {
        let now = Instant::now();
        self.open
            .retain(|_, (at, _)| now.duration_since(*at) < CEREMONY_LIFETIME);
        if self.open.len() >= MAX_CEREMONIES {
            // Full of unfinished login attempts: the oldest make room.
            if let Some(oldest) = self
                .open
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            {
                self.open.remove(&oldest);
            }
        }
        self.open.insert(key, (now, ceremony));
    }

    pub fn take(&mut self, key: &str) -> Option<Ceremony> {
        let (at, ceremony) = self.open.remove(key)?;
        (at.elapsed() < CEREMONY_LIFETIME).then_some(ceremony)
    }
}

/// A stored passkey as the WebAuthn library reads it.
pub fn stored(record: &PasskeyRecord) -> Option<Passkey> {
    serde_json::from_str(&record.credential).ok()
}

/// Whether `credential` (a `PublicKeyCredential` JSON) is a valid signature by one of `user`'s
/// passkeys over ceremony `ceremony_id`'s challenge (used once); the passkey's counter and
/// last use are stored. The login calls it after the password was checked.
pub async fn verify_login(
    webauthn: Option<&Webauthn>,
    ceremonies: &std::sync::Mutex<Ceremonies>,
    db: &Database,
    user: &UserRecord,
    ceremony_id: &str,
    credential: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let Some(webauthn) = webauthn else {
        return Ok(false);
    };
    let ceremony = match ceremonies.lock() {
        Ok(mut open) => open.take(&format!("login:{ceremony_id}")),
        Err(_) => None,
    };
    let Some(Ceremony::Login {
        user_id: Some(user_id),
        state: Some(authentication),
    }) = ceremony
    else {
        return Ok(false);
    };
    if user_id != user.id {
        return Ok(false);
    }
    let Ok(answer) = serde_json::from_str::<PublicKeyCredential>(credential) else {
        return Ok(false);
    };
    let Ok(result) = webauthn.finish_passkey_authentication(&answer, &authentication) else {
        return Ok(false);
    };
    for record in db.passkeys_of(user.id).await? {
        if let Some(mut passkey) = stored(&record) {
            if passkey.update_credential(&result).is_some() {
                let json = serde_json::to_string(&passkey)
                    .map_err(|e| StoreError::InvalidState(e.to_string()))?;
                db.passkey_used(&record.id, &json, now).await?;
                return Ok(true);
            }
        }
    }
    Ok(false)
}
