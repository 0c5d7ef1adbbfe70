//! Single-node effect tests of the staged-broadcast skeleton (`staged.rs`) through its two users,
//! OPT-broadcast and Generic Broadcast: relays on suspicion, stopping before consensus, holding
//! consensus messages until the stage value exists, replaying them and later-stage messages.
//! The fast paths themselves are tested in the root crate's `tests/opt_gb.rs`.

use ticketlab_protocols::gb::GenericBroadcast;
use ticketlab_protocols::opt::OptBroadcast;
use ticketlab_protocols::{
    AppMsg, AtomicBroadcast, Control, Effect, Msg, NodeConfig, Note, Out, ServerId, Time,
};

mod common;
use common::{m, send, sends};

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

const NOW: Time = 10_000;

/// Feed one message at `NOW`; (effects, delivered).
fn feed<B: AtomicBroadcast>(b: &mut B, c: &NodeConfig, from: ServerId, msg: Msg) -> Step {
    feed_at(b, c, NOW, from, msg)
}

fn feed_at<B: AtomicBroadcast>(
    b: &mut B,
    c: &NodeConfig,
    now: Time,
    from: ServerId,
    msg: Msg,
) -> Step {
    let mut out = Out::new(c.me, c.n);
    let mut d = Vec::new();
    assert!(b.on_message(now, from, msg, &mut out, &mut d).is_none());
    (out.effects, d)
}

/// The fault injector makes `b` suspect `p` until `until`.
fn suspect<B: AtomicBroadcast>(b: &mut B, c: &NodeConfig, p: ServerId, until: Time) -> Step {
    let mut out = Out::new(c.me, c.n);
    let mut d = Vec::new();
    b.on_control(NOW, Control::Suspect { server: p, until }, &mut out, &mut d);
    (out.effects, d)
}

type Step = (Vec<Effect>, Vec<AppMsg>);

/// The detector's change when this server starts suspecting `server`.
fn suspected(server: ServerId) -> Effect {
    Effect::Detector {
        server,
        suspects: true,
    }
}

#[test]
fn gb_relays_a_suspected_origins_undelivered_messages_once_and_keeps_its_fast_path() {
    let c = cfg(1, 4);
    let mut b = GenericBroadcast::new(&c);
    let a = m(2, 0, "a");
    let (e, _) = feed(&mut b, &c, 2, Msg::GbData(a.clone()));
    assert_eq!(e, sends(&[2, 3, 4], Msg::GbAck { k: 0, m: a.clone() }));
    let mut want = vec![suspected(2)];
    want.extend(sends(&[2, 3, 4], Msg::GbData(a.clone())));
    assert_eq!(suspect(&mut b, &c, 2, NOW + 1), (want, vec![]));
    assert!(!b.is_stopped(), "GB's fast path survives suspicions");
    // The suspicion ends (a false one) and starts again: a is not relayed twice.
    let (e, _) = feed_at(&mut b, &c, NOW + 2, 2, Msg::Heartbeat);
    assert_eq!(
        e,
        vec![Effect::Detector {
            server: 2,
            suspects: false
        }]
    );
    assert_eq!(
        suspect(&mut b, &c, 2, NOW + 5),
        (vec![suspected(2)], vec![])
    );
}

#[test]
fn opt_stops_on_a_suspicion_only_with_something_undelivered() {
    // Nothing undelivered: a suspicion costs nothing.
    let c = cfg(2, 3);
    let mut b = OptBroadcast::new(&c);
    assert_eq!(
        suspect(&mut b, &c, 3, u64::MAX),
        (vec![suspected(3)], vec![])
    );
    assert!(!b.is_stopped());
    // A message arriving while someone is suspected: no ORDER, stop at once and tell s1.
    let (e, _) = feed(
        &mut b,
        &c,
        1,
        Msg::OptData {
            k: 0,
            m: m(1, 0, "x"),
        },
    );
    assert_eq!(e, vec![send(1, Msg::OptStop { k: 0 })]);
    assert!(b.is_stopped());

    // Something undelivered: relay it (its origin is suspected), stop, tell s1.
    let mut b = OptBroadcast::new(&c);
    let a = m(3, 0, "a");
    let (e, _) = feed(&mut b, &c, 3, Msg::OptData { k: 0, m: a.clone() });
    let order = Msg::OptOrder {
        k: 0,
        pos: 0,
        m: a.clone(),
    };
    assert_eq!(e, sends(&[1, 3], order));
    let mut want = vec![suspected(3)];
    want.extend(sends(&[1, 3], Msg::OptData { k: 0, m: a }));
    want.push(send(1, Msg::OptStop { k: 0 }));
    assert_eq!(suspect(&mut b, &c, 3, u64::MAX), (want, vec![]));
    assert!(b.is_stopped());
}

#[test]
fn opt_a_consensus_message_stops_the_stage_before_consensus_sees_it() {
    let c = cfg(3, 3);
    let mut b = OptBroadcast::new(&c);
    let a = m(1, 0, "a");
    feed(&mut b, &c, 1, Msg::OptData { k: 0, m: a.clone() });
    // s1's PROPOSE: s3 stops (no STOP of its own: it did not decide to), hands consensus its
    // value, then acks.
    let propose = Msg::Propose {
        k: 0,
        r: 1,
        value: vec![a.clone()],
    };
    assert_eq!(
        feed(&mut b, &c, 1, propose),
        (vec![send(1, Msg::CAck { k: 0, r: 1 })], vec![])
    );
    assert!(b.is_stopped());
    let decide = Msg::Decide {
        k: 0,
        value: vec![a.clone()],
    };
    assert_eq!(
        feed(&mut b, &c, 1, decide),
        (
            vec![
                Effect::Note {
                    note: Note::ConsensusDecided,
                    by: 1
                },
                Effect::Note {
                    note: Note::Fallback,
                    by: 1
                }
            ],
            vec![a]
        )
    );
    assert_eq!((b.stage(), b.is_stopped()), (1, false));
}

