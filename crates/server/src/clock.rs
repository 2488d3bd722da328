//! Time: the [`Clock`] every use case and task reads, and whether the kernel's clock is
//! synchronised with a time source ([`status`]).
//!
//! Nothing above this module calls the wall clock for a rule: the state carries a clock, the
//! system's in production and a [`ManualClock`] in tests that move time instead of sleeping.
//!
//! The guideline requires access records to carry trustworthy time. `ntp_adjtime(2)` with no
//! modes only reads the kernel's NTP state, which chrony, ntpd and systemd-timesyncd all keep
//! up to date; it needs no privileges.

use std::sync::Mutex;

use kenshin_core::api::ClockHealth;
use time::{Duration, OffsetDateTime};

/// Where "now" comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> OffsetDateTime;
}

/// The system's clock (UTC).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until it is moved: for tests of rules about time (session
/// timeouts, expiry, leases) without sleeping.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> ManualClock {
        ManualClock(Mutex::new(start))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether the kernel's clock is synchronised (for `/health` and the access log's trust).
pub fn status() -> ClockHealth {
    let now = OffsetDateTime::now_utc();
    // SAFETY: an all-zero timex with modes = 0 asks only for a read of the current state.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::ntp_adjtime(&mut tx) };
    if state < 0 {
        return ClockHealth {
            synchronized: false,
            max_error_us: None,
            now,
            source: format!("ntp_adjtime failed: {}", std::io::Error::last_os_error()),
        };
    }
    let unsynchronised = state == libc::TIME_ERROR || (tx.status & libc::STA_UNSYNC) != 0;
    ClockHealth {
        synchronized: !unsynchronised,
        max_error_us: Some(tx.maxerror),
        now,
        source: "kernel (ntp_adjtime)".into(),
    }
}
