//! Single-node effect tests of `se-oar` (oar.rs): feed one server inputs, assert its exact
//! effects — the fast path (Fig. 5–6), the sequencer, Fig. 7 with Opt-undelivery and thriftiness,
//! the epoch rules of Task 1b, held consensus messages, phase 2 decisions.

use ticketlab_protocols::oar::Oar;
use ticketlab_protocols::{
    AppMsg, Body, Effect, Msg, MsgId, NodeConfig, Note, Out, Outcome, Protocol, ServerId, Ticket,
};

fn node(me: ServerId, n: u16) -> Oar {
    let mut o = Oar::new(&NodeConfig {
        me,
        n,
        heartbeat: 20_000,
        suspect_after: 100_000,
        seed: 1,
        delta: 10_000,
        byzantine: 0,
    });
    let mut out = Out::new(me, n);
    o.on_start(0, &mut out);
    o
}

fn feed(o: &mut Oar, me: ServerId, n: u16, from: ServerId, msg: Msg) -> Vec<Effect> {
    let mut out = Out::new(me, n);
    o.on_message(1_000, from, msg, &mut out);
    out.effects
}

fn submit(o: &mut Oar, me: ServerId, n: u16, t: &str) -> Vec<Effect> {
    let mut out = Out::new(me, n);
    o.on_ticket(1_000, t.into(), &mut out);
    out.effects
}

fn m(origin: ServerId, seq: u64, t: &str) -> AppMsg {
    AppMsg {
        id: MsgId { origin, seq },
        body: Body::Validate { ticket: t.into() },
    }
}

fn sends(to: &[ServerId], msg: Msg) -> Vec<Effect> {
    to.iter()
        .map(|&to| Effect::Send {
            to,
            msg: msg.clone(),
        })
        .collect()
}

fn send(to: ServerId, msg: Msg) -> Effect {
    Effect::Send { to, msg }
}

fn decide(t: &str, accept: bool) -> Effect {
    Effect::Decide {
        ticket: Ticket::from(t),
        outcome: if accept {
            Outcome::Accept
        } else {
            Outcome::Reject
        },
        phase: None,
        why: None,
    }
}

fn note(note: Note) -> Effect {
    Effect::Note { note, by: 1 }
}

fn order(k: u64, seq: u64, msgs: Vec<AppMsg>) -> Msg {
    Msg::OarOrder { k, seq, msgs }
}

fn vote(k: u64, x: &AppMsg, first: bool, weight: &[ServerId]) -> Msg {
    Msg::OarVote {
        k,
        id: x.id,
        ticket: x.body.ticket().clone(),
        first,
        weight: weight.to_vec(),
    }
}

fn state(k: u64, dlv: Vec<AppMsg>, notdlv: Vec<AppMsg>) -> Msg {
    Msg::OarState { k, dlv, notdlv }
}

/// A server's STATE inside a consensus value.
fn st(p: ServerId, k: u64, dlv: Vec<AppMsg>, notdlv: Vec<AppMsg>) -> AppMsg {
    AppMsg {
        id: MsgId { origin: p, seq: k },
        body: Body::OarState { dlv, notdlv },
    }
}

#[test]
fn fast_path_at_a_non_sequencer_needs_a_majority_weight() {
    // n = 5, s_i = s2, sequencer s1: majority weight 3.
    let mut o = node(2, 5);
    let a = m(2, 0, "a");
    assert_eq!(
        submit(&mut o, 2, 5, "a"),
        sends(&[1, 3, 4, 5], Msg::OarSubmit(a.clone()))
    );
    // ORDER: own vote {1, 2}: weight 2 < 3.
    assert_eq!(feed(&mut o, 2, 5, 1, order(0, 0, vec![a.clone()])), vec![]);
    // The sequencer's vote {1} adds nothing.
    assert_eq!(feed(&mut o, 2, 5, 1, vote(0, &a, true, &[1])), vec![]);
    // s3's {1, 3}: union {1, 2, 3}, a majority.
    assert_eq!(
        feed(&mut o, 2, 5, 3, vote(0, &a, true, &[1, 3])),
        vec![note(Note::FastDelivery), decide("a", true)]
    );
    assert_eq!(feed(&mut o, 2, 5, 4, vote(0, &a, true, &[1, 4])), vec![]);
    // Resubmission: rejected at once, no message.
    assert_eq!(submit(&mut o, 2, 5, "a"), vec![decide("a", false)]);
}

