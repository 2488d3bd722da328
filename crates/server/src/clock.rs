//! Trusted time: whether the kernel's clock is synchronised with a time source.
//!
//! The guideline requires access records to carry trustworthy time. `ntp_adjtime(2)` with no
//! modes only reads the kernel's NTP state, which chrony, ntpd and systemd-timesyncd all keep
//! up to date; it needs no privileges.

use kenshin_core::api::ClockHealth;
use time::OffsetDateTime;

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
