//! Error types.
//!
//! No variant carries a password, a code, a token or key material: errors end up in logs and
//! HTTP responses, secrets must not.

/// The system random number generator failed.
///
/// Nothing this crate generates (salts, TOTP secrets, recovery codes, session tokens, server
/// keys) has a safe fallback, so the operation is abandoned.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("the system random number generator failed")]
pub struct RandomError;

/// Hashing a new password failed.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashError {
    /// No salt could be drawn.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The password is longer than [`crate::MAX_PASSWORD_BYTES`]; the policy check
    /// ([`crate::check_password`]) refuses such passwords long before this point.
    #[error("password longer than {max} bytes", max = crate::MAX_PASSWORD_BYTES)]
    TooLong,
    /// The argon2 implementation reported an error; the message is its description.
    #[error("argon2 failed: {0}")]
    Argon2(String),
}

/// Why [`crate::verify_password`] did not accept a password.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// The password is wrong. This is the only variant a user's input can cause.
    #[error("password does not match")]
    Mismatch,
    /// The stored hash is not a PHC string this crate can read, or it asks for something
    /// this crate refuses (another algorithm or version, parameters beyond the accepted
    /// bounds). This is a problem with the stored record, not with the user's input; the
    /// text says what and is safe to log.
    #[error("stored password hash refused: {0}")]
    BadHash(&'static str),
    /// The argon2 implementation reported an error; the message is its description.
    #[error("argon2 failed: {0}")]
    Argon2(String),
}

/// Why a TOTP operation failed.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TotpError {
    /// The code is not six digits (after removing spaces and folding full-width digits).
    #[error("the code must be {digits} digits", digits = crate::TOTP_DIGITS)]
    Format,
    /// The code matches none of the accepted time steps.
    #[error("the code is wrong or has expired")]
    Mismatch,
    /// The code is right but belongs to a time step that was already used (or one before
    /// it): a replay, or a second login within the same 30 seconds.
    #[error("the code was already used; wait for the next one")]
    Replayed,
    /// The clock reads before 1970; no step can be computed.
    #[error("the clock reads before the Unix epoch")]
    Clock,
    /// A stored secret has the wrong length.
    #[error("a TOTP secret must be {len} bytes", len = crate::TOTP_SECRET_LEN)]
    SecretLength,
    /// The login id or organisation code cannot appear in an `otpauth://` label: it is
    /// empty, or contains ':' (the label's separator) or a control character.
    #[error("invalid account name for the otpauth URI: {0}")]
    Account(&'static str),
    /// The URI does not fit in a QR code.
    #[error("QR code: {0}")]
    Qr(String),
}

/// Why a recovery code was not accepted.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryError {
    /// The input is not ten characters of the recovery-code alphabet (after removing
    /// separators and folding case, width and look-alike characters).
    #[error("not a recovery code")]
    Format,
    /// The code matches none of the account's unused codes.
    #[error("recovery code is wrong or already used")]
    Mismatch,
    /// The account has no unused codes left.
    #[error("no unused recovery codes left")]
    Exhausted,
}

/// A presented session token is not one this crate issued: wrong length or alphabet.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("malformed session token")]
pub struct SessionTokenError;

/// A presented CSRF token does not belong to the session.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("CSRF token missing, malformed or not issued for this session")]
pub struct CsrfError;

/// Server key material was refused.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// Fewer than [`crate::ServerKey::MIN_LEN`] bytes were supplied.
    #[error("server key too short: need at least {min} bytes, got {actual}", min = crate::ServerKey::MIN_LEN)]
    TooShort {
        /// Bytes supplied.
        actual: usize,
    },
    /// Key derivation failed.
    #[error("server key derivation failed")]
    Derivation,
}
