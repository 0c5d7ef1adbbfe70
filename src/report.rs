//! From a run's history to the numbers users read: `summary.json` (a user contract: keep names)
//! and the terminal table. Every measured figure here is computed from the recorded history (plus
//! the heartbeat and note counters), so an independent recount of `history.jsonl` gives the same
//! numbers. Theory columns come from [`ProtocolKind::theory`] and are labelled as theory.

use crate::checker::{self, Violation};
use crate::explain::{self, Story};
use crate::history::Event;
use crate::history::Rejection;
use crate::lab::RunOutput;
use crate::latency::Latencies;
use crate::protocol::{Note, Outcome, Property, ProtocolKind, ServerId, Theory, Ticket, Time};
use crate::scenario::{CrashPick, Mode, Scenario};
use crate::tally::Tallied;
pub use crate::text::wrap;
use serde::Serialize;
use std::collections::BTreeMap;

pub mod baseline;
mod table;

pub(crate) use table::fmt_num;
pub use table::{measured_cells, render_table};

/// Latency percentiles, from the run's HDR histogram (`latency::Latencies`: exact below
/// 262 ms, 5 significant digits above), and the exact maximum. `null` when nothing was decided.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stats {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    /// The 99.9th percentile.
    pub p999: Option<f64>,
    pub max: Option<f64>,
}

