//! Byzantine servers: the adversary around a server's protocol, the bounds a scenario is held
//! to, E-1_B / E-2_B, and the theory rows of bqlock-amo and bft-fleet.

mod common;

use common::*;
use ticketlab::lab::byzantine::Behaviour;
use ticketlab::protocol::{Property, ProtocolKind};
use ticketlab::scenario;

const BQLOCK: ProtocolKind = ProtocolKind::BqlockAmo;
const FLEET: ProtocolKind = ProtocolKind::BftFleet;

/// A contended workload (every ticket to two servers) with `byz` Byzantine in `behaviour`.
fn contended(n: u16, byz: &[u16], behaviour: &str, extra: &str) -> String {
    let servers: Vec<String> = byz.iter().map(|s| s.to_string()).collect();
    format!(
        "name = \"b\"\nseed = 5\n[cluster]\nservers = {n}\nprotocols = [\"bqlock-amo\"]\n\
         mode = \"sim\"\njitter_ms = 5.0\n{extra}\n[workload]\ntickets = 150\nconcurrency = 4\n\
         duplicates = 1.0\n[[fault]]\nat_ms = 0\n\
         byzantine = {{ servers = [{}], behaviour = \"{behaviour}\" }}\n",
        servers.join(", ")
    )
}

#[test]
fn bqlock_keeps_e1_b_under_every_behaviour_at_its_bound() {
    // n = 6: b = 1; n = 11: b = 2.
    for (n, byz) in [(6u16, vec![6u16]), (11, vec![3, 9])] {
        for b in Behaviour::ALL {
            let s = load(&contended(n, &byz, b.name(), ""), &[]);
            assert_eq!(s.cluster.byzantine_max, byz.len() as u16);
            for seed in 1..4 {
                let (r, _) = run_seed(&s, BQLOCK, seed);
                assert!(r.violations.is_empty(), "n = {n}, {b}: {:?}", r.violations);
                assert_eq!(r.byzantine, byz);
                assert!(r.accepted > 0, "n = {n}, {b}: nothing accepted");
            }
        }
    }
}

#[test]
fn fleet_keeps_e1_b_under_every_behaviour_at_its_bound() {
    // n = 5: b = 1 (n > 4b); n = 9: b = 2.
    for (n, byz) in [(5u16, vec![5u16]), (9, vec![2, 7])] {
        for b in Behaviour::ALL {
            let text = contended(n, &byz, b.name(), "")
                .replace("\"bqlock-amo\"", "\"bft-fleet\"")
                .replace("tickets = 150", "tickets = 30");
            let s = load(&text, &[]);
            for seed in 1..3 {
                let (r, _) = run_seed(&s, FLEET, seed);
                assert!(r.violations.is_empty(), "n = {n}, {b}: {:?}", r.violations);
                // Every ticket is decided: one claimant per ticket is correct, and exactly one
                // server (maybe the Byzantine claimant) wins each.
                assert_eq!(r.undecided, 0, "n = {n}, {b}");
                assert!(r.accepted > 0, "n = {n}, {b}: nothing accepted");
            }
        }
    }
}

#[test]
fn beyond_the_bound_is_refused_and_with_allow_unsafe_breaks() {
    let text = contended(6, &[5, 6], "equivocate", "");
    let e = scenario::load("b.toml", &text, &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cluster.byzantine_max") && e.contains("at most b = 1 at n = 6"),
        "{e}"
    );
    assert!(e.contains("allow_unsafe"), "{e}");
    // Two equivocators against quorums sized for one: two correct servers accept a ticket.
    let s = load(
        &contended(6, &[5, 6], "equivocate", "allow_unsafe = true"),
        &[],
    );
    let broken = (1..6).any(|seed| {
        run_seed(&s, BQLOCK, seed)
            .0
            .violations
            .iter()
            .any(|v| v.property() == Property::E1B)
    });
    assert!(broken, "no E-1_B violation beyond the bound");
}

#[test]
fn crash_only_protocols_refuse_a_byzantine_server_unless_unsafe() {
    let text = contended(6, &[6], "lie", "").replace("\"bqlock-amo\"", "\"2pe\"");
    let e = scenario::load("b.toml", &text, &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("2pe tolerates no Byzantine server"), "{e}");
    let unsafe_ok = text.replace("[workload]", "allow_unsafe = true\n[workload]");
    scenario::load("b.toml", &unsafe_ok, &[]).unwrap();
}

