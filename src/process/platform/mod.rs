//! The platform seam: the only Linux-specific calls of the process runtime, behind a tiny
//! interface with a portable (POSIX + tokio) fallback.
//!
//! - [`die_with_parent`]`(parent_pid)`: tie a server's life to the orchestrator that spawned it,
//!   or fail if that orchestrator is already gone.
//! - [`PreciseTimer`]: a one-shot timer on `CLOCK_MONOTONIC` — [`PreciseTimer::arm`] at an
//!   absolute deadline (ns), then `.await` [`PreciseTimer::wait`]; it never fires before its
//!   deadline, and fires at most [`TIMER_LATENESS_NS`] (typically) after it.
//!
//! | | Linux (default) | portable (macOS, or `--features portable`) |
//! |---|---|---|
//! | parent death | `prctl(PR_SET_PDEATHSIG, SIGKILL)` + `getppid` check | `getppid` check only |
//! | precise timer | absolute `timerfd` under tokio's `AsyncFd` | tokio `sleep_until` (1 ms ticks) |
//! | [`TIMER_LATENESS_NS`] (the early wake of peer links) | 150 µs | 1.5 ms |
//!
//! On the portable path a server still dies with its orchestrator: the end of its control
//! connection (the kernel closes the orchestrator's sockets however it dies, kill -9 included) is
//! the portable parent-death signal — the server watches it from its first hello to its last
//! step (`server.rs`). A server paused by SIGSTOP cannot read it, but its process group is then
//! orphaned, and POSIX has the kernel send SIGHUP + SIGCONT to the stopped members of a newly
//! orphaned group, which kills them (servers do not handle SIGHUP).
//!
//! Selection: `cfg(all(target_os = "linux", not(feature = "portable")))` is the Linux
//! implementation, which is not even compiled elsewhere; everything else gets the portable one.
//! CI runs the process tests with `--features portable` on Linux, so the fallback is exercised.
//! Everything else of the process runtime is POSIX (`kill`, process groups, SIGSTOP/SIGCONT,
//! `clock_gettime(CLOCK_MONOTONIC)`, tokio's unix signals) and builds on Linux and macOS alike.

use std::io;

#[cfg(all(target_os = "linux", not(feature = "portable")))]
mod linux;
#[cfg(all(target_os = "linux", not(feature = "portable")))]
use linux as imp;

#[cfg(not(all(target_os = "linux", not(feature = "portable"))))]
mod portable;
#[cfg(not(all(target_os = "linux", not(feature = "portable"))))]
use portable as imp;

pub use imp::{die_with_parent, PreciseTimer, NAME, TIMER_LATENESS_NS};

/// `Ok` if this process's parent is `parent_pid`; an error naming both otherwise (the parent died
/// and we were reparented). POSIX `getppid`.
fn check_parent(parent_pid: u32) -> io::Result<()> {
    // SAFETY: getppid cannot fail and has no side effect.
    let actual = unsafe { libc::getppid() };
    if actual as u32 == parent_pid {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "parent {parent_pid} is gone (the parent is now {actual})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::clock::mono_ns;

    #[test]
    fn the_parent_check_knows_our_parent() {
        // SAFETY: getppid cannot fail.
        let parent = unsafe { libc::getppid() } as u32;
        check_parent(parent).unwrap();
        assert!(check_parent(parent.wrapping_add(1)).is_err());
    }

    #[tokio::test]
    async fn the_precise_timer_fires_at_its_deadline_not_before_and_not_much_after() {
        let mut t = PreciseTimer::new().unwrap();
        for _ in 0..5 {
            let deadline = mono_ns() + 3_000_000;
            t.arm(deadline).unwrap();
            t.wait().await.unwrap();
            let end = mono_ns();
            assert!(end >= deadline, "{NAME}: fired {} ns early", deadline - end);
            // Generous: the machine is shared.
            assert!(
                end - deadline < 50_000_000,
                "{NAME}: fired {} ns late",
                end - deadline
            );
        }
        // Re-arming replaces the deadline; a past deadline fires at once.
        t.arm(mono_ns() + 3_600_000_000_000).unwrap();
        t.arm(1).unwrap();
        t.wait().await.unwrap();
    }

    #[tokio::test]
    async fn a_cancelled_wait_keeps_the_deadline() {
        let mut t = PreciseTimer::new().unwrap();
        let deadline = mono_ns() + 50_000_000;
        t.arm(deadline).unwrap();
        // Cancelled before the deadline, as peer_link's select! does when a frame arrives (unless
        // this thread was descheduled for 50 ms: then it fired, but not early).
        let first = tokio::time::timeout(std::time::Duration::from_millis(1), t.wait()).await;
        if first.is_err() {
            t.wait().await.unwrap();
        }
        assert!(mono_ns() >= deadline, "{NAME}: fired before its deadline");
    }
}
