//! Key-encryption-key (KEK) providers and the wrapped-key format.

use core::fmt;

use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand;
use zeroize::Zeroizing;

use crate::stream::TAG_LEN;
use crate::{CryptoError, DataKey, Sha256, DATA_KEY_LEN};

/// A holder of key-encryption keys: wraps data keys for storage beside the object they
/// protect, and unwraps them again.
///
/// Implementations must bind each wrapped key to `context` (authenticated, not necessarily
/// stored), so that a wrapped key copied onto another object's row cannot be used to decrypt
/// anything.
pub trait KeyProvider: Send + Sync + 'static {
    /// Stable identifier of the KEK, stored beside each wrapped key so that keys can be
    /// rotated: after rotation, rows whose id names the old KEK still say which key opens
    /// them. Not secret.
    fn kek_id(&self) -> &str;

    /// Wraps a data key, binding it to `context` (e.g. the object id): unwrapping with any
    /// other context fails.
    ///
    /// # Errors
    /// Provider-specific; [`CryptoError::Unspecified`] for a failing RNG or cipher.
    fn wrap(&self, key: &DataKey, context: &[u8]) -> Result<WrappedKey, CryptoError>;

    /// Unwraps a data key wrapped by [`wrap`](Self::wrap) with the same `context`.
    ///
    /// # Errors
    /// [`CryptoError::KeyUnwrap`] if the bytes are corrupt, of an unknown version, wrapped
    /// under another KEK, or bound to another context.
    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<DataKey, CryptoError>;
}

/// A wrapped data key: opaque, versioned bytes, to be stored as a BLOB.
///
/// Not secret (it is ciphertext), but useless without the KEK and the context it is bound to.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey(Vec<u8>);

impl WrappedKey {
    /// The bytes to store.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Re-creates a wrapped key from stored bytes. Nothing is checked here; a damaged value
    /// is reported by [`KeyProvider::unwrap`].
    #[must_use]
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes to store, by value.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKey")
            .field("version", &self.0.first())
            .field("len", &self.0.len())
            .finish()
    }
}

/// Version byte of the wrapped-key format below.
const WRAP_VERSION: u8 = 1;
/// `version ‖ nonce ‖ AES-256-GCM(data key) ‖ tag`.
const WRAPPED_LEN: usize = 1 + NONCE_LEN + DATA_KEY_LEN + TAG_LEN;

/// Domain label opening the associated data of every wrap, so that a KEK-encrypted value made
/// for any other purpose can never be accepted as a wrapped data key.
const WRAP_LABEL: &[u8] = b"kenshin-relay/data-key-wrap/v1\0";
/// Domain label for deriving a KEK's public identifier from the key.
const KEK_ID_LABEL: &[u8] = b"kenshin-relay/kek-id/v1\0";

/// Length of the KEK in a [`LocalKeyFile`].
const KEK_LEN: usize = 32;

/// An AES-256-GCM key-encryption key with its identifier.
struct Kek {
    id: String,
    key: LessSafeKey,
}

impl Kek {
    fn new(bytes: &[u8; KEK_LEN]) -> Result<Self, CryptoError> {
        let mut id_hash = Sha256::new();
        id_hash.update(KEK_ID_LABEL);
        id_hash.update(bytes);
        let id = hex::encode(&id_hash.finish()[..8]);
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map(LessSafeKey::new)
            .map_err(|_| CryptoError::Unspecified("AES-256-GCM key setup failed"))?;
        Ok(Self { id, key })
    }

    /// Associated data: label ‖ format version ‖ len(kek id) as u16 BE ‖ kek id ‖ context.
    ///
    /// The length prefix keeps the encoding injective, so no (kek id, context) pair can be
    /// re-split into another; the context is last and needs none.
    fn aad(&self, context: &[u8]) -> Vec<u8> {
        let id = self.id.as_bytes();
        let mut aad = Vec::with_capacity(WRAP_LABEL.len() + 3 + id.len() + context.len());
        aad.extend_from_slice(WRAP_LABEL);
        aad.push(WRAP_VERSION);
        // Ids are 16 hex characters (see `Kek::new`), so the length always fits.
        debug_assert!(id.len() <= usize::from(u16::MAX));
        aad.extend_from_slice(&(id.len() as u16).to_be_bytes());
        aad.extend_from_slice(id);
        aad.extend_from_slice(context);
        aad
    }

