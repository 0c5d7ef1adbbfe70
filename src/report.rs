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
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, ColumnConstraint};
use comfy_table::{ContentArrangement, Table, Width};
use serde::Serialize;
use std::collections::BTreeMap;

pub mod baseline;

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

/// "f ≤ 2 (blocks at 3)" plus the fast path where the protocol has one.
fn measured_text(m: &Measured) -> String {
    let mut s = match (m.measured, m.blocks_at) {
        (Some(f), Some(b)) => format!("f ≤ {f} (blocks at {b})"),
        (Some(f), None) => format!("f ≤ {f} (all decided)"),
        (None, _) => "blocks at f = 0".to_string(),
    };
    if let Some(fp) = m.fast_path_max_f {
        s.push_str(&format!(", fast path f ≤ {fp}"));
    }
    s
}

fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if (v - v.round()).abs() < 1e-9 => format!("{v:.0}"),
        // Two decimals (summary.json has every digit), kept even when zero: a measured 2.004
        // shows as "2.00", never as the exact "2" of the simulator.
        Some(v) => format!("{v:.2}"),
    }
}

/// "E-1 ✓  E-2 ✓" for the claims (✗n when violated n times), then what the run gave up:
/// "gives up E-2' (1 ticket)".
fn properties_text(r: &RunSummary) -> String {
    let claims: Vec<String> = r
        .properties
        .iter()
        .map(|p| {
            let n = r.violations.iter().filter(|v| v.property() == *p).count();
            if n == 0 {
                format!("{p} ✓")
            } else {
                format!("{p} ✗ violated {n}×")
            }
        })
        .collect();
    let mut text = format!("claims {}", claims.join("  "));
    if !r.unclaimed.is_empty() {
        let given: Vec<String> = r
            .unclaimed
            .iter()
            .map(|(p, n)| format!("{p} ({n} ticket{})", if *n == 1 { "" } else { "s" }))
            .collect();
        text.push_str(&format!("; gives up {}", given.join(", ")));
    }
    if !r.byzantine.is_empty() {
        let who: Vec<String> = r.byzantine.iter().map(|s| format!("s{s}")).collect();
        let n = r.byzantine_accepts.len();
        text.push_str(&format!(
            "; Byzantine {}: {n} accept{} apart",
            who.join(", "),
            if n == 1 { "" } else { "s" }
        ));
    }
    text
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

/// The terminal table: one row per protocol, measured figures with the paper's (theory) in
/// parentheses, narrow enough for 80 columns; then, per protocol, one line for what does not fit
/// a narrow column (the measured resilience, the properties kept and given up).
pub fn render_table(summary: &Summary) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(80);
    let theory = "(theory)";
    // δ = 0: no unit δ; the latency columns show µs (each cell says so).
    let unit = if summary.delta_ms > 0.0 { "δ " } else { "" };
    let header = vec![
        "protocol".to_string(),
        format!("tolerates\n{theory}"),
        format!("{unit}max\n{theory}"),
        format!("{unit}p50"),
        format!("msgs per\nticket\n{theory}"),
        "accepted\nrejected\nundecided".to_string(),
        "violated".to_string(),
    ];
    let mut longest: Vec<usize> = header.iter().map(|h| longest_word(h)).collect();
    t.set_header(header);
    let mut rows: Vec<[String; 7]> = Vec::new();
    for r in &summary.runs {
        let [max, p50, msgs, decided, violated] = measured_cells(r);
        let cells = [
            r.label().replace(" / ", "\n"),
            r.theory.resilience.clone(),
            max,
            p50,
            msgs,
            decided,
            violated,
        ];
        rows.push(cells);
    }
    rows.extend(summary.baselines.iter().map(baseline::cells));
    // Words are never broken: each column is at least as wide as its longest word. When that
    // is wider than 80 columns, protocol names break after a hyphen ("qlock-" / "backoff").
    let need = |rows: &[[String; 7]], longest: &mut Vec<usize>| {
        for cells in rows {
            for (l, c) in longest.iter_mut().zip(cells) {
                *l = (*l).max(longest_word(c));
            }
        }
        longest.iter().sum::<usize>() + 3 * longest.len() + 1
    };
    if need(&rows, &mut longest.clone()) > 80 {
        for cells in &mut rows {
            cells[0] = cells[0]
                .lines()
                .map(|l| l.replacen('-', "-\n", 1))
                .collect::<Vec<_>>()
                .join("\n");
        }
    }
    need(&rows, &mut longest);
    for cells in rows {
        t.add_row(cells.into_iter().enumerate().map(|(i, c)| {
            let align = if i < 2 {
                CellAlignment::Left
            } else {
                CellAlignment::Right
            };
            Cell::new(c).set_alignment(align)
        }));
    }
    for (i, w) in longest.iter().enumerate() {
        if let Some(c) = t.column_mut(i) {
            c.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(*w as u16 + 2)));
        }
    }
    let mode = match summary.mode {
        Mode::Sim => "simulator",
        Mode::Processes => "real processes",
    };
    let mut text = format!(
        "{}: n = {}, δ = {} ms, seed {}, {mode}{}\n{t}",
        summary.scenario,
        summary.servers,
        summary.delta_ms,
        summary.seed,
        if summary.complete {
            ""
        } else {
            " — INCOMPLETE run"
        },
    );
    let width = summary
        .runs
        .iter()
        .map(|r| r.label().chars().count())
        .max()
        .unwrap_or(0);
    text.push_str("\nmeasured figures; the paper's theory in parentheses.");
    if summary.runs.iter().any(at_delta_zero) {
        text.push_str(
            "\nδ = 0 (no injected delay): latency in µs, the machine's own; theory in δ.",
        );
    }
    if summary.rate_per_s.is_some() || summary.concurrency.is_some_and(|c| c > 1) {
        text.push_str(&load_lines(summary, width));
    }
    if !summary.theory_applies {
        text.push_str(
            "\nTheory is for fault-free, uncontended runs (Table 1); this run has scripted\n\
             tickets, faults or bad tickets, so measured figures may differ from it.",
        );
    }
    if let Some(m) = summary.runs.iter().find_map(|r| r.resilience.as_ref()) {
        let who = match m.crash {
            CrashPick::First => "s1..sf crashed at the start (s1: the consensus coordinator)",
            CrashPick::Last => "the f highest-numbered servers crashed at the start",
        };
        let max = m.sweep.last().map_or(0, |p| p.f);
        text.push_str(&format!(
            "\nresilience measured {}, one run per f = 0..{max} with\n{who};\n\
             measured = the largest f with every ticket decided (other columns: f = 0):",
            if m.mode == Mode::Sim {
                "in the simulator"
            } else {
                "with real processes"
            },
        ));
        for r in &summary.runs {
            if let Some(m) = &r.resilience {
                text.push_str(&format!(
                    "\n  {:width$}  {}; designed for f ≤ {}",
                    r.protocol.name(),
                    measured_text(m),
                    m.claim_max_f
                ));
            }
        }
    }
    // The properties each protocol keeps and gives up, whenever a row is not plain exactly-once
    // (E-1, E-2) or gave something up.
    let exactly_once = [Property::E1, Property::E2];
    if summary
        .runs
        .iter()
        .any(|r| r.properties != exactly_once || !r.unclaimed.is_empty() || !r.byzantine.is_empty())
    {
        text.push_str(
            "\nproperties (✓ kept; given up: tickets that failed a property not claimed):",
        );
        for r in &summary.runs {
            // Wrapped at 80 columns, after a "; ", under the first line's text.
            let line = format!("  {:width$}  {}", r.label(), properties_text(r));
            text.push_str(&wrap(&line, "; ", 80, width + 4));
        }
    }
    text.push_str(&baseline::notes(summary));
    if summary.runs.iter().any(|r| !r.scripted_tickets.is_empty()) {
        text.push_str("\nscripted tickets (who received and decided them, when, and why):");
        for r in &summary.runs {
            text.push_str(&explain::render(&r.label(), &r.scripted_tickets));
        }
    }
    text
}