#[test]
fn bad_byzantine_keys_are_clear_errors() {
    let cases = [
        (
            contended(6, &[6], "liar", ""),
            "fault[0].byzantine.behaviour = \"liar\": expected one of \"silent\"",
        ),
        (
            contended(6, &[7], "lie", ""),
            "fault[0].byzantine.servers[0] = 7: expected a server id from 1 to 6",
        ),
        (
            contended(6, &[6], "lie", "byzantine_max = 9"),
            "cluster.byzantine_max = 9: expected an integer from 0 to 6",
        ),
        (
            contended(11, &[3, 9], "lie", "byzantine_max = 1"),
            "cluster.byzantine_max = 1: expected at least 2",
        ),
    ];
    for (text, want) in cases {
        let e = scenario::load("b.toml", &text, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{want}\n{e}");
    }
}

/// Uncontended and failure-free, a protocol's theory row holds exactly in the simulator at every
/// (n, b), with and without a Byzantine bound declared (quorums grow, but q ≤ n − b answers
/// arrive at 2δ): bqlock-amo 2δ and 2(n−1) messages; bft-fleet rounds 0 and 1 of Fig. 5 — 24
/// quorum RPCs, 48δ and 48(n−1) messages.
#[test]
fn theory_rows_are_exact_in_the_simulator() {
    // (protocol, the (n, b) to run, tickets)
    type Case = (ProtocolKind, &'static [(u16, u16)], u64);
    let cases: [Case; 2] = [
        (BQLOCK, &[(3, 0), (5, 0), (6, 1), (7, 1), (11, 2)], 40),
        (FLEET, &[(3, 0), (5, 0), (5, 1), (9, 2)], 10),
    ];
    for (p, sizes, tickets) in cases {
        for &(n, b) in sizes {
            let mut s = sim_scenario("row", n, &[p], tickets);
            s.cluster.byzantine_max = b;
            let (r, _) = run(&s, p);
            let th = p.theory(n);
            assert_eq!(r.accepted, tickets, "{p}, n = {n}");
            let at = format!("{p}, n = {n}, b = {b}");
            assert_eq!(r.latency_delta.max, Some(th.latency_delta), "{at}");
            assert_eq!(r.messages_per_ticket, th.messages_per_ticket as f64, "{at}");
        }
    }
}

#[test]
fn a_byzantine_sweep_runs_every_behaviour_and_reports_accepts_apart() {
    let s = load(include_str!("../scenarios/byzantine.toml"), &[]);
    let sweep = s.byzantine.clone().expect("a [byzantine] sweep");
    assert_eq!(sweep.behaviours, Behaviour::ALL.to_vec());
    let accept_all = sweep.apply(&s, Behaviour::AcceptAll);
    let (r, out) = run(&accept_all, BQLOCK);
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    // s6 accepts every ticket it is handed, at once: reported apart, not counted.
    let handed = out
        .history
        .iter()
        .filter(|e| matches!(e, ticketlab::history::Event::Submit { server: 6, .. }))
        .count();
    assert!(handed > 0);
    assert_eq!(r.byzantine_accepts.len(), handed);
    assert!(r.byzantine_accepts.iter().all(|a| a.server == 6));
}

/// No correct protocol panics on what a Byzantine peer sends — made-up server ids, rounds,
/// positions — even beyond its bound (`allow_unsafe`): it may fail a property, never crash.
#[test]
fn every_protocol_survives_a_random_byzantine_peer() {
    for &p in ProtocolKind::ALL {
        for (n, byz) in [(4u16, 2u16), (5, 5)] {
            for (behaviour, seed) in [
                ("random", 1),
                ("random", 2),
                ("random", 3),
                ("equivocate", 1),
            ] {
                let text = format!(
                    "name = \"r\"\nseed = {seed}\n[cluster]\nservers = {n}\nprotocols = [\"{p}\"]\n\
                     mode = \"sim\"\njitter_ms = 3.0\nallow_unsafe = true\n[workload]\n\
                     tickets = 20\nconcurrency = 3\nduplicates = 0.5\ndeadline_ms = 3000.0\n\
                     [[fault]]\nat_ms = 0\n\
                     byzantine = {{ servers = [{byz}], behaviour = \"{behaviour}\" }}\n"
                );
                let s = load(&text, &[]);
                let (r, _) = run(&s, p);
                assert_eq!(
                    r.byzantine,
                    vec![byz],
                    "{p} n = {n} {behaviour} seed {seed}"
                );
            }
        }
    }
}
