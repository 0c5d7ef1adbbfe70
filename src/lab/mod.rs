//! The lab core: what every runtime shares, and the one interface every runtime offers.
//!
//! A *runtime* executes one protocol of a scenario on some cluster — the deterministic simulator
//! (`sim`) or real local processes (`process`) — and returns a [`RunOutput`]. What
//! does not depend on how messages travel or how time passes lives here, once:
//! - [`driver`] — the pure driver of a run: the users' [`crate::workload::Client`], the fault
//!   schedule and its dispatch, the crash/pause bookkeeping and the history. A runtime feeds it
//!   what happened and executes the [`driver::Command`]s it answers with.
//! - [`load`] — what the users saw: client latency from the intended submission time and
//!   throughput after a warm-up, measured as answers reach them.
//! - [`triggers`] — counting protocol events toward `after = {..}` faults.
//! - [`netmodel`] — links as faults shape them (delay, partitions, blocks, loss), pure and seeded.
//! - [`tickets`] — the run's ticket issuer (Ed25519, from the seed) and the verification every
//!   server runs when it takes a ticket in, before its protocol sees it.
//! - [`byzantine`] — the adversary wrapped around a Byzantine server's protocol; both runtimes
//!   build servers through [`byzantine::build`].
//!
//! [`Runtime`] is the single "run one scenario" interface: `ticketlab run`, resilience sweeps and
//! `ticketlab explore` take a `&dyn Runtime` and never name a runtime themselves. No runtime
//! imports another; both import this module.

pub mod byzantine;
pub mod driver;
pub mod load;
pub mod netmodel;
pub mod record;
pub mod tickets;
pub mod triggers;

use crate::history::Event;
use crate::protocol::{Note, ProtocolKind, Time};
use crate::scenario::{Mode, Scenario};
use record::Streamed;
use std::collections::BTreeMap;
use std::path::Path;

/// What a run produced, in every runtime alike.
///
/// The history is either here, whole (`history`; `streamed` is `None`), or was written to its
/// file as it was produced (`streamed`: the file and the figures tallied on the way;
/// `history` is empty) — see [`record`]. `report::summarize` reads either.
#[derive(Debug, Clone, Default)]
pub struct RunOutput {
    pub history: Vec<Event>,
    /// Set when the history was streamed to a file instead of kept.
    pub streamed: Option<Streamed>,
    /// The simulator's own work: wall time and events handled (`None` for real processes).
    pub sim: Option<SimWork>,
    /// Heartbeats sent (not in the history, not in messages per ticket).
    pub heartbeats: u64,
    /// Internal protocol events (fast paths, fallbacks, consensus instances, suspicions).
    pub notes: BTreeMap<Note, u64>,
    /// Time at the end of the run (simulated or since the run epoch), µs.
    pub end: Time,
    /// Transmissions lost on lossy links and retransmitted (not in messages per ticket).
    pub retransmissions: u64,
    /// Connections to servers' listeners that failed the authentication handshake and were
    /// closed (processes mode; the simulator has no sockets: 0).
    pub rejected_connections: u64,
    /// What the users saw: client latency, tickets answered over time, offered load.
    pub load: load::Load,
    /// The network as measured at setup (processes mode with launched or attached servers;
    /// otherwise empty).
    pub links: Vec<LinkStat>,
}

/// One link as measured at setup: the shortest of `samples` round trips, half of it as the
/// one-way estimate, and the clock offset of `to` relative to `from` (to's monotonic clock minus
/// from's at the same instant, as that round trip measured it; meaningful only between clocks
/// that are not already one, i.e. other hosts: on one machine it shows the measurement's
/// error).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LinkStat {
    pub from: String,
    pub to: String,
    pub rtt_us: f64,
    pub one_way_us: f64,
    pub offset_us: f64,
    pub samples: u32,
}

impl LinkStat {
    /// From a round trip and an offset in ns.
    pub fn new(from: String, to: String, rtt_ns: u64, offset_ns: i64, samples: u32) -> Self {
        let us = |ns: f64| (ns / 100.0).round() / 10.0;
        LinkStat {
            from,
            to,
            rtt_us: us(rtt_ns as f64) + 0.0,
            one_way_us: us(rtt_ns as f64 / 2.0),
            offset_us: us(offset_ns as f64) + 0.0,
            samples,
        }
    }
}

/// How much the simulator did for a run, and in how long (summary.json's `sim_speed`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SimWork {
    /// Wall-clock time of the run, µs.
    pub wall_us: u64,
    /// Events the simulator's queue handled (deliveries, timers, users' actions, heartbeats).
    pub events: u64,
}

/// Why a run stopped before its end (only real runtimes stop early; the simulator never does).
#[derive(Debug)]
pub enum Stop {
    /// SIGINT (Ctrl-C) or SIGTERM.
    Interrupted(&'static str),
    /// The runtime failed (a server died on its own, the cluster did not come up, …).
    Failed(anyhow::Error),
}

/// One run: its output — complete, or what was recorded up to a stop — and why it stopped.
#[derive(Debug)]
pub struct RunResult {
    pub output: RunOutput,
    pub stop: Option<Stop>,
}

impl RunResult {
    /// The output of a run that must have completed; a stop becomes an error.
    pub fn completed(self) -> anyhow::Result<RunOutput> {
        match self.stop {
            None => Ok(self.output),
            Some(Stop::Interrupted(sig)) => anyhow::bail!("interrupted by {sig}"),
            Some(Stop::Failed(e)) => Err(e),
        }
    }
}

/// A way to execute runs. Implemented by the simulator and by the process runtime.
pub trait Runtime: Sync {
    /// Which runtime this is (recorded in summaries and replay files).
    fn mode(&self) -> Mode;

    /// How many runs may execute at once, each on its own thread: the simulator uses every
    /// core; real processes run one cluster at a time on the calling thread.
    fn parallelism(&self) -> usize {
        1
    }

    /// Run `protocol` of `scenario` with `seed`.
    fn run(&self, scenario: &Scenario, protocol: ProtocolKind, seed: u64) -> RunResult;

    /// The same run, whose history may be written to `history` (JSON lines) as it is produced
    /// instead of kept in memory ([`RunOutput::streamed`] says which happened). Runtimes keep it
    /// in memory unless they say otherwise; the caller writes it then.
    fn run_to(
        &self,
        scenario: &Scenario,
        protocol: ProtocolKind,
        seed: u64,
        history: &Path,
    ) -> RunResult {
        let _ = history;
        self.run(scenario, protocol, seed)
    }

    /// A stop that has already happened (a signal), so callers start nothing new.
    fn interrupted(&self) -> Option<&'static str> {
        None
    }
}
