//! One-time recovery codes, for when the authenticator app is lost.
//!
//! # Format
//!
//! Ten codes per set, each ten characters shown as `xxxx-xxxx-xx`, drawn uniformly from the
//! 32 characters `0-9 a-z` without `i l o u` (Crockford's base32 alphabet): 50 bits each. The
//! missing letters are the ones people confuse with `1`, `0` and `v`; on input, `i`/`l` are
//! read as `1` and `o` as `0`, case and full width are folded, and hyphens and spaces are
//! ignored, so a code copied from paper by hand still works.
//!
//! # Storage: HMAC-SHA-256 with the server key, not argon2
//!
//! A recovery code is a random 50-bit secret, not something a person chose. Slow hashing
//! exists to make guesses at *low-entropy* secrets expensive; for a uniformly random code the
//! defence against a stolen database is that the hash cannot be computed without a key the
//! database does not contain. HMAC with a key derived from the [`ServerKey`] gives exactly
//! that, and:
//!
//! * a guess is checked against all remaining codes at the cost of one HMAC, instead of up to
//!   ten argon2 runs (about a second of CPU on the 2-core server per attempt, which would be
//!   a denial-of-service lever and would make the timing depend on how many codes are left);
//! * each remaining code is compared in constant time, and all of them always are.
//!
//! The cost is that someone holding both the database *and* the server key can brute-force a
//! code (2^50 HMACs per code). Such an attacker controls the server already, and a recovery
//! code only replaces the second factor: the password (argon2id) is still required.
//!
//! The MAC input binds the account id, so hashes copied to another account's record do not
//! work there.
//!
//! # Consuming a code
//!
//! [`use_recovery_code`] removes the matching hash from the set and returns it. The service
//! must write the change back *conditionally*, e.g. delete the row holding that hash and check
//! that exactly one row was deleted, or update the set only if it still equals what was read;
//! otherwise two concurrent requests could both spend the same code.

use std::fmt;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{RandomError, RecoveryError};
use crate::key::ServerKey;

/// Codes per set.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters per code, without the hyphens.
pub const RECOVERY_CODE_LEN: usize = 10;

/// Crockford's base32 alphabet, lowercase. 32 symbols, so `byte & 31` is uniform.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A recovery code in display form (`xxxx-xxxx-xx`). Zeroized on drop; `Debug` hides it.
pub struct RecoveryCode(Zeroizing<String>);

impl RecoveryCode {
    /// The code as shown to the user.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(..)")
    }
}

/// The stored form of one code: HMAC-SHA-256 under the recovery key. Serialises as hex.
///
/// `==` on this type is an ordinary comparison; [`use_recovery_code`] does its own, in
/// constant time.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecoveryCodeHash([u8; 32]);

impl fmt::Debug for RecoveryCodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecoveryCodeHash({})", self.to_hex())
    }
}

crate::hex32::hex32!(RecoveryCodeHash);

/// The unused codes of one account, as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCodeSet {
    hashes: Vec<RecoveryCodeHash>,
}

impl RecoveryCodeSet {
    /// A set loaded from storage.
    pub fn from_hashes(hashes: Vec<RecoveryCodeHash>) -> Self {
        Self { hashes }
    }

    /// The hashes of the unused codes.
    pub fn hashes(&self) -> &[RecoveryCodeHash] {
        &self.hashes
    }

    /// How many unused codes are left (worth showing, and warning about when low).
    pub fn remaining(&self) -> usize {
        self.hashes.len()
    }
}

