//! Signed tickets: forged and tampered submissions are rejected by the runtime, at once, before
//! any protocol sees them; genuine ones go through as before.

mod common;

use common::{load, p, run_seed};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use ticketlab::history::Event;
use ticketlab::lab::tickets::Rejection;
use ticketlab::protocol::ProtocolKind;
use ticketlab::scenario;

const SCENARIO: &str = r#"
name = "signed"
seed = 11
[cluster]
servers = 4
protocols = ["2pe", "se-ct", "qlock-amo"]
mode = "sim"
delta_ms = 10.0
[workload]
tickets = 200
concurrency = 4
duplicates = 0.3
duplicate_gap_ms = 5.0
forged = 0.2
tampered = 0.25
[[ticket]]
id = "scripted"
submit = [{ at_ms = 1.0, server = 2 }]
"#;

/// Ticket ids refused with each reason, ids taken in (`submit`), ids any `send` is about.
fn facts(h: &[Event]) -> (Vec<(String, Rejection)>, BTreeSet<String>, BTreeSet<String>) {
    let mut refused = Vec::new();
    let mut submitted = BTreeSet::new();
    let mut sent = BTreeSet::new();
    for e in h {
        match e {
            Event::Refused {
                ticket,
                reason: Some(r),
                ..
            } => refused.push((ticket.0.clone(), *r)),
            Event::Submit { ticket, .. } => {
                submitted.insert(ticket.0.clone());
            }
            Event::Send {
                ticket: Some(t), ..
            } => {
                sent.insert(t.0.clone());
            }
            _ => {}
        }
    }
    (refused, submitted, sent)
}

#[test]
fn every_bad_submission_is_rejected_with_its_reason_and_no_protocol_message() {
    let s = load(SCENARIO, &[]);
    for proto in ["2pe", "se-ct", "qlock-amo"] {
        let (summary, out) = run_seed(&s, p(proto), 11);
        let (refused, submitted, sent) = facts(&out.history);
        let bad: BTreeSet<&str> = refused.iter().map(|(t, _)| t.as_str()).collect();
        let forged = refused.iter().filter(|r| r.1 == Rejection::Forged).count();
        let tampered = refused
            .iter()
            .filter(|r| r.1 == Rejection::Tampered)
            .count();
        // Roughly the fractions asked for (20 %, then 25 % of the other 80 % = 20 %).
        let forged_tickets: BTreeSet<&str> = refused
            .iter()
            .filter(|r| r.1 == Rejection::Forged)
            .map(|r| r.0.as_str())
            .collect();
        let tampered_tickets: BTreeSet<&str> = refused
            .iter()
            .filter(|r| r.1 == Rejection::Tampered)
            .map(|r| r.0.as_str())
            .collect();
        assert!(
            (20..=60).contains(&forged_tickets.len()),
            "{proto}: {forged_tickets:?}"
        );
        assert!((20..=60).contains(&tampered_tickets.len()), "{proto}");
        assert!(forged_tickets.is_disjoint(&tampered_tickets));
        assert!(
            !bad.contains("scripted"),
            "scripted tickets are signed by the issuer"
        );
        // 100 % rejected: no bad ticket ever reached a protocol, nor a message about one.
        for t in &bad {
            assert!(!submitted.contains(*t), "{proto}: {t} was taken in");
            assert!(!sent.contains(*t), "{proto}: a message about {t} was sent");
        }
        assert_eq!(summary.forged_rejected, forged as u64, "{proto}");
        assert_eq!(summary.tampered_rejected, tampered as u64, "{proto}");
        assert!(summary.bad_admitted.is_empty(), "{proto}");
        assert!(
            summary.violations.is_empty(),
            "{proto}: {:?}",
            summary.violations
        );
        // Every ticket has its answer: bad ones rejected at once, genuine ones decided.
        assert_eq!(summary.undecided, 0, "{proto}");
        assert_eq!(summary.tickets, 201, "{proto}");
        assert_eq!(
            submitted.len() + bad.len(),
            201,
            "{proto}: every genuine ticket was taken in"
        );
        // The same seed, the same history.
        let (_, again) = run_seed(&s, p(proto), 11);
        assert_eq!(out.history, again.history, "{proto}");
    }
}

#[test]
fn refused_carries_its_reason_in_the_history_json_and_crash_refusals_none() {
    let e = Event::Refused {
        t_us: 5,
        ticket: "t1".into(),
        server: 2,
        reason: Some(Rejection::Forged),
    };
    let v: Value = serde_json::to_value(&e).unwrap();
    assert_eq!(v["kind"], "refused");
    assert_eq!(v["ticket"], "t1");
    assert_eq!(v["reason"], "forged");
    let crash = Event::Refused {
        t_us: 5,
        ticket: "t1".into(),
        server: 2,
        reason: None,
    };
    let text = serde_json::to_string(&crash).unwrap();
    assert!(!text.contains("reason"), "{text}");
    let back: Event = serde_json::from_str(&text).unwrap();
    assert_eq!(back, crash);
}

#[test]
fn without_bad_fractions_table1_is_unchanged() {
    let s = common::table1(&["cluster.servers=4", "workload.tickets=50"]);
    let (summary, out) = run_seed(&s, ProtocolKind::TwoPe, 1);
    assert_eq!(summary.accepted, 50);
    assert_eq!(summary.messages_per_ticket, 6.0);
    assert_eq!(summary.forged_rejected + summary.tampered_rejected, 0);
    assert!(!out
        .history
        .iter()
        .any(|e| matches!(e, Event::Refused { .. })));
}

