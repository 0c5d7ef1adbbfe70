//! Fault injection in the simulator: the fault vocabulary, the paper's Figures 1–2, measured
//! resilience, and the fault campaign (`explore`).

mod common;
use common::*;
use std::path::Path;
use ticketlab::history::Event;
use ticketlab::nemesis::{Nemesis, Schedules};
use ticketlab::protocol::{Note, Outcome, ProtocolKind};

fn scenario_file(name: &str) -> ticketlab::scenario::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    load(&std::fs::read_to_string(path).unwrap(), &[])
}

#[test]
fn figures_1_and_2_look_the_same_to_s2_and_s3() {
    for proto in ["2pe", "se-ct"] {
        let (r1, h1) = run(&scenario_file("figure1.toml"), p(proto));
        let (r2, h2) = run(&scenario_file("figure2.toml"), p(proto));
        let d1 = decisions(&h1.history, "tau");
        let d2 = decisions(&h2.history, "tau");
        // Figure 1: s1 crashed before accepting; nobody accepts (E-2 allows it, E-2′ would not).
        assert!(
            d1.iter().all(|d| d.1 == Outcome::Reject && d.0 != 1),
            "{proto}: {d1:?}"
        );
        assert_eq!(d1.len(), 2, "{proto}: {d1:?}");
        // Figure 2: s1 accepted, then crashed; s2 and s3 decide exactly as in Figure 1.
        assert_eq!(d2[0].0, 1, "{proto}: {d2:?}");
        assert_eq!(d2[0].1, Outcome::Accept, "{proto}: {d2:?}");
        assert_eq!(
            &d2[1..],
            &d1[..],
            "{proto}: s2 and s3 cannot tell the runs apart"
        );
        assert!(r1.violations.is_empty() && r2.violations.is_empty());
        // s1's crash came right after its accept, at the same instant.
        let accept_t = h2.history.iter().find_map(|e| match e {
            Event::Decide {
                t_us, server: 1, ..
            } => Some(*t_us),
            _ => None,
        });
        let crash_t = h2.history.iter().find_map(|e| match e {
            Event::Crash { t_us, server: 1 } => Some(*t_us),
            _ => None,
        });
        assert_eq!(accept_t, crash_t);
    }
}

#[test]
fn a_crash_right_after_a_send_takes_the_rest_of_the_broadcast_with_it() {
    let text = r#"
        name = "mid-broadcast"
        [cluster]
        servers = 5
        protocols = ["2pe"]
        [[ticket]]
        id = "x"
        submit = [{ server = 3, at_ms = 0 }]
        [[fault]]
        after = { server = 3, event = "send", msg = "NEWTKT", count = 2 }
        crash = [3]
    "#;
    let (r, out) = run(&load(text, &[]), p("2pe"));
    let newtkt = out
        .history
        .iter()
        .filter(|e| matches!(e, Event::Send { msg, .. } if msg == "NEWTKT"))
        .count();
    assert_eq!(newtkt, 2, "s3 crashed right after its second NEWTKT");
    assert!(r.violations.is_empty());
    assert_eq!(r.crashed, vec![3]);
}

#[test]
fn a_partition_that_heals_keeps_e1_and_decides_everything() {
    let s = scenario_file("partition.toml");
    for proto in ["2pe", "se-ct"] {
        let (r, out) = run(&s, p(proto));
        assert!(r.violations.is_empty(), "{proto}: {:?}", r.violations);
        assert_eq!(r.undecided, 0, "{proto}: {:?}", r.pending);
        // Something was held across the cut: some decision waited for the heal at 700 ms.
        let late = out.history.iter().any(
            |e| matches!(e, Event::Decide { t_us, server, .. } if *t_us >= 700_000 && *server <= 2),
        );
        assert!(late, "{proto}: minority-side tickets wait for the heal");
    }
}

#[test]
fn a_paused_server_is_suspected_and_catches_up_after_resume() {
    let text = r#"
        name = "pause"
        [cluster]
        servers = 5
        protocols = ["2pe", "se-ct"]
        [workload]
        tickets = 30
        concurrency = 2
        submit_to = "round-robin"
        [[fault]]
        at_ms = 50
        pause = [1]
        [[fault]]
        at_ms = 450
        resume = [1]
    "#;
    let s = load(text, &[]);
    for proto in ["2pe", "se-ct"] {
        let (r, out) = run(&s, p(proto));
        assert!(r.violations.is_empty());
        assert_eq!(r.undecided, 0, "{proto}");
        assert!(
            out.notes.get(&Note::Suspected).copied().unwrap_or(0) > 0,
            "{proto}"
        );
        // s1 decided nothing while paused.
        assert!(!out.history.iter().any(|e| matches!(
            e,
            Event::Decide { t_us, server: 1, .. } if (50_000..450_000).contains(t_us)
        )));
    }
}

