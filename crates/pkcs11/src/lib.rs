//! A key-encryption key (KEK) held in a PKCS#11 hardware security module: a
//! [`KeyProvider`] for Kenshin Relay's encryption at rest.
//!
//! # Why
//!
//! With the default [`LocalKeyFile`](kenshin_crypto::LocalKeyFile), whoever copies the
//! relay's disk (or a backup of it) and its KEK file can unwrap every data key. With
//! [`Pkcs11Kek`] the KEK is generated inside the HSM as a sensitive, non-extractable AES-256
//! key and never leaves it: the relay holds only a handle to it and the PIN that lets it ask
//! the HSM to wrap and unwrap data keys. Stolen ciphertext and wrapped keys are useless
//! without the HSM itself, and destroying the key object in the HSM crypto-shreds every
//! object it protects at once.
//!
//! # Wrapped keys
//!
//! ```text
//! wrapped  = 0x02 ‖ nonce (12, random) ‖ AES-256-GCM_KEK(data key) (32) ‖ tag (16)     61 bytes
//! aad      = "kenshin-relay/data-key-wrap/pkcs11/v1\0" ‖ 0x02 ‖ len(kek id) (u16 BE) ‖ kek id ‖ context
//! ```
//!
//! Wrapping is one `C_Encrypt` with `CKM_AES_GCM` (96-bit nonce from the system random number
//! generator via aws-lc, 128-bit tag); unwrapping is `C_Decrypt`, which fails unless the tag
//! verifies. The version byte `0x02` differs from the file provider's `0x01`, so a wrapped key
//! says which kind of provider made it, and the domain label differs too, so neither provider
//! can ever accept the other's output (should the same AES key somehow be used by both). The
//! context (typically the object id) is authenticated but not stored, exactly as for the file
//! provider.
//!
//! # KEK id
//!
//! ```text
//! kcv      = AES-256-ECB_KEK("kenshin-relay-id")                  one block, computed by the HSM
//! kek id   = "hsm-" ‖ hex(SHA-256("kenshin-relay/kek-id/pkcs11/v1\0" ‖ kcv)[0..8])
//! ```
//!
//! The id depends only on the key material, so HSM replicas holding the same key (cloned by
//! the vendor's tools) give the same id, and different keys give different ids. It reveals
//! nothing about the key. The `hsm-` prefix keeps it apart from the file provider's ids (16
//! hex digits). The check block is deliberately *not* the customary all-zero block: the
//! encryption of zero is GCM's hash subkey H, which this crate never wants to hold. Its last
//! four bytes are not a small counter, so it is never a GCM counter block of any wrap either.
//! The key must therefore allow `CKM_AES_ECB` (keys made by [`Pkcs11Kek::generate`] allow
//! exactly `CKM_AES_GCM` and `CKM_AES_ECB`).
//!
//! # Threads and sessions
//!
//! [`KeyProvider`] is `Send + Sync` and is called concurrently from async tasks, while a
//! PKCS#11 session may only be used by one thread at a time. Each operation borrows a
//! logged-in session from a small pool (opening another when all are busy, keeping up to 8
//! idle). Login state in PKCS#11 belongs to the process and the token rather than to a
//! session, so all providers of a process on the same token share one login, held by a
//! session of its own until the last of them is dropped; a provider opened later with a
//! different PIN is refused as a wrong PIN. Modules are initialised once per process and
//! never finalised. The calls block: from async code, call them in `spawn_blocking` if the
//! HSM is slow.
//!
//! # Testing
//!
//! The tests run against SoftHSM2 (Debian package `softhsm2`, module
//! `/usr/lib/softhsm/libsofthsm2.so`), a software token that implements the PKCS#11 API over
//! files: it proves the provider works against a real PKCS#11 implementation, not that the
//! key is protected (SoftHSM's keys are only as safe as its token directory). Production
//! uses the HSM vendor's module.
//!
//! # Limits
//!
//! The nonce is chosen by the relay. HSMs in a FIPS mode that insists on generating GCM IVs
//! itself (`CKG_GENERATE`) refuse this and are not supported yet; [`Pkcs11Kek::open`] reports
//! it, because it wraps and unwraps a test key before returning.
//!
//! Sessions and the login do not survive a restart of the HSM (or of a network HSM's
//! connection): operations then fail with [`CryptoError::Hsm`] until the provider is opened
//! again. They are never reported as [`CryptoError::KeyUnwrap`].

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod token;

