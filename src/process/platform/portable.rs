//! The portable side of the platform seam (macOS, or Linux with `--features portable`): POSIX and
//! tokio only.

use crate::process::clock::{mono_ns, tokio_instant};
use std::io;
use std::pin::Pin;
use tokio::time::Sleep;

pub const NAME: &str = "portable";

/// How late a wake-up can be: tokio's timer wheel has a 1 ms tick and rounds deadlines up, then
/// the process must be woken. Measured on the lab's Linux VM (Table 1, n = 5, δ = 10 ms) with a
/// 150 µs margin: every hop ≈ 0.9–1.1 ms late (2PE latency p50 2.19δ instead of 2.01δ). With
/// 1.5 ms, peer_link wakes that much before a protocol message's release and spins the rest on
/// the CPU: ≤ 1.5 ms of CPU per release instant instead of timerfd's 150 µs.
pub const TIMER_LATENESS_NS: u64 = 1_500_000;

/// Only check the parent is still `parent_pid`. There is no portable parent-death signal to ask
/// for; the end of the control connection is the signal instead: the kernel closes the
/// orchestrator's sockets however it dies, and a server exits when its control connection ends.
pub fn die_with_parent(parent_pid: u32) -> io::Result<()> {
    super::check_parent(parent_pid)
}

/// A one-shot timer on tokio's timer wheel, at a `CLOCK_MONOTONIC` deadline.
pub struct PreciseTimer {
    sleep: Pin<Box<Sleep>>,
    deadline: Option<u64>,
}

impl PreciseTimer {
    pub fn new() -> io::Result<Self> {
        Ok(PreciseTimer {
            sleep: Box::pin(tokio::time::sleep_until(tokio::time::Instant::now())),
            deadline: None,
        })
    }

    /// Fire once at the absolute monotonic instant `deadline_mono_ns`; a past instant fires at
    /// once. Re-arming replaces the previous deadline.
    pub fn arm(&mut self, deadline_mono_ns: u64) -> io::Result<()> {
        self.sleep.as_mut().reset(tokio_instant(deadline_mono_ns));
        self.deadline = Some(deadline_mono_ns);
        Ok(())
    }

    /// Wait until the timer has fired (since it was last waited for). Cancel-safe: a wait dropped
    /// before the deadline leaves the timer armed.
    pub async fn wait(&mut self) -> io::Result<()> {
        let Some(deadline) = self.deadline else {
            return std::future::pending().await;
        };
        self.sleep.as_mut().await;
        // tokio's clock is not CLOCK_MONOTONIC everywhere (macOS: CLOCK_UPTIME_RAW): never fire
        // before the deadline on the latter.
        while mono_ns() < deadline {
            tokio::task::yield_now().await;
        }
        self.deadline = None;
        Ok(())
    }
}
