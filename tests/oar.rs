//! SE over Felber–Schiper optimistic active replication (`se-oar`): the theory rows measured
//! exactly in the simulator (s_i ≠ s and s_i = s), contention, sequencer crashes (timed and in the
//! middle of its ORDER), false suspicions and rotation, a partitioned sequencer (the external
//! inconsistency of Fig. 1(b), prevented), many chaos seeds, and one real-process run.

use std::collections::BTreeSet;
use ticketlab::history::Event;
use ticketlab::lab::RunOutput;
use ticketlab::protocol::{Outcome, ProtocolKind, ServerId, Ticket, Time};
use ticketlab::report::{self, RunSummary};
use ticketlab::scenario::*;
use ticketlab::sim;

mod common;

const DELTA: Time = 10_000;
const OAR: ProtocolKind = ProtocolKind::SeOar;

fn scenario(n: u16, tickets: u64, submit_to: SubmitTo) -> Scenario {
    let mut s = common::sim_scenario("oar", n, &[OAR], tickets);
    s.workload.submit_to = submit_to;
    s
}

fn run(s: &Scenario, seed: u64) -> (RunSummary, RunOutput) {
    let out = sim::run(s, OAR, seed);
    (report::summarize(s, OAR, &out), out)
}

fn assert_clean(r: &RunSummary, what: &str) {
    assert!(
        r.violations.is_empty(),
        "{what}: violations {:?}",
        r.violations
    );
    assert_eq!(r.undecided, 0, "{what}: undecided {:?}", r.pending);
}

/// (ticket, server, submit time, latency) of every decision, in history order.
fn decisions(h: &[Event]) -> Vec<(Ticket, ServerId, Time, Time, Outcome)> {
    let mut sub = std::collections::BTreeMap::new();
    let mut v = Vec::new();
    for e in h {
        match e {
            Event::Submit {
                t_us,
                ticket,
                server,
            } => {
                sub.entry((ticket.clone(), *server)).or_insert(*t_us);
            }
            Event::Decide {
                t_us,
                ticket,
                server,
                outcome,
                ..
            } => {
                let s = sub[&(ticket.clone(), *server)];
                v.push((ticket.clone(), *server, s, t_us - s, *outcome));
            }
            _ => {}
        }
    }
    v
}