use std::fmt;
use std::path::PathBuf;

use aws_lc_rs::rand;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::types::Ulong;
use kenshin_crypto::{
    constant_time_eq, CryptoError, DataKey, KeyProvider, Sha256, WrappedKey, DATA_KEY_LEN, TAG_LEN,
};
use zeroize::Zeroizing;

use crate::token::Lease;

/// Version byte of the wrapped-key format (the file provider's is 1).
const WRAP_VERSION: u8 = 2;
/// Length of the GCM nonce.
const NONCE_LEN: usize = 12;
/// `version ‖ nonce ‖ ciphertext ‖ tag`.
const WRAPPED_LEN: usize = 1 + NONCE_LEN + DATA_KEY_LEN + TAG_LEN;
/// Domain label opening the associated data of every wrap.
const WRAP_LABEL: &[u8] = b"kenshin-relay/data-key-wrap/pkcs11/v1\0";
/// Domain label for deriving the KEK id from the key check value.
const KEK_ID_LABEL: &[u8] = b"kenshin-relay/kek-id/pkcs11/v1\0";
/// The block the HSM encrypts to compute the key check value (see the crate documentation).
const CHECK_BLOCK: &[u8; 16] = b"kenshin-relay-id";
/// Prefix of every KEK id made here.
const KEK_ID_PREFIX: &str = "hsm-";
/// Length of a KEK in bytes (AES-256).
const KEK_LEN: usize = 32;
/// Context of the wrap/unwrap round trip run when a key is opened.
const SELF_TEST_CONTEXT: &[u8] = b"kenshin-relay/pkcs11/self-test";

/// Where the KEK lives: a PKCS#11 module, a token in it, a key on the token, and the token's
/// user PIN. `Debug` does not print the PIN.
#[derive(Clone)]
pub struct Pkcs11Config {
    /// The HSM vendor's PKCS#11 shared library (for SoftHSM2:
    /// `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label (`CKA_LABEL` of the token, 1 to 32 bytes), which must be unique among
    /// the module's tokens.
    pub token_label: String,
    /// The key's `CKA_LABEL`, which must be unique among the token's secret keys.
    pub key_label: String,
    /// The token's user PIN. Zeroized on drop, never printed.
    pub pin: Zeroizing<String>,
}

impl fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("key_label", &self.key_label)
            .field("pin", &"<redacted>")
            .finish()
    }
}

/// An AES-256 key-encryption key inside a PKCS#11 token (see the crate documentation).
pub struct Pkcs11Kek {
    token: Lease,
    key: ObjectHandle,
    key_label: String,
    kek_id: String,
}

impl Pkcs11Kek {
    /// Opens the existing key `config.key_label` on token `config.token_label`.
    ///
    /// Loads the module (once per process), finds the token, logs in as the user, finds
    /// exactly one secret key with that label, checks that it is a sensitive AES-256 key
    /// allowed to encrypt and decrypt, derives its [`kek_id`](KeyProvider::kek_id), and wraps
    /// and unwraps a test key, so that a provider that opens is known to work.
    ///
    /// # Errors
    /// [`CryptoError::Hsm`] saying what is wrong, in words an operator can act on: the module
    /// file is missing or not a PKCS#11 module; no token (the labels found are listed) or
    /// several tokens have the label; wrong PIN; PIN locked; no key or several keys with the
    /// label; the key is not a sensitive AES-256 encryption key; the token cannot do AES-GCM.
    pub fn open(config: &Pkcs11Config) -> Result<Self, CryptoError> {
        check_key_label(config)?;
        let token = Lease::acquire(config)?;
        let keys = find_secret_keys(&token, config)?;
        let key = match keys.as_slice() {
            [key] => *key,
            [] => {
                return Err(hsm(format!(
                    "no secret key labelled {:?} on token {:?}; create one with \
                     Pkcs11Kek::generate, or correct the key label",
                    config.key_label, config.token_label
                )))
            }
            several => {
                return Err(hsm(format!(
                    "{} secret keys are labelled {:?} on token {:?}; the label must name \
                     exactly one key (relabel or destroy the others with the HSM's tools)",
                    several.len(),
                    config.key_label,
                    config.token_label
                )))
            }
        };
        Self::ready(token, key, config)
    }

