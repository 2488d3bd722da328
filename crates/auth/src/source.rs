//! Login throttling by where attempts come from: one source address and its network prefix.
//!
//! The per-account [`crate::LoginThrottle`] stops guessing one account's password, but not
//! *password spraying*: one common password tried against many accounts, each of which sees a
//! single failure. [`SourceThrottle`] counts failed logins per source address (IPv6: per /64,
//! since one host commonly holds a whole /64) and per network prefix (IPv4 /24, IPv6 /48), and
//! refuses every login from a source over its limit for a while, whatever the account.
//!
//! As with the account throttle, the service calls [`SourceThrottle::check`] *before* it
//! verifies anything: a refused attempt touches no account, spends no recovery code and
//! advances no TOTP step, and it is not counted again (a blocked source's block is not
//! extended by its further attempts, so a shared address recovers on time). The answer to a
//! refused attempt is the same generic one as for a wrong password.
//!
//! The state is in memory, bounded by [`SourcePolicy::max_tracked`]: when full, the oldest
//! entries that block nothing are forgotten first, then the oldest of all, so a flood of
//! addresses cannot exhaust memory (it can only make the throttle forget the quietest
//! sources).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use time::{Duration, OffsetDateTime};

use crate::throttle::{LockKind, Locked};

/// The tunable numbers of the source throttle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourcePolicy {
    /// Failures from one address within `window` that block it.
    pub per_address: u32,
    /// Failures from one network prefix within `window` that block the whole prefix.
    pub per_prefix: u32,
    /// How long failures are counted from a source's first failure.
    pub window: Duration,
    /// How long a source over its limit is refused.
    pub block: Duration,
    /// The IPv4 network prefix length (default 24).
    pub ipv4_prefix: u8,
    /// The IPv6 network prefix length (default 48).
    pub ipv6_prefix: u8,
    /// Sources remembered at most (addresses and prefixes together).
    pub max_tracked: usize,
}

impl Default for SourcePolicy {
    /// 10 failures from an address or 50 from a /24 (IPv6 /48) within 15 minutes block it
    /// for 15 minutes; at most 100,000 sources remembered.
    fn default() -> Self {
        SourcePolicy {
            per_address: 10,
            per_prefix: 50,
            window: Duration::minutes(15),
            block: Duration::minutes(15),
            ipv4_prefix: 24,
            ipv6_prefix: 48,
            max_tracked: 100_000,
        }
    }
}

/// What a count belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// One address (IPv6: its /64).
    Address(IpAddr),
    /// A network: its first address and prefix length.
    Prefix(IpAddr, u8),
}

impl Source {
    /// The address, or the network's first address.
    pub fn address(&self) -> IpAddr {
        match self {
            Source::Address(addr) | Source::Prefix(addr, _) => *addr,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Address(IpAddr::V6(addr)) => write!(f, "{addr}/64"),
            Source::Address(addr) => write!(f, "{addr}"),
            Source::Prefix(addr, len) => write!(f, "{addr}/{len}"),
        }
    }
}

#[derive(Clone, Debug)]
struct Count {
    failures: u32,
    since: OffsetDateTime,
    blocked_until: Option<OffsetDateTime>,
}

/// A refused attempt: which source is blocked, and until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceBlocked {
    /// The address or network that is blocked.
    pub source: Source,
    /// Until when.
    pub locked: Locked,
}

/// Failed-login counts by source address and network prefix (see the module documentation).
#[derive(Debug, Default)]
pub struct SourceThrottle {
    counts: HashMap<Source, Count>,
}

fn masked_v4(addr: Ipv4Addr, len: u8) -> Ipv4Addr {
    let len = u32::from(len.min(32));
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Ipv4Addr::from(u32::from(addr) & mask)
}

fn masked_v6(addr: Ipv6Addr, len: u8) -> Ipv6Addr {
    let len = u32::from(len.min(128));
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    Ipv6Addr::from(u128::from(addr) & mask)
}

