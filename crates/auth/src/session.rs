//! Session tokens, session lifetime, and CSRF tokens.
//!
//! # Tokens
//!
//! A session token is 256 bits from the system generator, sent to the browser as 43
//! characters of unpadded base64url (in a `Secure; HttpOnly; SameSite=Strict` cookie). The
//! server stores only its SHA-256, the [`SessionId`]: a copy of the sessions table does not
//! contain anything that can be presented as a session. A fast hash is enough because the
//! token is uniformly random and 256 bits long; there is nothing to guess.
//!
//! The service looks a presented token up by [`SessionId::from_token`] with an ordinary
//! database index. Any timing difference of that lookup can at most reveal something about a
//! *hash* of a guessed token, which does not help find a valid one.
//!
//! # Lifetime
//!
//! [`SessionPolicy`]: a session ends after 15 minutes without activity (the guideline asks
//! that an unattended logged-in screen not stay usable) and 8 hours after login whatever
//! happens (one working day; a stolen session does not live for ever). The service refreshes
//! `last_seen` on each authenticated request and deletes the session at logout.
//!
//! # CSRF
//!
//! The CSRF token of a session is HMAC-SHA-256 of its [`SessionId`] under a key derived from
//! the [`ServerKey`], as unpadded base64url. It needs no storage, differs per session, and
//! cannot be computed from anything the browser or the database holds. Pages embed it; every
//! state-changing request must send it back (header or form field) and pass
//! [`verify_csrf`], which compares in constant time.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::error::{CsrfError, RandomError, SessionTokenError};
use crate::key::ServerKey;

/// Bytes of randomness in a session token.
pub const SESSION_TOKEN_BYTES: usize = 32;
/// Length of a session token in characters (unpadded base64url of 32 bytes).
pub const SESSION_TOKEN_CHARS: usize = 43;
/// Length of a CSRF token in characters (unpadded base64url of a 32-byte HMAC).
pub const CSRF_TOKEN_CHARS: usize = 43;

/// A session token as handed to the browser. Zeroized on drop; `Debug` hides it.
pub struct SessionToken(Zeroizing<String>);

impl SessionToken {
    /// Draws a new token and returns it with its [`SessionId`], the value to store.
    ///
    /// # Errors
    ///
    /// [`RandomError`] if the system generator fails.
    pub fn generate() -> Result<(Self, SessionId), RandomError> {
        let mut raw = Zeroizing::new([0u8; SESSION_TOKEN_BYTES]);
        crate::random::fill(raw.as_mut())?;
        let id = SessionId::of_raw(raw.as_ref());
        Ok((
            Self(Zeroizing::new(URL_SAFE_NO_PAD.encode(raw.as_ref()))),
            id,
        ))
    }

    /// The token, for the cookie.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

/// SHA-256 of a session token: the session's identifier in storage. Serialises as hex.
///
/// Not a secret in the sense that the token is (it cannot be turned back into one), but not
/// for publication either: it is the key under which the session's CSRF token is derived.
/// `Debug` shows only a prefix, enough to correlate log lines.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId([u8; 32]);

impl SessionId {
    /// The id of a presented token.
    ///
    /// # Errors
    ///
    /// [`SessionTokenError`] unless `token` is exactly 43 characters of canonical unpadded
    /// base64url, as [`SessionToken::generate`] produces; anything else is refused before it
    /// reaches the database.
    pub fn from_token(token: &str) -> Result<Self, SessionTokenError> {
        if token.len() != SESSION_TOKEN_CHARS {
            return Err(SessionTokenError);
        }
        let mut raw = Zeroizing::new([0u8; SESSION_TOKEN_BYTES]);
        // The base64 engine rejects non-canonical trailing bits, so each token has exactly one
        // accepted spelling.
        let n = URL_SAFE_NO_PAD
            .decode_slice(token, raw.as_mut())
            .map_err(|_| SessionTokenError)?;
        if n != SESSION_TOKEN_BYTES {
            return Err(SessionTokenError);
        }
        Ok(Self::of_raw(raw.as_ref()))
    }

    fn of_raw(raw: &[u8]) -> Self {
        let digest = digest::digest(&digest::SHA256, raw);
        let mut id = [0u8; 32];
        id.copy_from_slice(digest.as_ref());
        Self(id)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({}…)", hex::encode(&self.0[..4]))
    }
}

crate::hex32::hex32!(SessionId);

/// How long sessions live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Ends the session after this long without a request.
    pub idle: Duration,
    /// Ends the session this long after login, however active.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    /// 15 minutes idle, 8 hours absolute.
    fn default() -> Self {
        Self {
            idle: Duration::minutes(15),
            absolute: Duration::hours(8),
        }
    }
}

impl SessionPolicy {
    /// Whether a session created at `created` and last used at `last_seen` is still valid at
    /// `now`: less than `idle` since `last_seen` and less than `absolute` since `created`.
    ///
    /// Timestamps in the wrong order (`last_seen` before `created`, or either after `now`)
    /// make the session invalid. They mean a corrupt record or a clock that jumped backwards;
    /// logging in again is cheap, trusting a session whose age cannot be told is not.
    pub fn is_valid(
        &self,
        created: OffsetDateTime,
        last_seen: OffsetDateTime,
        now: OffsetDateTime,
    ) -> bool {
        created <= last_seen
            && last_seen <= now
            && now - last_seen < self.idle
            && now - created < self.absolute
    }