#[test]
fn votes_of_different_epochs_do_not_add_up() {
    let mut o = node(2, 5);
    let a = m(2, 0, "a");
    submit(&mut o, 2, 5, "a");
    assert_eq!(feed(&mut o, 2, 5, 3, vote(0, &a, true, &[1, 3])), vec![]);
    assert_eq!(feed(&mut o, 2, 5, 4, vote(1, &a, true, &[2, 4])), vec![]);
    assert_eq!(
        feed(&mut o, 2, 5, 5, vote(0, &a, true, &[1, 5])),
        vec![note(Note::FastDelivery), decide("a", true)]
    );
}

#[test]
fn the_largest_weight_wins_and_a_conservative_vote_is_final() {
    // A minority opt-vote FIRST, then a Π vote DUP: the Π reply is adopted.
    let mut o = node(2, 5);
    let a = m(2, 0, "a");
    submit(&mut o, 2, 5, "a");
    assert_eq!(feed(&mut o, 2, 5, 3, vote(0, &a, true, &[1, 3])), vec![]);
    assert_eq!(
        feed(&mut o, 2, 5, 4, vote(0, &a, false, &[1, 2, 3, 4, 5])),
        vec![decide("a", false)],
        "no FastDelivery: the conservative path"
    );
}

#[test]
fn n3_decides_when_the_order_arrives() {
    let mut o = node(2, 3);
    let a = m(2, 0, "a");
    submit(&mut o, 2, 3, "a");
    assert_eq!(
        feed(&mut o, 2, 3, 1, order(0, 0, vec![a.clone()])),
        vec![note(Note::FastDelivery), decide("a", true)]
    );
}

#[test]
fn the_sequencer_orders_each_submit_at_once_and_votes_with_weight_s() {
    let mut o = node(1, 3);
    let a2 = m(2, 0, "a");
    let mut want = sends(&[2, 3], order(0, 0, vec![a2.clone()]));
    want.push(send(2, vote(0, &a2, true, &[1])));
    assert_eq!(feed(&mut o, 1, 3, 2, Msg::OarSubmit(a2.clone())), want);
    // The same ticket from s3: ORDER 1, reply DUP.
    let a3 = m(3, 0, "a");
    let mut want = sends(&[2, 3], order(0, 1, vec![a3.clone()]));
    want.push(send(3, vote(0, &a3, false, &[1])));
    assert_eq!(feed(&mut o, 1, 3, 3, Msg::OarSubmit(a3.clone())), want);
    // A late copy of an ordered message is not ordered again.
    assert_eq!(feed(&mut o, 1, 3, 3, Msg::OarSubmit(a2)), vec![]);
}

#[test]
fn a_sequencer_ticket_needs_no_submit() {
    let mut o = node(1, 3);
    let a = m(1, 0, "a");
    assert_eq!(
        submit(&mut o, 1, 3, "a"),
        sends(&[2, 3], order(0, 0, vec![a.clone()]))
    );
    assert_eq!(
        feed(&mut o, 1, 3, 2, vote(0, &a, true, &[1, 2])),
        vec![note(Note::FastDelivery), decide("a", true)]
    );
}

#[test]
fn a_ticket_already_delivered_here_is_rejected_without_messages() {
    let mut o = node(3, 3);
    let a = m(2, 0, "a");
    assert_eq!(
        feed(&mut o, 3, 3, 1, order(0, 0, vec![a.clone()])),
        vec![send(2, vote(0, &a, true, &[1, 3]))]
    );
    assert_eq!(submit(&mut o, 3, 3, "a"), vec![decide("a", false)]);
}