    /// Generates a new AES-256 key `config.key_label` on token `config.token_label` and opens
    /// it.
    ///
    /// The key is a token object (`CKA_TOKEN`), readable only after login (`CKA_PRIVATE`),
    /// sensitive and not extractable (its value can never be read out of the token, in clear
    /// or wrapped), allowed to encrypt and decrypt and nothing else, restricted to
    /// `CKM_AES_GCM` and `CKM_AES_ECB` (`CKA_ALLOWED_MECHANISMS`), with a random 16-byte
    /// `CKA_ID`.
    ///
    /// # Errors
    /// As [`open`](Self::open), and [`CryptoError::Hsm`] if a secret key with that label
    /// already exists on the token (it is never replaced) or the token refuses to generate the
    /// key.
    pub fn generate(config: &Pkcs11Config) -> Result<Self, CryptoError> {
        check_key_label(config)?;
        let token = Lease::acquire(config)?;
        let existing = find_secret_keys(&token, config)?;
        if !existing.is_empty() {
            return Err(hsm(format!(
                "token {:?} already has a secret key labelled {:?}; refusing to create \
                 another (open the existing key, or choose a new label)",
                config.token_label, config.key_label
            )));
        }
        let mut id = [0u8; 16];
        rand::fill(&mut id)
            .map_err(|_| CryptoError::Unspecified("system random number generator failed"))?;
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(Ulong::new(KEK_LEN as _)),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
            Attribute::AllowedMechanisms(vec![MechanismType::AES_GCM, MechanismType::AES_ECB]),
            Attribute::Label(config.key_label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ];
        let key = token
            .with_session(|session| session.generate_key(&Mechanism::AesKeyGen, &template))?
            .map_err(|err| {
                hsm(format!(
                    "token {:?} could not generate an AES-256 key labelled {:?}: {err}",
                    config.token_label, config.key_label
                ))
            })?;

        // Another process may have generated a key with the same label meanwhile. Two keys
        // under one label could never be opened, so this one goes again (both generators may
        // back off; the operator then simply generates again).
        let now = find_secret_keys(&token, config)?;
        if now.len() != 1 {
            let _ = token.with_session(|session| session.destroy_object(key));
            return Err(hsm(format!(
                "another secret key labelled {:?} appeared on token {:?} while this one was \
                 being generated; the new key was destroyed: open the other key, or generate \
                 again if it is gone too",
                config.key_label, config.token_label
            )));
        }
        Self::ready(token, key, config)
    }