/// A bad ticket a server took in (a violation of ticket verification).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BadAdmitted {
    pub ticket: Ticket,
    pub server: ServerId,
    pub t_us: Time,
    pub reason: Rejection,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub protocol: ProtocolKind,
    /// Distinct tickets users tried to submit.
    pub tickets: u64,
    /// Tickets some server accepted.
    pub accepted: u64,
    /// Tickets every live server of σ(τ) rejected.
    pub rejected: u64,
    /// Tickets with no accept that some live server of σ(τ) had not decided by the deadline.
    pub undecided: u64,
    pub accepted_phase1: u64,
    pub accepted_phase2: u64,
    /// Validation latency (submission at s_i → decision at s_i) over every decision, in units of δ.
    /// At δ = 0 (no injected delay) there is no such unit: every percentile is `null`, and
    /// `latency_ms` holds the figures.
    pub latency_delta: Stats,
    /// The same in milliseconds.
    pub latency_ms: Stats,
    /// Client latency, ms: a submission's *intended* time (the arrival in the open loop, the
    /// slot's turn in the closed loop, the scripted instant) → its user told the decision (the
    /// deciding server's answer, or a credential rejected at once). Counting from the intended
    /// time, not the actual send, keeps a stalled cluster's queue in the figure (no coordinated
    /// omission). In the simulator a lone ticket's equals its `latency_ms`.
    pub client_latency_ms: Stats,
    /// Tickets answered per second over `measured_interval_ms` (the warm-up excluded); `null`
    /// when that interval is empty.
    pub throughput_per_s: Option<f64>,
    /// Open loop: arrivals per second after the warm-up, on their intended times (the realized
    /// rate of `workload.rate`'s arrivals); `null` in the closed loop, or with fewer than two
    /// arrivals after the warm-up.
    pub offered_per_s: Option<f64>,
    /// The warm-up, ms from the workload's start to the answer of its ⌊N/10⌋-th ticket (N:
    /// every ticket of the run; 0 when there is no warm-up).
    pub warmup_ms: f64,
    /// The interval throughput is measured on, ms: from the end of the warm-up to the last
    /// ticket's first answer.
    pub measured_interval_ms: f64,
    /// Tickets answered in the measured interval.
    pub measured_tickets: u64,
    /// Server→server protocol messages / tickets (heartbeats and self-sends excluded).
    pub messages_per_ticket: f64,
    pub messages: u64,
    pub messages_by_type: BTreeMap<String, u64>,
    pub heartbeats: u64,
    pub theory: Theory,
    /// The properties the protocol claims, which `violations` holds it to.
    pub properties: Vec<Property>,
    /// Violations of the claimed properties.
    pub violations: Vec<Violation>,
    /// Tickets failing a property the protocol does not claim (nor implies), by property: what
    /// it gives up by design (qlock-amo under contention: "E-2"; 2pe after a crash: "E-2'").
    pub unclaimed: BTreeMap<String, u64>,
    /// The Byzantine behaviour of this row's run, in a `[byzantine]` sweep (one row per
    /// behaviour); `None` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behaviour: Option<crate::scenario::Behaviour>,
    /// Servers that turned Byzantine during the run (`byzantine` faults).
    pub byzantine: Vec<ServerId>,
    /// Accepts by Byzantine servers, reported apart and never counted as violations.
    pub byzantine_accepts: Vec<ByzantineAccept>,
    /// The undecided tickets, by id.
    pub pending: Vec<Ticket>,
    /// Undecided tickets whose claimed liveness property is in danger: for E-2, no server of σ(τ)
    /// crashed; for E-2′, one survived (`run --strict` fails on these).
    pub stalled: Vec<Ticket>,
    /// Decisions at servers (a ticket submitted to two servers has two).
    pub decisions: u64,
    /// Submissions servers rejected at once because the ticket's signature is not the issuer's
    /// (`refused` with `reason = "forged"`; `workload.forged`).
    pub forged_rejected: u64,
    /// Submissions rejected because a field was changed after signing (`reason = "tampered"`).
    pub tampered_rejected: u64,
    /// Submissions rejected because the ticket had expired (`reason = "expired"`).
    pub expired_rejected: u64,
    /// Violations of ticket verification: a forged or tampered ticket that a server took in
    /// anyway (its protocol saw it). Empty when verification works; `run` fails otherwise.
    pub bad_admitted: Vec<BadAdmitted>,
    /// Servers that crashed during the run.
    pub crashed: Vec<ServerId>,
    /// Internal protocol events (consensus instances, suspicions, fast paths, fallbacks).
    pub notes: BTreeMap<String, u64>,
    /// Broadcasts delivered on a fast path (OPT, GB), summed over servers: `notes["FastDelivery"]`.
    pub fast_deliveries: u64,
    /// Broadcast stages ended by consensus (OPT, GB), summed over servers: `notes["Fallback"]`.
    pub fallbacks: u64,
    /// Lock protocols: quorum queries made (`notes["Try"]`), tries that backed off
    /// (`notes["Backoff"]`) and the time spent backing off, summed over servers.
    pub tries: u64,
    pub backoffs: u64,
    pub backoff_ms: f64,
    /// Run duration (simulated or wall-clock), ms.
    pub duration_ms: f64,
    /// Transmissions lost on lossy links and retransmitted (links stay reliable).
    pub retransmissions: u64,
    /// Connections to the servers that failed the authentication handshake and were closed
    /// (processes mode; always 0 in the simulator).
    pub rejected_connections: u64,
    /// The network as measured at setup, per link (servers launched through a template or
    /// attached; absent otherwise): `from`, `to`, `rtt_us`, `one_way_us`, `offset_us`, `samples`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<crate::lab::LinkStat>,
    /// Measured resilience: the largest f (servers crashed at the start) with every ticket
    /// decided. Only with a `[resilience]` sweep.
    pub resilience_measured: Option<u16>,
    /// The sweep behind `resilience_measured`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resilience: Option<Measured>,
    /// What happened to each scripted ticket (`[[ticket]]`): who received and decided it, when,
    /// in which phase, why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scripted_tickets: Vec<Story>,
    /// How fast the simulator ran this run (simulator only): wall time, the events its queue
    /// handled and the tickets it simulated, per wall-clock second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sim_speed: Option<SimSpeed>,
}

/// The simulator's speed on one run (`RunSummary::sim_speed`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimSpeed {
    /// Wall-clock time of the run, ms.
    pub wall_ms: f64,
    /// Events the simulator handled (deliveries, timers, users' actions, heartbeats).
    pub events: u64,
    /// Events in the run's history.
    pub history_events: u64,
    /// Simulated tickets per wall-clock second.
    pub tickets_per_s: f64,
    /// Simulator events per wall-clock second.
    pub events_per_s: f64,
}

