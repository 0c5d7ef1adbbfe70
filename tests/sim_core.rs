//! Simulator-driven tests of the core: Table 1 exactly, the paper's figures, faults, determinism.

mod common;
use common::*;
use ticketlab::history::Event;
use ticketlab::protocol::Outcome;

#[test]
fn table1_exact_for_2pe_and_se_ct() {
    for n in [3u16, 5, 7, 9] {
        let servers = format!("cluster.servers={n}");
        let s = table1(&[&servers]);
        let n64 = f64::from(n);
        let (r, _) = run(&s, p("2pe"));
        assert_eq!(r.latency_delta.max, Some(2.0), "2pe n={n}");
        assert_eq!(r.latency_delta.p50, Some(2.0), "2pe n={n}");
        assert_eq!(r.messages_per_ticket, 2.0 * (n64 - 1.0), "2pe n={n}");
        assert_eq!((r.accepted, r.rejected, r.undecided), (100, 0, 0));
        assert_eq!(r.accepted_phase1, 100);
        assert!(r.violations.is_empty());

        let (r, _) = run(&s, p("se-ct"));
        assert_eq!(r.latency_delta.max, Some(4.0), "se-ct n={n}");
        assert_eq!(r.messages_per_ticket, 4.0 * (n64 - 1.0), "se-ct n={n}");
        assert_eq!((r.accepted, r.rejected, r.undecided), (100, 0, 0));
        assert!(r.violations.is_empty());
    }
}

#[test]
fn se_ct_latency_is_4_delta_at_non_coordinators_and_2_at_the_coordinator() {
    let s = table1(&["workload.submit_to=[2, 3, 4, 5]"]);
    let (r, _) = run(&s, p("se-ct"));
    assert_eq!(
        (r.latency_delta.p50, r.latency_delta.max),
        (Some(4.0), Some(4.0))
    );
    let s = table1(&["workload.submit_to=[1]"]);
    let (r, _) = run(&s, p("se-ct"));
    assert_eq!(
        (r.latency_delta.p50, r.latency_delta.max),
        (Some(2.0), Some(2.0))
    );
    assert_eq!(r.messages_per_ticket, 16.0);
}

