//! The server key: one secret from which the keys of the MACs in this crate are derived.

use std::fmt;

use aws_lc_rs::{hkdf, hmac};
use zeroize::Zeroizing;

use crate::error::{KeyError, RandomError};

/// HKDF salt: fixes the derivation to this crate and format version.
const HKDF_SALT: &[u8] = b"kenshin-relay/auth/server-key/v1";
/// HKDF info labels, one per purpose. Separate keys mean that a MAC computed for one purpose
/// (say, the CSRF token of a session) can never be presented as a MAC for another (a
/// recovery-code hash), whatever the inputs happen to look like.
const INFO_CSRF: &[u8] = b"csrf-token";
const INFO_RECOVERY: &[u8] = b"recovery-code";

/// The server's secret for keyed hashes: CSRF tokens and recovery-code hashes.
///
/// The service loads it from its configuration or key file, never from the database: the
/// point of keying those hashes is that a copy of the database alone does not let anyone
/// compute them (forge CSRF tokens, or brute-force recovery codes offline).
///
/// Changing the key invalidates every CSRF token (users reload the page) and every stored
/// recovery code (users must generate new ones), so it is a deliberate, rare operation.
///
/// The raw secret is not kept: only the derived HMAC keys live in memory.
pub struct ServerKey {
    csrf: hmac::Key,
    recovery: hmac::Key,
}

impl ServerKey {
    /// Minimum length of the secret in bytes (256 bits).
    pub const MIN_LEN: usize = 32;

    /// Derives the purpose keys from `secret` (at least [`Self::MIN_LEN`] bytes; normally
    /// the output of [`Self::generate_secret`]).
    ///
    /// # Errors
    ///
    /// [`KeyError::TooShort`] if the secret is shorter than [`Self::MIN_LEN`].
    pub fn from_secret(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < Self::MIN_LEN {
            return Err(KeyError::TooShort {
                actual: secret.len(),
            });
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(secret);
        let derive = |info: &[u8]| -> Result<hmac::Key, KeyError> {
            let info = [info];
            let okm = prk
                .expand(&info, hmac::HMAC_SHA256)
                .map_err(|_| KeyError::Derivation)?;
            Ok(hmac::Key::from(okm))
        };
        Ok(Self {
            csrf: derive(INFO_CSRF)?,
            recovery: derive(INFO_RECOVERY)?,
        })
    }

    /// Draws a fresh 256-bit secret for the service to store (in its key file, with the
    /// same care as the key-encryption key) and pass to [`Self::from_secret`].
    ///
    /// # Errors
    ///
    /// [`RandomError`] if the system generator fails.
    pub fn generate_secret() -> Result<Zeroizing<[u8; Self::MIN_LEN]>, RandomError> {
        let mut secret = Zeroizing::new([0u8; Self::MIN_LEN]);
        crate::random::fill(secret.as_mut())?;
        Ok(secret)
    }

    pub(crate) fn csrf_key(&self) -> &hmac::Key {
        &self.csrf
    }

    pub(crate) fn recovery_key(&self) -> &hmac::Key {
        &self.recovery
    }
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerKey { .. }")
    }
}