/// The address an attempt counts against (an IPv4-mapped IPv6 address as IPv4) and its
/// network prefix.
pub fn sources_of(addr: IpAddr, policy: &SourcePolicy) -> [Source; 2] {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    };
    match addr {
        IpAddr::V4(v4) => [
            Source::Address(IpAddr::V4(v4)),
            Source::Prefix(
                IpAddr::V4(masked_v4(v4, policy.ipv4_prefix)),
                policy.ipv4_prefix.min(32),
            ),
        ],
        IpAddr::V6(v6) => [
            Source::Address(IpAddr::V6(masked_v6(v6, 64))),
            Source::Prefix(
                IpAddr::V6(masked_v6(v6, policy.ipv6_prefix)),
                policy.ipv6_prefix.min(128),
            ),
        ],
    }
}

impl SourceThrottle {
    /// Nothing counted yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether an attempt from `addr` may be verified at `now`. Call before anything else.
    ///
    /// # Errors
    ///
    /// [`SourceBlocked`]: the address or its prefix is blocked.
    pub fn check(
        &self,
        policy: &SourcePolicy,
        addr: IpAddr,
        now: OffsetDateTime,
    ) -> Result<(), SourceBlocked> {
        for source in sources_of(addr, policy) {
            if let Some(until) = self
                .counts
                .get(&source)
                .and_then(|c| c.blocked_until)
                .filter(|until| now < *until)
            {
                return Err(SourceBlocked {
                    source,
                    locked: Locked {
                        until,
                        kind: LockKind::Lockout,
                    },
                });
            }
        }
        Ok(())
    }

    /// Records a failed attempt from `addr` at `now`; returns the sources it blocked.
    /// Ignored while [`Self::check`] refuses `addr`.
    pub fn record_failure(
        &mut self,
        policy: &SourcePolicy,
        addr: IpAddr,
        now: OffsetDateTime,
    ) -> Vec<Source> {
        if self.check(policy, addr, now).is_err() {
            return Vec::new();
        }
        let mut blocked = Vec::new();
        for source in sources_of(addr, policy) {
            let limit = match source {
                Source::Address(_) => policy.per_address,
                Source::Prefix(..) => policy.per_prefix,
            }
            .max(1);
            if !self.counts.contains_key(&source) {
                self.make_room(policy, now);
            }
            let count = self.counts.entry(source).or_insert(Count {
                failures: 0,
                since: now,
                blocked_until: None,
            });
            if now - count.since >= policy.window || count.blocked_until.is_some() {
                // A new window: the old one's failures are forgotten (and a block that ended
                // starts afresh).
                *count = Count {
                    failures: 0,
                    since: now,
                    blocked_until: None,
                };
            }
            count.failures = count.failures.saturating_add(1);
            if count.failures >= limit {
                count.blocked_until = Some(now.saturating_add(policy.block));
                blocked.push(source);
            }
        }
        blocked
    }

    /// Sources remembered now.
    pub fn tracked(&self) -> usize {
        self.counts.len()
    }