    /// Checks the key's attributes, derives the KEK id and runs the self-test.
    fn ready(token: Lease, key: ObjectHandle, config: &Pkcs11Config) -> Result<Self, CryptoError> {
        let describe = |what: &str| {
            format!(
                "key {:?} on token {:?} {what}",
                config.key_label, config.token_label
            )
        };
        let attributes = token
            .with_session(|session| {
                session.get_attributes(
                    key,
                    &[
                        AttributeType::KeyType,
                        AttributeType::ValueLen,
                        AttributeType::Encrypt,
                        AttributeType::Decrypt,
                        AttributeType::Sensitive,
                    ],
                )
            })?
            .map_err(|err| hsm(describe(&format!("cannot be inspected: {err}"))))?;
        let mut key_type = None;
        let mut value_len = None;
        let (mut encrypt, mut decrypt, mut sensitive) = (false, false, false);
        for attribute in attributes {
            match attribute {
                Attribute::KeyType(kind) => key_type = Some(kind),
                Attribute::ValueLen(len) => value_len = Some(usize::from(len)),
                Attribute::Encrypt(flag) => encrypt = flag,
                Attribute::Decrypt(flag) => decrypt = flag,
                Attribute::Sensitive(flag) => sensitive = flag,
                _ => {}
            }
        }
        if key_type != Some(KeyType::AES) {
            let found = key_type.map_or_else(|| "unknown".to_owned(), |kind| kind.to_string());
            return Err(hsm(describe(&format!(
                "is not an AES key (its key type is {found})"
            ))));
        }
        if value_len != Some(KEK_LEN) {
            let found = value_len.map_or_else(|| "unknown".to_owned(), |len| len.to_string());
            return Err(hsm(describe(&format!(
                "is not an AES-256 key (it is {found} bytes long; 32 are required)"
            ))));
        }
        if !encrypt || !decrypt {
            return Err(hsm(describe(
                "may not both encrypt and decrypt (CKA_ENCRYPT and CKA_DECRYPT must be true)",
            )));
        }
        if !sensitive {
            return Err(hsm(describe(
                "is not sensitive (CKA_SENSITIVE is false), so its value can be read out of the \
                 token in the clear; generate a new key with Pkcs11Kek::generate",
            )));
        }

        let check_value = token
            .with_session(|session| {
                session
                    .encrypt(&Mechanism::AesEcb, key, CHECK_BLOCK)
                    .map(Zeroizing::new)
            })?
            .map_err(|err| {
                hsm(describe(&format!(
                    "cannot compute its key check value with CKM_AES_ECB, which the KEK id \
                     needs (the key must allow CKM_AES_ECB): {err}"
                )))
            })?;
        if check_value.len() != CHECK_BLOCK.len() {
            return Err(hsm(describe(&format!(
                "gave a {}-byte key check value instead of one 16-byte block",
                check_value.len()
            ))));
        }
        let mut id_hash = Sha256::new();
        id_hash.update(KEK_ID_LABEL);
        id_hash.update(&check_value);
        let kek_id = format!("{KEK_ID_PREFIX}{}", hex::encode(&id_hash.finish()[..8]));

        let kek = Self {
            token,
            key,
            key_label: config.key_label.clone(),
            kek_id,
        };
        kek.self_test().map_err(|err| {
            hsm(describe(&format!(
                "failed a wrap/unwrap test with CKM_AES_GCM (a token that generates GCM nonces \
                 itself is not supported): {err}"
            )))
        })?;
        Ok(kek)
    }

    /// Wraps and unwraps a fresh random key: proves the token and key work.
    fn self_test(&self) -> Result<(), CryptoError> {
        let key = DataKey::generate()?;
        let wrapped = self.wrap(&key, SELF_TEST_CONTEXT)?;
        let unwrapped = match self.decrypt(&wrapped, SELF_TEST_CONTEXT) {
            Ok(unwrapped) => unwrapped,
            Err(Unsealed::Refused) => return Err(CryptoError::KeyUnwrap),
            Err(Unsealed::Unclear(err)) => {
                return Err(self.operation_error("unwrapping a test key", &err))
            }
            Err(Unsealed::Failed(err)) => return Err(err),
        };
        if constant_time_eq(unwrapped.expose_secret(), key.expose_secret()) {
            Ok(())
        } else {
            Err(CryptoError::Unspecified(
                "unwrapping returned a different key",
            ))
        }
    }

    /// The key's label on the token.
    #[must_use]
    pub fn key_label(&self) -> &str {
        &self.key_label
    }

    /// The token's label.
    #[must_use]
    pub fn token_label(&self) -> &str {
        &self.token.label
    }

