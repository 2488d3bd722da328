//! Authentication and authorisation logic for Kenshin Relay (健診リレー).
//!
//! The MHLW 医療情報システムの安全管理に関するガイドライン 第6.0版 asks a system that handles
//! medical information to identify every user individually (one ID per person), to use
//! two-factor authentication, to refuse guessable passwords and store them irreversibly, to
//! throttle failed logins, to end unattended sessions, and to give each user only the access
//! their job needs. This crate is the logic for all of that; it does no I/O. The service
//! stores what it returns and wires it to HTTP.
//!
//! | need | here |
//! |---|---|
//! | password rules (13 characters, or 8 with a second factor; mixed types; not common; not personal) | [`check_password`] |
//! | irreversible storage | [`hash_password`], [`verify_password`], [`needs_rehash`] (argon2id) |
//! | no user enumeration through timing | [`dummy_verify`] |
//! | second factor | [`TotpSecret`], [`totp_uri`], [`totp_qr_svg`], [`verify_totp`] (RFC 6238, replay-safe) |
//! | lost authenticator | [`generate_recovery_codes`], [`use_recovery_code`] |
//! | failed-login throttling | [`LoginThrottle`], [`ThrottlePolicy`] |
//! | sessions | [`SessionToken`], [`SessionId`], [`SessionPolicy`] (15 min idle, 8 h absolute) |
//! | CSRF | [`csrf_token`], [`verify_csrf`] |
//! | least privilege | [`allowed`], [`MATRIX`], [`matrix_markdown`] |
//!
//! # A login, as the service should run it
//!
//! 1. Load the account by login id. Unknown: call [`dummy_verify`], record a failure against
//!    the source address, answer "login id or password is wrong".
//! 2. [`LoginThrottle::check`]; if locked, answer without verifying anything.
//! 3. [`verify_password`]; if TOTP is enrolled, [`verify_totp`] with the stored last step
//!    (or [`use_recovery_code`]). Any failure: [`LoginThrottle::record_failure`], same
//!    answer as for an unknown id.
//! 4. Success: [`LoginThrottle::record_success`], store the new TOTP step, rehash if
//!    [`needs_rehash`], issue a [`SessionToken`] (store its [`SessionId`]) and the
//!    [`csrf_token`].
//!
//! ```
//! use kenshin_auth::{
//!     allowed, check_password, hash_password, verify_password, Action, OrgKindLite,
//!     PasswordContext, Resource, Role, VerifyError,
//! };
//!
//! let context = PasswordContext {
//!     login_id: "taro.yamada",
//!     name_parts: &["山田 太郎", "Yamada Taro"],
//!     org_code: "tokyo-kenshin-01",
//!     second_factor_enrolled: false,
//! };
//! let problems = check_password("Yamada2024!", &context).unwrap_err();
//! let codes: Vec<_> = problems.iter().map(|p| p.code()).collect();
//! assert_eq!(codes, ["too_short", "common_password", "contains_login_id", "contains_name"]);
//!
//! check_password("Kiri-Umbrella-48x", &context).unwrap();
//! let phc = hash_password("Kiri-Umbrella-48x")?;
//! verify_password("Kiri-Umbrella-48x", &phc)?;
//! assert_eq!(verify_password("kiri-umbrella-48x", &phc), Err(VerifyError::Mismatch));
//!
//! // Operator blindness.
//! assert!(!allowed(Role::OpsAdmin, OrgKindLite::Operator, Resource::DeliveryContent, Action::Download));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every secret-dependent comparison in this crate is constant-time (aws-lc's
//! `verify_slices_are_equal` or `hmac::verify`); all randomness comes from aws-lc's
//! `SystemRandom`; secrets are zeroized when dropped and never printed by `Debug`.
//!
//! # Argon2id parameters
//!
//! m = 65536 KiB (64 MiB), t = 2, p = 1, 16-byte salt, 32-byte output. Measured on the 2-core
//! server (release build): one verification takes 76 ms (median), [`dummy_verify`] the same;
//! two concurrent ones about 180 ms. See [`hash`](crate::hash) for the reasoning.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod authz;
mod error;
pub mod hash;
mod hex32;
mod key;
pub mod password;
mod random;
pub mod recovery;
pub mod session;
pub mod source;
pub mod throttle;
pub mod totp;

pub use authz::{
    allowed, matrix_markdown, Action, Actions, Kinds, OrgKindLite, Resource, Role, Rule,
    UnknownName, MATRIX,
};
pub use error::{
    CsrfError, HashError, KeyError, RandomError, RecoveryError, SessionTokenError, TotpError,
    VerifyError,
};
pub use hash::{dummy_verify, hash_password, needs_rehash, verify_password, MAX_PASSWORD_BYTES};
pub use key::ServerKey;
pub use password::{
    check_password, CharClass, Identifier, PasswordContext, PasswordProblem, MIN_CHARACTER_CLASSES,
    MIN_LENGTH, MIN_LENGTH_WITH_SECOND_FACTOR,
};
pub use recovery::{
    generate_recovery_codes, use_recovery_code, RecoveryCode, RecoveryCodeHash, RecoveryCodeSet,
    RECOVERY_CODE_COUNT,
};
pub use session::{csrf_token, verify_csrf, SessionId, SessionPolicy, SessionToken};
pub use source::{sources_of, Source, SourceBlocked, SourcePolicy, SourceThrottle};
pub use throttle::{LockKind, Locked, LoginThrottle, ThrottlePolicy};
pub use totp::{
    totp_code, totp_qr_svg, totp_uri, verify_totp, TotpIssuer, TotpSecret, TOTP_DIGITS,
    TOTP_SECRET_LEN, TOTP_STEP_SECONDS,
};
