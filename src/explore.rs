//! `ticketlab explore`: a fault campaign. For every seed and protocol it generates a random
//! scenario *within the protocol's fault model* — at most f crashes (at random times or right
//! after protocol events), jitter, duplicate submissions, false suspicions, partitions that heal,
//! pauses that resume, lossy and slow links — runs it, and checks the history:
//! - E-1 always;
//! - E-2 where no server of σ(τ) crashed: an accept must exist, and since every generated fault
//!   heals and the deadline is generous, a ticket still undecided at the deadline counts as an
//!   E-2 failure too ("E-2 (undecided)").
//!
//! Every failure is written as a scenario file that reproduces it:
//! `ticketlab run <file> --sim --strict` (strict: undecided tickets whose σ(τ) all stayed up fail).
//! The first [`SHRINK_PER_PROTOCOL`] failures of each protocol are also shrunk
//! ([`crate::shrink`]) and written beside their file as `<name>.shrunk.toml`. SIGINT/SIGTERM
//! (seen through [`crate::lab::Runtime::interrupted`]) stop a campaign at the next run boundary;
//! what finished is reported (the driver is `runner.rs`).

mod runner;

pub use runner::{campaign, Campaign, SHRINK_PER_PROTOCOL};

use crate::checker::{self, Violation};
use crate::lab::byzantine::Behaviour;
use crate::lab::RunOutput;
use crate::nemesis::Nemesis;
use crate::protocol::{Property, ProtocolKind, ServerId};
use crate::scenario::{
    ms_to_us, After, Cluster, EventKind, Fault, FaultAction, Mode, Scenario, SubmitTo, Workload,
};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;

/// What one generated run found.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub seed: u64,
    /// The fault schedule of the run.
    pub nemesis: Nemesis,
    pub protocol: ProtocolKind,
    pub servers: u16,
    pub e1: usize,
    pub e2: usize,
    pub e2_undecided: usize,
    /// Failures of properties the protocol does not claim (its designed behaviour, not a bug).
    pub unclaimed: usize,
    /// One line per problem, for the report.
    pub details: Vec<String>,
}

impl Finding {
    pub fn failed(&self) -> bool {
        self.e1 + self.e2 + self.e2_undecided > 0
    }
}

/// Check one run.
pub fn judge(
    seed: u64,
    nemesis: Nemesis,
    protocol: ProtocolKind,
    scenario: &Scenario,
    out: &RunOutput,
) -> Finding {
    let c = checker::check(&out.history);
    let mut f = Finding {
        seed,
        nemesis,
        protocol,
        servers: scenario.cluster.servers,
        e1: 0,
        e2: 0,
        e2_undecided: 0,
        unclaimed: 0,
        details: Vec::new(),
    };
    // Held to what the protocol claims: E-1/E-1′ count as safety failures (e1), E-2/E-2′ as
    // liveness failures (e2).
    let claims = protocol.properties();
    for v in c.claimed(claims) {
        match v {
            Violation::E1 { .. } | Violation::E1Prime { .. } | Violation::E1B { .. } => f.e1 += 1,
            Violation::E2 { .. } | Violation::E2Prime { .. } | Violation::E2B { .. } => f.e2 += 1,
        }
        f.details.push(v.to_string());
    }
    for t in c.stalled_for(claims) {
        f.e2_undecided += 1;
        let which = if claims.contains(&Property::E2) {
            "E-2 (undecided): ticket {t}: no server of σ(τ) crashed, none decided by the deadline"
        } else if claims.contains(&Property::E2B) {
            "E-2_B (undecided): ticket {t}: its one correct claimant did not decide by the deadline"
        } else {
            "E-2' (undecided): ticket {t}: a server of σ(τ) survived, none accepted by the deadline"
        };
        f.details.push(which.replace("{t}", &t.to_string()));
    }
    f.unclaimed = c.unclaimed(claims).values().sum::<u64>() as usize;
    f
}