/// Whether `r` ran at δ = 0: latencies in ms but none in units of δ.
fn at_delta_zero(r: &RunSummary) -> bool {
    r.latency_delta.max.is_none() && r.latency_ms.max.is_some()
}

/// A latency in ms as µs, "83µs" (δ = 0 cells).
fn us_cell(ms: Option<f64>) -> String {
    ms.map_or("—".into(), |v| format!("{:.0}µs", v * 1000.0))
}

/// A latency in ms for a sentence: "20 ms", "1.25 ms", "83 µs" below a millisecond.
fn ms_text(ms: Option<f64>) -> String {
    match ms {
        None => "—".into(),
        Some(v) if v < 1.0 => format!("{:.0} µs", v * 1000.0),
        Some(v) => format!("{} ms", fmt_num(Some(v))),
    }
}

/// "4,987/s"-style rates, rounded (summary.json has every digit).
fn rate_text(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.0}/s"))
}

/// Under a table of a run under load (an open loop, or more than one ticket in flight): per
/// row, the offered load, the throughput after the warm-up and the client latency.
fn load_lines(summary: &Summary, width: usize) -> String {
    let shape = match (summary.rate_per_s, summary.arrivals) {
        (Some(rate), Some(a)) => format!("open loop, {} arrivals at {rate}/s", a.name()),
        _ => format!(
            "closed loop, {} tickets in flight",
            summary.concurrency.unwrap_or(1)
        ),
    };
    let mut text = wrap(
        &format!(
            "load ({shape}); throughput: tickets decided per second after the warm-up (the \
             first 10% of tickets); client latency: intended submission → decision seen:"
        ),
        " ",
        80,
        0,
    );
    for r in &summary.runs {
        let offered = match r.offered_per_s {
            Some(_) => format!("{} offered, ", rate_text(r.offered_per_s)),
            None => String::new(),
        };
        let c = &r.client_latency_ms;
        let line = format!(
            "  {:width$}  {offered}{} decided; client p50 {}, p99 {}",
            r.label(),
            rate_text(r.throughput_per_s),
            ms_text(c.p50),
            ms_text(c.p99),
        );
        text.push_str(&wrap(&line, "; ", 80, width + 4));
    }
    text
}

/// A run's measured cells, as every table prints them: δ max (theory), δ p50, messages per
/// ticket (theory), accepted/rejected/undecided, violations. At δ = 0 the latencies are in µs
/// ("83µs (2δ)").
pub fn measured_cells(r: &RunSummary) -> [String; 5] {
    let theory = fmt_num(Some(r.theory.latency_delta));
    let (max, p50) = if at_delta_zero(r) {
        (
            format!("{} ({theory}δ)", us_cell(r.latency_ms.max)),
            us_cell(r.latency_ms.p50),
        )
    } else {
        (
            format!("{} ({theory})", fmt_num(r.latency_delta.max)),
            fmt_num(r.latency_delta.p50),
        )
    };
    [
        max,
        p50,
        format!(
            "{} ({})",
            fmt_num(Some(r.messages_per_ticket)),
            r.theory.messages_per_ticket
        ),
        format!("{}/{}/{}", r.accepted, r.rejected, r.undecided),
        r.violations.len().to_string(),
    ]
}

/// The length of the longest whitespace-separated word of `s`, in characters.
fn longest_word(s: &str) -> usize {
    s.split_whitespace()
        .map(|w| w.chars().count())
        .max()
        .unwrap_or(0)
}
