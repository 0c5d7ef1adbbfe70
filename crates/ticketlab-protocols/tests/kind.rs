//! The protocol registry, pinned down as tables: names (a scenario contract), the theory rows the
//! tool prints beside its measurements, the crashes each protocol is designed for, the
//! properties each claims, and what the properties imply.

use ticketlab_protocols::{NodeConfig, Out, Property, ProtocolKind};

/// (name, latency δ and messages per ticket at n = 3, 5, 7, 9, max_faults at n = 3, 5, 7, 9).
type Row = (&'static str, [(f64, u64); 4], [u16; 4]);

const ROWS: &[Row] = &[
    (
        "2pe",
        [(2.0, 4), (2.0, 8), (2.0, 12), (2.0, 16)],
        [1, 2, 3, 4],
    ),
    (
        "se-ct",
        [(4.0, 8), (4.0, 16), (4.0, 24), (4.0, 32)],
        [1, 2, 3, 4],
    ),
    (
        "se-opt",
        [(2.0, 8), (2.0, 24), (2.0, 48), (2.0, 80)],
        [1, 2, 3, 4],
    ),
    (
        "se-gb",
        [(2.0, 8), (2.0, 24), (2.0, 48), (2.0, 80)],
        [0, 1, 2, 2],
    ),
    (
        "se-oar",
        [(2.0, 6), (3.0, 12), (3.0, 18), (3.0, 24)],
        [1, 2, 3, 4],
    ),
    (
        "qlock-amo",
        [(2.0, 4), (2.0, 8), (2.0, 12), (2.0, 16)],
        [1, 2, 3, 4],
    ),
    (
        "qlock-backoff",
        [(6.0, 16), (6.0, 32), (6.0, 48), (6.0, 64)],
        [1, 2, 3, 4],
    ),
    (
        "alo-2pe",
        [(2.0, 4), (2.0, 8), (2.0, 12), (2.0, 16)],
        [1, 2, 3, 4],
    ),
    (
        "bqlock-amo",
        [(2.0, 4), (2.0, 8), (2.0, 12), (2.0, 16)],
        [1, 2, 3, 4],
    ),
    (
        "bft-fleet",
        [(48.0, 96), (48.0, 192), (48.0, 288), (48.0, 384)],
        [1, 2, 3, 4],
    ),
    (
        "2pe-minority",
        [(2.0, 4), (2.0, 8), (2.0, 12), (2.0, 16)],
        [1, 2, 3, 4],
    ),
    (
        "ct-stale-ack",
        [(4.0, 8), (4.0, 16), (4.0, 24), (4.0, 32)],
        [1, 2, 3, 4],
    ),
    (
        "ct-early-propose",
        [(4.0, 8), (4.0, 16), (4.0, 24), (4.0, 32)],
        [1, 2, 3, 4],
    ),
    (
        "2pe-own-phase2",
        [(2.0, 4), (2.0, 8), (2.0, 12), (2.0, 16)],
        [1, 2, 3, 4],
    ),
    (
        "opt-majority-fast",
        [(2.0, 8), (2.0, 24), (2.0, 48), (2.0, 80)],
        [1, 2, 3, 4],
    ),
];

#[test]
fn every_protocol_has_its_name_theory_row_and_fault_budget() {
    assert_eq!(ProtocolKind::ALL.len(), ROWS.len());
    for (&p, (name, theory, faults)) in ProtocolKind::ALL.iter().zip(ROWS) {
        assert_eq!(p.name(), *name);
        assert_eq!(p.to_string(), *name);
        assert_eq!(ProtocolKind::from_name(name), Some(p));
        for (i, n) in [3u16, 5, 7, 9].into_iter().enumerate() {
            let t = p.theory(n);
            assert_eq!(
                (t.latency_delta, t.messages_per_ticket),
                theory[i],
                "{name} n={n}"
            );
            assert!(!t.resilience.is_empty());
            assert_eq!(p.max_faults(n), faults[i], "{name} n={n}");
        }
    }
    assert_eq!(ProtocolKind::from_name("2PE"), None);
    assert_eq!(ProtocolKind::from_name(""), None);
}

#[test]
fn resilience_claims_are_the_papers() {
    let r = |p: ProtocolKind| p.theory(5).resilience;
    assert_eq!(r(ProtocolKind::TwoPe), "f < n/2");
    assert_eq!(r(ProtocolKind::SeGb), "f < n/3");
    assert_eq!(r(ProtocolKind::SeOpt), "f_opt = 0 (fast path)");
    assert_eq!(r(ProtocolKind::QlockAmo), "f < n/2; E-2 only uncontended");
    assert_eq!(
        r(ProtocolKind::QlockBackoff),
        "f < n/2; E-2 w.p. 1 once stable"
    );
}

#[test]
fn the_groups_partition_the_protocols() {
    let mut all: Vec<ProtocolKind> = ProtocolKind::TABLE1
        .iter()
        .chain(ProtocolKind::SEEDS)
        .chain(ProtocolKind::ZOO)
        .copied()
        .collect();
    all.sort();
    let mut want = ProtocolKind::ALL.to_vec();
    want.sort();
    assert_eq!(all, want);
}

#[test]
fn claims_and_what_they_imply() {
    use Property::*;
    for &p in ProtocolKind::ALL {
        let want: &[Property] = match p {
            ProtocolKind::QlockAmo => &[E1],
            ProtocolKind::BqlockAmo | ProtocolKind::BftFleet => &[E1B, E2B],
            ProtocolKind::Alo2Pe => &[E1Prime, E2Prime],
            _ => &[E1, E2],
        };
        assert_eq!(p.properties(), want, "{p}");
        assert_eq!(p.halts_on_suspicion(), p == ProtocolKind::Alo2Pe, "{p}");
        let timed = matches!(p, ProtocolKind::Alo2Pe | ProtocolKind::QlockBackoff);
        assert_eq!(p.liveness_is_timed(), timed, "{p}");
        // Only bqlock-amo (n > 5b) and bft-fleet (n > 4b) mask Byzantine servers.
        let masks = matches!(p, ProtocolKind::BqlockAmo | ProtocolKind::BftFleet);
        assert_eq!(p.masks_byzantine(), masks, "{p}");
        assert_eq!(p.byzantine_condition().is_some(), masks, "{p}");
        // (n, b for n > 5b, b for n > 4b)
        for (n, b5, b4) in [
            (3u16, 0u16, 0u16),
            (4, 0, 0),
            (5, 0, 1),
            (6, 1, 1),
            (9, 1, 2),
        ] {
            let want = match p {
                ProtocolKind::BqlockAmo => b5,
                ProtocolKind::BftFleet => b4,
                _ => 0,
            };
            assert_eq!(p.byzantine_bound(n), want, "{p} at n = {n}");
        }
    }
    // E-1 ⇒ E-1′, E-1_B; E-2′ ⇒ E-2 ⇒ E-2_B; each implies itself; nothing else.
    for &a in Property::ALL {
        for &b in Property::ALL {
            let want = a == b
                || matches!(
                    (a, b),
                    (E1, E1Prime) | (E1, E1B) | (E2Prime, E2) | (E2Prime, E2B) | (E2, E2B)
                );
            assert_eq!(a.implies(b), want, "{a} ⇒ {b}");
            assert_eq!(a.byzantine(), matches!(a, E1B | E2B), "{a}");
        }
    }
    let names: Vec<String> = Property::ALL.iter().map(|p| p.to_string()).collect();
    assert_eq!(names, ["E-1", "E-2", "E-1'", "E-2'", "E-1_B", "E-2_B"]);
    assert_eq!(E2Prime.name(), "E-2'");
}

/// Server `me` of `n`: δ = 1 ms, heartbeat 1 ms, suspicion after 10 ms, crash-only.
fn node_cfg(me: u16, n: u16) -> NodeConfig {
    NodeConfig {
        me,
        n,
        heartbeat: 1_000,
        suspect_after: 10_000,
        seed: 1,
        delta: 1_000,
        byzantine: 0,
    }
}

#[test]
fn every_protocol_builds_and_starts_its_failure_detector_or_nothing() {
    for &p in ProtocolKind::ALL {
        let cfg = node_cfg(2, 3);
        let mut node = p.build(&cfg);
        let mut out = Out::new(2, 3);
        node.on_start(0, &mut out);
        assert!(
            out.effects.len() <= 1,
            "{p}: at most the detector's timer at start: {:?}",
            out.effects
        );
    }
}

/// `state_hash` (what `ticketlab check` merges states by): equal for equal input histories,
/// different once a ticket has been handed to the server.
#[test]
fn every_protocols_state_hash_follows_its_state() {
    use std::hash::Hasher;
    fn hash(p: &dyn ticketlab_protocols::Protocol) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        p.state_hash(&mut h);
        h.finish()
    }
    for &p in ProtocolKind::ALL {
        let cfg = node_cfg(2, 3);
        let (mut a, mut b) = (p.build(&cfg), p.build(&cfg));
        let mut out = Out::new(2, 3);
        a.on_start(0, &mut out);
        b.on_start(0, &mut out);
        assert_eq!(hash(&*a), hash(&*b), "{p}: same inputs, same hash");
        let before = hash(&*a);
        a.on_ticket(1, "t".into(), &mut out);
        assert_ne!(hash(&*a), before, "{p}: a ticket changes the state");
        b.on_ticket(1, "t".into(), &mut out);
        assert_eq!(hash(&*a), hash(&*b), "{p}: same inputs, same hash");
    }
}