/// Totals per protocol.
#[derive(Clone, Debug, Serialize)]
pub struct ProtocolTotals {
    pub protocol: ProtocolKind,
    pub runs: u64,
    pub e1: u64,
    pub e2: u64,
    pub e2_undecided: u64,
    /// Tickets failing a property the protocol does not claim (e.g. qlock-amo's contention).
    pub unclaimed: u64,
    pub crashes: u64,
    pub crashes_on_event: u64,
    pub partitions: u64,
    pub pauses: u64,
    pub suspicions: u64,
    pub lossy_runs: u64,
    /// Byzantine servers injected (protocols that mask them: bqlock-amo).
    pub byzantine: u64,
    pub tickets: u64,
    pub accepted: u64,
    pub failures: u64,
    /// Failed runs by the fault schedule that found them.
    pub found_by: BTreeMap<Nemesis, u64>,
}

impl ProtocolTotals {
    fn new(protocol: ProtocolKind) -> Self {
        ProtocolTotals {
            protocol,
            runs: 0,
            e1: 0,
            e2: 0,
            e2_undecided: 0,
            unclaimed: 0,
            crashes: 0,
            crashes_on_event: 0,
            partitions: 0,
            pauses: 0,
            suspicions: 0,
            lossy_runs: 0,
            byzantine: 0,
            tickets: 0,
            accepted: 0,
            failures: 0,
            found_by: BTreeMap::new(),
        }
    }
}

/// The campaign's result (`--format json` prints it).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub seeds: u64,
    pub runs: u64,
    /// Runs with at least one E-1 or E-2 failure.
    pub violations: u64,
    /// Reproducing scenario files, one per failed run.
    pub failures: Vec<String>,
    /// The shrunk scenario file of each failure, index by index with `failures`; null when it
    /// was not shrunk (beyond the first [`SHRINK_PER_PROTOCOL`] of its protocol, not reproduced
    /// by the simulator, or the campaign was interrupted).
    pub shrunk: Vec<Option<String>>,
    pub protocols: Vec<ProtocolTotals>,
    pub mode: Mode,
    /// False when SIGINT/SIGTERM stopped the campaign: everything above covers the runs that
    /// finished.
    pub complete: bool,
    /// The signal that stopped the campaign.
    #[serde(skip)]
    pub interrupted: Option<&'static str>,
    /// Lines the table prints under each failure (how it shrank, the commands to replay and
    /// draw the shrunk scenario), index by index with `failures`.
    #[serde(skip)]
    pub shrink_notes: Vec<Vec<String>>,
}

/// One finished run, reduced to what the report needs (histories are not kept).
struct Done {
    scenario: Scenario,
    finding: Finding,
    tickets: u64,
    accepted: u64,
}

fn reduce(
    seed: u64,
    nemesis: Nemesis,
    p: ProtocolKind,
    scenario: Scenario,
    run: &RunOutput,
) -> Done {
    let finding = judge(seed, nemesis, p, &scenario, run);
    let checked = checker::check(&run.history);
    let accepted = checked
        .tickets
        .values()
        .filter(|f| {
            f.decisions
                .iter()
                .any(|d| d.outcome == crate::protocol::Outcome::Accept)
        })
        .count() as u64;
    Done {
        scenario,
        finding,
        tickets: checked.tickets.len() as u64,
        accepted,
    }
}

