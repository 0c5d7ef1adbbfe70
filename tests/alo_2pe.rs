//! `alo-2pe` (2PE made at-least-once: E-1′, E-2′) on simulated clusters, and once with real
//! processes: the theory row exactly, the paper's Figures 1–2 against `2pe`, a false suspicion of
//! a Phase-1 acceptor (it halts: a false suspicion costs a server), a crashed winner, contention,
//! a partition, and chaos seeds from `explore`'s generator (within the fault model: crashes plus
//! halts ≤ max_faults).

mod common;
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use ticketlab::explore;
use ticketlab::history::Event;
use ticketlab::protocol::{Outcome, Property, ProtocolKind, ServerId};
use ticketlab::scenario::{FaultAction, Scenario};

const ALO: ProtocolKind = ProtocolKind::Alo2Pe;

fn scenario_file(name: &str, sets: &[&str]) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    load(&std::fs::read_to_string(path).unwrap(), sets)
}

fn crashes(h: &[Event]) -> Vec<ServerId> {
    h.iter()
        .filter_map(|e| match e {
            Event::Crash { server, .. } => Some(*server),
            _ => None,
        })
        .collect()
}

fn unclaimed(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn registered_with_its_claims_and_the_theory_row() {
    assert_eq!(ProtocolKind::from_name("alo-2pe"), Some(ALO));
    assert_eq!(ALO.properties(), &[Property::E1Prime, Property::E2Prime]);
    for (n, f, msgs) in [(3, 1, 4), (5, 2, 8), (7, 3, 12), (9, 4, 16)] {
        let t = ALO.theory(n);
        assert_eq!(t.resilience, "f < n/2");
        assert_eq!(t.latency_delta, 2.0);
        assert_eq!(t.messages_per_ticket, msgs);
        assert_eq!(ALO.max_faults(n), f);
    }
}

#[test]
fn uncontended_tickets_match_the_theory_row_exactly_for_n_3_5_7_9() {
    for n in [3u16, 5, 7, 9] {
        let s = table1(&[
            "cluster.protocols=[\"alo-2pe\"]",
            &format!("cluster.servers={n}"),
        ]);
        let (r, out) = run(&s, ALO);
        let theory = ALO.theory(n);
        assert_eq!(r.latency_delta.max, Some(theory.latency_delta), "n={n}");
        assert_eq!(
            r.messages_per_ticket, theory.messages_per_ticket as f64,
            "n={n}"
        );
        assert_eq!(r.accepted, r.tickets, "n={n}");
        assert!(r.violations.is_empty() && r.unclaimed.is_empty(), "n={n}");
        // Phase 1 only: nothing of Phase 2 runs, no DONE, no EXCLUDE.
        let kinds: BTreeSet<&str> = r.messages_by_type.keys().map(|k| k.as_str()).collect();
        assert_eq!(kinds, BTreeSet::from(["ACK", "NEWTKT"]), "n={n}");
        assert!(crashes(&out.history).is_empty());
    }
}

#[test]
fn figures_1_and_2_2pe_keeps_e1_and_alo_2pe_keeps_e2_prime() {
    let fig1 = scenario_file("figure1.toml", &[]);
    let fig2 = scenario_file("figure2.toml", &[]);
    // The scenarios run the pair that makes the paper's argument.
    for s in [&fig1, &fig2] {
        assert_eq!(s.cluster.protocols, [p("2pe"), ALO]);
    }
    // 2pe: nobody accepts in Figure 1 (E-2′ given up), s1 alone in Figure 2.
    let (r1, h1) = run(&fig1, p("2pe"));
    assert!(decisions(&h1.history, "tau")
        .iter()
        .all(|d| d.1 == Outcome::Reject));
    assert!(r1.violations.is_empty());
    assert_eq!(r1.unclaimed, unclaimed(&[("E-2'", 1)]));
    let (r2, _) = run(&fig2, p("2pe"));
    assert!(r2.violations.is_empty() && r2.unclaimed.is_empty());

    // alo-2pe: s2 or s3 accepts in both runs — they cannot tell them apart — the other rejects.
    let (a1, o1) = run(&fig1, ALO);
    let (a2, o2) = run(&fig2, ALO);
    let d1 = decisions(&o1.history, "tau");
    let d2 = decisions(&o2.history, "tau");
    assert_eq!(d2[0], (1, Outcome::Accept, Some(1)), "{d2:?}");
    assert_eq!(&d2[1..], &d1[..], "s2 and s3 decide alike in both runs");
    let mut outcomes: Vec<Outcome> = d1.iter().map(|d| d.1).collect();
    outcomes.sort_by_key(|o| *o == Outcome::Reject);
    assert_eq!(outcomes, [Outcome::Accept, Outcome::Reject], "{d1:?}");
    assert!(d1.iter().all(|d| d.0 != 1 && d.2 == Some(2)), "{d1:?}");
    assert!(a1.violations.is_empty() && a2.violations.is_empty());
    assert!(a1.unclaimed.is_empty(), "Figure 1: exactly once");
    assert_eq!(
        a2.unclaimed,
        unclaimed(&[("E-1", 1)]),
        "Figure 2: E-1 given up"
    );
    assert_eq!(crashes(&o1.history), vec![1]);
    assert_eq!(crashes(&o2.history), vec![1]);
}

const TWO_CLAIMANTS: &str = r#"
    name = "two-claimants"
    seed = 1
    [cluster]
    servers = 5
    protocols = ["alo-2pe"]
    delta_ms = 10.0
    [workload]
    tickets = 0
    [[ticket]]
    id = "tau"
    submit = [{ server = 1, at_ms = 0.0 }, { server = 2, at_ms = 16.0 }]
"#;

#[test]
fn a_contended_phase1_accept_is_closed_by_done_and_the_loser_rejects() {
    let (r, out) = run(&load(TWO_CLAIMANTS, &[]), ALO);
    let d = decisions(&out.history, "tau");
    assert_eq!(
        d,
        vec![(1, Outcome::Accept, Some(1)), (2, Outcome::Reject, Some(2))]
    );
    assert!(r.violations.is_empty() && r.unclaimed.is_empty());
    assert!(crashes(&out.history).is_empty());
    assert_eq!(r.notes.get("Done"), Some(&1), "s1's DONE");
    assert_eq!(r.notes.get("Exclude"), None);
}

#[test]
fn a_false_suspicion_of_a_phase1_acceptor_costs_it_but_leaves_one_live_acceptor() {
    let text = format!(
        "{TWO_CLAIMANTS}
    [[fault]]
    at_ms = 1.0
    suspect = {{ by = 2, server = 1, for_ms = 300 }}
"
    );
    let (r, out) = run(&load(&text, &[]), ALO);
    let d = decisions(&out.history, "tau");
    // s1 accepted in Phase 1; s2 suspected it (falsely), excluded it and won; s1 halted when
    // its exclusion was delivered: the false suspicion cost a server.
    assert_eq!(
        d,
        vec![(1, Outcome::Accept, Some(1)), (2, Outcome::Accept, Some(2))]
    );
    assert_eq!(crashes(&out.history), vec![1], "s1 halted");
    assert_eq!(r.crashed, vec![1]);
    assert!(r.violations.is_empty(), "E-1′: one acceptor survives");
    assert_eq!(r.unclaimed, unclaimed(&[("E-1", 1)]));
    assert_eq!(r.notes.get("Exclude"), Some(&1));
    let halt_t = out.history.iter().find_map(|e| match e {
        Event::Crash { t_us, .. } => Some(*t_us),
        _ => None,
    });
    let nothing_after = out.history.iter().all(|e| match e {
        Event::Send { from: 1, t_us, .. } => Some(*t_us) <= halt_t,
        _ => true,
    });
    assert!(nothing_after, "a halted server sends nothing more");
}

#[test]
fn a_winner_that_crashes_right_after_accepting_is_excluded_and_replaced() {
    let text = r#"
        name = "winner-crash"
        seed = 1
        [cluster]
        servers = 5
        protocols = ["alo-2pe"]
        delta_ms = 10.0
        [workload]
        tickets = 0
        [[ticket]]
        id = "tau"
        submit = [{ server = 1, at_ms = 0.0 }, { server = 2, at_ms = 16.0 }, { server = 3, at_ms = 16.0 }]
        [[fault]]
        at_ms = 15.0
        crash = [1]
        [[fault]]
        after = { server = 2, event = "accept", count = 1 }
        crash = [2]
    "#;
    let (r, out) = run(&load(text, &[]), ALO);
    let d = decisions(&out.history, "tau");
    assert_eq!(
        d,
        vec![(2, Outcome::Accept, Some(2)), (3, Outcome::Accept, Some(2))],
        "s2 won, crashed before its DONE; s3 excluded it and won"
    );
    assert_eq!(crashes(&out.history), vec![1, 2]);
    assert!(r.violations.is_empty());
    assert_eq!(r.unclaimed, unclaimed(&[("E-1", 1)]));
}

#[test]
fn contention_is_decided_exactly_once_without_crashes() {
    for n in [3u16, 5, 7] {
        for seed in 1..=5 {
            let s = table1(&[
                "cluster.protocols=[\"alo-2pe\"]",
                &format!("cluster.servers={n}"),
                "workload.tickets=40",
                "workload.duplicates=1.0",
                "workload.duplicate_gap_ms=0",
                "cluster.jitter_ms=3.0",
            ]);
            let (r, out) = run_seed(&s, ALO, seed);
            assert_eq!(r.accepted, r.tickets, "n={n} seed={seed}");
            assert!(r.violations.is_empty(), "n={n} seed={seed}");
            assert!(
                r.unclaimed.is_empty(),
                "n={n} seed={seed}: exactly once, {:?}",
                r.unclaimed
            );
            assert_eq!(r.undecided, 0);
            assert!(crashes(&out.history).is_empty(), "n={n} seed={seed}");
            // Every submission got a decision, and every ticket exactly one accept.
            let mut accepts: BTreeMap<String, usize> = BTreeMap::new();
            for e in &out.history {
                if let Event::Decide {
                    ticket,
                    outcome: Outcome::Accept,
                    ..
                } = e
                {
                    *accepts.entry(ticket.0.clone()).or_default() += 1;
                }
            }
            assert!(accepts.values().all(|&a| a == 1), "n={n} seed={seed}");
            let done = r.notes.get("Done").copied().unwrap_or(0);
            assert!(
                done > 0 && done <= r.tickets,
                "one DONE per contended ticket at most"
            );
        }
    }
}

#[test]
fn a_partition_longer_than_the_timeout_may_cost_the_isolated_server_only() {
    let text = r#"
        name = "partition"
        [cluster]
        servers = 5
        protocols = ["alo-2pe"]
        delta_ms = 10.0
        [workload]
        tickets = 40
        concurrency = 2
        duplicates = 0.5
        duplicate_gap_ms = 0
        [[fault]]
        at_ms = 100.0
        partition = [[1], [2, 3, 4, 5]]
        [[fault]]
        at_ms = 700.0
        heal = true
    "#;
    let s = load(text, &[]);
    let mut halted = 0;
    for seed in 1..=20 {
        let (r, out) = run_seed(&s, ALO, seed);
        assert!(r.violations.is_empty(), "seed {seed}: {:?}", r.violations);
        assert_eq!(r.undecided, 0, "seed {seed}");
        assert_eq!(r.accepted, r.tickets, "seed {seed}");
        let lost = crashes(&out.history);
        assert!(lost.is_empty() || lost == [1], "seed {seed}: {lost:?}");
        halted += lost.len();
    }
    assert!(halted > 0, "s1 was excluded (and halted) in some runs");
}

/// The servers a generated scenario may lose under alo-2pe: crashed, suspected, paused, or the
/// sender of a slow or lossy link.
fn at_risk(s: &Scenario) -> BTreeSet<ServerId> {
    let mut r = BTreeSet::new();
    for f in &s.faults {
        match &f.action {
            FaultAction::Crash(v) | FaultAction::Pause(v) => r.extend(v),
            FaultAction::Suspect { server, .. } => {
                r.insert(*server);
            }
            FaultAction::Loss { from, .. } | FaultAction::Delay { from, .. } => r.extend(from),
            _ => {}
        }
    }
    r
}

#[test]
fn chaos_seeds_from_explore_keep_e1_prime_and_e2_prime_within_the_fault_model() {
    let mut halts = 0;
    let mut twice = 0;
    for seed in 0..300 {
        let s = explore::generate(seed, ALO, &[3, 4, 5, 7]);
        let n = s.cluster.servers;
        let f = usize::from(ALO.max_faults(n));
        assert!(at_risk(&s).len() <= f, "seed {seed}: {:?}", s.faults);
        // Partitions stay shorter than the timeout (no suspicion, no halt).
        let cut: Vec<u64> = s
            .faults
            .iter()
            .filter(|f| matches!(f.action, FaultAction::Partition(_) | FaultAction::Heal))
            .map(|f| f.at)
            .collect();
        if let [from, to] = cut[..] {
            assert!(to - from < s.cluster.suspect_after, "seed {seed}");
        }
        let out = ticketlab::sim::run(&s, ALO, seed);
        let finding = explore::judge(seed, ticketlab::nemesis::Nemesis::Random, ALO, &s, &out);
        assert!(!finding.failed(), "seed {seed}: {:?}", finding.details);
        let lost: BTreeSet<ServerId> = crashes(&out.history).into_iter().collect();
        assert!(lost.len() <= f, "seed {seed}: lost {lost:?}");
        assert!(lost.is_subset(&at_risk(&s)), "seed {seed}: lost {lost:?}");
        let crashed_by_fault: BTreeSet<ServerId> = s
            .faults
            .iter()
            .flat_map(|f| match &f.action {
                FaultAction::Crash(v) => v.clone(),
                _ => vec![],
            })
            .collect();
        halts += lost.difference(&crashed_by_fault).count();
        twice += finding.unclaimed;
    }
    assert!(halts > 0, "some generated runs halted a server");
    assert!(
        twice > 0,
        "some generated runs accepted a ticket twice (E-1 given up)"
    );
}

// ---- Real processes -----------------------------------------------------------------------------

fn ticketlab_run(dir: &Path, run_id: &str, args: &[&str]) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_ticketlab"))
        .current_dir(dir)
        .args(["run", "--run-id", run_id])
        .args(args)
        .args(["--format", "json", "--out", "out"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// No live process mentions `run_id` on its command line (Linux /proc; elsewhere `ps`).
fn assert_no_leftovers(run_id: &str) {
    let until = Instant::now() + Duration::from_secs(3);
    loop {
        let ps = Command::new("ps")
            .args(["-A", "-ww", "-o", "pid=,command="])
            .output()
            .expect("ps runs");
        let me = std::process::id().to_string();
        let left: Vec<String> = String::from_utf8_lossy(&ps.stdout)
            .lines()
            .filter(|l| l.contains(run_id) && l.split_whitespace().next() != Some(&me))
            .filter(|l| l.contains("server"))
            .map(str::to_string)
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < until, "processes left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn real_processes_count_the_theory_row_exactly_and_run_figure_2() {
    let dir = tempfile::tempdir().unwrap();
    // Uncontended, n = 3: 2(n−1) = 4 messages per ticket, latency at least 2δ.
    let id = format!("alo{}t1", std::process::id());
    let v = ticketlab_run(
        dir.path(),
        &id,
        &[
            "--set",
            "cluster.protocols=[\"alo-2pe\"]",
            "--set",
            "cluster.mode=processes",
            "--set",
            "cluster.servers=3",
            "--set",
            "cluster.delta_ms=2",
            "--set",
            "cluster.suspect_after_ms=3000",
            "--set",
            "workload.tickets=12",
        ],
    );
    assert_no_leftovers(&id);
    let run = &v["runs"][0];
    assert_eq!(v["mode"], "processes");
    assert_eq!(run["protocol"], "alo-2pe");
    assert_eq!(run["messages_per_ticket"], 4.0, "{run}");
    assert_eq!(run["accepted"], 12);
    assert!(run["latency_ms"]["max"].as_f64().unwrap() >= 4.0);
    assert_eq!(run["violations"].as_array().unwrap().len(), 0);

    // Figure 2: s1 accepts and is killed by its accept event; s2 or s3 accepts too.
    let id = format!("alo{}fig2", std::process::id());
    let fig2 = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/figure2.toml");
    let v = ticketlab_run(
        dir.path(),
        &id,
        &[
            fig2,
            "--set",
            "cluster.protocols=[\"alo-2pe\"]",
            "--set",
            "cluster.mode=processes",
            "--set",
            "cluster.delta_ms=4",
        ],
    );
    assert_no_leftovers(&id);
    let run = &v["runs"][0];
    assert_eq!(run["crashed"], serde_json::json!([1]), "{run}");
    assert_eq!(run["violations"].as_array().unwrap().len(), 0, "{run}");
    assert_eq!(run["unclaimed"], serde_json::json!({"E-1": 1}), "{run}");
    let h: Vec<serde_json::Value> =
        std::fs::read_to_string(dir.path().join("out/alo-2pe/history.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let decided: Vec<(u64, &str)> = h
        .iter()
        .filter(|e| e["kind"] == "decide")
        .map(|e| {
            (
                e["server"].as_u64().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(decided[0], (1, "accept"), "{decided:?}");
    let mut rest: Vec<&str> = decided[1..].iter().map(|d| d.1).collect();
    rest.sort_unstable();
    assert_eq!(rest, ["accept", "reject"], "{decided:?}");
    let accept = h.iter().find(|e| e["kind"] == "decide").unwrap();
    let crash = h.iter().find(|e| e["kind"] == "crash").unwrap();
    assert_eq!(
        crash["t_us"], accept["t_us"],
        "crash right after the accept"
    );
}
