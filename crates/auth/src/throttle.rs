//! Per-account login throttling: a growing delay after each failure, and a lockout after
//! several.
//!
//! The guideline asks for a period in which re-entry is not accepted after a failed password,
//! and for refusing input for a while once failures exceed a count. [`LoginThrottle`] is that
//! state for one account; the service loads it, calls [`LoginThrottle::check`] *before*
//! verifying anything, records the outcome, and stores it back.
//!
//! # Default policy ([`ThrottlePolicy::default`])
//!
//! * Failures 1–4: the next attempt is refused for 1, 2, 4, 8 seconds. This costs a person
//!   nothing and an online guesser a lot.
//! * Failure 5: locked for 15 minutes, and the failure count starts again.
//! * Each further lockout without a success in between doubles the lock (30 min, 1 h, 2 h),
//!   up to 4 hours. A slow guesser gets a few dozen attempts a day instead of hundreds.
//! * 24 hours without a failure forget the history, so occasional typos over months never
//!   add up to a lockout.
//! * A success clears everything.
//!
//! # Lockout as denial of service
//!
//! Anyone who knows a login id can lock that account by failing on purpose. The cap on the
//! lock duration limits the damage; the service should also throttle by source address, let
//! an organisation admin unlock an account ([`LoginThrottle::record_success`] or
//! [`LoginThrottle::default`]), and answer locked and wrong-password attempts alike to
//! unauthenticated clients where it can.
//!
//! # Which attempts count
//!
//! A wrong password, a wrong or replayed TOTP code and a wrong recovery code are all failures
//! of the same login. Attempts refused by [`LoginThrottle::check`] are not verified and are
//! not failures: [`LoginThrottle::record_failure`] ignores them, so a locked account's lock is
//! not extended by the attacker's continued attempts. (Extending it would let the attacker
//! keep the real user out indefinitely.)

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// The tunable numbers of the throttle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Consecutive failures that trigger a lockout (values below 1 act as 1).
    pub max_failures: u32,
    /// The first lockout's duration.
    pub lock_duration: Duration,
    /// The cap for lockouts that double with each repetition.
    pub max_lock_duration: Duration,
    /// The delay after the first failure; it doubles with each further one.
    pub base_delay: Duration,
    /// The cap for that delay.
    pub max_delay: Duration,
    /// After this long without a failure, earlier failures and lockouts are forgotten.
    pub forget_after: Duration,
}

impl Default for ThrottlePolicy {
    /// 5 failures → 15 minutes, doubling to at most 4 hours; delays 1 s doubling to at most
    /// 30 s; history forgotten after 24 hours.
    fn default() -> Self {
        Self {
            max_failures: 5,
            lock_duration: Duration::minutes(15),
            max_lock_duration: Duration::hours(4),
            base_delay: Duration::seconds(1),
            max_delay: Duration::seconds(30),
            forget_after: Duration::hours(24),
        }
    }
}

/// Why an attempt is refused now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockKind {
    /// The short delay after a failure.
    Delay,
    /// A lockout after too many failures.
    Lockout,
}

/// An attempt arrived before the account may be tried again.
#[derive(thiserror::Error, Clone, Copy, Debug, PartialEq, Eq)]
#[error("login refused until {until}")]
pub struct Locked {
    /// When attempts are accepted again.
    pub until: OffsetDateTime,
    /// Delay or lockout.
    pub kind: LockKind,
}

/// The throttle state of one account. Serialisable (timestamps as RFC 3339) so that the
/// service stores it with the account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginThrottle {
    /// Consecutive failures since the last success, lockout or forgetting.
    failures: u32,
    /// Lockouts since the last success or forgetting.
    lockouts: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    last_failure: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    blocked_until: Option<OffsetDateTime>,
    blocked_kind: Option<LockKind>,
}