impl SimSpeed {
    fn of(work: &crate::lab::SimWork, tickets: u64, history_events: u64) -> Self {
        let secs = (work.wall_us.max(1)) as f64 / 1e6;
        SimSpeed {
            wall_ms: work.wall_us as f64 / 1000.0,
            events: work.events,
            history_events,
            tickets_per_s: tickets as f64 / secs,
            events_per_s: work.events as f64 / secs,
        }
    }

    /// "simulated 1000 tickets (52,311 events) in 0.12 s: 8,333 tickets/s, 435,925 events/s".
    pub fn text(&self, tickets: u64) -> String {
        format!(
            "simulated {} tickets ({} events) in {:.2} s: {} tickets/s, {} events/s",
            thousands(tickets as f64),
            thousands(self.events as f64),
            self.wall_ms / 1000.0,
            thousands(self.tickets_per_s),
            thousands(self.events_per_s)
        )
    }
}

/// A whole number with thousands separated by commas.
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One point of a resilience sweep (see the `resilience` module).
#[derive(Clone, Debug, Serialize)]
pub struct SweepPoint {
    pub f: u16,
    pub crashed: Vec<ServerId>,
    pub tickets: u64,
    pub accepted: u64,
    pub undecided: u64,
    pub violations: usize,
    pub fast_deliveries: u64,
    pub fallbacks: u64,
    pub latency_delta_max: Option<f64>,
}

/// The measured resilience of one protocol.
#[derive(Clone, Debug, Serialize)]
pub struct Measured {
    /// Largest f such that every run with f' ≤ f crashes decided every ticket.
    pub measured: Option<u16>,
    /// The first f whose run left tickets undecided.
    pub blocks_at: Option<u16>,
    /// The largest f the protocol is designed for (theory).
    pub claim_max_f: u16,
    /// Largest f whose run still delivered on a fast path only (no fallback), for protocols
    /// that have one.
    pub fast_path_max_f: Option<u16>,
    /// The runtime of the sweep: "sim" or "processes".
    pub mode: Mode,
    pub crash: CrashPick,
    pub sweep: Vec<SweepPoint>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub mode: Mode,
    pub servers: u16,
    pub delta_ms: f64,
    /// False when the run stopped early (error, interrupt): the figures cover what was recorded.
    pub complete: bool,
    /// Whether the theory columns (Table 1's rows: fault-free, uncontended runs) describe this
    /// run: false when it has scripted tickets, faults, or forged or tampered tickets (refused
    /// before any message: messages per ticket counts them too).
    pub theory_applies: bool,
    /// What wrote this summary: `"ticketlab <version>"`.
    pub tool: String,
    /// The command line that made the run (how to re-run it).
    pub command: Vec<String>,
    /// The effective scenario, after `--set` and `--sim`, as TOML: `ticketlab run` on this text
    /// (with `seed`) re-runs it.
    pub scenario_toml: String,
    /// The open loop's configured arrivals per second (`workload.rate`); `null`: closed loop.
    pub rate_per_s: Option<f64>,
    /// The open loop's arrivals ("poisson", "uniform"); `null`: closed loop.
    pub arrivals: Option<crate::scenario::Arrivals>,
    /// The closed loop's tickets in flight (`workload.concurrency`); `null`: open loop.
    pub concurrency: Option<u32>,
    pub runs: Vec<RunSummary>,
    /// Baseline rows (`"etcd"` in `cluster.protocols`): a real store on the same workload, no
    /// δ, no message count, no theory (docs/BASELINE.md). Absent when there is none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub baselines: Vec<baseline::BaselineSummary>,
}

impl Summary {
    /// An empty summary of `scenario` (runs are added as they complete).
    pub fn new(scenario: &Scenario, seed: u64, mode: Mode) -> Self {
        Summary {
            scenario: scenario.name.clone(),
            seed,
            mode,
            servers: scenario.cluster.servers,
            delta_ms: scenario.cluster.delta as f64 / 1000.0,
            complete: true,
            theory_applies: scenario.tickets.is_empty()
                && scenario.faults.is_empty()
                && scenario.workload.forged == 0.0
                && scenario.workload.tampered == 0.0,
            tool: format!("ticketlab {}", env!("CARGO_PKG_VERSION")),
            command: Vec::new(),
            scenario_toml: effective_toml(scenario),
            rate_per_s: scenario.workload.open.map(|o| o.rate),
            arrivals: scenario.workload.open.map(|o| o.arrivals),
            concurrency: match scenario.workload.open {
                None => Some(scenario.workload.concurrency),
                Some(_) => None,
            },
            runs: Vec::new(),
            baselines: Vec::new(),
        }
    }
}

