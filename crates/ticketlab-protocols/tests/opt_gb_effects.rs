//! Single-node effect tests of OPT-broadcast (`opt.rs`) and Generic Broadcast (`gb.rs`): feed
//! one process inputs, assert the exact effects and deliveries (fast paths, an inconsistent
//! order stopping a stage, a conflict terminating one).

use ticketlab_protocols::gb::GenericBroadcast;
use ticketlab_protocols::opt::OptBroadcast;
use ticketlab_protocols::{
    AppMsg, AtomicBroadcast, Body, Effect, Msg, MsgId, NodeConfig, Note, Out, ServerId,
};

// ---------------------------------------------------------------------------------------------
// Single-node effect tests

fn cfg(me: ServerId, n: u16) -> NodeConfig {
    NodeConfig {
        me,
        n,
        heartbeat: 20_000,
        suspect_after: 100_000,
        seed: 1,
        delta: 10_000,
        byzantine: 0,
    }
}

fn msg(origin: ServerId, seq: u64, ticket: &str) -> AppMsg {
    AppMsg {
        id: MsgId { origin, seq },
        body: Body::Validate {
            ticket: ticket.into(),
        },
    }
}

fn sends(to: &[ServerId], m: Msg) -> Vec<Effect> {
    to.iter()
        .map(|&to| Effect::Send { to, msg: m.clone() })
        .collect()
}

/// Feed one message; return (effects, delivered).
fn feed<B: AtomicBroadcast>(
    b: &mut B,
    me: ServerId,
    n: u16,
    from: ServerId,
    m: Msg,
) -> (Vec<Effect>, Vec<AppMsg>) {
    let mut out = Out::new(me, n);
    let mut d = Vec::new();
    assert!(b.on_message(10_000, from, m, &mut out, &mut d).is_none());
    (out.effects, d)
}

#[test]
fn opt_single_node_fast_path_at_the_broadcaster() {
    let mut b = OptBroadcast::new(&cfg(2, 3));
    let mut out = Out::new(2, 3);
    let mut d = Vec::new();
    b.start(0, &mut out);
    assert_eq!(
        out.effects,
        vec![Effect::SetTimer {
            timer: ticketlab_protocols::Timer::FdTick,
            after: 20_000
        }]
    );
    out.effects.clear();
    b.broadcast(0, Body::Validate { ticket: "a".into() }, &mut out, &mut d);
    let m = msg(2, 0, "a");
    let mut want = sends(&[1, 3], Msg::OptData { k: 0, m: m.clone() });
    want.extend(sends(
        &[1, 3],
        Msg::OptOrder {
            k: 0,
            pos: 0,
            m: m.clone(),
        },
    ));
    assert_eq!(
        out.effects, want,
        "DATA to the others, then the broadcaster's own ORDER"
    );
    assert!(d.is_empty());
    let order = Msg::OptOrder {
        k: 0,
        pos: 0,
        m: m.clone(),
    };
    assert_eq!(
        feed(&mut b, 2, 3, 1, order.clone()),
        (vec![], vec![]),
        "s3 has not reported"
    );
    assert_eq!(
        feed(&mut b, 2, 3, 3, order),
        (
            vec![Effect::Note {
                note: Note::FastDelivery,
                by: 1
            }],
            vec![m]
        )
    );
    assert_eq!((b.stage(), b.is_stopped()), (0, false));
}

#[test]
fn opt_single_node_fast_path_at_a_receiver() {
    let mut b = OptBroadcast::new(&cfg(1, 3));
    let m = msg(2, 0, "a");
    let (e, d) = feed(&mut b, 1, 3, 2, Msg::OptData { k: 0, m: m.clone() });
    assert_eq!(
        e,
        sends(
            &[2, 3],
            Msg::OptOrder {
                k: 0,
                pos: 0,
                m: m.clone()
            }
        )
    );
    assert!(d.is_empty());
    let order = Msg::OptOrder {
        k: 0,
        pos: 0,
        m: m.clone(),
    };
    assert_eq!(feed(&mut b, 1, 3, 2, order.clone()), (vec![], vec![]));
    assert_eq!(
        feed(&mut b, 1, 3, 3, order),
        (
            vec![Effect::Note {
                note: Note::FastDelivery,
                by: 1
            }],
            vec![m]
        )
    );
}

