//! Wrong passcodes are limited per connection and per client address: more than
//! `per_connection` (5) from one connection, or `per_address` (20) from one address,
//! within a minute, and that connection or address gets `rate_limited` for the rest
//! of that minute. The minute starts at the first wrong passcode.
//!
//! Sans-IO: time is passed in (milliseconds), so the rules are tested without clocks.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    wrong: u32,
}

impl Window {
    fn current(&self, now: i64, length: i64) -> bool {
        now - self.start < length
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasscodeVerdict {
    /// Go on and check the passcode.
    Check,
    /// Too many wrong passcodes: refuse without checking.
    Limited,
}

#[derive(Debug)]
pub struct PasscodeLimiter<C> {
    per_connection: u32,
    per_address: u32,
    window_ms: i64,
    connections: HashMap<C, Window>,
    addresses: HashMap<IpAddr, Window>,
}

impl<C: Hash + Eq + Copy> PasscodeLimiter<C> {
    pub fn new(per_connection: u32, per_address: u32, window_ms: i64) -> Self {
        PasscodeLimiter {
            per_connection,
            per_address,
            window_ms,
            connections: HashMap::new(),
            addresses: HashMap::new(),
        }
    }

    /// The protocol's limits: 5 per connection, 20 per address, per minute.
    pub fn protocol() -> Self {
        Self::new(5, 20, 60_000)
    }

    /// Whether a passcode from `conn` (at `addr`, when addresses count) may be checked.
    pub fn verdict(&self, conn: C, addr: Option<IpAddr>, now: i64) -> PasscodeVerdict {
        let over = |w: Option<&Window>, limit: u32| {
            w.is_some_and(|w| w.current(now, self.window_ms) && w.wrong > limit)
        };
        if over(self.connections.get(&conn), self.per_connection)
            || addr.is_some_and(|a| over(self.addresses.get(&a), self.per_address))
        {
            PasscodeVerdict::Limited
        } else {
            PasscodeVerdict::Check
        }
    }

    /// Records a wrong passcode; says whether that one crossed a limit.
    pub fn wrong(&mut self, conn: C, addr: Option<IpAddr>, now: i64) -> PasscodeVerdict {
        let window_ms = self.window_ms;
        let count = |w: &mut Window| {
            if !w.current(now, window_ms) {
                *w = Window {
                    start: now,
                    wrong: 0,
                };
            }
            w.wrong += 1;
            w.wrong
        };
        let fresh = Window {
            start: now,
            wrong: 0,
        };
        let by_conn = count(self.connections.entry(conn).or_insert(fresh));
        let by_addr = addr.map(|a| count(self.addresses.entry(a).or_insert(fresh)));
        if by_conn > self.per_connection || by_addr.is_some_and(|n| n > self.per_address) {
            PasscodeVerdict::Limited
        } else {
            PasscodeVerdict::Check
        }
    }

    /// A connection is gone: forget its count (its address's count stays).
    pub fn forget(&mut self, conn: C) {
        self.connections.remove(&conn);
    }

    /// Drops windows that have ended, so the maps stay small.
    pub fn prune(&mut self, now: i64) {
        let window_ms = self.window_ms;
        self.connections.retain(|_, w| w.current(now, window_ms));
        self.addresses.retain(|_, w| w.current(now, window_ms));
    }

    #[cfg(test)]
    fn tracked(&self) -> (usize, usize) {
        (self.connections.len(), self.addresses.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PasscodeVerdict::{Check, Limited};

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)));

    #[test]
    fn the_sixth_wrong_passcode_of_a_connection_is_limited_for_the_rest_of_the_minute() {
        let mut l = PasscodeLimiter::protocol();
        for i in 0..5 {
            assert_eq!(l.verdict(1, IP, i * 1000), Check);
            assert_eq!(l.wrong(1, IP, i * 1000), Check, "wrong #{}", i + 1);
        }
        assert_eq!(l.verdict(1, IP, 6000), Check, "the sixth is still checked");
        assert_eq!(l.wrong(1, IP, 6000), Limited, "and crosses the limit");
        assert_eq!(l.verdict(1, IP, 59_999), Limited, "until the minute ends");
        assert_eq!(
            l.verdict(2, IP, 10_000),
            Check,
            "other connections are not affected"
        );
        assert_eq!(l.verdict(1, IP, 60_000), Check, "a new minute");
        assert_eq!(l.wrong(1, IP, 60_000), Check, "counting starts again");
    }

    #[test]
    fn twenty_one_wrong_from_one_address_limit_every_connection_there() {
        let mut l = PasscodeLimiter::protocol();
        // Five connections with four wrong each: nobody over their own limit.
        for conn in 0..5 {
            for _ in 0..4 {
                assert_eq!(l.wrong(conn, IP, 100), Check);
            }
        }
        assert_eq!(l.wrong(5, IP, 200), Limited, "the 21st from the address");
        assert_eq!(
            l.verdict(99, IP, 300),
            Limited,
            "a fresh connection there too"
        );
        assert_eq!(
            l.verdict(99, None, 300),
            Check,
            "an address that is not counted"
        );
        let other = Some(IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1)));
        assert_eq!(l.verdict(99, other, 300), Check, "another address");
        assert_eq!(l.verdict(99, IP, 60_100), Check, "after the minute");
    }

    #[test]
    fn exempt_addresses_still_count_per_connection_and_old_windows_are_pruned() {
        let mut l = PasscodeLimiter::protocol();
        for _ in 0..5 {
            assert_eq!(l.wrong(1, None, 0), Check);
        }
        assert_eq!(l.wrong(1, None, 0), Limited);
        l.wrong(2, IP, 0);
        assert_eq!(l.tracked(), (2, 1));
        l.forget(2);
        assert_eq!(l.tracked(), (1, 1));
        l.prune(59_000);
        assert_eq!(l.tracked(), (1, 1));
        l.prune(60_000);
        assert_eq!(l.tracked(), (0, 0));
    }
}