/// The campaign table.
pub fn render(r: &Report) -> String {
    use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "protocol",
        "runs",
        "tickets",
        "accepted",
        "crashes\n(timed / on event)",
        "partitions",
        "pauses",
        "false\nsuspicions",
        "lossy\nruns",
        "E-1",
        "E-2",
        "E-2\nundecided",
        "failed\nruns",
    ]);
    for p in &r.protocols {
        t.add_row(vec![
            p.protocol.to_string(),
            p.runs.to_string(),
            p.tickets.to_string(),
            p.accepted.to_string(),
            format!("{} / {}", p.crashes, p.crashes_on_event),
            p.partitions.to_string(),
            p.pauses.to_string(),
            p.suspicions.to_string(),
            p.lossy_runs.to_string(),
            p.e1.to_string(),
            p.e2.to_string(),
            p.e2_undecided.to_string(),
            p.failures.to_string(),
        ]);
    }
    let stopped = match r.interrupted {
        Some(sig) if !r.complete => format!(", interrupted by {sig}: partial"),
        _ if !r.complete => ", interrupted: partial".to_string(),
        _ => String::new(),
    };
    let mut text = format!(
        "explore: {} seeds, {} runs ({}{stopped})\n{t}",
        r.seeds, r.runs, r.mode
    );
    if r.failures.is_empty() {
        text.push_str("\nno violation found");
    } else {
        text.push_str(&format!(
            "\n{} failed run(s); reproduce with `ticketlab run FILE --sim --strict`:",
            r.failures.len()
        ));
        for (i, f) in r.failures.iter().enumerate().take(10) {
            text.push_str(&format!("\n  {f}"));
            for note in r.shrink_notes.get(i).into_iter().flatten() {
                text.push_str(&format!("\n    {note}"));
            }
        }
        if r.failures.len() > 10 {
            text.push_str(&format!("\n  … and {} more", r.failures.len() - 10));
        }
    }
    text
}

