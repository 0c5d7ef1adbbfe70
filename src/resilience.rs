//! Measuring Table 1's resilience column: for each protocol, crash f = 0, 1, …, max_f servers
//! at the start and find the largest f with every ticket decided (E-2 for tickets sent to live
//! servers) and the first f that blocks (tickets undecided at the deadline). Runtime-agnostic:
//! the caller passes the function that runs one scenario (simulator or real processes).

use crate::protocol::{Note, ProtocolKind, ServerId};
use crate::report;
use crate::scenario::{CrashPick, Fault, FaultAction, Scenario};
use crate::sim::RunOutput;
use serde::Serialize;

/// One point of the sweep.
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
    /// "sim" or "processes".
    pub mode: String,
    pub crash: CrashPick,
    pub sweep: Vec<SweepPoint>,
}

/// The servers a sweep crashes for a given f.
pub fn crash_set(pick: CrashPick, n: u16, f: u16) -> Vec<ServerId> {
    match pick {
        CrashPick::First => (1..=f).collect(),
        CrashPick::Last => (n - f + 1..=n).collect(),
    }
}

/// The scenario with `crashed` crashed at time 0.
pub fn with_crashes(scenario: &Scenario, crashed: &[ServerId]) -> Scenario {
    let mut s = scenario.clone();
    if !crashed.is_empty() {
        s.faults.push(Fault {
            at: 0,
            after: None,
            action: FaultAction::Crash(crashed.to_vec()),
        });
    }
    s
}

/// Run the sweep; returns the f = 0 run (the row's ordinary figures) and the measurement.
pub fn sweep(
    scenario: &Scenario,
    protocol: ProtocolKind,
    max_f: u16,
    pick: CrashPick,
    mode: &str,
    mut run_one: impl FnMut(&Scenario, u16) -> anyhow::Result<RunOutput>,
) -> anyhow::Result<(RunOutput, Measured)> {
    let n = scenario.cluster.servers;
    let mut base = None;
    let mut points = Vec::new();
    for f in 0..=max_f.min(n - 1) {
        let crashed = crash_set(pick, n, f);
        let mut s = with_crashes(scenario, &crashed);
        // Past f = 0 only "decided or blocked" matters: once a ticket times out, stop issuing.
        s.workload.stop_at_first_timeout = f > 0;
        let out = run_one(&s, f)?;
        let r = report::summarize(&s, protocol, &out);
        let note = |n: Note| out.notes.get(&n).copied().unwrap_or(0);
        points.push(SweepPoint {
            f,
            crashed,
            tickets: r.tickets,
            accepted: r.accepted,
            undecided: r.undecided,
            violations: r.violations.len(),
            fast_deliveries: note(Note::FastDelivery),
            fallbacks: note(Note::Fallback),
            latency_delta_max: r.latency_delta.max,
        });
        if f == 0 {
            base = Some(out);
        }
    }
    let blocks_at = points.iter().find(|p| p.undecided > 0).map(|p| p.f);
    let measured = match blocks_at {
        Some(0) => None,
        Some(f) => Some(f - 1),
        None => points.last().map(|p| p.f),
    };
    let has_fast_path = points.first().is_some_and(|p| p.fast_deliveries > 0);
    let fast_path_max_f = has_fast_path
        .then(|| {
            points
                .iter()
                .take_while(|p| p.fallbacks == 0 && p.fast_deliveries > 0 && p.undecided == 0)
                .last()
                .map(|p| p.f)
        })
        .flatten();
    let measured = Measured {
        measured,
        blocks_at,
        claim_max_f: protocol.max_faults(n),
        fast_path_max_f,
        mode: mode.to_string(),
        crash: pick,
        sweep: points,
    };
    Ok((base.expect("the sweep runs f = 0"), measured))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_sets() {
        assert_eq!(crash_set(CrashPick::First, 5, 2), vec![1, 2]);
        assert_eq!(crash_set(CrashPick::Last, 5, 2), vec![4, 5]);
        assert_eq!(crash_set(CrashPick::Last, 5, 0), Vec::<ServerId>::new());
    }
}