#[test]
fn opt_a_later_stages_stop_waits_for_that_stage_and_a_decided_stages_stop_gets_decide() {
    let c = cfg(1, 3);
    let mut b = OptBroadcast::new(&c);
    assert_eq!(feed(&mut b, &c, 2, Msg::OptStop { k: 1 }), (vec![], vec![]));
    assert!(!b.is_stopped(), "stage 0 runs on");
    let a = m(2, 0, "a");
    feed(&mut b, &c, 2, Msg::OptData { k: 0, m: a.clone() });
    // s3 stops stage 0: s1 (round-1 coordinator) proposes its seq_0 at once.
    let value = vec![a.clone()];
    let propose = Msg::Propose {
        k: 0,
        r: 1,
        value: value.clone(),
    };
    let (e, _) = feed(&mut b, &c, 3, Msg::OptStop { k: 0 });
    assert_eq!(e, sends(&[2, 3], propose));
    let decide = Msg::Decide { k: 0, value };
    let mut want = sends(&[2, 3], decide.clone());
    want.extend([
        Effect::Note {
            note: Note::ConsensusDecided,
            by: 1,
        },
        Effect::Note {
            note: Note::Fallback,
            by: 1,
        },
    ]);
    assert_eq!(
        feed(&mut b, &c, 2, Msg::CAck { k: 0, r: 1 }),
        (want, vec![a])
    );
    // Stage 1 began and the STOP kept for it applied at once.
    assert_eq!((b.stage(), b.is_stopped()), (1, true));
    // A STOP of decided stage 0 (its sender is behind) is answered with the decision.
    assert_eq!(
        feed(&mut b, &c, 3, Msg::OptStop { k: 0 }),
        (vec![send(3, decide)], vec![])
    );
}

#[test]
fn gb_holds_consensus_messages_until_majset_then_replays_them_as_stale_after_the_decision() {
    let c = cfg(3, 3);
    let mut b = GenericBroadcast::new(&c);
    let (a, a2) = (m(1, 0, "x"), m(2, 0, "x"));
    feed(&mut b, &c, 1, Msg::GbData(a.clone()));
    let (e, _) = feed(&mut b, &c, 2, Msg::GbData(a2.clone()));
    let chk = Msg::GbChk {
        k: 0,
        pending: vec![a.clone()],
    };
    assert_eq!(e, sends(&[1, 2], chk), "a conflict: CHK instead of an ACK");
    // Only 1 of q = 3 CHKs: no value yet, so consensus messages of instance 0 wait.
    let value = vec![a.clone(), a2.clone()];
    let propose = Msg::Propose {
        k: 0,
        r: 1,
        value: value.clone(),
    };
    assert_eq!(feed(&mut b, &c, 1, propose), (vec![], vec![]));
    assert_eq!(
        feed(&mut b, &c, 2, Msg::CNack { k: 0, r: 1 }),
        (vec![], vec![])
    );
    // DECIDE passes. After it the held PROPOSE and C-NACK are stale: their senders, which
    // may be behind, get the decision.
    let decide = Msg::Decide {
        k: 0,
        value: value.clone(),
    };
    let mut want = vec![
        Effect::Note {
            note: Note::ConsensusDecided,
            by: 1,
        },
        Effect::Note {
            note: Note::Fallback,
            by: 1,
        },
    ];
    want.push(send(1, decide.clone()));
    want.push(send(2, decide.clone()));
    assert_eq!(feed(&mut b, &c, 1, decide), (want, value));
    assert_eq!((b.stage(), b.is_stopped()), (1, false));
}

#[test]
fn gb_held_messages_are_replayed_in_arrival_order_once_majset_is_known() {
    let c = cfg(3, 3);
    let mut b = GenericBroadcast::new(&c);
    let (a, a2) = (m(1, 0, "x"), m(2, 0, "x"));
    feed(&mut b, &c, 1, Msg::GbData(a.clone()));
    feed(&mut b, &c, 2, Msg::GbData(a2.clone()));
    // Round 2 is announced by s2 (C-NACK of round 1), then s1 proposes in round 1, late.
    assert_eq!(
        feed(&mut b, &c, 2, Msg::CNack { k: 0, r: 1 }),
        (vec![], vec![])
    );
    let propose = Msg::Propose {
        k: 0,
        r: 1,
        value: vec![a.clone()],
    };
    assert_eq!(feed(&mut b, &c, 1, propose), (vec![], vec![]));
    let chk = |p: Vec<AppMsg>| Msg::GbChk { k: 0, pending: p };
    assert_eq!(feed(&mut b, &c, 1, chk(vec![a.clone()])).0, vec![]);
    // q = 3 CHKs: majSet = {a}; value [a, a2]. Replayed in order: the C-NACK moves s3 to round 2
    // (estimate to s2), then the round-1 PROPOSE is refused.
    let (e, _) = feed(&mut b, &c, 2, chk(vec![a2.clone()]));
    assert_eq!(
        e,
        vec![
            Effect::Note {
                note: Note::ConsensusExtraRound,
                by: 1
            },
            send(
                2,
                Msg::Estimate {
                    k: 0,
                    r: 2,
                    value: vec![a, a2],
                    ts: 0
                }
            ),
            send(1, Msg::CNack { k: 0, r: 1 }),
        ]
    );
}