/// Senders of `kind` messages sent in [from, to).
fn senders(h: &[Event], kind: &str, from: Time, to: Time) -> BTreeSet<ServerId> {
    h.iter()
        .filter_map(|e| match e {
            Event::Send {
                t_us, from: f, msg, ..
            } if msg == kind && (from..to).contains(t_us) => Some(*f),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The theory rows, exactly

#[test]
fn non_sequencer_row_is_exact_for_n_3_5_7_9() {
    let tickets = 30;
    for n in [3u16, 5, 7, 9] {
        let n64 = u64::from(n);
        let lat = if n == 3 { 2.0 } else { 3.0 };
        // One server s_i ≠ s, and every non-sequencer server in turn.
        for to in [vec![2], (2..=n).collect::<Vec<_>>()] {
            let s = scenario(n, tickets, SubmitTo::Servers(to.clone()));
            let (r, _) = run(&s, 7);
            let what = format!("n={n} to {to:?}");
            assert_clean(&r, &what);
            assert_eq!(r.accepted, tickets, "{what}");
            assert_eq!(r.latency_delta.max, Some(lat), "{what}");
            assert_eq!(r.latency_delta.p50, Some(lat), "{what}");
            let per = 3 * (n64 - 1);
            assert_eq!(
                r.messages,
                per * tickets,
                "{what}: {:?}",
                r.messages_by_type
            );
            assert_eq!(r.messages_per_ticket, per as f64, "{what}");
            let by = &r.messages_by_type;
            assert_eq!(by.len(), 3, "{what}: {by:?}");
            for kind in ["OAR-SUBMIT", "OAR-ORDER", "OAR-VOTE"] {
                assert_eq!(by[kind], (n64 - 1) * tickets, "{what}: {kind}");
            }
            assert_eq!(r.fast_deliveries, tickets, "{what}");
            assert_eq!(r.fallbacks, 0, "{what}");
            // The printed theory row is this one.
            assert_eq!(r.theory.messages_per_ticket, per, "{what}");
            assert_eq!(r.theory.latency_delta, lat, "{what}");
            assert_eq!(r.theory.resilience, "f < n/2");
        }
    }
}

#[test]
fn sequencer_row_is_exact_for_n_3_5_7_9() {
    let tickets = 30;
    for n in [3u16, 5, 7, 9] {
        let n64 = u64::from(n);
        let s = scenario(n, tickets, SubmitTo::Servers(vec![1]));
        let (r, _) = run(&s, 7);
        let what = format!("n={n} to s1");
        assert_clean(&r, &what);
        assert_eq!(r.accepted, tickets, "{what}");
        assert_eq!(r.latency_delta.max, Some(2.0), "{what}");
        assert_eq!(r.latency_delta.p50, Some(2.0), "{what}");
        assert_eq!(r.messages_per_ticket, (2 * (n64 - 1)) as f64, "{what}");
        let by = &r.messages_by_type;
        assert_eq!(by.len(), 2, "{what}: {by:?}");
        assert_eq!(by["OAR-ORDER"], (n64 - 1) * tickets, "{what}");
        assert_eq!(by["OAR-VOTE"], (n64 - 1) * tickets, "{what}");
        assert_eq!(r.fast_deliveries, tickets, "{what}");
    }
}

#[test]
fn round_robin_mixes_both_rows_exactly() {
    for n in [3u16, 5, 7] {
        let n64 = u64::from(n);
        let tickets = 10 * n64;
        let s = scenario(n, tickets, SubmitTo::RoundRobin);
        let (r, _) = run(&s, 3);
        assert_clean(&r, "round robin");
        // 10 tickets at s1 (2(n−1) each), the rest 3(n−1).
        assert_eq!(
            r.messages,
            10 * 2 * (n64 - 1) + (tickets - 10) * 3 * (n64 - 1),
            "n={n}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Contention

#[test]
fn every_ticket_at_two_servers_at_once_is_accepted_exactly_once_on_the_fast_path() {
    for n in [3u16, 5, 7] {
        for conc in [1, 4] {
            let tickets = 40;
            let mut s = scenario(n, tickets, SubmitTo::Random);
            s.workload.duplicates = 1.0;
            s.workload.duplicate_gap = 0;
            s.workload.concurrency = conc;
            let (r, out) = run(&s, 5);
            let what = format!("n={n} concurrency {conc}");
            assert_clean(&r, &what);
            assert_eq!(r.accepted, tickets, "{what}");
            let d = decisions(&out.history);
            assert_eq!(d.len() as u64, 2 * tickets, "{what}: both servers decide");
            let accepts = d.iter().filter(|d| d.4 == Outcome::Accept).count() as u64;
            assert_eq!(accepts, tickets, "{what}: one accept per ticket");
            // The sequencer orders both copies: no phase 2 is needed.
            assert_eq!(r.fallbacks, 0, "{what}");
            assert_eq!(r.fast_deliveries, 2 * tickets, "{what}");
            assert!(r.latency_delta.max.unwrap() <= 3.0, "{what}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Crashes, suspicions, partitions

#[test]
fn a_crashed_non_sequencer_costs_nothing_while_a_majority_is_up() {
    for (n, victims) in [(5u16, vec![3, 5]), (7, vec![2, 4, 6]), (9, vec![9])] {
        let live: Vec<ServerId> = (2..=n).filter(|s| !victims.contains(s)).collect();
        let mut s = scenario(n, 20, SubmitTo::Servers(live));
        s.faults = vec![Fault {
            at: 0,
            after: None,
            action: FaultAction::Crash(victims.clone()),
        }];
        let (r, _) = run(&s, 1);
        let what = format!("n={n} crash {victims:?}");
        assert_clean(&r, &what);
        assert_eq!(r.fallbacks, 0, "{what}: only suspecting s starts phase 2");
        assert_eq!(r.fast_deliveries, 20, "{what}");
        assert_eq!(r.latency_delta.max, Some(3.0), "{what}");
    }
}

#[test]
fn a_crashed_sequencer_is_replaced_by_the_next_one() {
    // One ticket at a time to s2..s5; s1 crashes at 10.5 δ (ticket 4 in flight at s2 … s5).
    let n = 5u16;
    let mut s = scenario(n, 30, SubmitTo::Servers(vec![2, 3, 4, 5]));
    let crash_at = 105_000;
    s.faults = vec![Fault {
        at: crash_at,
        after: None,
        action: FaultAction::Crash(vec![1]),
    }];
    let (r, out) = run(&s, 1);
    assert_clean(&r, "s1 crashed");
    assert_eq!(r.accepted, 30);
    // One phase 2 at each of the 4 live servers.
    assert_eq!(r.fallbacks, 4, "{:?}", r.notes);
    let d = decisions(&out.history);
    let suspected = crash_at + s.cluster.suspect_after + 2 * s.cluster.heartbeat;
    let slow = d.iter().filter(|x| x.3 > 3 * DELTA).count();
    assert_eq!(
        slow, 1,
        "only the ticket in flight at the crash waits for phase 2"
    );
    for (t, server, at, lat, _) in &d {
        if at + lat < crash_at {
            assert_eq!(*lat, 3 * DELTA, "{t} before the crash");
        } else if *at > suspected + 10 * DELTA {
            // Epoch 1: s2 sequences — its own tickets take 2δ, the others' 3δ.
            let want = if *server == 2 { 2 } else { 3 };
            assert_eq!(*lat, want * DELTA, "{t} at s{server} after the crash");
        } else if *lat > 3 * DELTA {
            // In flight: decided by phase 2, about 5–6δ after the suspicion.
            assert!(
                *at < crash_at && at + lat <= suspected + 8 * DELTA,
                "{t}: {lat}"
            );
        }
    }
    assert_eq!(
        senders(&out.history, "OAR-ORDER", suspected + 10 * DELTA, Time::MAX),
        BTreeSet::from([2])
    );
}

#[test]
fn a_sequencer_crashing_in_the_middle_of_its_order_never_splits_a_ticket() {
    for n in [3u16, 5, 7] {
        for count in 1..=3 {
            let mut s = scenario(n, 40, SubmitTo::Random);
            s.workload.duplicates = 1.0;
            s.workload.duplicate_gap = 0;
            s.workload.concurrency = 3;
            s.faults = vec![Fault {
                at: 0,
                after: Some(After {
                    server: 1,
                    event: EventKind::Send("OAR-ORDER".into()),
                    count,
                }),
                action: FaultAction::Crash(vec![1]),
            }];
            let (r, out) = run(&s, u64::from(count));
            let what = format!("n={n} s1 crashes after ORDER #{count}");
            assert_clean(&r, &what);
            assert_eq!(r.crashed, vec![1], "{what}");
            assert!(r.fallbacks > 0, "{what}");
            // Exactly one accept for each ticket someone accepted, and every ticket whose two
            // servers stayed up is accepted.
            let d = decisions(&out.history);
            for t in d.iter().map(|d| d.0.clone()).collect::<BTreeSet<_>>() {
                let acc = d
                    .iter()
                    .filter(|x| x.0 == t && x.4 == Outcome::Accept)
                    .count();
                assert!(acc <= 1, "{what}: {t} accepted {acc} times");
            }
        }
    }
}

#[test]
fn a_false_suspicion_of_the_sequencer_rotates_it_once_and_loses_nothing() {
    for n in [3u16, 5, 7] {
        let to: Vec<ServerId> = (1..=n).collect();
        let mut s = scenario(n, 40, SubmitTo::Servers(to));
        s.workload.concurrency = 2;
        s.workload.duplicates = 0.5;
        s.faults = vec![Fault {
            at: 105_000,
            after: None,
            action: FaultAction::Suspect {
                by: 2,
                server: 1,
                duration: 50_000,
            },
        }];
        let (r, out) = run(&s, 9);
        let what = format!("n={n}");
        assert_clean(&r, &what);
        assert_eq!(r.accepted, 40, "{what}");
        assert_eq!(r.fallbacks, u64::from(n), "{what}: one phase 2 everywhere");
        assert_eq!(
            r.messages_by_type["OAR-PHASEII"],
            u64::from(n) * u64::from(n - 1)
        );
        assert_eq!(
            r.messages_by_type["OAR-STATE"],
            u64::from(n) * u64::from(n - 1)
        );
        assert_eq!(
            senders(&out.history, "OAR-ORDER", 0, 105_000),
            BTreeSet::from([1])
        );
        assert_eq!(
            senders(&out.history, "OAR-ORDER", 105_000 + 10 * DELTA, Time::MAX),
            BTreeSet::from([2]),
            "{what}: s2 sequences epoch 1"
        );
        // Everything in flight is decided within a few δ of the suspicion.
        for (t, _, at, lat, _) in decisions(&out.history) {
            assert!(
                at + lat <= 105_000 + 8 * DELTA || lat <= 3 * DELTA,
                "{t}: {lat}"
            );
        }
    }
}

/// Fig. 1(b) prevented: a partitioned sequencer opt-delivers its own copy of τ first — a reply
/// with weight {s1} only — while the majority orders s3's copy. s1 must not accept; after the
/// heal its optimistic order is undone and it rejects.
#[test]
fn a_partitioned_sequencer_never_adopts_its_minority_order() {
    for n in [3u16, 5] {
        let mut s = scenario(n, 0, SubmitTo::RoundRobin);
        s.tickets = vec![ScriptedTicket {
            id: "tau".into(),
            submit: vec![
                Submission {
                    server: 1,
                    at: 10_000,
                },
                Submission {
                    server: 3,
                    at: 10_000,
                },
            ],
        }];
        s.faults = vec![
            Fault {
                at: 5_000,
                after: None,
                action: FaultAction::Partition(vec![vec![1], (2..=n).collect()]),
            },
            Fault {
                at: 600_000,
                after: None,
                action: FaultAction::Heal,
            },
        ];
        let (r, out) = run(&s, 1);
        let what = format!("n={n}");
        assert_clean(&r, &what);
        let d = decisions(&out.history);
        let at = |srv: ServerId| d.iter().find(|x| x.1 == srv).expect("decided").clone();
        let (s1, s3) = (at(1), at(3));
        assert_eq!(s3.4, Outcome::Accept, "{what}: the majority's order wins");
        assert!(
            s3.2 + s3.3 < 600_000,
            "{what}: s3 decides during the partition"
        );
        assert_eq!(
            s1.4,
            Outcome::Reject,
            "{what}: s1's own FIRST was a minority reply"
        );
        assert!(
            s1.2 + s1.3 >= 600_000,
            "{what}: s1 decides only after the heal"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Many seeds

/// A randomised scenario for `seed`: jitter, duplicates (often simultaneous), concurrency,
/// crashes (up to f, at times or right after one of s1's ORDERs), false suspicions (often of the
/// sequencer), sometimes a healed partition, sometimes a short suspect_after.
fn chaos(seed: u64, n: u16) -> Scenario {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA076_1D64_78BD_642F;
    let mut next = move |m: u64| {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % m
    };
    let mut s = scenario(n, 15 + next(20), SubmitTo::Random);
    s.cluster.jitter = [0, 2_000, 8_000, 15_000][next(4) as usize];
    s.cluster.suspect_after = [40_000, 100_000][next(2) as usize];
    s.workload.concurrency = 1 + next(4) as u32;
    s.workload.duplicates = [0.0, 0.5, 1.0][next(3) as usize];
    s.workload.duplicate_gap = [0, 0, 5_000][next(3) as usize];
    let f = ProtocolKind::SeOar.max_faults(n);
    let crashes = next(u64::from(f) + 1) as u16;
    let mut victims: Vec<ServerId> = Vec::new();
    while victims.len() < usize::from(crashes) {
        // The sequencers of the first epochs are the interesting victims.
        let v = 1 + next(u64::from(n).min(3)) as ServerId;
        let v = if victims.contains(&v) {
            1 + next(u64::from(n)) as ServerId
        } else {
            v
        };
        if !victims.contains(&v) {
            victims.push(v);
        }
    }
    for &v in &victims {
        let after = (next(2) == 0).then(|| After {
            server: v,
            event: EventKind::Send("OAR-ORDER".into()),
            count: 1 + next(3) as u32,
        });
        s.faults.push(Fault {
            at: if after.is_some() { 0 } else { next(400_000) },
            after,
            action: FaultAction::Crash(vec![v]),
        });
    }
    let alive: Vec<ServerId> = (1..=n).filter(|v| !victims.contains(v)).collect();
    for _ in 0..next(4) {
        let by = alive[next(alive.len() as u64) as usize];
        let server = if next(2) == 0 {
            1 + next(3.min(u64::from(n))) as ServerId
        } else {
            1 + next(u64::from(n)) as ServerId
        };
        if server != by {
            s.faults.push(Fault {
                at: next(400_000),
                after: None,
                action: FaultAction::Suspect {
                    by,
                    server,
                    duration: 10_000 + next(100_000),
                },
            });
        }
    }
    if next(4) == 0 {
        let at = next(300_000);
        let cut = 1 + next(u64::from(n - 1)) as u16;
        s.faults.push(Fault {
            at,
            after: None,
            action: FaultAction::Partition(vec![(1..=cut).collect(), (cut + 1..=n).collect()]),
        });
        s.faults.push(Fault {
            at: at + 50_000 + next(300_000),
            after: None,
            action: FaultAction::Heal,
        });
    }
    s
}

/// 300 seeds by default; `OAR_SEEDS=5000 [OAR_FROM=…] cargo test --release --test oar`.
#[test]
fn many_seeds_never_break_e1_or_e2() {
    let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let from = var("OAR_FROM").unwrap_or(0);
    let (mut fast, mut fallbacks, mut accepted) = (0, 0, 0);
    for seed in from..from + var("OAR_SEEDS").unwrap_or(300) {
        let n = [3u16, 4, 5, 7][(seed % 4) as usize];
        let s = chaos(seed, n);
        let (r, _) = run(&s, seed);
        assert_clean(&r, &format!("seed={seed} n={n} faults={:?}", s.faults));
        fast += r.fast_deliveries;
        fallbacks += r.fallbacks;
        accepted += r.accepted;
    }
    eprintln!("se-oar chaos: {accepted} accepted, {fast} fast, {fallbacks} fallbacks");
    assert!(fast > 0 && fallbacks > 0);
}

// ---------------------------------------------------------------------------------------------
// Real processes

#[cfg(target_os = "linux")]
#[test]
fn real_processes_count_exactly_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let id = format!("oar{}", std::process::id());
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ticketlab"))
        .current_dir(dir.path())
        .args(["run", "--run-id", &id])
        .args([
            "--set",
            "cluster.mode=processes",
            "--set",
            "cluster.protocols=[\"se-oar\"]",
            "--set",
            "cluster.servers=3",
            "--set",
            "cluster.delta_ms=2",
            "--set",
            "cluster.suspect_after_ms=3000",
            "--set",
            "workload.tickets=12",
            "--set",
            "workload.submit_to=[2,3]",
            "--format",
            "json",
            "--out",
            "out",
        ])
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the binary runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["mode"], "processes");
    let r = &v["runs"][0];
    assert_eq!(r["protocol"], "se-oar");
    assert_eq!(r["messages_per_ticket"], 6.0, "{r}");
    assert_eq!(r["accepted"], 12);
    assert_eq!(r["violations"].as_array().unwrap().len(), 0);
    let max = r["latency_ms"]["max"].as_f64().unwrap();
    assert!((4.0..250.0).contains(&max), "latency {max} ms vs 2δ = 4 ms");
    // No server of the run is left.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let left: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
            .filter(|c| c.contains(&id))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < until, "left behind: {left:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