    /// Associated data: label ‖ format version ‖ len(kek id) as u16 BE ‖ kek id ‖ context.
    /// Injective for the same reasons as the file provider's.
    fn aad(&self, context: &[u8]) -> Vec<u8> {
        let id = self.kek_id.as_bytes();
        let mut aad = Vec::with_capacity(WRAP_LABEL.len() + 3 + id.len() + context.len());
        aad.extend_from_slice(WRAP_LABEL);
        aad.push(WRAP_VERSION);
        // Ids are "hsm-" and 16 hex digits, so the length always fits.
        aad.extend_from_slice(&(id.len() as u16).to_be_bytes());
        aad.extend_from_slice(id);
        aad.extend_from_slice(context);
        aad
    }

    /// `C_Decrypt` of a wrapped key.
    fn decrypt(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<DataKey, Unsealed> {
        let bytes = wrapped.as_bytes();
        if bytes.len() != WRAPPED_LEN || bytes[0] != WRAP_VERSION {
            return Err(Unsealed::Refused);
        }
        let (nonce, sealed) = bytes[1..].split_at(NONCE_LEN);
        let aad = self.aad(context);
        let opened = self
            .token
            .with_session(|session| {
                let mut iv = [0u8; NONCE_LEN];
                iv.copy_from_slice(nonce);
                let params = GcmParams::new(&mut iv, &aad, Ulong::new(TAG_BITS))?;
                // Zeroizing from the moment the plaintext exists; `decrypt` allocates the
                // buffer and truncates it in place, so no other copy is left in this process.
                session
                    .decrypt(&Mechanism::AesGcm(params), self.key, sealed)
                    .map(Zeroizing::new)
            })
            .map_err(Unsealed::Failed)?;
        match opened {
            Ok(plain) if plain.len() == DATA_KEY_LEN => {
                DataKey::from_slice(&plain).map_err(Unsealed::Failed)
            }
            Ok(_) => Err(Unsealed::Refused),
            Err(CkError::Pkcs11(rv, _)) if is_authentication_failure(rv) => Err(Unsealed::Refused),
            Err(err @ CkError::Pkcs11(RvError::GeneralError | RvError::FunctionFailed, _)) => {
                Err(Unsealed::Unclear(err))
            }
            Err(err) => Err(Unsealed::Failed(
                self.operation_error("unwrapping a data key", &err),
            )),
        }
    }

    fn operation_error(&self, what: &str, err: &CkError) -> CryptoError {
        hsm(format!(
            "{what} with key {:?} on token {:?} failed: {err}",
            self.key_label, self.token.label
        ))
    }
}

/// Why [`Pkcs11Kek::decrypt`] returned no key.
enum Unsealed {
    /// The wrapped key is malformed or failed authentication.
    Refused,
    /// The token reported a general failure: a tag that does not verify, or a failing device.
    Unclear(CkError),
    /// The token or the session failed.
    Failed(CryptoError),
}

/// GCM tag length in bits.
const TAG_BITS: u64 = (TAG_LEN * 8) as u64;

/// Return values with which a token reports a GCM tag that does not verify (or a ciphertext it
/// cannot have produced).
fn is_authentication_failure(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange
    )
}

impl KeyProvider for Pkcs11Kek {
    fn kek_id(&self) -> &str {
        &self.kek_id
    }

