//! The shipped scenarios of the seed protocols, in the simulator: `seeds.toml` (every protocol on
//! one workload, measured = theory), `contention.toml` (racing servers) and `impossibility.toml`
//! (Figures 1–2 against 2pe and alo-2pe), plus the measured resilience sweep of the seed
//! protocols.

use std::collections::BTreeMap;
use ticketlab::checker::Violation;
use ticketlab::lab::Runtime;
use ticketlab::protocol::ProtocolKind;
use ticketlab::protocol::ServerId;
use ticketlab::report::{self, RunSummary};
use ticketlab::scenario::{self, Scenario};
use ticketlab::sim::Simulator;

fn load(name: &str, overrides: &[&str]) -> Scenario {
    let path = format!("{}/scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    scenario::load(&path, &text, &overrides).unwrap_or_else(|e| panic!("{e}"))
}

fn rows(s: &Scenario) -> BTreeMap<ProtocolKind, RunSummary> {
    let seed = s.seed.unwrap_or(1);
    s.cluster
        .protocols
        .iter()
        .map(|&p| {
            let out = Simulator.run(s, p, seed).completed().unwrap();
            (p, report::summarize(s, p, &out))
        })
        .collect()
}

#[test]
fn seeds_every_protocol_measures_its_theory_row_exactly() {
    let s = load("seeds", &[]);
    assert_eq!(
        s.cluster.protocols.len(),
        10,
        "Table 1's four and the seeds' six"
    );
    for (p, r) in rows(&s) {
        assert!(r.violations.is_empty(), "{p}: {:?}", r.violations);
        assert!(r.unclaimed.is_empty(), "{p}: {:?}", r.unclaimed);
        assert_eq!(r.accepted, r.tickets, "{p}");
        assert_eq!(
            r.latency_delta.max,
            Some(r.theory.latency_delta),
            "{p}: latency max"
        );
        assert_eq!(
            r.messages_per_ticket, r.theory.messages_per_ticket as f64,
            "{p}: messages per ticket"
        );
    }
}

#[test]
fn contention_qlock_amo_gives_up_e2_and_the_others_decide_every_race() {
    let s = load("contention", &[]);
    let r = rows(&s);
    for (p, row) in &r {
        assert!(row.violations.is_empty(), "{p}: {:?}", row.violations);
        assert_eq!(row.undecided, 0, "{p}: every race is decided");
    }
    let amo = &r[&ProtocolKind::QlockAmo];
    assert!(amo.rejected > 0, "both racers can lose");
    assert_eq!(amo.unclaimed.get("E-2"), Some(&amo.rejected));
    let backoff = &r[&ProtocolKind::QlockBackoff];
    assert_eq!(backoff.accepted, backoff.tickets);
    assert!(backoff.backoffs > 0 && backoff.backoff_ms > 0.0 && backoff.tries > backoff.tickets);
    for p in [
        ProtocolKind::TwoPe,
        ProtocolKind::Alo2Pe,
        ProtocolKind::SeOar,
    ] {
        assert_eq!(r[&p].accepted, r[&p].tickets, "{p}");
        assert!(r[&p].unclaimed.is_empty(), "{p}: {:?}", r[&p].unclaimed);
    }
}

#[test]
fn impossibility_2pe_gives_up_e2_prime_and_alo_2pe_gives_up_e1() {
    let s = load("impossibility", &["cluster.mode=\"sim\""]);
    let r = rows(&s);
    let twope = &r[&ProtocolKind::TwoPe];
    let alo = &r[&ProtocolKind::Alo2Pe];
    assert!(twope.violations.is_empty() && alo.violations.is_empty());
    // "before": rejected everywhere by 2pe (E-2′ given up), accepted by a survivor under alo-2pe.
    assert_eq!(twope.unclaimed, BTreeMap::from([("E-2'".to_string(), 1)]));
    assert_eq!((twope.accepted, twope.rejected), (1, 1));
    // "after": accepted by s4 before it crashed, and again by a survivor under alo-2pe.
    assert_eq!(alo.unclaimed, BTreeMap::from([("E-1".to_string(), 1)]));
    assert_eq!(alo.accepted, 2);
    assert_eq!(twope.crashed, vec![1, 4]);
}

#[test]
fn the_seed_protocols_measure_their_resilience() {
    for n in [3u16, 5, 7] {
        let s = load(
            "resilience",
            &[
                "cluster.protocols=[\"se-oar\", \"qlock-amo\", \"qlock-backoff\", \"alo-2pe\"]",
                &format!("cluster.servers={n}"),
            ],
        );
        let res = s.resilience.clone().unwrap();
        for &p in &s.cluster.protocols {
            let swept =
                ticketlab::resilience::sweep(&Simulator, &s, p, 1, &res, |_, _| Ok(())).unwrap();
            let m = swept.measured.unwrap();
            assert_eq!(m.measured, Some((n - 1) / 2), "{p} n={n}: {:?}", m.sweep);
            assert_eq!(m.blocks_at, Some((n - 1) / 2 + 1), "{p} n={n}");
            assert!(m.sweep.iter().all(|pt| pt.violations == 0), "{p} n={n}");
        }
    }
}

#[test]
fn zoo_ct_stale_ack_breaks_e1_on_the_hand_built_schedule_and_se_ct_holds() {
    // docs/PROTOCOLS.md §11's n = 5 schedule, built by hand: the same faults, the same ticket.
    let s = load("zoo-ct-stale-ack", &[]);
    let r = rows(&s);
    let good = &r[&ProtocolKind::SeCt];
    assert!(good.violations.is_empty(), "se-ct: {:?}", good.violations);
    assert_eq!(
        (good.accepted, good.undecided),
        (1, 0),
        "se-ct accepts t1 once"
    );
    let bad = &r[&ProtocolKind::CtStaleAck];
    let accepts: Vec<ServerId> = bad
        .violations
        .iter()
        .flat_map(|v| match v {
            Violation::E1 { accepts, .. } => accepts.iter().map(|a| a.0).collect(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(
        accepts,
        [3, 2],
        "s3 then s2 accept t1: {:?}",
        bad.violations
    );
}
