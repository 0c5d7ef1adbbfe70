//! Time in the process runtime: one time base for every process, and a precise timer for δ.
//!
//! - **One time base.** The orchestrator fixes the run's epoch on `CLOCK_MONOTONIC`, which every
//!   process of the machine shares, and hands it to every server together with the same instant
//!   as UNIX time ([`RunClock::shared`]). Each process then reads only the monotonic clock, so its
//!   `now` (µs since the epoch, what the protocols and the history see) never goes backwards, and
//!   events stamped by different processes merge on one axis exactly. Release instants of peer
//!   messages travel as ns since the same epoch, so a sender's release instant means the same
//!   instant at its receiver.
//! - **A precise timer.** tokio's timer wheel has a 1 ms resolution and rounds deadlines up, which
//!   would add up to 1 ms per hop to a δ of 10 ms (latency/theory ≈ 1.1 for 2PE). Incoming
//!   server→server messages are therefore released to the protocol by a
//!   [`PreciseTimer`](super::platform::PreciseTimer) armed at an absolute `CLOCK_MONOTONIC`
//!   deadline (on Linux a `timerfd`: ns resolution, no timer slack; see [`super::platform`]): one
//!   per incoming peer link, re-armed for the head of that link's FIFO queue. Protocol timers
//!   (the failure detector's period) keep using tokio's `sleep_until`.

use crate::protocol::Time;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `CLOCK_MONOTONIC`, ns.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer; CLOCK_MONOTONIC is POSIX
    // (Linux, macOS ≥ 10.12).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The wall clock, µs since the UNIX epoch.
pub fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A run's clock: µs since the run epoch, read from the monotonic clock.
#[derive(Clone, Copy, Debug)]
pub struct RunClock {
    /// The run epoch on `CLOCK_MONOTONIC`, ns.
    epoch_mono: u64,
}

impl RunClock {
    /// The clock whose time 0 is `epoch_unix_us` (UNIX time, µs).
    pub fn from_unix_epoch(epoch_unix_us: u64) -> Self {
        // Bracket the wall-clock reading between two monotonic ones and pair it with their middle.
        let m0 = mono_ns();
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        let m1 = mono_ns();
        let mono_at_real = i128::from(m0 / 2 + m1 / 2);
        let epoch_mono = mono_at_real - (real - i128::from(epoch_unix_us) * 1000);
        RunClock {
            epoch_mono: epoch_mono.max(0) as u64,
        }
    }

    /// The clock whose time 0 is `epoch_mono_ns` on `CLOCK_MONOTONIC`, the same instant as
    /// `epoch_unix_us` in UNIX time (both from the orchestrator's [`RunClock::epoch_mono`]). Every
    /// process of a machine shares `CLOCK_MONOTONIC`, so the monotonic epoch is taken as is; only
    /// if it is far from what this process's own wall clock says (another clock domain, which a
    /// local run never is) does the wall-clock pairing win.
    pub fn shared(epoch_unix_us: u64, epoch_mono_ns: u64) -> Self {
        let paired = Self::from_unix_epoch(epoch_unix_us);
        if paired.epoch_mono.abs_diff(epoch_mono_ns) > 100_000_000 {
            tracing::warn!(
                paired = paired.epoch_mono,
                given = epoch_mono_ns,
                "the run epoch on CLOCK_MONOTONIC disagrees with the wall clock; using the latter"
            );
            return paired;
        }
        RunClock {
            epoch_mono: epoch_mono_ns,
        }
    }

    /// The clock whose time 0 is `epoch_mono_ns` on this process's `CLOCK_MONOTONIC`, as is (a
    /// server on another host: the orchestrator measured the offset between the two clocks).
    pub fn at_mono(epoch_mono_ns: u64) -> Self {
        RunClock {
            epoch_mono: epoch_mono_ns,
        }
    }

    /// The run epoch on `CLOCK_MONOTONIC`, ns.
    pub fn epoch_mono(&self) -> u64 {
        self.epoch_mono
    }

    /// ns since the epoch of a monotonic instant (ns); 0 before the epoch.
    pub fn since_epoch_ns(&self, mono: u64) -> u64 {
        mono.saturating_sub(self.epoch_mono)
    }

    /// The monotonic instant (ns) of `ns` since the epoch.
    pub fn mono_of_ns(&self, ns: u64) -> u64 {
        self.epoch_mono + ns
    }

    /// The monotonic instant (ns) of run time `t` (µs).
    pub fn mono_of(&self, t: Time) -> u64 {
        self.epoch_mono + t * 1000
    }

    /// Run time (µs) of a monotonic instant (ns); 0 before the epoch.
    pub fn time_of(&self, mono: u64) -> Time {
        mono.saturating_sub(self.epoch_mono) / 1000
    }

    /// Now, µs since the epoch.
    pub fn now(&self) -> Time {
        self.time_of(mono_ns())
    }
}

/// A tokio instant for a monotonic deadline (ns), for tokio's coarse timers.
pub fn tokio_instant(mono: u64) -> tokio::time::Instant {
    let (now_i, now_m) = (tokio::time::Instant::now(), mono_ns());
    now_i + Duration::from_nanos(mono.saturating_sub(now_m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_clock_round_trips_and_starts_at_the_epoch() {
        let epoch = unix_us();
        let c = RunClock::from_unix_epoch(epoch);
        let now = c.now();
        assert!(now < 50_000, "now = {now} µs right after the epoch");
        assert_eq!(c.time_of(c.mono_of(1234)), 1234);
        // Two clocks built from the same epoch agree.
        let d = RunClock::from_unix_epoch(epoch);
        assert!(c.epoch_mono.abs_diff(d.epoch_mono) < 1_000_000);
        // A shared clock is exactly the orchestrator's.
        let s = RunClock::shared(epoch, c.epoch_mono());
        assert_eq!(s.epoch_mono, c.epoch_mono);
        let m = mono_ns() + 5;
        assert_eq!(s.mono_of_ns(s.since_epoch_ns(m)), m);
        // A monotonic epoch from another clock domain loses to the wall clock.
        let far = RunClock::shared(epoch, c.epoch_mono() + 10_000_000_000);
        assert!(far.epoch_mono.abs_diff(c.epoch_mono) < 1_000_000);
    }
}