    fn wrap(&self, key: &DataKey, context: &[u8]) -> Result<WrappedKey, CryptoError> {
        // A random 96-bit nonce per wrap, as for the file provider: one wrap per object is far
        // below the 2^32 wraps at which random GCM nonces start to risk a collision.
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce)
            .map_err(|_| CryptoError::Unspecified("system random number generator failed"))?;
        let aad = self.aad(context);
        let sealed = self
            .token
            .with_session(|session| {
                let mut iv = nonce;
                let params = GcmParams::new(&mut iv, &aad, Ulong::new(TAG_BITS))?;
                session.encrypt(&Mechanism::AesGcm(params), self.key, key.expose_secret())
            })?
            .map_err(|err| self.operation_error("wrapping a data key", &err))?;
        if sealed.len() != DATA_KEY_LEN + TAG_LEN {
            return Err(hsm(format!(
                "wrapping a data key with key {:?} on token {:?} gave {} bytes instead of {}",
                self.key_label,
                self.token.label,
                sealed.len(),
                DATA_KEY_LEN + TAG_LEN
            )));
        }
        let mut wrapped = Vec::with_capacity(WRAPPED_LEN);
        wrapped.push(WRAP_VERSION);
        wrapped.extend_from_slice(&nonce);
        wrapped.extend_from_slice(&sealed);
        Ok(WrappedKey::from_bytes(wrapped))
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<DataKey, CryptoError> {
        match self.decrypt(wrapped, context) {
            Ok(key) => Ok(key),
            Err(Unsealed::Refused) => Err(CryptoError::KeyUnwrap),
            // SoftHSM (and other tokens) report a tag that does not verify as
            // CKR_GENERAL_ERROR, which also means a failing device. A working round trip
            // tells them apart: then the token is fine and the wrapped key is bad. Reporting a
            // failing HSM as a corrupt key could get good data written off, and the reverse
            // would hide tampering, so the extra round trip on this rare path is worth it.
            Err(Unsealed::Unclear(err)) => match self.self_test() {
                Ok(()) => Err(CryptoError::KeyUnwrap),
                Err(_) => Err(self.operation_error("unwrapping a data key", &err)),
            },
            Err(Unsealed::Failed(err)) => Err(err),
        }
    }
}

impl fmt::Debug for Pkcs11Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Kek")
            .field("token_label", &self.token.label)
            .field("key_label", &self.key_label)
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
    }
}

fn check_key_label(config: &Pkcs11Config) -> Result<(), CryptoError> {
    if config.key_label.is_empty() {
        return Err(hsm(format!(
            "no key label given for token {:?}",
            config.token_label
        )));
    }
    Ok(())
}

/// Every secret key on the token labelled `config.key_label`.
fn find_secret_keys(
    token: &Lease,
    config: &Pkcs11Config,
) -> Result<Vec<ObjectHandle>, CryptoError> {
    let template = [
        Attribute::Token(true),
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Label(config.key_label.as_bytes().to_vec()),
    ];
    token
        .with_session(|session: &Session| session.find_objects(&template))?
        .map_err(|err| {
            hsm(format!(
                "cannot search token {:?} for key {:?}: {err}",
                config.token_label, config.key_label
            ))
        })
}

pub(crate) fn hsm(message: String) -> CryptoError {
    CryptoError::Hsm(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_hides_the_pin() {
        let config = Pkcs11Config {
            module: PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"),
            token_label: "kenshin".to_owned(),
            key_label: "kek-2026".to_owned(),
            pin: Zeroizing::new("s3cret-pin-4711".to_owned()),
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("4711"), "{shown}");
        assert!(
            shown.contains("<redacted>") && shown.contains("kek-2026"),
            "{shown}"
        );
    }

    #[test]
    fn layout_constants() {
        assert_eq!(WRAPPED_LEN, 61);
        assert_eq!(TAG_BITS, 128);
        assert_ne!(WRAP_VERSION, 1, "the file provider's version");
        // The check block is not a GCM counter block of any wrap (counters 1..=3) and not
        // the all-zero block, whose encryption is GCM's hash subkey.
        assert!(u32::from_be_bytes(CHECK_BLOCK[12..].try_into().unwrap()) > 3);
        assert_ne!(CHECK_BLOCK, &[0u8; 16]);
    }

    #[test]
    fn login_errors_name_the_problem() {
        let wrong = token::login_error(RvError::PinIncorrect, "tok");
        assert_eq!(wrong, "wrong PIN for token \"tok\"");
        let locked = token::login_error(RvError::PinLocked, "tok");
        assert!(locked.contains("locked"), "{locked}");
        let uninitialised = token::login_error(RvError::UserPinNotInitialized, "tok");
        assert!(uninitialised.contains("no user PIN"), "{uninitialised}");
        let other = token::login_error(RvError::DeviceError, "tok");
        assert!(other.contains("DeviceError"), "{other}");
    }
}