#[test]
fn a_false_suspicion_costs_rounds_but_not_safety() {
    let text = r#"
        name = "suspect"
        [cluster]
        servers = 5
        protocols = ["se-ct"]
        [workload]
        tickets = 20
        submit_to = [2, 3]
        [[fault]]
        at_ms = 30
        suspect = { by = 2, server = 1, for_ms = 100 }
        [[fault]]
        at_ms = 30
        suspect = { by = 3, server = 1, for_ms = 100 }
        [[fault]]
        at_ms = 30
        suspect = { by = 4, server = 1, for_ms = 100 }
    "#;
    let (r, out) = run(&load(text, &[]), p("se-ct"));
    assert!(r.violations.is_empty() && r.undecided == 0);
    assert!(
        out.notes
            .get(&Note::ConsensusExtraRound)
            .copied()
            .unwrap_or(0)
            > 0
    );
    assert!(r.messages_per_ticket > 16.0, "extra rounds cost messages");
}

#[test]
fn loss_is_retransmitted_so_counts_stay_exact_and_latency_grows() {
    let text = r#"
        name = "loss"
        [cluster]
        servers = 5
        protocols = ["2pe"]
        suspect_after_ms = 400
        [workload]
        tickets = 50
        submit_to = "round-robin"
        [[fault]]
        at_ms = 0
        loss = { rate = 0.3 }
    "#;
    let (r, out) = run(&load(text, &[]), p("2pe"));
    assert!(out.retransmissions > 0);
    assert_eq!(r.retransmissions, out.retransmissions);
    assert_eq!(
        r.messages_per_ticket, 8.0,
        "retransmissions are not protocol messages"
    );
    assert!(r.latency_delta.max.unwrap() > 2.0);
    assert!(r.violations.is_empty() && r.undecided == 0);
}

#[test]
fn a_block_is_one_way_and_heals() {
    let text = r#"
        name = "block"
        [cluster]
        servers = 3
        protocols = ["2pe"]
        [[ticket]]
        id = "x"
        submit = [{ server = 1, at_ms = 0 }]
        [[fault]]
        at_ms = 0
        block = { from = 1, to = [2, 3] }
        [[fault]]
        at_ms = 200
        heal = true
    "#;
    let (_, out) = run(&load(text, &[]), p("2pe"));
    // s1's NEWTKTs wait for the heal: decided after 200 ms + 2δ.
    assert_eq!(
        decisions(&out.history, "x"),
        vec![(1, Outcome::Accept, Some(1))]
    );
    let t = out.history.iter().find_map(|e| match e {
        Event::Decide { t_us, .. } => Some(*t_us),
        _ => None,
    });
    assert_eq!(t, Some(220_000));
}

#[test]
fn resilience_is_measured_as_the_paper_claims_for_n_3_5_7() {
    for n in [3u16, 5, 7] {
        let s = load(
            include_str!("../scenarios/resilience.toml"),
            &[&format!("cluster.servers={n}"), "workload.tickets=8"],
        );
        for &proto in ProtocolKind::TABLE1 {
            let res = s.resilience.clone().unwrap();
            let swept = ticketlab::resilience::sweep(
                &ticketlab::sim::Simulator,
                &s,
                proto,
                1,
                &res,
                |_, _| Ok(()),
            )
            .unwrap();
            assert!(swept.stop.is_none());
            let m = swept.measured.expect("a complete sweep measures");
            // The paper: 2PE, CT (and OPT through its fallback) f < n/2; GB f < n/3.
            let claim = if proto == ProtocolKind::SeGb {
                n.div_ceil(3) - 1
            } else {
                (n - 1) / 2
            };
            assert_eq!(m.measured, Some(claim), "{proto} n={n}: {:?}", m.sweep);
            assert_eq!(m.blocks_at, Some(claim + 1), "{proto} n={n}");
            assert!(m.sweep.iter().all(|p| p.violations == 0));
            // OPT's fast path needs all n: only at f = 0. GB keeps it up to its resilience.
            match proto {
                ProtocolKind::SeOpt => assert_eq!(m.fast_path_max_f, Some(0)),
                ProtocolKind::SeGb => assert_eq!(m.fast_path_max_f, Some(claim)),
                _ => assert_eq!(m.fast_path_max_f, None),
            }
        }
    }
}

#[test]
fn explore_finds_nothing_wrong_with_the_table1_protocols() {
    let dir = tempfile::tempdir().unwrap();
    let report = ticketlab::explore::campaign(
        ProtocolKind::TABLE1,
        0..150,
        &[3, 4, 5, 7],
        dir.path(),
        false,
        Schedules::One(Nemesis::Random),
        &ticketlab::sim::Simulator,
    )
    .unwrap();
    assert_eq!(report.runs, 150 * ProtocolKind::TABLE1.len() as u64);
    assert_eq!(report.violations, 0, "{:?}", report.failures);
    let crashes: u64 = report
        .protocols
        .iter()
        .map(|p| p.crashes + p.crashes_on_event)
        .sum();
    let partitions: u64 = report.protocols.iter().map(|p| p.partitions).sum();
    assert!(
        crashes > 50 && partitions > 20,
        "the campaign injects faults"
    );
}

