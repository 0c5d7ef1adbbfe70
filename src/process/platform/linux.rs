//! The Linux side of the platform seam: `PR_SET_PDEATHSIG` and `timerfd`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;

pub const NAME: &str = "linux";

/// How late a timerfd wake-up typically is: the scheduler's wake-up of an idle process (50–150 µs
/// on the lab's machines; VMs must resume an idle vCPU). No timer slack: timerfd deadlines are
/// exact to the ns.
pub const TIMER_LATENESS_NS: u64 = 150_000;

/// `prctl(PR_SET_PDEATHSIG, SIGKILL)`: the kernel kills this process when the thread that spawned
/// it exits (the orchestrator spawns servers from its main thread). Then check the parent is still
/// `parent_pid`: it could have died before the prctl, and then nothing would fire.
pub fn die_with_parent(parent_pid: u32) -> io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag on this process.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    super::check_parent(parent_pid)
}

/// A one-shot `timerfd` on `CLOCK_MONOTONIC` (absolute deadlines, ns resolution, no timer slack),
/// driven by tokio's reactor.
pub struct PreciseTimer {
    fd: AsyncFd<OwnedFd>,
}

impl PreciseTimer {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall; the returned descriptor is checked and then owned by OwnedFd.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the OwnedFd is moved into the AsyncFd and closed only when it drops, so the
        // registered descriptor stays valid and the same for the AsyncFd's whole life.
        let fd = unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }
            .map_err(io::Error::other)?;
        Ok(PreciseTimer { fd })
    }

    /// Fire once at the absolute monotonic instant `deadline_mono_ns`; a past instant fires at
    /// once. Re-arming replaces the previous deadline.
    pub fn arm(&mut self, deadline_mono_ns: u64) -> io::Result<()> {
        let mono = deadline_mono_ns.max(1); // 0 would disarm
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (mono / 1_000_000_000) as libc::time_t,
                tv_nsec: (mono % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: valid fd and a valid itimerspec; the old value is not requested.
        let rc = unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Wait until the timer has fired (since it was last waited for). Cancel-safe: a wait dropped
    /// before the deadline leaves the timer armed.
    pub async fn wait(&mut self) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            let res = guard.try_io(|fd| {
                let mut expirations = [0u8; 8];
                // SAFETY: reads at most 8 bytes into a buffer of 8 bytes.
                let n = unsafe {
                    libc::read(
                        fd.as_raw_fd(),
                        expirations.as_mut_ptr().cast(),
                        expirations.len(),
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            match res {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }
}
