//! From a run's history to the numbers users read: `summary.json` (a user contract: keep names)
//! and the terminal table. Every measured figure here is computed from the recorded history (plus
//! the heartbeat and note counters), so an independent recount of `history.jsonl` gives the same
//! numbers. Theory columns come from [`ProtocolKind::theory`] and are labelled as theory.

use crate::checker::{self, Violation};
use crate::history::Event;
use crate::protocol::{Note, Outcome, ProtocolKind, ServerId, Theory, Ticket, Time};
use crate::scenario::{Mode, Scenario};
use crate::sim::RunOutput;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, ContentArrangement, Table};
use serde::Serialize;
use std::collections::BTreeMap;

/// Latency percentiles (nearest rank). `null` when nothing was decided.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stats {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub protocol: String,
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
    pub latency_delta: Stats,
    /// The same in milliseconds.
    pub latency_ms: Stats,
    /// Server→server protocol messages / tickets (heartbeats and self-sends excluded).
    pub messages_per_ticket: f64,
    pub messages: u64,
    pub messages_by_type: BTreeMap<String, u64>,
    pub heartbeats: u64,
    pub theory: Theory,
    pub violations: Vec<Violation>,
    /// The undecided tickets, by id.
    pub pending: Vec<Ticket>,
    /// Decisions at servers (a ticket submitted to two servers has two).
    pub decisions: u64,
    /// Servers that crashed during the run.
    pub crashed: Vec<ServerId>,
    /// Internal protocol events (consensus instances, suspicions, fast paths, fallbacks).
    pub notes: BTreeMap<String, u64>,
    /// Broadcasts delivered on a fast path (OPT, GB), summed over servers: `notes["FastDelivery"]`.
    pub fast_deliveries: u64,
    /// Broadcast stages ended by consensus (OPT, GB), summed over servers: `notes["Fallback"]`.
    pub fallbacks: u64,
    /// Run duration (simulated or wall-clock), ms.
    pub duration_ms: f64,
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
    pub runs: Vec<RunSummary>,
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Time], p: f64) -> Option<Time> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn stats(sorted: &[Time], unit: f64) -> Stats {
    let f = |v: Option<Time>| v.map(|v| v as f64 / unit);
    Stats { p50: f(percentile(sorted, 0.50)), p99: f(percentile(sorted, 0.99)), max: f(sorted.last().copied()) }
}

/// Validation latencies in µs: for every decision, the time since that server received the ticket.
pub fn latencies(history: &[Event]) -> Vec<Time> {
    let mut submitted: BTreeMap<(&Ticket, ServerId), Vec<Time>> = BTreeMap::new();
    let mut lat = Vec::new();
    for e in history {
        match e {
            Event::Submit { t_us, ticket, server } => {
                submitted.entry((ticket, *server)).or_default().push(*t_us)
            }
            Event::Decide { t_us, ticket, server, .. } => {
                // Decisions at a server come in submission order (a resubmission is decided at
                // once), so each decision answers the oldest unanswered submission.
                if let Some(v) = submitted.get_mut(&(ticket, *server)) {
                    if !v.is_empty() {
                        lat.push(t_us - v.remove(0));
                    }
                }
            }
            _ => {}
        }
    }
    lat.sort_unstable();
    lat
}

pub fn summarize(scenario: &Scenario, protocol: ProtocolKind, run: &RunOutput) -> RunSummary {
    let checked = checker::check(&run.history);
    let mut accepted = 0;
    let mut rejected = 0;
    let mut phase = [0u64; 3];
    let mut pending: Vec<Ticket> = Vec::new();
    for (ticket, facts) in &checked.tickets {
        if let Some(a) = facts.decisions.iter().find(|d| d.2 == Outcome::Accept) {
            accepted += 1;
            if let Some(p @ 1..=2) = a.3 {
                phase[usize::from(p)] += 1;
            }
        } else if facts.sigma.is_empty() || checked.pending.contains(ticket) {
            // No server received it (all refused), or a live one never decided it.
            pending.push(ticket.clone());
        } else {
            rejected += 1;
        }
    }
    let undecided = pending.len() as u64;
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut decisions = 0;
    for e in &run.history {
        match e {
            Event::Send { msg, .. } => *by_type.entry(msg.clone()).or_insert(0) += 1,
            Event::Decide { .. } => decisions += 1,
            _ => {}
        }
    }
    let messages: u64 = by_type.values().sum();
    let tickets = checked.tickets.len() as u64;
    let lat = latencies(&run.history);
    let delta = scenario.cluster.delta as f64;
    RunSummary {
        protocol: protocol.name().to_string(),
        tickets,
        accepted,
        rejected,
        undecided,
        accepted_phase1: phase[1],
        accepted_phase2: phase[2],
        latency_delta: stats(&lat, delta),
        latency_ms: stats(&lat, 1000.0),
        messages_per_ticket: if tickets == 0 { 0.0 } else { messages as f64 / tickets as f64 },
        messages,
        messages_by_type: by_type,
        heartbeats: run.heartbeats,
        theory: protocol.theory(scenario.cluster.servers),
        violations: checked.violations,
        pending,
        decisions,
        crashed: checked.crashed.keys().copied().collect(),
        notes: run.notes.iter().map(|(k, v)| (format!("{k:?}"), *v)).collect(),
        fast_deliveries: run.notes.get(&Note::FastDelivery).copied().unwrap_or(0),
        fallbacks: run.notes.get(&Note::Fallback).copied().unwrap_or(0),
        duration_ms: run.end as f64 / 1000.0,
    }
}

fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if (v - v.round()).abs() < 1e-9 => format!("{v:.0}"),
        Some(v) => format!("{v:.3}"),
    }
}

/// The terminal table: one row per protocol, measured and theory columns side by side.
pub fn render_table(summary: &Summary) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(vec![
        "protocol",
        "resilience\n(theory)",
        "latency max\nδ measured",
        "latency\nδ theory",
        "latency p50\nδ measured",
        "msgs/ticket\nmeasured",
        "msgs/ticket\ntheory",
        "accepted /\nrejected /\nundecided",
        "violations",
    ]);
    for r in &summary.runs {
        let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
        t.add_row(vec![
            Cell::new(&r.protocol),
            Cell::new(&r.theory.resilience),
            right(fmt_num(r.latency_delta.max)),
            right(fmt_num(Some(r.theory.latency_delta))),
            right(fmt_num(r.latency_delta.p50)),
            right(fmt_num(Some(r.messages_per_ticket))),
            right(r.theory.messages_per_ticket.to_string()),
            right(format!("{} / {} / {}", r.accepted, r.rejected, r.undecided)),
            right(r.violations.len().to_string()),
        ]);
    }
    let mode = match summary.mode {
        Mode::Sim => "simulator",
        Mode::Processes => "real processes",
    };
    format!(
        "{}: n = {}, δ = {} ms, seed {}, {mode}{}\n{t}",
        summary.scenario,
        summary.servers,
        summary.delta_ms,
        summary.seed,
        if summary.complete { "" } else { " — INCOMPLETE run" },
    )
}
