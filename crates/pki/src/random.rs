//! Randomness for serial numbers and export passwords, all from aws-lc-rs'
//! `SystemRandom` so the crate has a single, FIPS-capable entropy source.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::error::PkiError;

/// Length of generated certificate serial numbers in bytes.
pub(crate) const SERIAL_LEN: usize = 16;

/// Length of generated PKCS#12 passwords in characters.
const PASSWORD_LEN: usize = 24;

/// Password alphabet without look-alikes (0/O/o, 1/l/I), because these passwords are
/// read off a screen or a printed handover sheet and typed in at the institution.
const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";

fn fill(buf: &mut [u8]) -> Result<(), PkiError> {
    SystemRandom::new().fill(buf).map_err(|_| PkiError::Random)
}

/// A random positive serial number of exactly [`SERIAL_LEN`] DER content octets.
///
/// The first byte is forced into `0x40..=0x7f`: the top bit clear keeps the INTEGER
/// positive without a sign-padding byte, and the next bit set prevents a leading
/// zero byte that DER would strip. Hence the hex of these bytes is exactly what
/// appears in the certificate, and 126 bits stay random (RFC 5280 and the CA/B
/// Forum ask for at least 64).
pub(crate) fn serial_number() -> Result<[u8; SERIAL_LEN], PkiError> {
    let mut serial = [0u8; SERIAL_LEN];
    fill(&mut serial)?;
    serial[0] = (serial[0] & 0x3f) | 0x40;
    Ok(serial)
}

/// Random password for PKCS#12 exports: 24 characters from a 56-character
/// unambiguous alphabet (about 139 bits), drawn from aws-lc-rs `SystemRandom`.
///
/// Bytes are drawn by rejection sampling so every character is equally likely. The
/// string is pre-allocated at its final size so no copy of the password is left
/// behind in a freed buffer, and it is wiped when the returned value is dropped.
///
/// # Panics
///
/// Panics if the operating system's random number generator fails. That only
/// happens on a broken system where no key could be generated either, and there
/// is no meaningful fallback for a password generator.
pub fn generate_password() -> Zeroizing<String> {
    try_generate_password().expect("the system random number generator failed")
}

fn try_generate_password() -> Result<Zeroizing<String>, PkiError> {
    // Largest multiple of the alphabet size that fits in a byte; bytes at or above
    // it are discarded so `byte % len` is uniform.
    let len = PASSWORD_ALPHABET.len();
    let limit = 256 - 256 % len;
    let mut password = Zeroizing::new(String::with_capacity(PASSWORD_LEN));
    let mut pool = Zeroizing::new([0u8; 64]);
    while password.len() < PASSWORD_LEN {
        fill(pool.as_mut_slice())?;
        for &byte in pool.iter() {
            if usize::from(byte) < limit {
                password.push(char::from(PASSWORD_ALPHABET[usize::from(byte) % len]));
                if password.len() == PASSWORD_LEN {
                    break;
                }
            }
        }
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn passwords_have_the_promised_shape() {
        let mut seen = HashSet::new();
        for _ in 0..50 {
            let password = generate_password();
            assert_eq!(password.len(), PASSWORD_LEN);
            assert!(password.bytes().all(|b| PASSWORD_ALPHABET.contains(&b)));
            assert!(seen.insert(password.to_string()), "repeated password");
        }
    }

    #[test]
    fn alphabet_has_no_look_alikes_or_duplicates() {
        for bad in b"0Oo1lI" {
            assert!(!PASSWORD_ALPHABET.contains(bad), "{}", char::from(*bad));
        }
        let unique: HashSet<_> = PASSWORD_ALPHABET.iter().collect();
        assert_eq!(unique.len(), PASSWORD_ALPHABET.len());
    }

    #[test]
    fn serials_are_positive_and_full_length() {
        for _ in 0..200 {
            let serial = serial_number().unwrap();
            assert!((0x40..=0x7f).contains(&serial[0]));
        }
        assert_ne!(serial_number().unwrap(), serial_number().unwrap());
    }
}