    fn wrap(&self, key: &DataKey, context: &[u8]) -> Result<WrappedKey, CryptoError> {
        // A random 96-bit nonce per wrap: a KEK wraps one key per object, far below the
        // 2^32 messages at which random GCM nonces start to risk a collision.
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce)
            .map_err(|_| CryptoError::Unspecified("system random number generator failed"))?;
        let mut wrapped = vec![0u8; WRAPPED_LEN];
        wrapped[0] = WRAP_VERSION;
        wrapped[1..=NONCE_LEN].copy_from_slice(&nonce);
        let (ciphertext, tag) = wrapped[1 + NONCE_LEN..].split_at_mut(DATA_KEY_LEN);
        // Out of place, so the plaintext key is never copied into the output buffer.
        self.key
            .seal_out_of_place_scatter(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.aad(context)),
                key.expose_secret(),
                ciphertext,
                &[],
                tag,
            )
            .map_err(|_| CryptoError::Unspecified("AES-256-GCM seal of data key failed"))?;
        Ok(WrappedKey(wrapped))
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<DataKey, CryptoError> {
        let bytes = wrapped.as_bytes();
        if bytes.len() != WRAPPED_LEN || bytes[0] != WRAP_VERSION {
            return Err(CryptoError::KeyUnwrap);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[1..=NONCE_LEN]);
        let (ciphertext, tag) = bytes[1 + NONCE_LEN..].split_at(DATA_KEY_LEN);
        // Decrypt straight into the key's final home; DataKey wipes it on every path.
        let mut key = DataKey::zeroed();
        self.key
            .open_separate_gather(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.aad(context)),
                ciphertext,
                tag,
                key.expose_secret_mut(),
            )
            .map_err(|_| CryptoError::KeyUnwrap)?;
        Ok(key)
    }
}

/// The default provider: a 256-bit KEK in a local file, readable by its owner only.
///
/// The file holds exactly 32 raw random bytes. The KEK id is the first 8 bytes, in hex, of
/// SHA-256(`"kenshin-relay/kek-id/v1\0"` ‖ key): stable, not secret, and domain-separated
/// from every other use of the key.
///
/// Wrapped keys are `0x01 ‖ nonce (12) ‖ AES-256-GCM(data key) (32) ‖ tag (16)`, 61 bytes,
/// with associated data `"kenshin-relay/data-key-wrap/v1\0" ‖ 0x01 ‖ len(kek id) (u16 BE) ‖
/// kek id ‖ context`. RFC 3394 key wrap is deliberately not used: it has no associated data,
/// so it cannot bind a wrapped key to its object.
pub struct LocalKeyFile {
    path: PathBuf,
    kek: Kek,
}

impl LocalKeyFile {
    /// Creates a file holding a new random KEK and returns the provider for it.
    ///
    /// The file is created with mode 0600 and `O_EXCL`, so an existing key (or a symlink
    /// planted in its place) is never overwritten. File and directory are fsynced before
    /// returning, so a key that has been used to wrap anything survives a crash. On failure no
    /// partial file is left behind.
    ///
    /// # Errors
    /// [`CryptoError::KeyFile`] naming the path if the file exists or cannot be written;
    /// [`CryptoError::Unspecified`] if the random number generator fails.
    pub fn create(path: &Path) -> Result<Self, CryptoError> {
        let mut key = Zeroizing::new([0u8; KEK_LEN]);
        rand::fill(&mut key[..])
            .map_err(|_| CryptoError::Unspecified("system random number generator failed"))?;
        let kek = Kek::new(&key)?;

        crate::secret_file::create_secret_file(path, &key[..], "key-encryption key")
            .map_err(|reason| key_file_error(path, reason))?;
        Ok(Self {
            path: path.to_owned(),
            kek,
        })
    }

