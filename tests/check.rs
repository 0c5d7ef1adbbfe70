//! `ticketlab check`: the systematic search proves the shipped protocols safe in small bounds,
//! catches the deliberately broken ones with a counterexample the simulator replays, and refuses
//! bounds it cannot exhaust.

use std::path::Path;
use std::process::{Command, Output};
use ticketlab::check::{self, Config};
use ticketlab::protocol::ProtocolKind;

fn ticketlab(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ticketlab"))
        .args(args)
        .current_dir(cwd)
        .env("CI", "1")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn config(p: ProtocolKind, submit: Vec<Vec<u16>>, crashes: u8, suspicions: u8) -> Config {
    Config {
        protocol: p,
        servers: 3,
        submit,
        crashes,
        suspicions,
        timers: 2,
        depth: 1000,
        max_states: 5_000_000,
        max_memory_mb: None,
        seed: 1,
        progress: false,
        reduce: true,
    }
}

/// The shipped protocols at n = 3, exhausted with no violation: one ticket contended by s1 and
/// s2 failure-free, one ticket with a crash at any point. (Debug-build bounds; the larger ones —
/// two tickets, one crash — are measured in release: see `ticketlab check`'s documentation.)
#[test]
fn shipped_protocols_are_safe_and_live_in_small_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let contended = || vec![vec![1, 2]];
    let single = || vec![vec![1]];
    let bounds: Vec<(ProtocolKind, Vec<Vec<u16>>, u8)> = vec![
        (ProtocolKind::SeCt, contended(), 0),
        (ProtocolKind::SeCt, single(), 1),
        (ProtocolKind::TwoPe, contended(), 0),
        (ProtocolKind::TwoPe, single(), 1),
        (ProtocolKind::SeOpt, single(), 1),
        (ProtocolKind::SeGb, single(), 0),
        (ProtocolKind::SeGb, single(), 1),
    ];
    for (p, submit, crashes) in bounds {
        let cfg = config(p, submit, crashes, 0);
        let r = check::run(&cfg, dir.path(), &ticketlab::sim::Simulator).unwrap();
        assert!(
            r.violation.is_none(),
            "{p} crashes {crashes}: {:?}",
            r.violation
        );
        assert!(r.exhausted, "{p}: not exhausted ({} states)", r.states);
        assert!(r.terminal > 0);
        // GB tolerates no crash at n = 3 (f < n/3): with one, only safety is a claim.
        assert_eq!(r.liveness_checked, u16::from(crashes) <= p.max_faults(3));
    }
}

/// Partial-order reduction keeps every terminal state: the reduced and the full search reach
/// the same set.
#[test]
fn the_reduction_reaches_every_terminal_state() {
    for (p, submit, crashes) in [
        (ProtocolKind::SeCt, vec![vec![1, 2]], 0),
        (ProtocolKind::SeCt, vec![vec![1]], 1),
        (ProtocolKind::SeOpt, vec![vec![1]], 1),
        (ProtocolKind::TwoPe, vec![vec![1]], 1),
    ] {
        let mut cfg = config(p, submit, crashes, 0);
        let (reduced, r1) = check::terminal_states(&cfg).unwrap();
        cfg.reduce = false;
        let (full, r2) = check::terminal_states(&cfg).unwrap();
        assert!(r1.exhausted && r2.exhausted);
        assert_eq!(reduced, full, "{p}: terminal states differ");
        assert!(
            r1.states <= r2.states,
            "{p}: {} states reduced, {} full",
            r1.states,
            r2.states
        );
    }
}