/// A random scenario within `protocol`'s fault model, fully determined by `seed`.
pub fn generate(seed: u64, protocol: ProtocolKind, sizes: &[u16]) -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xE8_9103E);
    let n = *sizes.choose(&mut rng).expect("at least one size");
    let delta_ms: f64 = 10.0;
    let jitter_ms = [0.0, 2.0, 8.0, 15.0][rng.gen_range(0..4)];
    let heartbeat_ms = 20.0;
    let floor = heartbeat_ms + delta_ms + jitter_ms;
    let suspect_after_ms = [floor + 5.0, 100.0_f64.max(floor + 5.0), 300.0][rng.gen_range(0..3)];
    let workload = Workload {
        tickets: rng.gen_range(8..=30),
        concurrency: rng.gen_range(1..=4),
        open: None,
        think: ms_to_us([0.0, 5.0][rng.gen_range(0..2)]),
        submit_to: if rng.gen_bool(0.5) {
            SubmitTo::Random
        } else {
            SubmitTo::RoundRobin
        },
        duplicates: [0.0, 0.2, 0.5, 1.0][rng.gen_range(0..4)],
        duplicate_gap: ms_to_us(rng.gen_range(0..=3) as f64 * 10.0),
        deadline: ms_to_us(20_000.0),
        forged: 0.0,
        tampered: 0.0,
        stop_at_first_timeout: false,
    };
    let horizon_ms: f64 = 600.0;
    let time =
        |rng: &mut ChaCha8Rng| ms_to_us((rng.gen_range(0.0..horizon_ms) * 10.0_f64).round() / 10.0);
    let mut faults = Vec::new();
    let mut servers: Vec<ServerId> = (1..=n).collect();
    servers.shuffle(&mut rng);
    let crashes = rng.gen_range(0..=protocol.max_faults(n)) as usize;
    let (crashed, alive) = servers.split_at(crashes);
    // alo-2pe halts a server its peers suspected (an excluded server halts), so any fault that can
    // make a server look crashed — a forced suspicion, a pause, a lossy or slow link from it, a
    // partition longer than the timeout — may cost that server. Its fault model counts crashes
    // *and* halts (max_faults), so those faults only touch the servers it may lose: the crashed
    // ones plus the first max_faults − crashes of the (shuffled) survivors; partitions are kept
    // shorter than the failure detector's timeout (no suspicion, hence no halt: a longer one makes
    // both sides suspect each other and can cost up to n servers). Other protocols: unchanged.
    let halts = protocol.halts_on_suspicion();
    let at_risk: Vec<ServerId> = servers[..usize::from(protocol.max_faults(n))].to_vec();
    for &s in crashed {
        let after = rng.gen_bool(0.3).then(|| After {
            server: s,
            event: match rng.gen_range(0..4) {
                0 => EventKind::Accept,
                1 => EventKind::Decide,
                2 => EventKind::Send("C-PROPOSE".into()),
                _ => EventKind::Send(first_message(protocol).into()),
            },
            count: rng.gen_range(1..=3),
        });
        let at = if after.is_some() { 0 } else { time(&mut rng) };
        faults.push(Fault {
            at,
            after,
            action: FaultAction::Crash(vec![s]),
        });
    }
    for _ in 0..rng.gen_range(0..=3) {
        // Suspicions are forced on servers that never crash (a crashed one suspects nothing).
        let Some(&by) = alive.choose(&mut rng) else {
            break;
        };
        let server = loop {
            let s = rng.gen_range(1..=n);
            if s != by || n == 1 {
                break s;
            }
        };
        let server = if halts {
            match at_risk
                .iter()
                .copied()
                .filter(|&s| s != by)
                .collect::<Vec<_>>()[..]
            {
                [] => continue,
                ref risky => risky[usize::from(server) % risky.len()],
            }
        } else {
            server
        };
        if by != server {
            faults.push(Fault {
                at: time(&mut rng),
                after: None,
                action: FaultAction::Suspect {
                    by,
                    server,
                    duration: ms_to_us(rng.gen_range(20.0..200.0_f64).round()),
                },
            });
        }
    }
    if n >= 2 && rng.gen_bool(0.3) {
        let mut all: Vec<ServerId> = (1..=n).collect();
        all.shuffle(&mut rng);
        let cut = rng.gen_range(1..n) as usize;
        let (a, b) = all.split_at(cut);
        let (mut a, mut b) = (a.to_vec(), b.to_vec());
        a.sort_unstable();
        b.sort_unstable();
        let at = time(&mut rng);
        let mut lasts = ms_to_us(rng.gen_range(50.0..800.0_f64).round());
        // alo-2pe: silence at a receiver is at most the cut + one heartbeat period + transit; keep
        // it 10 ms under the timeout.
        let quiet = ms_to_us(suspect_after_ms - floor - 10.0);
        if halts {
            lasts = lasts.min(quiet);
        }
        if !halts || lasts >= ms_to_us(5.0) {
            faults.push(Fault {
                at,
                after: None,
                action: FaultAction::Partition(vec![a, b]),
            });
            faults.push(Fault {
                at: at + lasts,
                after: None,
                action: FaultAction::Heal,
            });
        }
    }
    let pausable: Vec<ServerId> = if halts {
        alive
            .iter()
            .copied()
            .filter(|s| at_risk.contains(s))
            .collect()
    } else {
        alive.to_vec()
    };
    if !pausable.is_empty() && rng.gen_bool(0.2) {
        let s = *pausable.choose(&mut rng).expect("non-empty");
        let at = time(&mut rng);
        faults.push(Fault {
            at,
            after: None,
            action: FaultAction::Pause(vec![s]),
        });
        faults.push(Fault {
            at: at + ms_to_us(rng.gen_range(50.0..500.0_f64).round()),
            after: None,
            action: FaultAction::Resume(vec![s]),
        });
    }
    // alo-2pe: a slow or lossy link makes its sender look silent: only from servers at risk.
    let from_at_risk = |s: ServerId| -> Option<ServerId> {
        match (halts, &at_risk[..]) {
            (false, _) => Some(s),
            (true, []) => None,
            (true, risky) => Some(risky[usize::from(s) % risky.len()]),
        }
    };
    if n >= 2 && rng.gen_bool(0.2) {
        let from = rng.gen_range(1..=n);
        let to: Vec<ServerId> = (1..=n).filter(|&t| t != from).collect();
        let rate = (rng.gen_range(0.1..0.5_f64) * 100.0).round() / 100.0;
        let at = time(&mut rng);
        if let Some(from) = from_at_risk(from) {
            let to = if halts {
                (1..=n).filter(|&t| t != from).collect()
            } else {
                to
            };
            faults.push(Fault {
                at,
                after: None,
                action: FaultAction::Loss {
                    from: vec![from],
                    to,
                    rate,
                },
            });
        }
    }
    if n >= 2 && rng.gen_bool(0.1) {
        let from = rng.gen_range(1..=n);
        let to = loop {
            let t = rng.gen_range(1..=n);
            if t != from {
                break t;
            }
        };
        let at = time(&mut rng);
        let delay = ms_to_us(rng.gen_range(0.0..60.0_f64).round());
        if let Some(from) = from_at_risk(from).filter(|&f| f != to) {
            faults.push(Fault {
                at,
                after: None,
                action: FaultAction::Delay {
                    from: vec![from],
                    to: vec![to],
                    delay,
                },
            });
        }
    }
    // A protocol that masks Byzantine servers: most runs make up to b of them Byzantine, each
    // with a random behaviour, from a random time (then without crashes: a crashed server and
    // a silent one cost the same quorum answers, and b covers both).
    let mut byzantine_max = 0;
    let bound = protocol.byzantine_bound(n);
    if bound > 0 && rng.gen_bool(0.8) {
        faults.retain(|f| !matches!(f.action, FaultAction::Crash(_)));
        let count = rng.gen_range(1..=bound);
        let mut candidates: Vec<ServerId> = (1..=n).collect();
        candidates.shuffle(&mut rng);
        for &s in &candidates[..usize::from(count)] {
            let behaviour = *Behaviour::ALL.choose(&mut rng).expect("behaviours");
            let at = if rng.gen_bool(0.5) { 0 } else { time(&mut rng) };
            faults.push(Fault {
                at,
                after: None,
                action: FaultAction::Byzantine {
                    servers: vec![s],
                    behaviour,
                },
            });
        }
        byzantine_max = count;
    }
    Scenario {
        name: format!("explore-{}-seed{seed}", protocol.name()),
        seed: Some(seed),
        cluster: Cluster {
            servers: n,
            protocols: vec![protocol],
            baselines: Vec::new(),
            mode: Mode::Sim,
            delta: ms_to_us(delta_ms),
            jitter: ms_to_us(jitter_ms),
            heartbeat: ms_to_us(heartbeat_ms),
            suspect_after: ms_to_us(suspect_after_ms),
            byzantine_max,
            allow_unsafe: false,
            remote: Default::default(),
        },
        workload,
        tickets: Vec::new(),
        faults,
        resilience: None,
        byzantine: None,
    }
}

