//! The process runtime: `mode = "processes"` runs a real local cluster — one OS process per
//! server, TCP on 127.0.0.1 — and produces the same [`RunOutput`] as the simulator.
//!
//! - [`orchestrator`] (in the `ticketlab run` process) spawns the servers, waits for their mesh,
//!   plays the users ([`crate::workload::Client`], driven by real time), injects faults (kill -9,
//!   link delays), collects every server's history events as they happen, detects quiescence and
//!   shuts the cluster down;
//! - [`server`] (the hidden `ticketlab server` subcommand) drives one unchanged protocol state
//!   machine; it writes each outgoing server→server message at once, tagged with its release
//!   instant (send time + δ, jitter, faults), and holds each incoming one until that instant;
//! - [`wire`] is the framing and the messages of the three kinds of connection;
//! - [`clock`] is the shared time base (µs since a run epoch handed out as UNIX time);
//! - [`platform`] is the seam around the only Linux-specific calls (parent-death signal, the
//!   precise per-link timer), with a portable fallback (macOS, or `--features portable`).
//!
//! No server outlives its run: servers tie their life to the orchestrator's
//! ([`platform::die_with_parent`]: `PR_SET_PDEATHSIG = SIGKILL` on Linux, and a parent check),
//! live in their own process group that the orchestrator kills as a whole, are spawned
//! `kill_on_drop`, and exit when their control connection closes (the portable parent-death
//! signal); SIGINT/SIGTERM to the orchestrator kill the cluster and still write partial results
//! ([`Interrupt`]).

pub mod clock;
pub mod orchestrator;
pub mod platform;
pub mod server;
pub mod wire;

pub use orchestrator::run_protocol;

use crate::protocol::ServerId;
use crate::sim::RunOutput;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

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

/// Why a run stopped before its end.
#[derive(Debug)]
pub enum Stop {
    /// SIGINT (Ctrl-C) or SIGTERM.
    Interrupted(&'static str),
    Failed(ProcessError),
}

impl From<ProcessError> for Stop {
    fn from(e: ProcessError) -> Self {
        Stop::Failed(e)
    }
}

/// What a processes-mode run of one protocol produced: the output (complete or partial) and, if
/// it stopped early, why.
#[derive(Debug)]
pub struct ProcessRun {
    pub output: RunOutput,
    pub stop: Option<Stop>,
}

/// Options of a processes-mode run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Names the run's processes (`ticketlab server --run-id ID-<protocol>`), so they can be found.
    pub run_id: String,
    /// Show a progress bar on stderr.
    pub progress: bool,
    pub interrupt: Interrupt,
}

/// SIGINT/SIGTERM, observed: once installed, the signals no longer kill the orchestrator; they
/// make every running orchestrator loop stop, kill its cluster and write what it has.
#[derive(Clone, Debug)]
pub struct Interrupt {
    rx: watch::Receiver<Option<&'static str>>,
}

impl Interrupt {
    /// Install the handlers (inside a tokio runtime).
    pub fn install() -> std::io::Result<Self> {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            let _ = tx.send(Some(name));
            // Keep the handlers (and the sender) alive: later signals are absorbed.
            loop {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
        });
        Ok(Interrupt { rx })
    }

    /// The signal received so far, if any.
    pub fn fired(&self) -> Option<&'static str> {
        *self.rx.borrow()
    }

    /// Wait for a signal.
    pub async fn wait(&mut self) -> &'static str {
        match self.rx.wait_for(Option::is_some).await {
            Ok(v) => v.unwrap_or("signal"),
            Err(_) => std::future::pending().await,
        }
    }
}