/// The bug zoo's `opt-majority-fast` delivers on one matching report at n = 3 (a majority with
/// itself), where OPT waits for both others; at n = 5 it waits for two.
#[test]
fn opt_majority_fast_delivers_on_a_majority_of_reports() {
    for (n, reports_needed) in [(3u16, 1usize), (5, 2)] {
        let mut b = OptBroadcast::new(&cfg(1, n)).with_majority_fast();
        let m = msg(2, 0, "a");
        let (_, d) = feed(&mut b, 1, n, 2, Msg::OptData { k: 0, m: m.clone() });
        assert!(d.is_empty());
        let order = Msg::OptOrder {
            k: 0,
            pos: 0,
            m: m.clone(),
        };
        for from in 2..(2 + reports_needed as u16 - 1) {
            assert_eq!(feed(&mut b, 1, n, from, order.clone()).1, vec![], "n = {n}");
        }
        let (_, d) = feed(&mut b, 1, n, 1 + reports_needed as u16, order);
        assert_eq!(d, vec![m], "n = {n}: {reports_needed} report(s) suffice");
    }
}

/// The zoo flag outlives a stage: after stage 0 ends by consensus, stage 1 still fast-delivers
/// on a majority of reports.
#[test]
fn opt_majority_fast_keeps_its_rule_in_later_stages() {
    let mut b = OptBroadcast::new(&cfg(1, 3)).with_majority_fast();
    let (m0, m1) = (msg(2, 0, "a"), msg(2, 1, "b"));
    feed(
        &mut b,
        1,
        3,
        2,
        Msg::OptData {
            k: 0,
            m: m0.clone(),
        },
    );
    let (_, d) = feed(
        &mut b,
        1,
        3,
        2,
        Msg::Decide {
            k: 0,
            value: vec![m0.clone()],
        },
    );
    assert_eq!(d, vec![m0]);
    assert_eq!(b.stage(), 1);
    feed(
        &mut b,
        1,
        3,
        2,
        Msg::OptData {
            k: 1,
            m: m1.clone(),
        },
    );
    let order = Msg::OptOrder {
        k: 1,
        pos: 0,
        m: m1.clone(),
    };
    assert_eq!(feed(&mut b, 1, 3, 3, order).1, vec![m1]);
}

#[test]
fn opt_single_node_inconsistent_order_stops_the_stage() {
    // s3 got a then b; s2 reports b first: s3 stops and tells the round-1 coordinator s1.
    let (a, b_) = (msg(1, 0, "a"), msg(2, 0, "b"));
    let mut b = OptBroadcast::new(&cfg(3, 3));
    let (e, _) = feed(&mut b, 3, 3, 1, Msg::OptData { k: 0, m: a.clone() });
    assert_eq!(
        e,
        sends(
            &[1, 2],
            Msg::OptOrder {
                k: 0,
                pos: 0,
                m: a.clone()
            }
        )
    );
    let (e, d) = feed(
        &mut b,
        3,
        3,
        2,
        Msg::OptOrder {
            k: 0,
            pos: 0,
            m: b_.clone(),
        },
    );
    assert_eq!(
        e,
        vec![Effect::Send {
            to: 1,
            msg: Msg::OptStop { k: 0 }
        }]
    );
    assert!(d.is_empty() && b.is_stopped());
    // The decision delivers the decided order, and stage 1 starts empty.
    let (e, d) = feed(
        &mut b,
        3,
        3,
        1,
        Msg::Decide {
            k: 0,
            value: vec![b_.clone(), a.clone()],
        },
    );
    assert_eq!(
        e,
        vec![
            Effect::Note {
                note: Note::ConsensusDecided,
                by: 1
            },
            Effect::Note {
                note: Note::Fallback,
                by: 1
            }
        ]
    );
    assert_eq!(d, vec![b_, a]);
    assert_eq!((b.stage(), b.is_stopped()), (1, false));

    // At s1, the STOP makes it propose its own seq_0 at once.
    let mut c = OptBroadcast::new(&cfg(1, 3));
    let x = msg(2, 0, "x");
    feed(&mut c, 1, 3, 2, Msg::OptData { k: 0, m: x.clone() });
    let (e, _) = feed(&mut c, 1, 3, 3, Msg::OptStop { k: 0 });
    assert_eq!(
        e,
        sends(
            &[2, 3],
            Msg::Propose {
                k: 0,
                r: 1,
                value: vec![x]
            }
        )
    );
}