#[test]
fn two_pe_minority_is_caught_and_its_counterexample_replays() {
    let dir = tempfile::tempdir().unwrap();
    let o = ticketlab(
        &[
            "check",
            "--protocol",
            "2pe-minority",
            "--servers",
            "3",
            "--tickets",
            "2",
            "--format",
            "json",
            "--out",
            "cex",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let found = &v["violation"];
    assert_eq!(found["kind"], "safety");
    assert_eq!(found["properties"][0], "E-1");
    assert_eq!(found["replay_reproduced"], true);
    let file = found["file"].as_str().unwrap();
    assert!(file.ends_with("check-2pe-minority-n3-t2.toml"), "{file}");
    let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
    assert!(
        text.contains("[[ticket]]") && text.contains("delay"),
        "{text}"
    );
    // The file replays in the simulator and fails there.
    let run = ticketlab(
        &["run", file, "--sim", "--strict", "--out", "replay"],
        dir.path(),
    );
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(stderr(&run).contains("E-1 violated"), "{}", stderr(&run));
}

#[test]
fn the_human_summary_says_what_was_explored() {
    let dir = tempfile::tempdir().unwrap();
    let o = ticketlab(
        &[
            "check",
            "--protocol",
            "se-ct",
            "--submit",
            "1,2",
            "--out",
            "o",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for want in [
        "states",
        "max depth",
        "exhausted",
        "time",
        "no violation",
        "yes",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    // The summary fits an 80-column terminal.
    for line in out.lines().filter(|l| l.starts_with(['┌', '│', '└'])) {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}",
            line.chars().count()
        );
    }
}

/// The bug zoo's broadcast and consensus variants: found failure-free or with one crash at
/// n = 3, each counterexample replayed by the simulator.
#[test]
fn zoo_variants_are_found_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    for (p, submit, crashes) in [
        (ProtocolKind::OptMajorityFast, vec![vec![1, 2]], 0),
        (ProtocolKind::CtEarlyPropose, vec![vec![1, 2]], 1),
        (ProtocolKind::TwoPeOwnPhase2, vec![vec![1, 2, 3]], 0),
        // Two tickets, two consensus instances: the first one's late C-ACK completes the
        // second's majority; the coordinator's crash moves the others on without it.
        (ProtocolKind::CtStaleAck, vec![vec![1, 2], vec![3]], 1),
    ] {
        let cfg = config(p, submit, crashes, 0);
        let r = check::run(&cfg, dir.path(), &ticketlab::sim::Simulator).unwrap();
        let v = r
            .violation
            .unwrap_or_else(|| panic!("{p}: no violation found"));
        assert_eq!(v.properties, vec!["E-1".to_string()], "{p}");
        assert!(v.replay_reproduced, "{p}: {:?}", v.replay_notes);
    }
}

/// Timed liveness (alo-2pe's settled suspicions, qlock-backoff's backoff) is not judged by the
/// untimed search; safety is, and a timer bound keeps qlock-backoff's retries finite.
#[test]
fn timed_protocols_are_checked_for_safety_within_a_timer_bound() {
    let dir = tempfile::tempdir().unwrap();
    for p in [ProtocolKind::Alo2Pe, ProtocolKind::QlockBackoff] {
        let mut cfg = config(p, vec![vec![1, 2]], 0, 0);
        cfg.timers = 1;
        let r = check::run(&cfg, dir.path(), &ticketlab::sim::Simulator).unwrap();
        assert!(r.violation.is_none(), "{p}: {:?}", r.violation);
        assert!(r.exhausted && !r.liveness_checked, "{p}");
    }
}

/// Protocols whose tickets are independent objects are searched a ticket at a time: the
/// figures are the sums of the tickets' own searches, and the report says so.
#[test]
fn independent_tickets_are_searched_alone_and_summed() {
    let dir = tempfile::tempdir().unwrap();
    for p in [ProtocolKind::QlockBackoff, ProtocolKind::QlockAmo] {
        let run = |submit: Vec<Vec<u16>>| {
            let mut cfg = config(p, submit, 1, 0);
            cfg.timers = 1;
            check::run(&cfg, dir.path(), &ticketlab::sim::Simulator).unwrap()
        };
        let both = run(vec![vec![1, 2], vec![3]]);
        let (t1, t2) = (run(vec![vec![1, 2]]), run(vec![vec![3]]));
        assert!(both.violation.is_none() && both.exhausted, "{p}");
        assert_eq!(both.states, t1.states + t2.states, "{p}");
        assert_eq!(both.terminal, t1.terminal + t2.terminal, "{p}");
        assert_eq!(both.max_depth, t1.max_depth.max(t2.max_depth), "{p}");
        assert!(
            both.notes[0].contains("searched alone"),
            "{p}: {:?}",
            both.notes
        );
    }
    // A protocol whose tickets share a broadcast is searched whole.
    let cfg = config(ProtocolKind::TwoPe, vec![vec![1], vec![2]], 0, 0);
    let r = check::run(&cfg, dir.path(), &ticketlab::sim::Simulator).unwrap();
    assert!(r.notes.iter().all(|n| !n.contains("searched alone")));
}

#[test]
fn bad_bounds_and_unknown_protocols_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--protocol", "nope"], "expected one of 2pe"),
        (
            &["--protocol", "2pe", "--servers", "9"],
            "feasible for 2 to 5 servers",
        ),
        (
            &["--protocol", "2pe", "--tickets", "7"],
            "feasible for 1 to 3 tickets",
        ),
        (
            &["--protocol", "2pe", "--crashes", "3"],
            "at most 2 (n − 1) crashes",
        ),
        (
            &["--protocol", "2pe", "--submit", "1,4"],
            "server 4 does not exist",
        ),
        (
            &["--protocol", "2pe", "--suspicions", "9"],
            "0 to 3 false suspicions",
        ),
    ];
    let cases = [
        cases,
        &[(
            &["--protocol", "2pe", "--timers", "9"][..],
            "0 to 5 timer firings per server",
        )][..],
    ]
    .concat();
    for (args, want) in &cases {
        let mut all = vec!["check"];
        all.extend_from_slice(args);
        let o = ticketlab(&all, dir.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn racing_fleet_claimants_are_not_exhausted_and_check_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let o = ticketlab(
        &[
            "check",
            "--protocol",
            "bft-fleet",
            "--submit",
            "1,2",
            "--max-states",
            "3000",
            "--out",
            "o",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("not exhausted"), "{out}");
    assert!(
        out.contains("claimants racing") && out.contains("lone claim"),
        "{out}"
    );
    assert!(
        out.lines().all(|l| l.chars().count() <= 80),
        "fits 80 columns: {out}"
    );
}
