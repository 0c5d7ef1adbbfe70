//! Measuring Table 1's resilience column: for each protocol, crash f = 0, 1, …, max_f servers
//! at the start and find the largest f with every ticket decided (E-2 for tickets sent to live
//! servers) and the first f that blocks (tickets undecided at the deadline), with any
//! [`Runtime`].

use crate::lab::{RunOutput, Runtime, Stop};
use crate::protocol::{Note, ProtocolKind, ServerId};
use crate::report::{self, Measured, SweepPoint};
use crate::scenario::{CrashPick, Fault, FaultAction, Resilience, Scenario};

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

/// What a sweep produced.
#[derive(Debug)]
pub struct Swept {
    /// The f = 0 run (the row's ordinary figures), or, if the sweep stopped early, the run it
    /// stopped in (partial).
    pub base: RunOutput,
    /// The measurement; `None` when the sweep stopped early.
    pub measured: Option<Measured>,
    pub stop: Option<Stop>,
}

/// Run the sweep f = 0..=max_f with `runtime`; `keep` sees every run's output (to write its
/// history) before the next one starts.
pub fn sweep(
    runtime: &dyn Runtime,
    scenario: &Scenario,
    protocol: ProtocolKind,
    seed: u64,
    res: &Resilience,
    mut keep: impl FnMut(u16, &RunOutput) -> anyhow::Result<()>,
) -> anyhow::Result<Swept> {
    let n = scenario.cluster.servers;
    let mut base = None;
    let mut points = Vec::new();
    for f in 0..=res.max_f.min(n - 1) {
        let crashed = crash_set(res.crash, n, f);
        let mut s = with_crashes(scenario, &crashed);
        // Past f = 0 only "decided or blocked" matters: once a ticket times out, stop issuing.
        s.workload.stop_at_first_timeout = f > 0;
        let run = runtime.run(&s, protocol, seed);
        keep(f, &run.output)?;
        if run.stop.is_some() {
            return Ok(Swept {
                base: run.output,
                measured: None,
                stop: run.stop,
            });
        }
        let out = run.output;
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
        mode: runtime.mode(),
        crash: res.crash,
        sweep: points,
    };
    Ok(Swept {
        base: base.expect("the sweep runs f = 0"),
        measured: Some(measured),
        stop: None,
    })
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
