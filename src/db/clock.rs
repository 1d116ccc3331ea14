//! The clock every TTL decision reads, injected so tests never sleep.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, from the system or from a test.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The real wall clock.
    #[default]
    System,
    /// A clock that only moves when a test moves it.
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// A manual clock starting at `start_ms`; clones share the same time.
    pub fn manual(start_ms: u64) -> Clock {
        Clock::Manual(Arc::new(AtomicU64::new(start_ms)))
    }

    /// The current time in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => unix_ms(SystemTime::now()),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }

    /// The time in milliseconds since the Unix epoch at `at`, a monotonic
    /// reading taken moments ago: a command reads the clock once, for its
    /// duration and its time alike (Redis reads it three times). The wall
    /// clock is the monotonic one plus an offset that [`resync`] renews
    /// from the system clock; between renewals a step of the system clock
    /// (not a slew, which moves both clocks) is not seen.
    pub fn ms_at(&self, at: Tick) -> u64 {
        match self {
            Clock::System => {
                let wall = &*WALL;
                let since = at.nanos_since(wall.base);
                (wall.unix_ns_at_base.load(Ordering::Relaxed) + since) / 1_000_000
            }
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }

    /// Move a manual clock forward; a no-op on the system clock.
    pub fn advance(&self, ms: u64) {
        if let Clock::Manual(t) = self {
            t.fetch_add(ms, Ordering::SeqCst);
        }
    }

    /// Renew the offset between the monotonic and the system clock that
    /// [`ms_at`](Self::ms_at) adds (the server's cron does, every 100 ms).
    pub fn resync() {
        WALL.sync();
    }

    /// Set a manual clock; a no-op on the system clock.
    pub fn set(&self, ms: u64) {
        if let Clock::Manual(t) = self {
            t.store(ms, Ordering::SeqCst);
        }
    }
}

/// Milliseconds since the Unix epoch at `t`. Not `as_millis`: its u128
/// arithmetic costs more than the clock read, once per command.
fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() * 1000 + u64::from(d.subsec_millis()))
}

/// `d` in nanoseconds, without `as_nanos`'s u128 arithmetic (good for
/// 584 years).
fn nanos(d: Duration) -> u64 {
    d.as_secs() * 1_000_000_000 + u64::from(d.subsec_nanos())
}

/// A reading of the monotonic clock, in nanoseconds: when a command
/// started, what its duration and its time are computed from. Not
/// `Instant`: its reading and each difference go through checked timespec
/// arithmetic, about 160 instructions per command in all (callgrind, GET);
/// this is a clock read, a multiply-add and a subtraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tick(u64);

impl Tick {
    /// Now (CLOCK_MONOTONIC, as `Instant`).
    pub fn now() -> Tick {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let (secs, ns) = (u64::try_from(t.tv_sec), u64::try_from(t.tv_nsec));
        Tick(secs.unwrap_or(0) * 1_000_000_000 + ns.unwrap_or(0))
    }

    /// Nanoseconds from `earlier` to `self` (0 if `earlier` is later).
    pub fn nanos_since(self, earlier: Tick) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Nanoseconds from `self` to now.
    pub fn elapsed_nanos(self) -> u64 {
        Tick::now().nanos_since(self)
    }

    /// `ms` milliseconds after `self`.
    pub fn plus_ms(self, ms: u64) -> Tick {
        Tick(self.0 + ms * 1_000_000)
    }
}

/// The wall clock as a monotonic reading plus an offset.
struct Wall {
    base: Tick,
    /// Nanoseconds since the Unix epoch at `base`, as last measured.
    unix_ns_at_base: AtomicU64,
}

static WALL: LazyLock<Wall> = LazyLock::new(|| {
    let wall = Wall {
        base: Tick::now(),
        unix_ns_at_base: AtomicU64::new(0),
    };
    wall.sync();
    wall
});

impl Wall {
    fn sync(&self) {
        let mono = Tick::now().nanos_since(self.base);
        let unix = nanos(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        );
        self.unix_ns_at_base
            .store(unix.saturating_sub(mono), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_clock_is_the_system_clock_read_through_the_monotonic_one() {
        let clock = Clock::System;
        Clock::resync();
        let before = clock.now_ms();
        let at = Tick::now();
        let derived = clock.ms_at(at);
        let after = clock.now_ms();
        // One millisecond either side: rounding of the two readings.
        assert!(
            before.saturating_sub(1) <= derived && derived <= after + 1,
            "{before} <= {derived} <= {after}"
        );
        // It moves with the monotonic clock, millisecond for millisecond.
        let later = clock.ms_at(at.plus_ms(12_345));
        assert!(
            (later - derived).abs_diff(12_345) <= 1,
            "{derived} then {later}"
        );
    }

    #[test]
    fn a_manual_clock_ignores_the_monotonic_reading() {
        let clock = Clock::manual(5_000);
        assert_eq!(clock.ms_at(Tick::now().plus_ms(60_000)), 5_000);
    }

    #[test]
    fn elapsed_nanos_measures_the_time_since_the_reading() {
        let now = Tick::now();
        let earlier = Tick(now.0 - 3_000_000); // 3 ms before (far after boot)
        let e = earlier.elapsed_nanos();
        assert!((3_000_000..60_000_000_000).contains(&e), "{e}");
        assert_eq!(
            now.plus_ms(1_000).elapsed_nanos(),
            0,
            "a later reading is 0 away"
        );
    }

    #[test]
    fn a_tick_is_the_monotonic_clock_in_nanoseconds() {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let tick = Tick::now();
        let secs = u64::try_from(t.tv_sec).unwrap();
        assert!(secs >= 1, "the machine has been up for a second");
        let tick_secs = tick.0 / 1_000_000_000;
        assert!(
            (secs..=secs + 1).contains(&tick_secs),
            "{secs} s since boot, tick {tick:?}"
        );
    }
}
