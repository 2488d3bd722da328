//! Time-based one-time passwords (RFC 6238) as the second factor.
//!
//! HMAC-SHA-1, 6 digits, 30-second steps: the only combination every authenticator app
//! (Google Authenticator, Microsoft Authenticator, IIJ SmartKey, 1Password, ...) supports.
//! SHA-1's collision weakness does not affect HMAC-SHA-1 (RFC 4226 Appendix A.2 and
//! RFC 6238 §5.1 discuss the security of the construction).
//!
//! # Storage
//!
//! Unlike a password, the secret cannot be hashed: the server needs it to compute codes.
//! The service must store [`TotpSecret::as_bytes`] encrypted (kenshin-crypto), and store the
//! step returned by [`verify_totp`] after each successful login.
//!
//! # Replay protection
//!
//! A code stays valid for up to 90 seconds (the current step and one either side, for clock
//! drift). Someone who watches a code being typed, or intercepts it, could use it again in
//! that window. [`verify_totp`] therefore takes the last step the account used and refuses any
//! code of that step or an earlier one: each code works once, and codes only move forward.
//!
//! # Enrolment
//!
//! [`TotpSecret::generate`] → show [`totp_qr_svg`] of [`totp_uri`] (and
//! [`TotpSecret::to_base32`] for manual entry) → have the user type a code and check it with
//! [`verify_totp`] (last step `None`) → only then store the secret and the step. Both the URI
//! and the SVG contain the secret: serve them with `Cache-Control: no-store`, never log them.

use std::fmt;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use time::OffsetDateTime;
use totp_rs::{Algorithm, TOTP};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{RandomError, TotpError};

/// Digits per code.
pub const TOTP_DIGITS: usize = 6;
/// Seconds per time step.
pub const TOTP_STEP_SECONDS: u64 = 30;
/// Steps accepted on either side of the current one, for clock drift and typing time
/// (RFC 6238 §5.2 recommends at most one).
pub const TOTP_SKEW_STEPS: u64 = 1;
/// Secret length in bytes: 160 bits, the length RFC 4226 §4 recommends and the HMAC-SHA-1
/// block-size sweet spot.
pub const TOTP_SECRET_LEN: usize = 20;

/// The issuer shown in authenticator apps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TotpIssuer {
    /// `Kenshin Relay`.
    #[default]
    English,
    /// `健診リレー`.
    Japanese,
}

impl TotpIssuer {
    /// The issuer string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::English => "Kenshin Relay",
            Self::Japanese => "健診リレー",
        }
    }
}

/// A TOTP shared secret. Zeroized on drop; `Debug` does not print it. Deliberately not
/// `PartialEq`: there is no reason to compare secrets, and `==` would not be constant-time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TotpSecret([u8; TOTP_SECRET_LEN]);

impl TotpSecret {
    /// Draws a new 160-bit secret from the system generator.
    ///
    /// # Errors
    ///
    /// [`RandomError`] if the generator fails.
    pub fn generate() -> Result<Self, RandomError> {
        let mut secret = Self([0u8; TOTP_SECRET_LEN]);
        crate::random::fill(&mut secret.0)?;
        Ok(secret)
    }

    /// A secret loaded from storage.
    ///
    /// # Errors
    ///
    /// [`TotpError::SecretLength`] unless `bytes` is [`TOTP_SECRET_LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TotpError> {
        let array: [u8; TOTP_SECRET_LEN] = bytes.try_into().map_err(|_| TotpError::SecretLength)?;
        Ok(Self(array))
    }

    /// The raw secret, for encrypted storage.
    pub fn as_bytes(&self) -> &[u8; TOTP_SECRET_LEN] {
        &self.0
    }

    /// The secret in unpadded RFC 4648 base32, as authenticator apps expect for manual
    /// entry (32 characters).
    pub fn to_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(totp(&self.0, TOTP_DIGITS, None, String::new()).get_secret_base32())
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

/// A totp-rs generator for `secret`. `TOTP::new_unchecked` because every input is checked
/// here: the secret has a fixed length, the digits are 6 (or 8 in the RFC test), the account
/// name is validated by [`totp_uri`]. The copy of the secret inside is zeroized on drop (the
/// `zeroize` feature of totp-rs).
fn totp(secret: &[u8], digits: usize, issuer: Option<String>, account: String) -> TOTP {
    TOTP::new_unchecked(
        Algorithm::SHA1,
        digits,
        // totp-rs's own window is not used: the step arithmetic is done in `verify_totp`.
        0,
        TOTP_STEP_SECONDS,
        secret.to_vec(),
        issuer,
        account,
    )
}

/// The code for time step `step` (RFC 6238: HOTP with the step number as counter).
fn code_at_step(secret: &[u8], step: u64, digits: usize) -> Zeroizing<String> {
    // `step` comes from a Unix time divided by the step length, so multiplying back cannot
    // overflow; saturating keeps that true even for a caller-chosen step.
    Zeroizing::new(
        totp(secret, digits, None, String::new()).generate(step.saturating_mul(TOTP_STEP_SECONDS)),
    )
}

