//! `qlock-amo` and `qlock-backoff` (quorum locking per ticket, `qlock.rs`) in the simulator:
//! the theory rows exactly for n = 3, 5, 7, 9, contention (every ticket also submitted to a
//! second server at the same time), a lock holder killed mid-protocol, false suspicions, pauses
//! and partitions, a few hundred explore seeds; and one run with real processes.

mod common;

use common::{decisions, load};
use std::collections::BTreeMap;
use ticketlab::history::Event;
use ticketlab::lab::RunOutput;
use ticketlab::protocol::{Outcome, Property, ProtocolKind, ServerId, Time};
use ticketlab::report::{self, RunSummary};
use ticketlab::scenario::*;
use ticketlab::sim;

const DELTA: Time = 10_000;
const AMO: ProtocolKind = ProtocolKind::QlockAmo;
const BACKOFF: ProtocolKind = ProtocolKind::QlockBackoff;

fn scenario(n: u16, tickets: u64) -> Scenario {
    let mut s = common::sim_scenario("qlock", n, &[AMO, BACKOFF], tickets);
    s.workload.deadline = 20_000_000;
    s
}

/// Every ticket also submitted to a second server at the same instant.
fn contended(n: u16, tickets: u64) -> Scenario {
    let mut s = scenario(n, tickets);
    s.workload.duplicates = 1.0;
    s.workload.duplicate_gap = 0;
    s.workload.concurrency = 4;
    s.workload.submit_to = SubmitTo::Random;
    s
}

fn run(s: &Scenario, p: ProtocolKind, seed: u64) -> (RunSummary, RunOutput) {
    let out = sim::run(s, p, seed);
    (report::summarize(s, p, &out), out)
}

/// Per ticket: its submitters and its decisions (server, outcome).
type PerTicket = BTreeMap<String, (Vec<ServerId>, Vec<(ServerId, Outcome)>)>;

fn per_ticket(h: &[Event]) -> PerTicket {
    let mut m: PerTicket = BTreeMap::new();
    for e in h {
        match e {
            Event::Submit { ticket, server, .. } => {
                m.entry(ticket.0.clone()).or_default().0.push(*server)
            }
            Event::Decide {
                ticket,
                server,
                outcome,
                ..
            } => m
                .entry(ticket.0.clone())
                .or_default()
                .1
                .push((*server, *outcome)),
            _ => {}
        }
    }
    m
}

fn accepts(d: &[(ServerId, Outcome)]) -> usize {
    d.iter().filter(|x| x.1 == Outcome::Accept).count()
}

// ---------------------------------------------------------------------------------------------
// The theory rows, exactly

#[test]
fn uncontended_rows_equal_theory_exactly_for_n_3_5_7_9() {
    let tickets = 24;
    for n in [3u16, 5, 7, 9] {
        let n64 = u64::from(n);
        for (proto, lat, per, kinds) in [
            (AMO, 2.0, 2 * (n64 - 1), &["QL-TRY", "QL-FREE"][..]),
            (
                BACKOFF,
                6.0,
                8 * (n64 - 1),
                &[
                    "QL-TRY",
                    "QL-FREE",
                    "QL-GET",
                    "QL-STATE",
                    "QL-PROPOSE",
                    "QL-PROPOSED",
                    "QL-COMMIT",
                    "QL-COMMITTED",
                ][..],
            ),
        ] {
            let what = format!("{proto} n={n}");
            let (r, _) = run(&scenario(n, tickets), proto, 7);
            assert!(r.violations.is_empty(), "{what}: {:?}", r.violations);
            assert_eq!(r.undecided, 0, "{what}");
            assert_eq!(r.accepted, tickets, "{what}");
            assert_eq!(r.latency_delta.max, Some(lat), "{what}: latency max");
            assert_eq!(r.latency_delta.p50, Some(lat), "{what}: latency p50");
            assert_eq!(
                r.messages,
                per * tickets,
                "{what}: {:?}",
                r.messages_by_type
            );
            assert_eq!(r.messages_per_ticket, per as f64, "{what}");
            assert_eq!(r.theory.latency_delta, lat, "{what}: theory");
            assert_eq!(r.theory.messages_per_ticket, per, "{what}: theory");
            let by = &r.messages_by_type;
            assert_eq!(by.len(), kinds.len(), "{what}: {by:?}");
            for k in kinds {
                assert_eq!(by[*k], (n64 - 1) * tickets, "{what}: {k}");
            }
            assert_eq!(r.heartbeats, 0, "{what}: no failure detector");
            assert_eq!(r.tries, tickets, "{what}: one TRY round per ticket");
            assert_eq!((r.backoffs, r.backoff_ms), (0, 0.0), "{what}");
        }
    }
}