impl LoginThrottle {
    /// A fresh state: no failures.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether an attempt may be made at `now`. Call before verifying any credential.
    ///
    /// # Errors
    ///
    /// [`Locked`] with the time from which attempts are accepted again.
    pub fn check(&self, now: OffsetDateTime) -> Result<(), Locked> {
        match self.blocked_until {
            Some(until) if now < until => Err(Locked {
                until,
                kind: self.blocked_kind.unwrap_or(LockKind::Lockout),
            }),
            _ => Ok(()),
        }
    }

    /// Records a failed attempt at `now` and sets the next delay or lockout.
    ///
    /// Ignored while [`Self::check`] would refuse (see the module documentation).
    pub fn record_failure(&mut self, policy: &ThrottlePolicy, now: OffsetDateTime) {
        if self.check(now).is_err() {
            return;
        }
        if self
            .last_failure
            .is_some_and(|last| now - last >= policy.forget_after)
        {
            self.failures = 0;
            self.lockouts = 0;
        }
        self.failures = self.failures.saturating_add(1);
        self.last_failure = Some(now);

        if self.failures >= policy.max_failures.max(1) {
            self.lockouts = self.lockouts.saturating_add(1);
            self.failures = 0;
            let lock = doubled(
                policy.lock_duration,
                self.lockouts - 1,
                policy.max_lock_duration,
            );
            self.block(now, lock, LockKind::Lockout);
        } else {
            let delay = doubled(policy.base_delay, self.failures - 1, policy.max_delay);
            self.block(now, delay, LockKind::Delay);
        }
    }

    /// Records a successful login: clears failures, lockouts and any block.
    pub fn record_success(&mut self) {
        *self = Self::default();
    }

    /// Consecutive failures counted towards the next lockout.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Lockouts since the last success (or since the history was forgotten).
    pub fn lockouts(&self) -> u32 {
        self.lockouts
    }

    fn block(&mut self, now: OffsetDateTime, duration: Duration, kind: LockKind) {
        if duration.is_positive() {
            // Saturating: an absurd policy must lock for ever, not wrap around to "unlocked".
            self.blocked_until = Some(now.saturating_add(duration));
            self.blocked_kind = Some(kind);
        } else {
            self.blocked_until = None;
            self.blocked_kind = None;
        }
    }
}