/// The `otpauth://totp/...` URI to put in the QR code: label `Issuer:login@org`, parameters
/// `secret` and `issuer` (digits 6, SHA-1 and period 30 are the defaults and omitted, which
/// the most apps handle best). Percent-encoded, so the Japanese issuer is fine.
///
/// # Errors
///
/// [`TotpError::Account`] if `login_id` or `org_code` is empty or contains `:` or a control
/// character.
pub fn totp_uri(
    secret: &TotpSecret,
    login_id: &str,
    org_code: &str,
    issuer: TotpIssuer,
) -> Result<Zeroizing<String>, TotpError> {
    for part in [login_id, org_code] {
        if part.is_empty() {
            return Err(TotpError::Account("empty login id or organisation code"));
        }
        // ':' separates issuer and account in the label; control characters have no business
        // in something an app displays.
        if part.contains(':') || part.chars().any(char::is_control) {
            return Err(TotpError::Account("contains ':' or a control character"));
        }
    }
    let account = format!("{login_id}@{org_code}");
    Ok(Zeroizing::new(
        totp(
            &secret.0,
            TOTP_DIGITS,
            Some(issuer.as_str().to_owned()),
            account,
        )
        .get_url(),
    ))
}

/// The QR code of `uri` as a standalone SVG document (black on white, quiet zone included,
/// at least 256×256). Error correction level M, what authenticator apps are tested with.
///
/// # Errors
///
/// [`TotpError::Qr`] if the URI is too long for a QR code (it is about 120 bytes; the limit
/// is over 2000).
pub fn totp_qr_svg(uri: &str) -> Result<Zeroizing<String>, TotpError> {
    let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M)
        .map_err(|e| TotpError::Qr(e.to_string()))?;
    Ok(Zeroizing::new(
        code.render::<svg::Color<'_>>()
            .min_dimensions(256, 256)
            .quiet_zone(true)
            .build(),
    ))
}

/// Checks `code` at time `now` and returns the time step it belongs to, which the service
/// stores as the account's new `last_used_step`.
///
/// Accepted: the current step and one either side, but only steps after `last_used_step`.
/// Spaces (also full-width) are ignored and full-width digits read as digits, because users
/// copy codes as displayed (`123 456`) or type them with a Japanese IME on.
///
/// All candidate steps are compared, in constant time each, whatever matches; which step
/// matched does not show in the timing.
///
/// # Errors
///
/// [`TotpError::Format`] if the input is not six digits; [`TotpError::Replayed`] if it is the
/// code of a step at or before `last_used_step`; [`TotpError::Mismatch`] otherwise;
/// [`TotpError::Clock`] if `now` is before 1970.
pub fn verify_totp(
    secret: &TotpSecret,
    code: &str,
    now: OffsetDateTime,
    last_used_step: Option<u64>,
) -> Result<u64, TotpError> {
    let presented = normalize_code(code).ok_or(TotpError::Format)?;
    let current =
        u64::try_from(now.unix_timestamp()).map_err(|_| TotpError::Clock)? / TOTP_STEP_SECONDS;

    let mut accepted: Option<u64> = None;
    let mut replayed = false;
    let first = current.saturating_sub(TOTP_SKEW_STEPS);
    let last = current.saturating_add(TOTP_SKEW_STEPS);
    for step in first..=last {
        let expected = code_at_step(&secret.0, step, TOTP_DIGITS);
        if verify_slices_are_equal(expected.as_bytes(), presented.as_bytes()).is_ok() {
            if last_used_step.is_some_and(|used| step <= used) {
                replayed = true;
            } else {
                // Ascending loop: the latest matching step wins, so the stored step moves as
                // far forward as this code justifies.
                accepted = Some(step);
            }
        }
    }
    match (accepted, replayed) {
        (Some(step), _) => Ok(step),
        (None, true) => Err(TotpError::Replayed),
        (None, false) => Err(TotpError::Mismatch),
    }
}

/// The code an authenticator app shows for `secret` at time `at` (six digits). For tests and
/// for tools that act as a second device; the service itself only verifies.
pub fn totp_code(secret: &TotpSecret, at: OffsetDateTime) -> Zeroizing<String> {
    let step = u64::try_from(at.unix_timestamp()).unwrap_or(0) / TOTP_STEP_SECONDS;
    code_at_step(&secret.0, step, TOTP_DIGITS)
}