#[test]
fn orders_wait_for_their_epoch_and_their_turn_and_stop_at_phase2() {
    let mut o = node(3, 3);
    let (b, c, d, e) = (m(2, 1, "b"), m(1, 0, "c"), m(2, 2, "d"), m(2, 5, "e"));
    // Epoch 1's sequencer is s2 (already there): held until this server reaches epoch 1.
    assert_eq!(feed(&mut o, 3, 3, 2, order(1, 0, vec![e.clone()])), vec![]);
    // A gap: ORDER 1 waits for ORDER 0.
    assert_eq!(feed(&mut o, 3, 3, 1, order(0, 1, vec![b.clone()])), vec![]);
    assert_eq!(
        feed(&mut o, 3, 3, 1, order(0, 0, vec![c.clone()])),
        vec![
            send(1, vote(0, &c, true, &[1, 3])),
            send(2, vote(0, &b, true, &[1, 3])),
        ]
    );
    // PHASEII(0): relayed; STATE with O_dlv = [c, b], and e (R-delivered from its ORDER) not
    // delivered.
    let mut want = sends(&[1, 2], Msg::OarPhase2 { k: 0 });
    want.extend(sends(
        &[1, 2],
        state(0, vec![c.clone(), b.clone()], vec![e.clone()]),
    ));
    assert_eq!(feed(&mut o, 3, 3, 2, Msg::OarPhase2 { k: 0 }), want);
    assert!(o.in_phase2());
    // ORDER(0) after PHASEII(0): not opt-delivered (no vote).
    assert_eq!(feed(&mut o, 3, 3, 1, order(0, 2, vec![d.clone()])), vec![]);
    // A second PHASEII(0) is not relayed again.
    assert_eq!(feed(&mut o, 3, 3, 1, Msg::OarPhase2 { k: 0 }), vec![]);
    // A majority of STATEs (2 of 3): propose; s1 coordinates round 1, so nothing is sent.
    assert_eq!(
        feed(&mut o, 3, 3, 2, state(0, vec![c.clone()], vec![])),
        vec![]
    );
    // s1's proposal: its own STATE (it had ordered d too) and s2's.
    let v = vec![
        st(1, 0, vec![c.clone(), b.clone(), d.clone()], vec![]),
        st(2, 0, vec![c.clone()], vec![]),
    ];
    assert_eq!(
        feed(
            &mut o,
            3,
            3,
            1,
            Msg::Propose {
                k: 0,
                r: 1,
                value: v.clone()
            }
        ),
        vec![send(1, Msg::CAck { k: 0, r: 1 })]
    );
    // dlv_max = [c, b, d]: New = [d] (Π vote to s2). Epoch 1 (sequencer s2): the held ORDER(1)
    // is opt-delivered now, weight {2, 3}.
    assert_eq!(
        feed(&mut o, 3, 3, 1, Msg::Decide { k: 0, value: v }),
        vec![
            note(Note::ConsensusDecided),
            send(2, vote(0, &d, true, &[1, 2, 3])),
            note(Note::Fallback),
            send(2, vote(1, &e, true, &[2, 3])),
        ]
    );
    assert_eq!((o.epoch(), o.in_phase2(), o.undone()), (1, false, 0));
}

#[test]
fn consensus_messages_wait_for_this_servers_proposal() {
    let mut o = node(2, 3);
    let x = m(3, 0, "x");
    let v = vec![
        st(1, 0, vec![], vec![x.clone()]),
        st(3, 0, vec![], vec![x.clone()]),
    ];
    // Not even in phase 2: the PROPOSE is held, not acked.
    assert_eq!(
        feed(
            &mut o,
            2,
            3,
            1,
            Msg::Propose {
                k: 0,
                r: 1,
                value: v.clone()
            }
        ),
        vec![]
    );
    let mut want = sends(&[1, 3], Msg::OarPhase2 { k: 0 });
    want.extend(sends(&[1, 3], state(0, vec![], vec![])));
    assert_eq!(feed(&mut o, 2, 3, 1, Msg::OarPhase2 { k: 0 }), want);
    // The second STATE makes a majority: propose (nothing: s1 coordinates), then the held
    // PROPOSE is acked.
    assert_eq!(
        feed(&mut o, 2, 3, 3, state(0, vec![], vec![x.clone()])),
        vec![send(1, Msg::CAck { k: 0, r: 1 })]
    );
    // The decision A-delivers x (vote Π to its origin) and rotates the sequencer to s2 = me.
    assert_eq!(
        feed(&mut o, 2, 3, 1, Msg::Decide { k: 0, value: v }),
        vec![
            note(Note::ConsensusDecided),
            send(3, vote(0, &x, true, &[1, 2, 3])),
            note(Note::Fallback),
        ]
    );
    assert_eq!(o.sequencer(o.epoch()), 2);
}

/// Fig. 4: s2 opt-delivered x then y (same ticket), a majority did not; consensus orders y, x.
#[test]
fn fig7_undoes_a_minority_order_last_first_and_redelivers_the_decided_one() {
    let mut o = node(2, 5);
    let (x, y) = (m(3, 0, "t"), m(4, 0, "t"));
    assert_eq!(
        feed(&mut o, 2, 5, 1, order(0, 0, vec![x.clone()])),
        vec![send(3, vote(0, &x, true, &[1, 2]))]
    );
    assert_eq!(
        feed(&mut o, 2, 5, 1, order(0, 1, vec![y.clone()])),
        vec![send(4, vote(0, &y, false, &[1, 2]))]
    );
    let others = [1, 3, 4, 5];
    let mut want = sends(&others, Msg::OarPhase2 { k: 0 });
    want.extend(sends(&others, state(0, vec![x.clone(), y.clone()], vec![])));
    assert_eq!(feed(&mut o, 2, 5, 3, Msg::OarPhase2 { k: 0 }), want);
    let late = vec![y.clone(), x.clone()];
    assert_eq!(
        feed(&mut o, 2, 5, 4, state(0, vec![], late.clone())),
        vec![]
    );
    let v = vec![
        st(3, 0, vec![], late.clone()),
        st(4, 0, vec![], late.clone()),
        st(5, 0, vec![], late.clone()),
    ];
    assert_eq!(
        feed(&mut o, 2, 5, 5, state(0, vec![], late.clone())),
        vec![],
        "proposed; s1 coordinates round 1"
    );
    // Bad = [x, y], New = [y, x]: y is now FIRST, x DUP, both with weight Π.
    let all = [1, 2, 3, 4, 5];
    assert_eq!(
        feed(&mut o, 2, 5, 1, Msg::Decide { k: 0, value: v }),
        vec![
            note(Note::ConsensusDecided),
            send(4, vote(0, &y, true, &all)),
            send(3, vote(0, &x, false, &all)),
            note(Note::Fallback),
        ]
    );
    assert_eq!((o.epoch(), o.undone()), (1, 2));
}