#[test]
fn history_send_events_recount_to_the_summary() {
    let s = table1(&["workload.duplicates=0.3", "cluster.jitter_ms=4.0"]);
    for proto in ["2pe", "se-ct"] {
        let (r, out) = run(&s, p(proto));
        let sends = out
            .history
            .iter()
            .filter(|e| matches!(e, Event::Send { .. }))
            .count();
        let tickets: std::collections::BTreeSet<_> = out
            .history
            .iter()
            .filter_map(|e| match e {
                Event::Submit { ticket, .. } => Some(ticket.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(r.messages, sends as u64);
        assert_eq!(r.tickets, tickets.len() as u64);
        assert_eq!(r.messages_per_ticket, sends as f64 / tickets.len() as f64);
        let typed: u64 = r.messages_by_type.values().sum();
        assert_eq!(typed, sends as u64);
        assert!(!r.messages_by_type.contains_key("HEARTBEAT"));
        assert!(r.heartbeats > 0);
    }
}

#[test]
fn figure5_s1_accepts_in_phase1_and_s5_rejects_in_phase2() {
    let s = load(include_str!("../scenarios/figure5.toml"), &[]);
    let (r, out) = run(&s, p("2pe"));
    assert_eq!(
        decisions(&out.history, "tau"),
        vec![(1, Outcome::Accept, Some(1)), (5, Outcome::Reject, Some(2))]
    );
    assert!(r.violations.is_empty());
    // s1 decides after 2δ; s5 goes through a CT-broadcast Phase 2: 2δ + 4δ.
    let times: Vec<u64> = out
        .history
        .iter()
        .filter_map(|e| match e {
            Event::Decide { t_us, .. } => Some(*t_us),
            _ => None,
        })
        .collect();
    assert_eq!(times, vec![20_000, 25_000 + 60_000]);
}

#[test]
fn figure6_both_go_to_phase2_and_exactly_one_accepts() {
    let s = load(include_str!("../scenarios/figure6.toml"), &[]);
    let (r, out) = run(&s, p("2pe"));
    let d = decisions(&out.history, "tau");
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(
        d.iter().all(|x| x.2 == Some(2)),
        "both decide in Phase 2: {d:?}"
    );
    let accepts: Vec<_> = d.iter().filter(|x| x.1 == Outcome::Accept).collect();
    assert_eq!(accepts.len(), 1, "{d:?}");
    assert_eq!(
        accepts[0].0, 5,
        "as in the paper, s5 accepts and s2 rejects: {d:?}"
    );
    assert!(r.violations.is_empty());
}

#[test]
fn resubmission_to_the_same_server_is_rejected_at_once() {
    let text = r#"
        name = "resubmit"
        [cluster]
        servers = 3
        protocols = ["2pe", "se-ct"]
        [[ticket]]
        id = "x"
        submit = [{ server = 2, at_ms = 0 }, { server = 2, at_ms = 100 }]
    "#;
    let s = load(text, &[]);
    for proto in ["2pe", "se-ct"] {
        let (r, out) = run(&s, p(proto));
        let d = decisions(&out.history, "x");
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].1, Outcome::Accept);
        assert_eq!(d[1].1, Outcome::Reject);
        assert!(r.violations.is_empty());
        assert_eq!(
            r.latency_delta.max,
            Some(if proto == "2pe" { 2.0 } else { 4.0 })
        );
    }
}

#[test]
fn simultaneous_duplicates_give_exactly_one_accept() {
    for proto in ["2pe", "se-ct"] {
        for servers in [[1, 2], [2, 3], [5, 1], [4, 5]] {
            let text = format!(
                r#"
                name = "dup"
                [cluster]
                servers = 5
                protocols = ["{proto}"]
                [[ticket]]
                id = "x"
                submit = [{{ server = {}, at_ms = 0 }}, {{ server = {}, at_ms = 0 }}]
            "#,
                servers[0], servers[1]
            );
            let s = load(&text, &[]);
            let (r, out) = run(&s, p(proto));
            let d = decisions(&out.history, "x");
            assert_eq!(d.len(), 2, "{proto} {servers:?}: {d:?}");
            assert_eq!(
                d.iter().filter(|x| x.1 == Outcome::Accept).count(),
                1,
                "{proto} {servers:?}: {d:?}"
            );
            assert!(r.violations.is_empty() && r.undecided == 0);
        }
    }
}

#[test]
fn a_crashed_coordinator_does_not_block_either_protocol() {
    // s1 is the round-1 coordinator of every consensus instance; with f = 2 of n = 5 crashed at
    // the start, tickets sent to live servers must all be decided.
    let s = table1(&["workload.tickets=20", "workload.duplicates=0.3"]);
    let mut s = s;
    s.faults.push(ticketlab::scenario::Fault {
        at: 0,
        after: None,
        action: ticketlab::scenario::FaultAction::Crash(vec![1, 2]),
    });
    for proto in ["2pe", "se-ct"] {
        let (r, _) = run(&s, p(proto));
        assert!(r.violations.is_empty(), "{proto}: {:?}", r.violations);
        assert_eq!(r.undecided, 0, "{proto}: {:?}", r.pending);
        assert_eq!(r.accepted, 20, "{proto}");
    }
}

#[test]
fn a_majority_crashed_blocks_but_stays_safe() {
    let mut s = table1(&["workload.tickets=5", "workload.deadline_ms=2000"]);
    s.faults.push(ticketlab::scenario::Fault {
        at: 0,
        after: None,
        action: ticketlab::scenario::FaultAction::Crash(vec![1, 2, 3]),
    });
    for proto in ["2pe", "se-ct"] {
        let (r, _) = run(&s, p(proto));
        assert!(r.violations.is_empty());
        assert_eq!(
            r.accepted, 0,
            "{proto}: nothing can be decided without a majority"
        );
        assert_eq!(r.undecided, 5, "{proto}");
    }
}

#[test]
fn many_seeds_with_duplicates_jitter_false_suspicions_and_crashes_keep_e1() {
    let mut runs = 0;
    for seed in 0..150u64 {
        for n in [3u16, 4, 5, 7] {
            let f = (n - 1) / 2;
            let text = format!(
                r#"
                name = "stress"
                [cluster]
                servers = {n}
                protocols = ["2pe", "se-ct"]
                delta_ms = 10.0
                jitter_ms = 15.0
                heartbeat_ms = 20.0
                suspect_after_ms = {}
                [workload]
                tickets = 25
                concurrency = 3
                submit_to = "random"
                duplicates = 0.5
                duplicate_gap_ms = {}
                deadline_ms = 3000.0
            "#,
                if seed % 2 == 0 { 46.0 } else { 200.0 },
                (seed % 4) * 5
            );
            let mut s = load(&text, &[]);
            if seed % 3 != 2 {
                let crashed: Vec<u16> = (0..f).map(|i| ((seed as u16 + i * 2) % n) + 1).collect();
                s.faults.push(ticketlab::scenario::Fault {
                    at: (seed % 9) * 15_000,
                    after: None,
                    action: ticketlab::scenario::FaultAction::Crash(crashed),
                });
            }
            for proto in ["2pe", "se-ct"] {
                let (r, out) = run_seed(&s, p(proto), seed);
                runs += 1;
                assert!(
                    r.violations.is_empty(),
                    "seed {seed} n {n} {proto}: {:?}",
                    r.violations
                );
                // A pending ticket must have a crashed server in σ(τ) (2PE may then wait forever
                // for its Phase-2 message, as E-2 allows); otherwise E-2 is in danger.
                let checked = ticketlab::checker::check(&out.history);
                for t in &checked.pending {
                    let sigma = &checked.tickets[t].sigma;
                    assert!(
                        sigma.keys().any(|s| checked.crashed.contains_key(s)),
                        "seed {seed} n {n} {proto}: {t} undecided with σ = {:?} all alive",
                        sigma.keys().collect::<Vec<_>>()
                    );
                }
            }
        }
    }
    assert_eq!(runs, 150 * 4 * 2);
}

#[test]
fn same_seed_gives_an_identical_history_and_another_seed_does_not() {
    let s = table1(&[
        "workload.duplicates=0.4",
        "cluster.jitter_ms=7.5",
        "workload.concurrency=4",
        "workload.submit_to=random",
    ]);
    for proto in ["2pe", "se-ct"] {
        let a = ticketlab::sim::run(&s, p(proto), 7);
        let b = ticketlab::sim::run(&s, p(proto), 7);
        let c = ticketlab::sim::run(&s, p(proto), 8);
        let j = |h: &[Event]| serde_json::to_string(h).unwrap();
        assert_eq!(j(&a.history), j(&b.history));
        assert_ne!(j(&a.history), j(&c.history));
    }
}