/// The zoo's 2pe-minority accepts in Phase 1 on ⌊n/2⌋ replies: at n = 5, its own and one more.
#[test]
fn two_pe_minority_decides_on_floor_n_over_2_replies() {
    use ticketlab_protocols::{Effect, Msg, Outcome};
    let cfg = node_cfg(1, 5);
    let mut s1 = ProtocolKind::TwoPeMinority.build(&cfg);
    let mut out = Out::new(1, 5);
    s1.on_start(0, &mut out);
    s1.on_ticket(1, "t".into(), &mut out);
    let decided = |out: &Out| {
        out.effects.iter().any(|e| {
            matches!(
                e,
                Effect::Decide {
                    outcome: Outcome::Accept,
                    ..
                }
            )
        })
    };
    assert!(!decided(&out), "its own ACK alone is not ⌊5/2⌋ = 2 replies");
    let ack = Msg::Ack {
        owner: 1,
        ticket: "t".into(),
    };
    s1.on_message(2, 2, ack, &mut out);
    assert!(decided(&out), "two replies naming s1: accept in Phase 1");
}

#[test]
fn only_the_quorum_locks_and_fleet_keep_tickets_independent() {
    let independent: Vec<ProtocolKind> = ProtocolKind::ALL
        .iter()
        .copied()
        .filter(|p| p.tickets_independent())
        .collect();
    assert_eq!(
        independent,
        vec![
            ProtocolKind::QlockAmo,
            ProtocolKind::QlockBackoff,
            ProtocolKind::BqlockAmo,
            ProtocolKind::BftFleet
        ]
    );
}