#[test]
fn gb_single_node_fast_path() {
    // n = 3: q = 3, the broadcaster needs both others' ACKs.
    let mut b = GenericBroadcast::new(&cfg(2, 3));
    let mut out = Out::new(2, 3);
    let mut d = Vec::new();
    b.broadcast(0, Body::Validate { ticket: "a".into() }, &mut out, &mut d);
    let m = msg(2, 0, "a");
    let mut want = sends(&[1, 3], Msg::GbData(m.clone()));
    want.extend(sends(&[1, 3], Msg::GbAck { k: 0, m: m.clone() }));
    assert_eq!(out.effects, want);
    let ack = Msg::GbAck { k: 0, m: m.clone() };
    assert_eq!(feed(&mut b, 2, 3, 1, ack.clone()), (vec![], vec![]));
    assert_eq!(
        feed(&mut b, 2, 3, 3, ack),
        (
            vec![Effect::Note {
                note: Note::FastDelivery,
                by: 1
            }],
            vec![m]
        )
    );

    // n = 5: q = 4 — a receiver delivers on its own ACK plus three others.
    let mut b = GenericBroadcast::new(&cfg(1, 5));
    let m = msg(2, 0, "a");
    let (e, _) = feed(&mut b, 1, 5, 2, Msg::GbData(m.clone()));
    assert_eq!(e, sends(&[2, 3, 4, 5], Msg::GbAck { k: 0, m: m.clone() }));
    let ack = Msg::GbAck { k: 0, m: m.clone() };
    assert_eq!(feed(&mut b, 1, 5, 2, ack.clone()), (vec![], vec![]));
    assert_eq!(feed(&mut b, 1, 5, 3, ack.clone()), (vec![], vec![]));
    assert_eq!(
        feed(&mut b, 1, 5, 5, ack.clone()),
        (
            vec![Effect::Note {
                note: Note::FastDelivery,
                by: 1
            }],
            vec![m]
        )
    );
    assert_eq!(
        feed(&mut b, 1, 5, 4, ack),
        (vec![], vec![]),
        "delivered once"
    );
}

#[test]
fn gb_single_node_conflict_terminates_the_stage() {
    let (a, a2) = (msg(1, 0, "x"), msg(2, 0, "x"));
    let mut b = GenericBroadcast::new(&cfg(3, 3));
    feed(&mut b, 3, 3, 1, Msg::GbData(a.clone()));
    // A second message about the same ticket: no ACK, CHK(0, pending_0) instead.
    let (e, _) = feed(&mut b, 3, 3, 2, Msg::GbData(a2.clone()));
    assert_eq!(
        e,
        sends(
            &[1, 2],
            Msg::GbChk {
                k: 0,
                pending: vec![a.clone()]
            }
        )
    );
    assert!(b.is_stopped());
    // A proposal before this server has its q = 3 CHKs is held, not acked.
    let value = vec![a.clone(), a2.clone()];
    let (e, _) = feed(
        &mut b,
        3,
        3,
        1,
        Msg::Propose {
            k: 0,
            r: 1,
            value: value.clone(),
        },
    );
    assert_eq!(e, vec![]);
    assert_eq!(
        feed(
            &mut b,
            3,
            3,
            1,
            Msg::GbChk {
                k: 0,
                pending: vec![a.clone()]
            }
        )
        .0,
        vec![]
    );
    // Third CHK: majSet = {a} (in 2 of 3), and the held PROPOSE is acked.
    let (e, _) = feed(
        &mut b,
        3,
        3,
        2,
        Msg::GbChk {
            k: 0,
            pending: vec![a2.clone()],
        },
    );
    assert_eq!(
        e,
        vec![Effect::Send {
            to: 1,
            msg: Msg::CAck { k: 0, r: 1 }
        }]
    );
    let (e, d) = feed(
        &mut b,
        3,
        3,
        1,
        Msg::Decide {
            k: 0,
            value: value.clone(),
        },
    );
    assert_eq!(
        e,
        vec![
            Effect::Note {
                note: Note::ConsensusDecided,
                by: 1
            },
            Effect::Note {
                note: Note::Fallback,
                by: 1
            }
        ]
    );
    assert_eq!(d, value);
    assert_eq!((b.stage(), b.is_stopped()), (1, false));
}