    /// Loads a KEK file.
    ///
    /// # Errors
    /// [`CryptoError::KeyFile`] naming the path if the file is missing or unreadable, is not
    /// a regular file, grants any permission to group or others (unix), is not exactly 32
    /// bytes long, or holds an all-zero key (a placeholder, never a generated key).
    pub fn load(path: &Path) -> Result<Self, CryptoError> {
        let (buffer, file_len) = crate::secret_file::read_secret_file(path, KEK_LEN, "key")
            .map_err(|reason| key_file_error(path, reason))?;
        if buffer.len() != KEK_LEN || file_len != KEK_LEN as u64 {
            let found = file_len.max(buffer.len() as u64);
            return Err(key_file_error(
                path,
                format!("expected exactly {KEK_LEN} bytes of key material, found {found} bytes"),
            ));
        }
        let mut key = Zeroizing::new([0u8; KEK_LEN]);
        key.copy_from_slice(&buffer[..KEK_LEN]);
        if key.iter().fold(0u8, |acc, byte| acc | byte) == 0 {
            return Err(key_file_error(
                path,
                "key material is all zero bytes, which is a placeholder, not a generated key"
                    .to_owned(),
            ));
        }
        Ok(Self {
            path: path.to_owned(),
            kek: Kek::new(&key)?,
        })
    }

    /// The file this KEK was loaded from or created in.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl KeyProvider for LocalKeyFile {
    fn kek_id(&self) -> &str {
        &self.kek.id
    }

    fn wrap(&self, key: &DataKey, context: &[u8]) -> Result<WrappedKey, CryptoError> {
        self.kek.wrap(key, context)
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<DataKey, CryptoError> {
        self.kek.unwrap(wrapped, context)
    }
}

impl fmt::Debug for LocalKeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKeyFile")
            .field("path", &self.path)
            .field("kek_id", &self.kek.id)
            .finish_non_exhaustive()
    }
}

fn key_file_error(path: &Path, reason: String) -> CryptoError {
    CryptoError::KeyFile {
        path: path.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(byte: u8) -> Kek {
        Kek::new(&[byte; KEK_LEN]).unwrap()
    }

    #[test]
    fn wrapped_layout() {
        let kek = kek(1);
        let key = DataKey::generate().unwrap();
        let wrapped = kek.wrap(&key, b"object-1").unwrap();
        assert_eq!(wrapped.as_bytes().len(), WRAPPED_LEN);
        assert_eq!(wrapped.as_bytes()[0], WRAP_VERSION);
        assert!(!wrapped
            .as_bytes()
            .windows(DATA_KEY_LEN)
            .any(|window| window == key.expose_secret()));
        let again = kek.wrap(&key, b"object-1").unwrap();
        assert_ne!(wrapped, again, "every wrap uses a fresh nonce");
    }

    #[test]
    fn kek_id_is_stable_and_key_dependent() {
        assert_eq!(kek(1).id, kek(1).id);
        assert_ne!(kek(1).id, kek(2).id);
        assert_eq!(kek(1).id.len(), 16);
        assert!(kek(1).id.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn aad_is_unambiguous() {
        let kek = kek(1);
        assert_ne!(kek.aad(b"a"), kek.aad(b"ab"));
        let aad = kek.aad(b"ctx");
        assert!(aad.starts_with(WRAP_LABEL));
        assert!(aad.ends_with(b"ctx"));
    }

    #[test]
    fn unwrap_rejects_wrong_version_and_length() {
        let kek = kek(1);
        let key = DataKey::generate().unwrap();
        let good = kek.wrap(&key, b"c").unwrap().into_bytes();
        let mut bad_version = good.clone();
        bad_version[0] = 2;
        for bytes in [
            bad_version,
            good[..WRAPPED_LEN - 1].to_vec(),
            [good.as_slice(), &[0]].concat(),
            Vec::new(),
        ] {
            assert!(matches!(
                kek.unwrap(&WrappedKey::from_bytes(bytes), b"c"),
                Err(CryptoError::KeyUnwrap)
            ));
        }
    }
}