#[test]
fn explore_catches_a_broken_protocol_with_a_replayable_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let report = ticketlab::explore::campaign(
        &[ProtocolKind::TwoPeMinority],
        0..60,
        &[3, 5],
        dir.path(),
        false,
        Schedules::One(Nemesis::Random),
        &ticketlab::sim::Simulator,
    )
    .unwrap();
    assert!(
        report.violations > 0,
        "accepting on a minority must be caught"
    );
    let t = &report.protocols[0];
    assert!(t.e1 > 0);
    // The written scenario reproduces the violation through the real command.
    let file = &report.failures[0];
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ticketlab"))
        .args([
            "run", file, "--sim", "--strict", "--format", "json", "--out",
        ])
        .arg(dir.path().join("replay"))
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!v["runs"][0]["violations"].as_array().unwrap().is_empty());
}

#[test]
fn targeted_schedules_find_nothing_wrong_with_the_table1_protocols() {
    let dir = tempfile::tempdir().unwrap();
    let report = ticketlab::explore::campaign(
        ProtocolKind::TABLE1,
        0..100,
        &[3, 4, 5],
        dir.path(),
        false,
        Schedules::Targeted,
        &ticketlab::sim::Simulator,
    )
    .unwrap();
    assert_eq!(report.violations, 0, "{:?}", report.failures);
}

#[test]
fn targeted_schedules_catch_the_bug_zoo_with_replayable_scenarios() {
    // Random faults found ct-early-propose in 4 of 3,000 seeds and 2pe-own-phase2 in none (it
    // needs three servers racing for one ticket); the targeted schedules find both. Random
    // faults find opt-majority-fast in 38 of the first 300 seeds (first at seed 24), the
    // targeted ones in three of the first four.
    let dir = tempfile::tempdir().unwrap();
    for (protocol, seeds, by) in [
        (ProtocolKind::CtEarlyPropose, 181..182, Nemesis::SlowAcks),
        (ProtocolKind::TwoPeOwnPhase2, 0..20, Nemesis::SlowAcks),
        (ProtocolKind::OptMajorityFast, 0..4, Nemesis::SlowAcks),
    ] {
        let out = dir.path().join(protocol.name());
        let report = ticketlab::explore::campaign(
            &[protocol],
            seeds,
            &[3, 4, 5, 7],
            &out,
            false,
            Schedules::Targeted,
            &ticketlab::sim::Simulator,
        )
        .unwrap();
        let t = &report.protocols[0];
        assert!(t.e1 + t.e2 > 0, "{protocol}: {:?}", report.failures);
        assert!(t.found_by.contains_key(&by), "{protocol}: {:?}", t.found_by);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_ticketlab"))
            .args(["run", &report.failures[0], "--sim", "--strict", "--out"])
            .arg(out.join("replay"))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{protocol}: the replay fails too");
    }
}

#[test]
fn the_stale_ack_schedule_catches_ct_stale_ack_at_n5_and_spares_the_correct_protocols() {
    // docs/PROTOCOLS.md §11: the round path (an older round's C-ACK of the same instance) is
    // harmless below n = 5, and neither random faults nor the other schedules ever found it.
    // `--nemesis targeted` runs stale-ack on seeds 4, 9, 14, …; measured (`explore --protocols
    // ct-stale-ack --servers 5 --nemesis targeted --seeds 1000`): 111 of the 200 stale-ack runs
    // fail, the first at seed 9.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("zoo");
    let report = ticketlab::explore::campaign(
        &[ProtocolKind::CtStaleAck],
        0..10,
        &[5],
        &out,
        false,
        Schedules::Targeted,
        &ticketlab::sim::Simulator,
    )
    .unwrap();
    let t = &report.protocols[0];
    assert!(t.e1 > 0, "{:?}", report.failures);
    assert!(
        t.found_by.contains_key(&Nemesis::StaleAck),
        "{:?}",
        t.found_by
    );
    // The shrinker keeps the violation; the shrunk scenario fails on replay through the command.
    let shrunk = report.shrunk[0].as_ref().expect("the failure was shrunk");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ticketlab"))
        .args(["run", shrunk, "--sim", "--strict", "--out"])
        .arg(out.join("replay"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "the shrunk replay fails too");
    // The same schedules against the correct protocols: nothing.
    let report = ticketlab::explore::campaign(
        &[ProtocolKind::SeCt, ProtocolKind::TwoPe],
        0..10,
        &[5],
        &dir.path().join("good"),
        false,
        Schedules::Targeted,
        &ticketlab::sim::Simulator,
    )
    .unwrap();
    assert_eq!(report.violations, 0, "{:?}", report.failures);
}