/// The effective scenario as TOML (the text `summary.json` keeps and `outputs` compares).
pub fn effective_toml(scenario: &Scenario) -> String {
    crate::scenario::to_toml(scenario, "the effective scenario of this run (after --set)")
}

/// `lat`'s percentiles in units of `unit` µs; all `null` when the unit is 0 (δ = 0).
fn stats(lat: &Latencies, unit: f64) -> Stats {
    let f = |v: Option<Time>| v.filter(|_| unit > 0.0).map(|v| v as f64 / unit);
    Stats {
        p50: f(lat.quantile(0.50)),
        p90: f(lat.quantile(0.90)),
        p99: f(lat.quantile(0.99)),
        p999: f(lat.quantile(0.999)),
        max: f(lat.max()),
    }
}

/// Every latency of a run (a server's receipt of a ticket → its decision) in a histogram.
pub fn latencies(history: &[Event]) -> Latencies {
    latencies_of(&checker::check(history))
}

/// The same for a run's output, whether its history was kept or streamed.
pub fn run_latencies(run: &RunOutput) -> Latencies {
    match &run.streamed {
        Some(s) => latencies_of(&s.tallied.checked),
        None => latencies(&run.history),
    }
}

fn latencies_of(checked: &checker::Checked) -> Latencies {
    let mut lat = Latencies::default();
    for v in checked.tickets.values().flat_map(|f| f.latencies()) {
        lat.record(v);
    }
    lat
}

/// Tickets accepted (with the phase of the accept), rejected and pending in a checked history.
pub(crate) struct Tally {
    pub accepted: u64,
    pub rejected: u64,
    pub phase: [u64; 3],
    pub pending: Vec<Ticket>,
}

/// Each ticket's fate: accepted somewhere, rejected by every live server of σ(τ) (or refused
/// for its credential everywhere), or pending.
pub(crate) fn tally(tallied: &Tallied) -> Tally {
    let checked = &tallied.checked;
    let mut accepted = 0;
    let mut rejected = 0;
    let mut phase = [0u64; 3];
    let mut pending: Vec<Ticket> = Vec::new();
    // A ticket every submission of which was rejected for its credential (none was refused by a
    // crashed server): decided, by the runtime, as rejected.
    let bad_only = |ticket: &Ticket| {
        tallied
            .credential_only
            .get(ticket)
            .copied()
            .unwrap_or(false)
    };
    let pending_set: std::collections::BTreeSet<&Ticket> = checked.pending.iter().collect();
    for (ticket, facts) in &checked.tickets {
        if let Some(a) = facts
            .decisions
            .iter()
            .find(|d| d.outcome == Outcome::Accept)
        {
            accepted += 1;
            if let Some(p @ 1..=2) = a.phase {
                phase[usize::from(p)] += 1;
            }
        } else if facts.sigma.is_empty() && bad_only(ticket) {
            // Every server rejected its credential: the users were told at once.
            rejected += 1;
        } else if facts.sigma.is_empty() || pending_set.contains(ticket) {
            // No server received it (all refused), or a live one never decided it.
            pending.push(ticket.clone());
        } else {
            rejected += 1;
        }
    }
    Tally {
        accepted,
        rejected,
        phase,
        pending,
    }
}

/// Forged or tampered tickets a server took in anyway, as the summary lists them.
pub(crate) fn bad_admitted(checked: &checker::Checked) -> Vec<BadAdmitted> {
    checked
        .bad_admitted
        .iter()
        .map(|(ticket, server, t_us, reason)| BadAdmitted {
            ticket: ticket.clone(),
            server: *server,
            t_us: *t_us,
            reason: *reason,
        })
        .collect()
}