/// `base · 2^exponent`, at most `cap` (and never negative).
fn doubled(base: Duration, exponent: u32, cap: Duration) -> Duration {
    let factor = 1i32.checked_shl(exponent.min(30)).unwrap_or(i32::MAX);
    base.checked_mul(factor)
        .unwrap_or(cap)
        .min(cap)
        .max(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + seconds).unwrap()
    }

    #[test]
    fn growing_delay_then_lockout() {
        let policy = ThrottlePolicy::default();
        let mut th = LoginThrottle::new();
        assert_eq!(th.check(t(0)), Ok(()));

        let mut now = 0;
        for (n, delay) in [(1, 1), (2, 2), (3, 4), (4, 8)] {
            th.record_failure(&policy, t(now));
            assert_eq!(th.failures(), n);
            let locked = th.check(t(now)).unwrap_err();
            assert_eq!(locked.kind, LockKind::Delay);
            assert_eq!(locked.until, t(now + delay));
            assert!(th.check(t(now + delay - 1)).is_err());
            now += delay;
            assert_eq!(th.check(t(now)), Ok(()));
        }
        th.record_failure(&policy, t(now));
        let locked = th.check(t(now)).unwrap_err();
        assert_eq!(locked.kind, LockKind::Lockout);
        assert_eq!(locked.until, t(now + 15 * 60));
        assert_eq!(th.failures(), 0);
        assert_eq!(th.lockouts(), 1);
        assert!(th.check(t(now + 15 * 60 - 1)).is_err());
        assert_eq!(th.check(t(now + 15 * 60)), Ok(()));
    }

    #[test]
    fn attempts_while_locked_do_not_extend_the_lock() {
        let policy = ThrottlePolicy::default();
        let mut th = LoginThrottle::new();
        for i in 0..5 {
            th.record_failure(&policy, t(i * 60));
        }
        let until = th.check(t(240)).unwrap_err().until;
        for s in [241, 300, 900] {
            th.record_failure(&policy, t(s));
        }
        assert_eq!(th.check(t(241)).unwrap_err().until, until);
        assert_eq!(th.lockouts(), 1);
    }

    #[test]
    fn repeated_lockouts_double_up_to_the_cap() {
        let policy = ThrottlePolicy::default();
        let mut th = LoginThrottle::new();
        let mut now = 0;
        let mut expected = Vec::new();
        for _ in 0..6 {
            // Five failures, each after the previous delay has passed.
            for _ in 0..5 {
                if let Err(l) = th.check(t(now)) {
                    now = l.until.unix_timestamp() - 1_700_000_000;
                }
                th.record_failure(&policy, t(now));
            }
            let l = th.check(t(now)).unwrap_err();
            expected.push((l.until - t(now)).whole_minutes());
            now = l.until.unix_timestamp() - 1_700_000_000;
        }
        assert_eq!(expected, [15, 30, 60, 120, 240, 240]);
    }

    #[test]
    fn success_and_time_forget() {
        let policy = ThrottlePolicy::default();
        let mut th = LoginThrottle::new();
        th.record_failure(&policy, t(0));
        th.record_failure(&policy, t(10));
        th.record_success();
        assert_eq!(th, LoginThrottle::new());

        // Four failures, then a day of quiet: the fifth failure is a first failure again.
        for i in 0..4 {
            th.record_failure(&policy, t(i * 100));
        }
        th.record_failure(&policy, t(300 + 24 * 3600));
        assert_eq!(th.failures(), 1);
        assert_eq!(
            th.check(t(300 + 24 * 3600)).unwrap_err().kind,
            LockKind::Delay
        );
    }

    #[test]
    fn degenerate_policies() {
        let zero = ThrottlePolicy {
            max_failures: 0,
            lock_duration: Duration::ZERO,
            max_lock_duration: Duration::ZERO,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            forget_after: Duration::ZERO,
        };
        let mut th = LoginThrottle::new();
        th.record_failure(&zero, t(0));
        assert_eq!(th.check(t(0)), Ok(()));
        let huge = ThrottlePolicy {
            lock_duration: Duration::MAX,
            max_lock_duration: Duration::MAX,
            ..ThrottlePolicy::default()
        };
        let mut th = LoginThrottle::new();
        for i in 0..5 {
            th.record_failure(&huge, t(i * 100));
        }
        // No overflow panic; locked.
        assert!(th.check(t(1000)).is_err());
    }

    #[test]
    fn serde_round_trip() {
        let policy = ThrottlePolicy::default();
        let mut th = LoginThrottle::new();
        th.record_failure(&policy, t(0));
        th.record_failure(&policy, t(5));
        let json = serde_json::to_string(&th).unwrap();
        assert!(
            json.contains("\"last_failure\":\"2023-11-14T22:13:25Z\""),
            "{json}"
        );
        let back: LoginThrottle = serde_json::from_str(&json).unwrap();
        assert_eq!(back, th);
        let fresh = serde_json::to_string(&LoginThrottle::new()).unwrap();
        assert_eq!(
            fresh,
            r#"{"failures":0,"lockouts":0,"last_failure":null,"blocked_until":null,"blocked_kind":null}"#
        );
    }

    proptest::proptest! {
        /// Whatever the sequence of attempts, a guesser never gets more than `max_failures`
        /// failures recorded in any lock period, and check/record never panic.
        #[test]
        fn bounded_failures_between_lockouts(gaps in proptest::collection::vec(0i64..2000, 1..60)) {
            let policy = ThrottlePolicy::default();
            let mut th = LoginThrottle::new();
            let mut now = 0;
            for gap in gaps {
                now += gap;
                if th.check(t(now)).is_ok() {
                    th.record_failure(&policy, t(now));
                }
                proptest::prop_assert!(th.failures() < policy.max_failures);
            }
        }
    }
}
