//! Per-object data-encryption keys.

use core::fmt;

use aws_lc_rs::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use aws_lc_rs::rand;
use zeroize::Zeroize;

use crate::CryptoError;

/// Length of a [`DataKey`] in bytes (AES-256).
pub const DATA_KEY_LEN: usize = 32;

/// A 256-bit data-encryption key.
///
/// Every stored object gets its own, freshly generated key, so a nonce or key compromise is
/// confined to one object and keys never need rotating in place: rotating the KEK only
/// re-wraps them.
///
/// The key bytes live in a heap allocation that never moves (moving a `DataKey` moves only
/// the pointer, so no stray stack copies are left behind) and are zeroized on drop. `Debug`
/// prints no key material. The type is intentionally neither `Clone` nor comparable: a key
/// should have one owner, and comparisons of secrets belong in [`crate::constant_time_eq`].
pub struct DataKey {
    bytes: Box<[u8; DATA_KEY_LEN]>,
}

impl DataKey {
    /// Generates a fresh key from the system CSPRNG (via aws-lc).
    ///
    /// # Errors
    /// [`CryptoError::Unspecified`] if the random number generator fails.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut key = Self::zeroed();
        rand::fill(&mut key.bytes[..])
            .map_err(|_| CryptoError::Unspecified("system random number generator failed"))?;
        Ok(key)
    }

    /// Builds a key from raw bytes, for [`crate::KeyProvider`] implementations that unwrap
    /// keys themselves (an HSM provider, for instance).
    ///
    /// The bytes are copied; the caller remains responsible for zeroizing its own buffer.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKeyLength`] unless `bytes` is exactly [`DATA_KEY_LEN`] long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != DATA_KEY_LEN {
            return Err(CryptoError::InvalidKeyLength {
                expected: DATA_KEY_LEN,
                actual: bytes.len(),
            });
        }
        let mut key = Self::zeroed();
        key.bytes.copy_from_slice(bytes);
        Ok(key)
    }

    /// The raw key bytes, for [`crate::KeyProvider`] implementations that wrap keys
    /// themselves. Anything else should hand the `DataKey` to this crate instead.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8; DATA_KEY_LEN] {
        &self.bytes
    }

    /// A ready-to-use AES-256-GCM key. The expanded key schedule lives inside aws-lc,
    /// which cleanses it when the returned key is dropped.
    pub(crate) fn aead_key(&self) -> Result<LessSafeKey, CryptoError> {
        UnboundKey::new(&AES_256_GCM, &self.bytes[..])
            .map(LessSafeKey::new)
            .map_err(|_| CryptoError::Unspecified("AES-256-GCM key setup failed"))
    }

    /// An all-zero key to be filled in place (by an unwrap) through
    /// [`expose_secret_mut`](Self::expose_secret_mut), so the key bytes are produced directly
    /// in their final heap location and wiped on every path, including failure.
    pub(crate) fn zeroed() -> Self {
        Self {
            bytes: Box::new([0u8; DATA_KEY_LEN]),
        }
    }

    pub(crate) fn expose_secret_mut(&mut self) -> &mut [u8; DATA_KEY_LEN] {
        &mut self.bytes
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_differ_and_are_not_all_zero() {
        let a = DataKey::generate().unwrap();
        let b = DataKey::generate().unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_ne!(a.expose_secret(), &[0u8; DATA_KEY_LEN]);
    }

    #[test]
    fn debug_reveals_nothing() {
        let key = DataKey::from_slice(&[0xAB; DATA_KEY_LEN]).unwrap();
        let shown = format!("{key:?}");
        assert_eq!(shown, "DataKey(<redacted>)");
    }

    #[test]
    fn from_slice_checks_length() {
        for len in [0, 16, 31, 33, 64] {
            let err = DataKey::from_slice(&vec![1u8; len]).unwrap_err();
            assert!(
                matches!(err, CryptoError::InvalidKeyLength { expected: 32, actual } if actual == len)
            );
        }
        let key = DataKey::from_slice(&[7u8; DATA_KEY_LEN]).unwrap();
        assert_eq!(key.expose_secret(), &[7u8; DATA_KEY_LEN]);
    }
}