    /// Forgets what no longer matters (windows over, blocks ended); when still full, the
    /// oldest entries, those that block nothing first.
    fn make_room(&mut self, policy: &SourcePolicy, now: OffsetDateTime) {
        if self.counts.len() < policy.max_tracked.max(1) {
            return;
        }
        self.counts.retain(|_, c| match c.blocked_until {
            Some(until) => now < until,
            None => now - c.since < policy.window,
        });
        let excess = (self.counts.len() + 1).saturating_sub(policy.max_tracked.max(1));
        if excess == 0 {
            return;
        }
        let mut by_age: Vec<(bool, OffsetDateTime, Source)> = self
            .counts
            .iter()
            .map(|(s, c)| (c.blocked_until.is_some(), c.since, *s))
            .collect();
        by_age.sort_by_key(|(blocking, since, _)| (*blocking, *since));
        for (_, _, source) in by_age.into_iter().take(excess) {
            self.counts.remove(&source);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + seconds).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_address_is_blocked_after_its_limit_and_freed_after_the_block() {
        let policy = SourcePolicy::default();
        let mut throttle = SourceThrottle::new();
        for i in 0..9 {
            assert!(throttle
                .record_failure(&policy, ip("192.0.2.7"), t(i))
                .is_empty());
            assert!(throttle.check(&policy, ip("192.0.2.7"), t(i)).is_ok());
        }
        let blocked = throttle.record_failure(&policy, ip("192.0.2.7"), t(9));
        assert_eq!(blocked, vec![Source::Address(ip("192.0.2.7"))]);
        let refused = throttle.check(&policy, ip("192.0.2.7"), t(10)).unwrap_err();
        assert_eq!(refused.locked.until, t(9) + Duration::minutes(15));
        // Its neighbour is not blocked: the /24 has seen 10 of its 50.
        assert!(throttle.check(&policy, ip("192.0.2.8"), t(10)).is_ok());
        // Attempts while blocked do not extend the block.
        for i in 10..100 {
            throttle.record_failure(&policy, ip("192.0.2.7"), t(i));
        }
        assert!(throttle
            .check(&policy, ip("192.0.2.7"), t(9) + Duration::minutes(15))
            .is_ok());
    }

    #[test]
    fn many_addresses_of_one_network_block_the_network() {
        let policy = SourcePolicy::default();
        let mut throttle = SourceThrottle::new();
        for i in 0..50 {
            let addr = ip(&format!("198.51.100.{}", i + 1));
            throttle.record_failure(&policy, addr, t(i));
        }
        let refused = throttle
            .check(&policy, ip("198.51.100.200"), t(60))
            .unwrap_err();
        assert_eq!(refused.source, Source::Prefix(ip("198.51.100.0"), 24));
        assert!(throttle.check(&policy, ip("198.51.101.1"), t(60)).is_ok());
    }

    #[test]
    fn ipv6_counts_per_64_and_per_48_and_mapped_addresses_as_ipv4() {
        let policy = SourcePolicy::default();
        let mut throttle = SourceThrottle::new();
        for i in 0..10 {
            // Different interface ids in one /64: one address for the throttle.
            let addr = ip(&format!("2001:db8:1:2::{:x}", i + 1));
            throttle.record_failure(&policy, addr, t(i));
        }
        assert!(throttle
            .check(&policy, ip("2001:db8:1:2::ffff"), t(20))
            .is_err());
        assert!(throttle
            .check(&policy, ip("2001:db8:1:3::1"), t(20))
            .is_ok());
        let [address, prefix] = sources_of(ip("::ffff:192.0.2.9"), &policy);
        assert_eq!(address, Source::Address(ip("192.0.2.9")));
        assert_eq!(prefix, Source::Prefix(ip("192.0.2.0"), 24));
        assert_eq!(
            sources_of(ip("2001:db8:aaaa:bbbb::1"), &policy)[1].to_string(),
            "2001:db8:aaaa::/48"
        );
    }

    #[test]
    fn failures_outside_the_window_are_forgotten() {
        let policy = SourcePolicy::default();
        let mut throttle = SourceThrottle::new();
        for i in 0..9 {
            throttle.record_failure(&policy, ip("192.0.2.1"), t(i * 200));
        }
        // 9 failures over 27 minutes: never 10 within 15.
        assert!(throttle.check(&policy, ip("192.0.2.1"), t(2000)).is_ok());
    }

    #[test]
    fn memory_stays_bounded_and_blocks_are_kept_longest() {
        let policy = SourcePolicy {
            max_tracked: 100,
            per_address: 1,
            per_prefix: 1_000,
            ..SourcePolicy::default()
        };
        let mut throttle = SourceThrottle::new();
        throttle.record_failure(&policy, ip("203.0.113.1"), t(0));
        for i in 0..5_000u32 {
            let addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i * 256));
            throttle.record_failure(
                &SourcePolicy {
                    per_address: 100,
                    ..policy
                },
                addr,
                t(1),
            );
            assert!(throttle.tracked() <= 100);
        }
        assert!(throttle.check(&policy, ip("203.0.113.1"), t(2)).is_err());
    }
}