/// The first message type a protocol sends for a ticket (a useful crash point).
fn first_message(protocol: ProtocolKind) -> &'static str {
    match protocol {
        ProtocolKind::TwoPe | ProtocolKind::TwoPeMinority | ProtocolKind::TwoPeOwnPhase2 => {
            "NEWTKT"
        }
        ProtocolKind::SeCt | ProtocolKind::CtStaleAck | ProtocolKind::CtEarlyPropose => "AB-DATA",
        ProtocolKind::SeOpt | ProtocolKind::OptMajorityFast => "OPT-DATA",
        ProtocolKind::SeGb => "GB-DATA",
        ProtocolKind::QlockAmo | ProtocolKind::QlockBackoff | ProtocolKind::BqlockAmo => "QL-TRY",
        ProtocolKind::Alo2Pe => "NEWTKT",
        ProtocolKind::SeOar => "OAR-ORDER",
        ProtocolKind::BftFleet => "FL-INIT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_scenarios_round_trip_through_the_toml_loader() {
        for seed in 0..300 {
            for p in [
                ProtocolKind::TwoPe,
                ProtocolKind::SeCt,
                ProtocolKind::Alo2Pe,
            ] {
                let s = generate(seed, p, &[3, 4, 5, 7]);
                let text = crate::scenario::to_toml(&s, "generated");
                let back = crate::scenario::load("gen.toml", &text, &[])
                    .unwrap_or_else(|e| panic!("{e}\n{text}"));
                assert_eq!(back, s, "{text}");
            }
        }
    }

    #[test]
    fn generation_respects_the_fault_model() {
        for seed in 0..300 {
            for p in [
                ProtocolKind::TwoPe,
                ProtocolKind::SeCt,
                ProtocolKind::Alo2Pe,
            ] {
                let s = generate(seed, p, &[3, 5]);
                let crashes: usize = s
                    .faults
                    .iter()
                    .map(|f| match &f.action {
                        FaultAction::Crash(v) => v.len(),
                        _ => 0,
                    })
                    .sum();
                assert!(crashes <= usize::from(p.max_faults(s.cluster.servers)));
            }
        }
    }
}