pub fn summarize(scenario: &Scenario, protocol: ProtocolKind, run: &RunOutput) -> RunSummary {
    // A streamed run was tallied as it went; a history in memory is tallied now.
    let kept;
    let tallied = match &run.streamed {
        Some(s) => &s.tallied,
        None => {
            kept = Tallied::of(scenario, &run.history);
            &kept
        }
    };
    let checked = &tallied.checked;
    let claims = protocol.properties();
    let note = |n: Note| run.notes.get(&n).copied().unwrap_or(0);
    let Tally {
        accepted,
        rejected,
        phase,
        pending,
    } = tally(tallied);
    let undecided = pending.len() as u64;
    let by_type = tallied.by_type.clone();
    let decisions = tallied.decisions;
    let rejections = &tallied.rejections;
    let messages: u64 = by_type.values().sum();
    let tickets = checked.tickets.len() as u64;
    let lat = latencies_of(checked);
    let delta = scenario.cluster.delta as f64;
    RunSummary {
        protocol,
        tickets,
        accepted,
        rejected,
        undecided,
        accepted_phase1: phase[1],
        accepted_phase2: phase[2],
        latency_delta: stats(&lat, delta),
        latency_ms: stats(&lat, 1000.0),
        client_latency_ms: stats(&run.load.client, 1000.0),
        throughput_per_s: run.load.throughput_per_s(),
        offered_per_s: run.load.offered_per_s,
        warmup_ms: run.load.measured_from as f64 / 1000.0,
        measured_interval_ms: run.load.measured_interval() as f64 / 1000.0,
        measured_tickets: run.load.measured_tickets(),
        messages_per_ticket: if tickets == 0 {
            0.0
        } else {
            messages as f64 / tickets as f64
        },
        messages,
        messages_by_type: by_type,
        heartbeats: run.heartbeats,
        theory: protocol.theory(scenario.cluster.servers),
        properties: claims.to_vec(),
        violations: checked.claimed(claims),
        unclaimed: checked.unclaimed(claims),
        byzantine: checked.byzantine.iter().copied().collect(),
        byzantine_accepts: checked
            .byzantine_accepts
            .iter()
            .map(|(ticket, server, t_us)| ByzantineAccept {
                ticket: ticket.clone(),
                server: *server,
                t_us: *t_us,
            })
            .collect(),
        stalled: checked.stalled_for(claims),
        pending,
        decisions,
        forged_rejected: rejections.get(&Rejection::Forged).copied().unwrap_or(0),
        tampered_rejected: rejections.get(&Rejection::Tampered).copied().unwrap_or(0),
        expired_rejected: rejections.get(&Rejection::Expired).copied().unwrap_or(0),
        bad_admitted: bad_admitted(checked),
        crashed: checked.crashed.keys().copied().collect(),
        notes: run
            .notes
            .iter()
            .map(|(k, v)| (format!("{k:?}"), *v))
            .collect(),
        fast_deliveries: note(Note::FastDelivery),
        fallbacks: note(Note::Fallback),
        tries: note(Note::Try),
        backoffs: note(Note::Backoff),
        backoff_ms: note(Note::BackoffUs) as f64 / 1000.0,
        duration_ms: run.end as f64 / 1000.0,
        retransmissions: run.retransmissions,
        rejected_connections: run.rejected_connections,
        links: run.links.clone(),
        resilience_measured: None,
        resilience: None,
        behaviour: None,
        scripted_tickets: explain::stories(scenario, &tallied.story),
        sim_speed: run.sim.map(|w| SimSpeed::of(&w, tickets, tallied.events)),
    }
}

impl RunSummary {
    /// The row's name: the protocol, and the Byzantine behaviour in a `[byzantine]` sweep.
    pub fn label(&self) -> String {
        match self.behaviour {
            Some(b) => format!("{} / {b}", self.protocol),
            None => self.protocol.to_string(),
        }
    }
}

/// An accept by a Byzantine server (`summary.json`'s `byzantine_accepts`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ByzantineAccept {
    pub ticket: Ticket,
    pub server: ServerId,
    pub t_us: Time,
}