    /// When the session ends if it is not used again: the earlier of the idle and the
    /// absolute deadline. Saturates instead of overflowing for absurd inputs.
    pub fn expires_at(&self, created: OffsetDateTime, last_seen: OffsetDateTime) -> OffsetDateTime {
        let idle_end = last_seen.saturating_add(self.idle);
        let absolute_end = created.saturating_add(self.absolute);
        idle_end.min(absolute_end)
    }
}

/// The CSRF token of the session `session`.
pub fn csrf_token(key: &ServerKey, session: &SessionId) -> String {
    let tag = hmac::sign(key.csrf_key(), &session.0);
    URL_SAFE_NO_PAD.encode(tag.as_ref())
}

/// Checks a presented CSRF token against the session, in constant time.
///
/// # Errors
///
/// [`CsrfError`] if the token is missing, malformed, or belongs to another session (or was
/// made with another server key).
pub fn verify_csrf(key: &ServerKey, session: &SessionId, presented: &str) -> Result<(), CsrfError> {
    if presented.len() != CSRF_TOKEN_CHARS {
        return Err(CsrfError);
    }
    let mut tag = [0u8; 32];
    let n = URL_SAFE_NO_PAD
        .decode_slice(presented, &mut tag)
        .map_err(|_| CsrfError)?;
    if n != tag.len() {
        return Err(CsrfError);
    }
    hmac::verify(key.csrf_key(), &session.0, &tag).map_err(|_| CsrfError)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minutes: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap() + Duration::minutes(minutes)
    }

    #[test]
    fn tokens_and_ids() {
        let (token, id) = SessionToken::generate().unwrap();
        assert_eq!(token.as_str().len(), SESSION_TOKEN_CHARS);
        assert!(token
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(SessionId::from_token(token.as_str()), Ok(id));
        assert_eq!(SessionId::from_hex(&id.to_hex()), Some(id));
        let (other, other_id) = SessionToken::generate().unwrap();
        assert_ne!(token.as_str(), other.as_str());
        assert_ne!(id, other_id);
        // The stored id is not the token.
        assert_ne!(id.as_bytes().as_slice(), token.as_str().as_bytes());
        assert_eq!(format!("{token:?}"), "SessionToken(..)");
    }

    #[test]
    fn id_is_sha256_of_raw_token() {
        // 32 zero bytes → "AAAA…A" (43 characters).
        let token = "A".repeat(43);
        let id = SessionId::from_token(&token).unwrap();
        assert_eq!(
            id.to_hex(),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn malformed_tokens_refused() {
        let (token, _) = SessionToken::generate().unwrap();
        let s = token.as_str();
        for bad in [
            String::new(),
            s[..42].to_owned(),
            format!("{s}A"),
            format!("{}=", &s[..42]),
            format!("{}+", &s[..42]),
            format!("{}/", &s[..42]),
            // Non-canonical: the last character carries bits beyond the 256.
            format!("{}B", "A".repeat(42)),
        ] {
            assert_eq!(SessionId::from_token(&bad), Err(SessionTokenError), "{bad}");
        }
    }

    #[test]
    fn policy_boundaries() {
        let p = SessionPolicy::default();
        assert!(p.is_valid(t(0), t(0), t(0)));
        assert!(p.is_valid(t(0), t(0), t(14)));
        assert!(!p.is_valid(t(0), t(0), t(15)));
        // Active all day: the absolute limit still applies.
        assert!(p.is_valid(t(0), t(470), t(479)));
        assert!(!p.is_valid(t(0), t(475), t(480)));
        // Disordered timestamps.
        assert!(!p.is_valid(t(10), t(5), t(11)));
        assert!(!p.is_valid(t(0), t(12), t(11)));
        assert_eq!(p.expires_at(t(0), t(10)), t(25));
        assert_eq!(p.expires_at(t(0), t(470)), t(480));
    }

    #[test]
    fn csrf() {
        let key = ServerKey::from_secret(&[7u8; 32]).unwrap();
        let (_, a) = SessionToken::generate().unwrap();
        let (_, b) = SessionToken::generate().unwrap();
        let token_a = csrf_token(&key, &a);
        assert_eq!(token_a.len(), CSRF_TOKEN_CHARS);
        assert_eq!(csrf_token(&key, &a), token_a, "stable per session");
        assert_eq!(verify_csrf(&key, &a, &token_a), Ok(()));
        assert_eq!(verify_csrf(&key, &b, &token_a), Err(CsrfError));
        let other_key = ServerKey::from_secret(&[8u8; 32]).unwrap();
        assert_eq!(verify_csrf(&other_key, &a, &token_a), Err(CsrfError));
        assert_eq!(verify_csrf(&key, &a, ""), Err(CsrfError));
        assert_eq!(verify_csrf(&key, &a, &token_a[..42]), Err(CsrfError));
        let mut flipped = token_a.clone().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            verify_csrf(&key, &a, std::str::from_utf8(&flipped).unwrap()),
            Err(CsrfError)
        );
    }

    #[test]
    fn server_key_rules() {
        assert!(ServerKey::from_secret(&[0u8; 31]).is_err());
        let secret = ServerKey::generate_secret().unwrap();
        let key = ServerKey::from_secret(secret.as_ref()).unwrap();
        assert_eq!(format!("{key:?}"), "ServerKey { .. }");
        // Purpose separation: the CSRF token of a session is not the recovery MAC of anything
        // with the same bytes; at least, the two derived keys differ.
        let id = SessionId([1u8; 32]);
        let csrf = hmac::sign(key.csrf_key(), &id.0);
        let other = hmac::sign(key.recovery_key(), &id.0);
        assert_ne!(csrf.as_ref(), other.as_ref());
    }
}