#[test]
fn fig7_keeps_the_common_prefix_of_bad_and_new_and_reorders_the_rest_next_epoch() {
    let mut o = node(2, 5);
    let (x, y, z) = (m(3, 0, "a"), m(4, 0, "b"), m(5, 0, "c"));
    feed(&mut o, 2, 5, 1, order(0, 0, vec![x.clone()]));
    feed(&mut o, 2, 5, 1, order(0, 1, vec![y.clone()]));
    feed(&mut o, 2, 5, 3, Msg::OarPhase2 { k: 0 });
    let nd = vec![x.clone(), z.clone()];
    feed(&mut o, 2, 5, 4, state(0, vec![], nd.clone()));
    feed(&mut o, 2, 5, 5, state(0, vec![], nd.clone()));
    let v = vec![st(4, 0, vec![], nd.clone()), st(5, 0, vec![], nd.clone())];
    // Bad = [x, y], New = [x, z] → Good = [x], Bad = [y], New = [z]. Epoch 1's sequencer is s2:
    // it orders y again at once (ORDER(1, 0, [y]), its own vote {2} to s4).
    let all = [1, 2, 3, 4, 5];
    let mut want = vec![
        note(Note::ConsensusDecided),
        send(5, vote(0, &z, true, &all)),
        note(Note::Fallback),
    ];
    want.extend(sends(&[1, 3, 4, 5], order(1, 0, vec![y.clone()])));
    want.push(send(4, vote(1, &y, true, &[2])));
    assert_eq!(feed(&mut o, 2, 5, 1, Msg::Decide { k: 0, value: v }), want);
    assert_eq!(o.undone(), 1, "only y is undone");
}

#[test]
fn an_own_message_in_good_is_decided_by_phase2() {
    let mut o = node(2, 5);
    let a = m(2, 0, "a");
    submit(&mut o, 2, 5, "a");
    assert_eq!(feed(&mut o, 2, 5, 1, order(0, 0, vec![a.clone()])), vec![]);
    feed(&mut o, 2, 5, 3, Msg::OarPhase2 { k: 0 });
    feed(&mut o, 2, 5, 3, state(0, vec![a.clone()], vec![]));
    feed(&mut o, 2, 5, 4, state(0, vec![], vec![a.clone()]));
    let v = vec![
        st(2, 0, vec![a.clone()], vec![]),
        st(3, 0, vec![a.clone()], vec![]),
        st(4, 0, vec![], vec![a.clone()]),
    ];
    assert_eq!(
        feed(&mut o, 2, 5, 1, Msg::Decide { k: 0, value: v }),
        vec![
            note(Note::ConsensusDecided),
            decide("a", true),
            note(Note::Fallback)
        ]
    );
}

#[test]
fn suspecting_the_sequencer_starts_phase2() {
    let mut o = node(3, 3);
    let mut out = Out::new(3, 3);
    o.on_control(
        1_000,
        ticketlab_protocols::Control::Suspect {
            server: 1,
            until: 50_000,
        },
        &mut out,
    );
    let mut want = vec![Effect::Detector {
        server: 1,
        suspects: true,
    }];
    want.extend(sends(&[1, 2], Msg::OarPhase2 { k: 0 }));
    want.extend(sends(&[1, 2], state(0, vec![], vec![])));
    assert_eq!(out.effects, want);
    // Suspecting another server changes nothing.
    let mut o = node(3, 3);
    let mut out = Out::new(3, 3);
    o.on_control(
        1_000,
        ticketlab_protocols::Control::Suspect {
            server: 2,
            until: 50_000,
        },
        &mut out,
    );
    let change = Effect::Detector {
        server: 2,
        suspects: true,
    };
    assert_eq!(out.effects, vec![change]);
}