/// Six ASCII digits, or `None`.
fn normalize_code(code: &str) -> Option<Zeroizing<String>> {
    // Bound the work on hostile input before collecting anything.
    if code.len() > 64 {
        return None;
    }
    let mut digits = Zeroizing::new(String::with_capacity(TOTP_DIGITS));
    for c in code.chars() {
        match c {
            ' ' | '\u{3000}' => {}
            '0'..='9' => digits.push(c),
            '０'..='９' => digits.push(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
            _ => return None,
        }
    }
    (digits.len() == TOTP_DIGITS).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    /// RFC 6238 Appendix B, SHA-1 rows: 8 digits, seed "12345678901234567890".
    #[test]
    fn rfc6238_sha1_vectors() {
        let seed = b"12345678901234567890";
        let vectors: [(u64, &str); 6] = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, expected) in vectors {
            let step = time / TOTP_STEP_SECONDS;
            assert_eq!(code_at_step(seed, step, 8).as_str(), expected, "T = {time}");
        }
        // The 6-digit code is the same truncated value modulo 10^6: the last six digits.
        assert_eq!(code_at_step(seed, 59 / 30, 6).as_str(), "287082");
    }

    #[test]
    fn verify_window_and_replay() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        let now = at(1_111_111_111); // step 37037037
        let step = 1_111_111_111 / 30;
        let code_now = code_at_step(&secret.0, step, 6);
        let code_prev = code_at_step(&secret.0, step - 1, 6);
        let code_next = code_at_step(&secret.0, step + 1, 6);
        let code_old = code_at_step(&secret.0, step - 2, 6);

        assert_eq!(verify_totp(&secret, &code_now, now, None), Ok(step));
        assert_eq!(verify_totp(&secret, &code_prev, now, None), Ok(step - 1));
        assert_eq!(verify_totp(&secret, &code_next, now, None), Ok(step + 1));
        assert_eq!(
            verify_totp(&secret, &code_old, now, None),
            Err(TotpError::Mismatch)
        );

        // The same code twice: refused the second time.
        let used = verify_totp(&secret, &code_now, now, None).unwrap();
        assert_eq!(
            verify_totp(&secret, &code_now, now, Some(used)),
            Err(TotpError::Replayed)
        );
        // An earlier (still in-window) code after a later one: refused.
        assert_eq!(
            verify_totp(&secret, &code_prev, now, Some(used)),
            Err(TotpError::Replayed)
        );
        // The next step's code is still fine.
        assert_eq!(
            verify_totp(&secret, &code_next, now, Some(used)),
            Ok(step + 1)
        );
    }

    #[test]
    fn input_forms() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        let now = at(59);
        let code = code_at_step(&secret.0, 1, 6); // "287082"
        assert_eq!(code.as_str(), "287082");
        assert_eq!(verify_totp(&secret, "287 082", now, None), Ok(1));
        assert_eq!(verify_totp(&secret, "２８７０８２", now, None), Ok(1));
        assert_eq!(verify_totp(&secret, "２８７　０８２", now, None), Ok(1));
        for bad in ["", "28708", "2870821", "28708a", "287-082", "٢٨٧٠٨٢"] {
            assert_eq!(
                verify_totp(&secret, bad, now, None),
                Err(TotpError::Format),
                "{bad}"
            );
        }
        assert_eq!(
            verify_totp(&secret, "287082", at(-1), None),
            Err(TotpError::Clock)
        );
        // At the epoch there is no previous step; no underflow.
        assert!(verify_totp(&secret, "000000", at(0), None).is_err());
    }

    #[test]
    fn secret_generation_and_encoding() {
        let a = TotpSecret::generate().unwrap();
        let b = TotpSecret::generate().unwrap();
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_eq!(a.to_base32().len(), 32);
        assert_eq!(format!("{a:?}"), "TotpSecret(..)");
        assert!(matches!(
            TotpSecret::from_bytes(&[0; 16]),
            Err(TotpError::SecretLength)
        ));
        let known = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        assert_eq!(
            known.to_base32().as_str(),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
    }

    #[test]
    fn uri_and_qr() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        let uri = totp_uri(
            &secret,
            "taro.yamada",
            "tokyo-kenshin-01",
            TotpIssuer::English,
        )
        .unwrap();
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/Kenshin%20Relay:taro.yamada%40tokyo-kenshin-01\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Kenshin%20Relay"
        );
        let ja = totp_uri(&secret, "taro", "org1", TotpIssuer::Japanese).unwrap();
        assert!(ja.starts_with(
            "otpauth://totp/%E5%81%A5%E8%A8%BA%E3%83%AA%E3%83%AC%E3%83%BC:taro%40org1?"
        ));
        assert!(ja.ends_with("&issuer=%E5%81%A5%E8%A8%BA%E3%83%AA%E3%83%AC%E3%83%BC"));

        for (login, org) in [("a:b", "org"), ("a", ""), ("a\n", "org"), ("", "org")] {
            assert!(matches!(
                totp_uri(&secret, login, org, TotpIssuer::English),
                Err(TotpError::Account(_))
            ));
        }

        let svg = totp_qr_svg(&uri).unwrap();
        assert!(svg.contains("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(!svg.contains("<script"));
    }

    proptest::proptest! {
        #[test]
        fn a_fresh_code_verifies_once(unix in 30i64..4_000_000_000, seed in proptest::array::uniform20(0u8..)) {
            let secret = TotpSecret(seed);
            let step = unix as u64 / 30;
            let code = code_at_step(&secret.0, step, 6);
            let got = verify_totp(&secret, &code, at(unix), Some(step - 1));
            // Another in-window step could produce the same six digits (probability ~2e-6);
            // it must then be a later one.
            proptest::prop_assert!(matches!(got, Ok(s) if s >= step));
            let got = got.unwrap();
            proptest::prop_assert!(verify_totp(&secret, &code, at(unix), Some(got)).is_err());
        }
    }
}