#[test]
fn theory_properties_and_fault_bounds() {
    assert_eq!(ProtocolKind::from_name("qlock-amo"), Some(AMO));
    assert_eq!(ProtocolKind::from_name("qlock-backoff"), Some(BACKOFF));
    assert!(!ProtocolKind::TABLE1.contains(&AMO) && !ProtocolKind::TABLE1.contains(&BACKOFF));
    assert_eq!(AMO.properties(), &[Property::E1]);
    assert_eq!(BACKOFF.properties(), &[Property::E1, Property::E2]);
    for (n, amo, backoff, f) in [
        (3u16, 4, 16, 1),
        (5, 8, 32, 2),
        (7, 12, 48, 3),
        (9, 16, 64, 4),
    ] {
        assert_eq!(AMO.theory(n).messages_per_ticket, amo);
        assert_eq!(BACKOFF.theory(n).messages_per_ticket, backoff);
        assert_eq!(AMO.max_faults(n), f);
        assert_eq!(BACKOFF.max_faults(n), f);
    }
    assert_eq!(AMO.theory(5).latency_delta, 2.0);
    assert_eq!(BACKOFF.theory(5).latency_delta, 6.0);
    assert_eq!(AMO.theory(5).resilience, "f < n/2; E-2 only uncontended");
    assert_eq!(
        BACKOFF.theory(5).resilience,
        "f < n/2; E-2 w.p. 1 once stable"
    );
}

// ---------------------------------------------------------------------------------------------
// Contention

#[test]
fn contention_backoff_decides_every_ticket_at_both_servers_exactly_one_accepts() {
    let tickets = 40;
    for n in [5u16, 7] {
        for seed in 1..=4 {
            let what = format!("n={n} seed={seed}");
            let (r, out) = run(&contended(n, tickets), BACKOFF, seed);
            assert!(r.violations.is_empty(), "{what}: {:?}", r.violations);
            assert_eq!(r.undecided, 0, "{what}: {:?}", r.pending);
            assert_eq!(r.accepted, tickets, "{what}");
            for (t, (subs, ds)) in per_ticket(&out.history) {
                assert_eq!(subs.len(), 2, "{what} {t}: submitted twice");
                assert_eq!(ds.len(), 2, "{what} {t}: both servers decide: {ds:?}");
                assert_eq!(accepts(&ds), 1, "{what} {t}: {ds:?}");
            }
            // Simultaneous racers both fail their first try (each answers FREE to itself first),
            // then back off: at least one backoff per ticket, each ≥ Δ+4δ = 10δ.
            assert!(r.tries > 2 * tickets, "{what}: tries {}", r.tries);
            assert!(r.backoffs >= tickets, "{what}: backoffs {}", r.backoffs);
            let unit_ms = 10.0 * DELTA as f64 / 1000.0;
            assert!(r.backoff_ms >= r.backoffs as f64 * unit_ms, "{what}");
            assert!(r.latency_delta.max.unwrap() > 6.0, "{what}");
            assert!(r.messages_by_type["QL-LOCKED"] > 0, "{what}");
        }
    }
}