/// Generates a new set of [`RECOVERY_CODE_COUNT`] codes for `account_id` (the account's
/// stable identifier, not its changeable login id). Show the codes once; store the set. A new
/// set replaces the old one entirely.
///
/// # Errors
///
/// [`RandomError`] if the system generator fails.
pub fn generate_recovery_codes(
    key: &ServerKey,
    account_id: &str,
) -> Result<(Vec<RecoveryCode>, RecoveryCodeSet), RandomError> {
    let mut codes = Vec::with_capacity(RECOVERY_CODE_COUNT);
    let mut hashes: Vec<RecoveryCodeHash> = Vec::with_capacity(RECOVERY_CODE_COUNT);
    while codes.len() < RECOVERY_CODE_COUNT {
        let mut random = Zeroizing::new([0u8; RECOVERY_CODE_LEN]);
        crate::random::fill(random.as_mut())?;
        let mut canonical = Zeroizing::new(String::with_capacity(RECOVERY_CODE_LEN));
        for &b in random.iter() {
            canonical.push(char::from(ALPHABET[usize::from(b & 31)]));
        }
        let hash = mac(key, account_id, &canonical);
        // A repeat within one set has probability about 2^-44; regenerating keeps "one code,
        // one hash" exact instead of almost.
        if hashes.contains(&hash) {
            continue;
        }
        hashes.push(hash);
        codes.push(RecoveryCode(display_form(&canonical)));
    }
    Ok((codes, RecoveryCodeSet { hashes }))
}

/// Checks `presented` against the unused codes of `account_id` and, if it matches one,
/// removes that one from `set` and returns its hash (for a conditional delete, see the module
/// documentation).
///
/// # Errors
///
/// [`RecoveryError::Format`] if the input cannot be a code, [`RecoveryError::Exhausted`] if no
/// codes are left, [`RecoveryError::Mismatch`] otherwise. `set` is unchanged on error.
pub fn use_recovery_code(
    set: &mut RecoveryCodeSet,
    key: &ServerKey,
    account_id: &str,
    presented: &str,
) -> Result<RecoveryCodeHash, RecoveryError> {
    let canonical = canonicalize(presented).ok_or(RecoveryError::Format)?;
    if set.hashes.is_empty() {
        return Err(RecoveryError::Exhausted);
    }
    let candidate = mac(key, account_id, &canonical);
    // Compare against every entry without stopping early, so the timing says nothing about
    // which (or whether any) entry matched.
    let mut found = None;
    for (index, stored) in set.hashes.iter().enumerate() {
        if verify_slices_are_equal(&stored.0, &candidate.0).is_ok() {
            found = Some(index);
        }
    }
    match found {
        Some(index) => Ok(set.hashes.remove(index)),
        None => Err(RecoveryError::Mismatch),
    }
}

/// HMAC-SHA-256(recovery key, len(account_id) as u64 BE ‖ account_id ‖ code). The length
/// prefix keeps (account, code) pairs unambiguous.
fn mac(key: &ServerKey, account_id: &str, canonical: &str) -> RecoveryCodeHash {
    let mut ctx = hmac::Context::with_key(key.recovery_key());
    ctx.update(&(account_id.len() as u64).to_be_bytes());
    ctx.update(account_id.as_bytes());
    ctx.update(canonical.as_bytes());
    let tag = ctx.sign();
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    RecoveryCodeHash(out)
}

fn display_form(canonical: &str) -> Zeroizing<String> {
    let mut shown = Zeroizing::new(String::with_capacity(RECOVERY_CODE_LEN + 2));
    for (i, c) in canonical.chars().enumerate() {
        if i == 4 || i == 8 {
            shown.push('-');
        }
        shown.push(c);
    }
    shown
}