#[test]
fn the_keys_are_fractions_with_clear_errors() {
    let base = "name = \"k\"\n[cluster]\nservers = 3\nprotocols = [\"2pe\"]\nmode = \"sim\"\n[workload]\ntickets = 3\n";
    for key in ["forged", "tampered"] {
        for bad in ["-0.1", "1.5", "nan", "\"x\""] {
            let text = format!("{base}{key} = {bad}\n");
            let e = scenario::load("k.toml", &text, &[]).expect_err(&text);
            let msg = e.to_string();
            assert!(msg.contains("k.toml"), "{msg}");
            assert!(msg.contains(&format!("workload.{key}")), "{msg}");
            if bad != "\"x\"" {
                assert!(msg.contains("expected a fraction from 0 to 1"), "{msg}");
            }
        }
        let ok = scenario::load("k.toml", &format!("{base}{key} = 1\n"), &[]).unwrap();
        let got = if key == "forged" {
            ok.workload.forged
        } else {
            ok.workload.tampered
        };
        assert_eq!(got, 1.0);
        let set = scenario::load("k.toml", base, &[format!("workload.{key}=2")]);
        assert!(set.is_err(), "--set is validated too");
    }
}

/// Live processes whose command line mentions `needle` (Linux /proc; elsewhere `ps`).
fn processes_with(needle: &str) -> Vec<String> {
    let out = Command::new("ps")
        .args(["-A", "-ww", "-o", "pid=,command="])
        .output()
        .expect("ps runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(needle) && !l.contains(" ps "))
        .map(str::to_string)
        .collect()
}

#[test]
fn real_servers_reject_bad_tickets_before_their_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let id = format!("tk{}", std::process::id());
    let o = Command::new(env!("CARGO_BIN_EXE_ticketlab"))
        .current_dir(dir.path())
        .args(["run", "--run-id", &id])
        .args([
            "--set",
            "cluster.mode=processes",
            "--set",
            "cluster.servers=3",
            "--set",
            "cluster.protocols=[\"2pe\"]",
            "--set",
            "cluster.delta_ms=2",
            "--set",
            "cluster.suspect_after_ms=3000",
            "--set",
            "workload.tickets=10",
            "--set",
            "workload.forged=0.3",
            "--set",
            "workload.tampered=0.3",
            "--seed",
            "5",
            "--format",
            "json",
            "--out",
            "out",
        ])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while !processes_with(&id).is_empty() {
        assert!(
            std::time::Instant::now() < until,
            "{:?}",
            processes_with(&id)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let run = &v["runs"][0];
    let history: Vec<Event> = std::fs::read_to_string(dir.path().join("out/2pe/history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (refused, submitted, sent) = facts(&history);
    assert!(!refused.is_empty(), "seed 5 draws some bad tickets");
    for (t, _) in &refused {
        assert!(!submitted.contains(t) && !sent.contains(t), "{t}");
    }
    let count = |r: Rejection| refused.iter().filter(|x| x.1 == r).count() as u64;
    assert_eq!(run["forged_rejected"], count(Rejection::Forged));
    assert_eq!(run["tampered_rejected"], count(Rejection::Tampered));
    assert_eq!(run["undecided"], 0);
    assert_eq!(run["violations"].as_array().unwrap().len(), 0);
    assert_eq!(run["bad_admitted"].as_array().unwrap().len(), 0);
    assert_eq!(
        submitted.len() + refused.len(),
        10,
        "no duplicates: one submission per ticket"
    );
    // The same seed draws the same bad tickets as the simulator.
    let s = load(
        "name = \"x\"\nseed = 5\n[cluster]\nservers = 3\nprotocols = [\"2pe\"]\nmode = \"sim\"\ndelta_ms = 2.0\n[workload]\ntickets = 10\nforged = 0.3\ntampered = 0.3\n",
        &[],
    );
    let (_, sim) = run_seed(&s, ProtocolKind::TwoPe, 5);
    let (sim_refused, _, _) = facts(&sim.history);
    let ids = |r: &[(String, Rejection)]| r.iter().cloned().collect::<BTreeSet<_>>();
    assert_eq!(ids(&refused), ids(&sim_refused));
}

/// What verification costs on this machine (the server's work per submission in the process
/// runtime), one ticket at a time and in the batches a loaded server takes in together
/// (`Verifier::check_all`), side by side: `cargo test --release --test tickets -- --ignored
/// --nocapture`.
#[test]
#[ignore = "a measurement, not a test"]
fn measure_the_cost_of_verification() {
    use ticketlab::lab::tickets::{Issuer, Kind};
    let issuer = Issuer::derive(42);
    let v = issuer.verifier();
    let texts: Vec<String> = (0..2048)
        .map(|i| {
            issuer
                .credential(&format!("t{i}").as_str().into(), Kind::Genuine)
                .encode()
        })
        .collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    for batch in [1, 4, 16, 64] {
        let mut per = Vec::new();
        for _ in 0..5 {
            let start = std::time::Instant::now();
            for chunk in texts.chunks(batch) {
                assert!(v.check_all(chunk, 0).iter().all(Result::is_ok));
            }
            per.push(start.elapsed().as_secs_f64() * 1e6 / texts.len() as f64);
        }
        per.sort_by(f64::total_cmp);
        println!(
            "verify, batches of {batch:>2}: median {:.1} µs per ticket (runs: {per:.1?})",
            per[2]
        );
    }
}