#[test]
fn contention_amo_keeps_e1_and_its_e2_failures_are_unclaimed() {
    let tickets = 40;
    for n in [5u16, 7] {
        let what = format!("n={n}");
        let (r, out) = run(&contended(n, tickets), AMO, 3);
        assert!(r.violations.is_empty(), "{what}: {:?}", r.violations);
        assert_eq!(r.undecided, 0, "{what}");
        assert_eq!(
            r.latency_delta.max,
            Some(2.0),
            "{what}: one round, contended or not"
        );
        let both_rejected = per_ticket(&out.history)
            .values()
            .filter(|(_, ds)| {
                assert!(accepts(ds) <= 1, "{what}: {ds:?}");
                accepts(ds) == 0
            })
            .count() as u64;
        assert!(
            both_rejected > 0,
            "{what}: contention makes both racers reject"
        );
        assert_eq!(r.rejected, both_rejected, "{what}");
        assert_eq!(
            r.unclaimed.get("E-2").copied(),
            Some(both_rejected),
            "{what}"
        );
        assert_eq!(r.tries, 2 * tickets, "{what}");
        assert_eq!(r.backoffs, 0, "{what}: no backoff");
    }
}

#[test]
fn a_later_duplicate_is_rejected_by_both_protocols_at_once_or_by_the_lock() {
    // The duplicate arrives after the first server decided: qlock-backoff's second server has
    // the committed holder by then (the commit reached it at 7δ) and rejects with 0 messages.
    let text = r#"
        name = "late-dup"
        [cluster]
        servers = 5
        protocols = ["qlock-backoff"]
        delta_ms = 10.0
        [workload]
        tickets = 0
        [[ticket]]
        id = "tau"
        submit = [{ server = 1, at_ms = 0 }, { server = 4, at_ms = 100 }, { server = 1, at_ms = 120 }]
    "#;
    let s = load(text, &[]);
    let (r, out) = run(&s, BACKOFF, 1);
    assert!(r.violations.is_empty());
    assert_eq!(
        decisions(&out.history, "tau"),
        vec![
            (1, Outcome::Accept, None),
            (4, Outcome::Reject, None),
            (1, Outcome::Reject, None)
        ]
    );
    assert_eq!(r.messages, 8 * 4, "the late submissions cost nothing");
}

// ---------------------------------------------------------------------------------------------
// Crashes

/// τ at s1 at 0 and at s2 at `gap_ms`; s1 crashes right after its `count`-th `msg`.
fn holder_killed(n: u16, gap_ms: u32, msg: &str, count: u32) -> Scenario {
    let text = format!(
        r#"
        name = "holder-killed"
        [cluster]
        servers = {n}
        protocols = ["qlock-backoff"]
        delta_ms = 10.0
        [workload]
        tickets = 0
        deadline_ms = 20000
        [[ticket]]
        id = "tau"
        submit = [{{ server = 1, at_ms = 0 }}, {{ server = 2, at_ms = {gap_ms} }}]
        [[ticket]]
        id = "other"
        submit = [{{ server = 3, at_ms = 5 }}]
        [[fault]]
        after = {{ server = 1, event = "send", msg = "{msg}", count = {count} }}
        crash = [1]
    "#
    );
    load(&text, &[])
}