/// What a decided stage leaves undelivered opens the next stage: it is acked there at once.
#[test]
fn gb_a_leftover_of_a_decided_stage_is_acked_in_the_next() {
    let (a, a2, c) = (msg(1, 0, "x"), msg(2, 0, "x"), msg(1, 1, "y"));
    let mut b = GenericBroadcast::new(&cfg(3, 3));
    feed(&mut b, 3, 3, 1, Msg::GbData(a.clone()));
    feed(&mut b, 3, 3, 2, Msg::GbData(a2.clone()));
    assert!(b.is_stopped());
    // c arrives after the stage stopped: not acked in stage 0.
    let (e, _) = feed(&mut b, 3, 3, 1, Msg::GbData(c.clone()));
    assert_eq!(e, vec![]);
    for (from, pending) in [(1, vec![a.clone()]), (2, vec![a2.clone()])] {
        feed(&mut b, 3, 3, from, Msg::GbChk { k: 0, pending });
    }
    // Stage 0 decides a and a2 only.
    let (e, d) = feed(
        &mut b,
        3,
        3,
        1,
        Msg::Decide {
            k: 0,
            value: vec![a.clone(), a2.clone()],
        },
    );
    assert_eq!(d, vec![a, a2]);
    assert_eq!((b.stage(), b.is_stopped()), (1, false));
    let acks = sends(&[1, 2], Msg::GbAck { k: 1, m: c });
    assert!(
        acks.iter().all(|x| e.contains(x)),
        "stage 1 acks the leftover: {e:?}"
    );
}

/// A stopped stage's value reaches consensus lazily; the state hashes as if it had, and
/// different contents hash apart.
#[test]
fn staged_states_hash_as_what_they_stand_for() {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};
    fn hash(b: &GenericBroadcast) -> u64 {
        let mut h = DefaultHasher::new();
        b.hash(&mut h);
        h.finish()
    }
    let (a, a2, c) = (msg(1, 0, "x"), msg(2, 0, "x"), msg(1, 1, "y"));
    let run = |extra: &[Msg]| {
        let mut b = GenericBroadcast::new(&cfg(3, 3));
        feed(&mut b, 3, 3, 1, Msg::GbData(a.clone()));
        feed(&mut b, 3, 3, 2, Msg::GbData(a2.clone()));
        for (from, pending) in [(1, vec![a.clone()]), (2, vec![a2.clone()])] {
            feed(&mut b, 3, 3, from, Msg::GbChk { k: 0, pending });
        }
        for m in extra {
            feed(&mut b, 3, 3, 1, m.clone());
        }
        b
    };
    let before = run(&[]);
    // c arrives while consensus 0 runs (s3 a participant): its copy of the value is stale ...
    let lazy = run(&[Msg::GbData(c.clone())]);
    assert_ne!(hash(&lazy), hash(&before));
    // ... and handed over by an input that changes nothing else (a decision pull).
    let fresh = run(&[Msg::GbData(c), Msg::CNack { k: 0, r: 0 }]);
    assert_eq!(hash(&lazy), hash(&fresh));
}

/// Reports can be ahead of this process's own seq_k: counted when it appends that position —
/// agreeing ones toward the fast path, a different message as a clash that stops the stage.
#[test]
fn opt_reports_ahead_of_the_own_sequence_count_when_it_gets_there() {
    let (a, c) = (msg(2, 0, "a"), msg(3, 0, "c"));
    let order = |pos, m: &AppMsg| Msg::OptOrder {
        k: 0,
        pos,
        m: m.clone(),
    };
    // s2's report of a at position 0 arrives before a itself: s1 appends a there (the report
    // counts) and one more report completes the fast path.
    let mut b = OptBroadcast::new(&cfg(1, 3));
    let (e, d) = feed(&mut b, 1, 3, 2, order(0, &a));
    assert_eq!(e, sends(&[2, 3], order(0, &a)));
    assert!(d.is_empty());
    let (_, d) = feed(&mut b, 1, 3, 3, order(0, &a));
    assert_eq!(d, vec![a.clone()], "s2's early report counted");
    // s2 reports a again at position 1 (a is known: nothing is appended); s1 then appends c
    // there: a clash, the stage stops.
    assert_eq!(feed(&mut b, 1, 3, 2, order(1, &a)), (vec![], vec![]));
    assert!(!b.is_stopped());
    feed(&mut b, 1, 3, 3, Msg::OptData { k: 0, m: c });
    assert!(b.is_stopped(), "s2 said a at position 1, s1 has c");
}