/// The canonical ten characters of a presented code, or `None`.
fn canonicalize(presented: &str) -> Option<Zeroizing<String>> {
    // Bound the work on hostile input before collecting anything.
    if presented.len() > 64 {
        return None;
    }
    let mut out = Zeroizing::new(String::with_capacity(RECOVERY_CODE_LEN));
    for c in presented.chars() {
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFF01 + 0x21)?,
            '\u{3000}' => ' ',
            _ => c,
        }
        .to_ascii_lowercase();
        let c = match c {
            '-' | ' ' => continue,
            'i' | 'l' => '1',
            'o' => '0',
            _ => c,
        };
        if !ALPHABET.contains(&u8::try_from(c).ok()?) {
            return None;
        }
        out.push(c);
    }
    (out.len() == RECOVERY_CODE_LEN).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn key() -> ServerKey {
        ServerKey::from_secret(&[42u8; 32]).unwrap()
    }

    #[test]
    fn generate_and_use_each_code_once() {
        let key = key();
        let (codes, mut set) = generate_recovery_codes(&key, "user-1").unwrap();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        assert_eq!(set.remaining(), RECOVERY_CODE_COUNT);
        let distinct: HashSet<_> = codes.iter().map(RecoveryCode::as_str).collect();
        assert_eq!(distinct.len(), RECOVERY_CODE_COUNT);

        for (used, code) in codes.iter().enumerate() {
            let shown = code.as_str();
            assert_eq!(shown.len(), 12);
            assert_eq!(&shown[4..5], "-");
            assert_eq!(&shown[9..10], "-");
            assert!(shown.bytes().all(|b| b == b'-' || ALPHABET.contains(&b)));

            let before = set.clone();
            let spent = use_recovery_code(&mut set, &key, "user-1", shown).unwrap();
            assert_eq!(set.remaining(), RECOVERY_CODE_COUNT - used - 1);
            assert!(before.hashes().contains(&spent));
            assert!(!set.hashes().contains(&spent));
            // Exactly one consumed; the same code a second time is refused.
            let after = set.clone();
            let again = use_recovery_code(&mut set, &key, "user-1", shown);
            assert!(matches!(
                again,
                Err(RecoveryError::Mismatch | RecoveryError::Exhausted)
            ));
            assert_eq!(set, after);
        }
        assert_eq!(
            use_recovery_code(&mut set, &key, "user-1", codes[0].as_str()),
            Err(RecoveryError::Exhausted)
        );
    }

    #[test]
    fn lenient_input() {
        let key = key();
        let (codes, set) = generate_recovery_codes(&key, "user-1").unwrap();
        let shown = codes[0].as_str().to_owned();
        let variants = [
            shown.to_uppercase(),
            shown.replace('-', ""),
            shown.replace('-', " "),
            shown.replace('0', "o").replace('1', "l"),
            shown
                .chars()
                .map(|c| {
                    if c.is_ascii_graphic() {
                        char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap()
                    } else {
                        c
                    }
                })
                .collect::<String>(),
        ];
        for v in variants {
            let mut s = set.clone();
            assert!(use_recovery_code(&mut s, &key, "user-1", &v).is_ok(), "{v}");
        }
        let mut s = set.clone();
        for bad in [
            "",
            "abcd-efgh-j",
            "abcd-efgh-jkk",
            "abcd-efgh-u1",
            "ａｂｃｄ–efgh-jk",
        ] {
            assert_eq!(
                use_recovery_code(&mut s, &key, "user-1", bad),
                Err(RecoveryError::Format),
                "{bad}"
            );
        }
        assert_eq!(s, set);
    }

    #[test]
    fn bound_to_account_and_key() {
        let key = key();
        let (codes, set) = generate_recovery_codes(&key, "user-1").unwrap();
        let mut s = set.clone();
        assert_eq!(
            use_recovery_code(&mut s, &key, "user-2", codes[0].as_str()),
            Err(RecoveryError::Mismatch)
        );
        let other_key = ServerKey::from_secret(&[43u8; 32]).unwrap();
        assert_eq!(
            use_recovery_code(&mut s, &other_key, "user-1", codes[0].as_str()),
            Err(RecoveryError::Mismatch)
        );
        assert_eq!(s, set);
    }

    #[test]
    fn serde_round_trip() {
        let (_, set) = generate_recovery_codes(&key(), "user-1").unwrap();
        let json = serde_json::to_string(&set).unwrap();
        assert!(json.starts_with("{\"hashes\":[\""));
        let back: RecoveryCodeSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, set);
        assert!(serde_json::from_str::<RecoveryCodeSet>("{\"hashes\":[\"zz\"]}").is_err());
    }

    #[test]
    fn alphabet_is_unambiguous() {
        assert_eq!(ALPHABET.len(), 32);
        for b in b"ilou" {
            assert!(!ALPHABET.contains(b));
        }
        let unique: HashSet<_> = ALPHABET.iter().collect();
        assert_eq!(unique.len(), 32);
    }
}