#[test]
fn a_lock_holder_killed_mid_protocol_keeps_e1_and_the_survivor_decides() {
    let mut survivor_accepts = 0;
    let mut runs = 0;
    let mut killed_undecided = 0;
    for n in [3u16, 5, 7] {
        for msg in ["QL-TRY", "QL-GET", "QL-PROPOSE", "QL-COMMIT", "QL-STATE"] {
            for count in [1, 2, u32::from(n) - 1] {
                for gap in [0, 15, 45, 120] {
                    let what = format!("n={n} {msg}#{count} gap={gap}");
                    let s = holder_killed(n, gap, msg, count);
                    for proto in [BACKOFF, AMO] {
                        let (r, out) = run(&s, proto, 1 + u64::from(gap));
                        assert!(
                            r.violations.is_empty(),
                            "{proto} {what}: {:?}",
                            r.violations
                        );
                        let ds = decisions(&out.history, "tau");
                        assert!(
                            ds.iter().filter(|d| d.1 == Outcome::Accept).count() <= 1,
                            "{proto} {what}: {ds:?}"
                        );
                        if proto == AMO {
                            continue;
                        }
                        runs += 1;
                        // s2 never crashes: it decides τ, and "other" is decided too.
                        assert_eq!(r.undecided, 0, "{what}: {:?}", r.pending);
                        let s2: Vec<_> = ds.iter().filter(|d| d.0 == 2).collect();
                        assert_eq!(s2.len(), 1, "{what}: {ds:?}");
                        survivor_accepts += usize::from(s2[0].1 == Outcome::Accept);
                        // s2 rejects only if s1 holds the lock: s1 accepted, or crashed first.
                        let s1_accepted = ds.contains(&(1, Outcome::Accept, None));
                        let s1_crashed = r.crashed.contains(&1);
                        if s2[0].1 == Outcome::Reject {
                            assert!(s1_accepted || s1_crashed, "{what}: {ds:?}");
                        }
                        if !s1_crashed {
                            assert_eq!(ds.iter().filter(|d| d.0 == 1).count(), 1, "{what}");
                        }
                        killed_undecided += usize::from(s1_crashed && !ds.iter().any(|d| d.0 == 1));
                    }
                }
            }
        }
    }
    assert!(runs >= 150, "{runs}");
    assert!(
        survivor_accepts > 20,
        "the survivor often takes the lock: {survivor_accepts}"
    );
    assert!(
        killed_undecided > 50,
        "s1 killed mid-protocol, before deciding: {killed_undecided}"
    );
}

