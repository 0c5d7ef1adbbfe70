//! The process runtime: `mode = "processes"` runs a real local cluster — one OS process per
//! server, TCP on 127.0.0.1 — and produces the same [`lab::RunOutput`] as the simulator ([`Processes`] is its [`Runtime`]).
//!
//! - [`orchestrator`] (in the `ticketlab run` process) spawns the servers, waits for their mesh,
//!   runs the shared [`lab::driver::Driver`] (users, faults, history) on real time and carries out
//!   its commands (kill -9, SIGSTOP, link faults, submissions), collects every server's history events as they happen, detects quiescence and
//!   shuts the cluster down;
//! - [`server`] (the hidden `ticketlab server` subcommand) drives one unchanged protocol state
//!   machine; it writes each outgoing server→server message at once, tagged with its release
//!   instant (send time + δ, jitter, faults), and holds each incoming one until that instant;
//! - [`auth`] is the per-run secret and the handshake every connection to a server must pass;
//! - [`wire`] is the framing and the messages of the three kinds of connection;
//! - [`clock`] is the shared time base (µs since a run epoch handed out as UNIX time, or on a
//!   remote server's own clock from the offset measured at setup);
//! - [`platform`] is the seam around the only Linux-specific calls (parent-death signal, the
//!   precise per-link timer), with a portable fallback (macOS, or `--features portable`).
//!
//! No server outlives its run: servers tie their life to the orchestrator's
//! ([`platform::die_with_parent`]: `PR_SET_PDEATHSIG = SIGKILL` on Linux, and a parent check),
//! live in their own process group that the orchestrator kills as a whole, are spawned
//! `kill_on_drop`, and exit when their control connection closes (the portable parent-death
//! signal); SIGINT/SIGTERM to the orchestrator kill the cluster and still write partial results
//! ([`Interrupt`]). Servers launched through a template or attached (`scenario::remote`) may
//! run on other hosts: for them the end of the control connection is the parent-death signal,
//! and a crash fault is an order on it.

pub mod auth;
pub mod clock;
mod cluster;
mod node;
pub mod orchestrator;
pub mod platform;
pub mod server;
pub mod wire;

use crate::lab::{self, RunResult, Runtime};
use crate::protocol::{ProtocolKind, ServerId};
use crate::scenario::{Mode, Scenario};

/// Real local processes as a [`Runtime`]: one current-thread tokio runtime and one SIGINT/SIGTERM
/// watch per `ticketlab` invocation; each run spawns a fresh cluster. Runs happen one at a time
/// on the thread that made this value, which must be the main thread: the servers'
/// PR_SET_PDEATHSIG fires when the spawning *thread* exits (see [`orchestrator`]).
pub struct Processes {
    rt: tokio::runtime::Runtime,
    opts: RunOptions,
}

impl Processes {
    /// `run_id` names the servers of every run (`ticketlab server --run-id ID-<protocol>`);
    /// `progress` shows a bar per run on a terminal.
    pub fn new(run_id: String, progress: bool) -> anyhow::Result<Self> {
        raise_open_files();
        let (rt, interrupt) = crate::signals::runtime_with_interrupt()?;
        Ok(Processes {
            rt,
            opts: RunOptions {
                run_id,
                progress,
                interrupt,
            },
        })
    }
}

/// Raise this process's soft limit on open descriptors to its hard limit (servers inherit it).
/// A run holds about 5n descriptors at the orchestrator (control and user connections, three
/// pipes per child) and 2n at each server (a link to and from every peer): n = 101 passes a soft
/// limit of 256 or 512 (macOS, some shells) but not the hard one. Best effort: on failure the
/// soft limit stays and a run that needs more fails at setup with "too many open files".
pub fn raise_open_files() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            // macOS refuses more than OPEN_MAX for the soft limit of an unlimited hard limit.
            #[cfg(target_os = "macos")]
            let max = lim.rlim_max.min(libc::OPEN_MAX as libc::rlim_t);
            #[cfg(not(target_os = "macos"))]
            let max = lim.rlim_max;
            lim.rlim_cur = max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

impl Runtime for Processes {
    fn mode(&self) -> Mode {
        Mode::Processes
    }

    fn run(&self, scenario: &Scenario, protocol: ProtocolKind, seed: u64) -> RunResult {
        let (output, stop) = self.rt.block_on(orchestrator::run_protocol(
            scenario, protocol, seed, &self.opts,
        ));
        RunResult {
            output,
            stop: stop.map(|stop| match stop {
                Stop::Interrupted(sig) => lab::Stop::Interrupted(sig),
                Stop::Failed(e) => lab::Stop::Failed(
                    anyhow::Error::new(e).context("the processes run stopped early"),
                ),
            }),
        }
    }

    fn interrupted(&self) -> Option<&'static str> {
        self.opts.interrupt.fired()
    }
}

/// Why a processes-mode run can fail.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot start server process s{server}")]
    Spawn {
        server: ServerId,
        #[source]
        source: std::io::Error,
    },
    #[error("cluster setup failed: {0}")]
    Setup(String),
    #[error("server s{server} exited unexpectedly ({status})")]
    ServerDied { server: ServerId, status: String },
    #[error("orchestrator i/o")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Wire(#[from] wire::WireError),
}

/// Why a run stopped before its end (inside the runtime; [`lab::Stop`] outside).
#[derive(Debug)]
enum Stop {
    /// SIGINT (Ctrl-C) or SIGTERM.
    Interrupted(&'static str),
    Failed(ProcessError),
}

impl From<ProcessError> for Stop {
    fn from(e: ProcessError) -> Self {
        Stop::Failed(e)
    }
}

/// Options of a processes-mode run.
#[derive(Clone, Debug)]
struct RunOptions {
    /// Names the run's processes (`ticketlab server --run-id ID-<protocol>`), so they can be found.
    run_id: String,
    /// Show a progress bar on stderr.
    progress: bool,
    interrupt: Interrupt,
}

pub use crate::signals::Interrupt;