#[test]
fn a_crashed_minority_does_not_block_a_contender() {
    // f = ⌊(n−1)/2⌋ servers crashed from the start (never the submitters): every ticket decided
    // by the remaining majority, uncontended and contended.
    for n in [3u16, 5, 7] {
        let f = (n - 1) / 2;
        for dup in [0.0, 1.0] {
            let mut s = scenario(n, 20);
            s.workload.duplicates = dup;
            s.workload.submit_to = SubmitTo::Servers((f + 1..=n).collect());
            s.faults = vec![Fault {
                at: 0,
                after: None,
                action: FaultAction::Crash((1..=f).collect()),
            }];
            for proto in [AMO, BACKOFF] {
                let what = format!("{proto} n={n} dup={dup}");
                let (r, _) = run(&s, proto, 5);
                assert!(r.violations.is_empty(), "{what}");
                assert_eq!(r.undecided, 0, "{what}: {:?}", r.pending);
                if proto == BACKOFF {
                    assert_eq!(r.accepted, 20, "{what}");
                }
                if dup == 0.0 {
                    assert_eq!(r.accepted, 20, "{what}: uncontended, both accept");
                    let lat = if proto == AMO { 2.0 } else { 6.0 };
                    assert_eq!(r.latency_delta.max, Some(lat), "{what}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Asynchrony: partitions, pauses, false suspicions

#[test]
fn partitions_pauses_and_false_suspicions_keep_e1_and_backoff_decides_all_after_they_heal() {
    // Contenders on both sides of a partition, a paused contender, forced suspicions (which
    // qlock ignores: no failure detector), with contention throughout.
    let text = r#"
        name = "qlock-async"
        [cluster]
        servers = 5
        protocols = ["qlock-amo", "qlock-backoff"]
        delta_ms = 10.0
        jitter_ms = 8.0
        [workload]
        tickets = 40
        concurrency = 4
        submit_to = "random"
        duplicates = 1.0
        duplicate_gap_ms = 0.0
        deadline_ms = 20000
        [[fault]]
        at_ms = 40
        partition = [[1, 2], [3, 4, 5]]
        [[fault]]
        at_ms = 400
        heal = true
        [[fault]]
        at_ms = 500
        pause = [3]
        [[fault]]
        at_ms = 800
        resume = [3]
        [[fault]]
        at_ms = 100
        suspect = { by = 2, server = 1, for_ms = 150 }
        [[fault]]
        at_ms = 600
        suspect = { by = 4, server = 3, for_ms = 150 }
    "#;
    let s = load(text, &[]);
    for seed in 1..=6 {
        for proto in [AMO, BACKOFF] {
            let what = format!("{proto} seed={seed}");
            let (r, out) = run(&s, proto, seed);
            assert!(r.violations.is_empty(), "{what}: {:?}", r.violations);
            assert_eq!(r.undecided, 0, "{what}: {:?}", r.pending);
            for (t, (_, ds)) in per_ticket(&out.history) {
                assert!(accepts(&ds) <= 1, "{what} {t}: {ds:?}");
            }
            if proto == BACKOFF {
                assert_eq!(r.accepted, 40, "{what}: E-2 once the faults heal");
                // The minority side waited for the heal.
                let late = out.history.iter().any(|e| {
                    matches!(e, Event::Decide { t_us, server, .. }
                        if *t_us >= 400_000 && *server <= 2)
                });
                assert!(late, "{what}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Many seeds: explore's generated scenarios (crashes at random times and on events, jitter,
// duplicates, partitions, pauses, suspicions, lossy and slow links)

#[test]
fn explore_chaos_seeds_find_no_violation_of_a_claimed_property() {
    for proto in [BACKOFF, AMO] {
        let mut unclaimed = 0;
        let mut contended = 0;
        for seed in 0..300 {
            let s = ticketlab::explore::generate(seed, proto, &[3, 4, 5, 7]);
            let out = sim::run(&s, proto, seed);
            let f = ticketlab::explore::judge(
                seed,
                ticketlab::nemesis::Nemesis::Random,
                proto,
                &s,
                &out,
            );
            assert!(!f.failed(), "{proto} seed {seed}: {:?}", f.details);
            unclaimed += f.unclaimed;
            contended += usize::from(s.workload.duplicates > 0.0);
        }
        assert!(contended > 150, "{proto}: {contended}");
        // qlock-backoff's unclaimed failures can only be E-2' (a crashed holder, a surviving
        // loser that rejects); its E-2 failures would have failed the run above.
        if proto == AMO {
            assert!(unclaimed > 0, "qlock-amo gives up E-2 under contention");
        }
    }
}

#[test]
fn runs_are_deterministic_and_backoff_draws_follow_the_seed() {
    let s = contended(5, 30);
    let (a, ha) = run(&s, BACKOFF, 11);
    let (_, hb) = run(&s, BACKOFF, 11);
    assert_eq!(
        serde_json::to_string(&ha.history).unwrap(),
        serde_json::to_string(&hb.history).unwrap()
    );
    let (c, _) = run(&s, BACKOFF, 12);
    assert_ne!(a.backoff_ms, c.backoff_ms, "another seed, other draws");
}

// ---------------------------------------------------------------------------------------------
// Real processes

#[cfg(target_os = "linux")]
#[test]
fn real_processes_count_exactly_and_leave_nothing_behind() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let run_id = format!("qlock{}", std::process::id());
    let o = Command::new(env!("CARGO_BIN_EXE_ticketlab"))
        .current_dir(dir.path())
        .args(["run", "--run-id", &run_id])
        .args([
            "--set",
            "cluster.mode=processes",
            "--set",
            "cluster.servers=3",
            "--set",
            "cluster.delta_ms=2",
            "--set",
            "workload.tickets=8",
            "--set",
            r#"cluster.protocols=["qlock-amo","qlock-backoff"]"#,
            "--format",
            "json",
            "--out",
            "out",
        ])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["mode"], "processes");
    for (run, (name, lat, msgs)) in v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .zip([("qlock-amo", 2.0, 4.0), ("qlock-backoff", 6.0, 16.0)])
    {
        assert_eq!(run["protocol"], name);
        assert_eq!(run["messages_per_ticket"], msgs, "{name}: {run}");
        assert_eq!(run["accepted"], 8, "{name}");
        assert_eq!(run["undecided"], 0, "{name}");
        assert_eq!(run["violations"].as_array().unwrap().len(), 0, "{name}");
        let max_ms = run["latency_ms"]["max"].as_f64().unwrap();
        assert!(max_ms >= lat * 2.0, "{name}: {max_ms} ms below theory");
        assert!(max_ms < lat * 2.0 + 250.0, "{name}: {max_ms} ms");
    }
    // No server of the run is left.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let left: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
            .filter(|cmd| cmd.contains(&run_id) && cmd.contains("server"))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < until, "left behind: {left:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
