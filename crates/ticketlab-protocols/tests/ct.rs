//! Single-node effect tests of CT-broadcast (`ct.rs`) and the failure detector it runs
//! (`fd.rs`): diffusion, duplicates, delivery of a decision exactly once, relays of a suspected
//! sender's messages, heartbeats and timeouts.

use ticketlab_protocols::ct::CtBroadcast;
use ticketlab_protocols::{
    AppMsg, AtomicBroadcast, Body, Control, Effect, Msg, NodeConfig, Note, Out, ServerId, Timer,
};

mod common;
use common::{m, send, sends};

const PERIOD: u64 = 1_000;
const TIMEOUT: u64 = 10_000;

fn ct(me: ServerId) -> CtBroadcast {
    CtBroadcast::new(&NodeConfig {
        me,
        n: 3,
        heartbeat: PERIOD,
        suspect_after: TIMEOUT,
        seed: 1,
        delta: 1_000,
        byzantine: 0,
    })
}

type Step = (Vec<Effect>, Vec<AppMsg>);

fn msg(b: &mut CtBroadcast, me: ServerId, now: u64, from: ServerId, msg: Msg) -> Step {
    let mut out = Out::new(me, 3);
    let mut d = Vec::new();
    assert_eq!(b.on_message(now, from, msg, &mut out, &mut d), None);
    (out.effects, d)
}

fn propose(value: &[AppMsg]) -> Msg {
    Msg::Propose {
        k: 0,
        r: 1,
        value: value.to_vec(),
    }
}

fn decide(value: &[AppMsg]) -> Msg {
    Msg::Decide {
        k: 0,
        value: value.to_vec(),
    }
}

#[test]
fn start_arms_the_detector_and_a_tick_sends_heartbeats_and_rearms() {
    let mut b = ct(1);
    let mut out = Out::new(1, 3);
    b.start(0, &mut out);
    assert_eq!(
        out.effects,
        vec![Effect::SetTimer {
            timer: Timer::FdTick,
            after: PERIOD
        }]
    );
    let mut out = Out::new(1, 3);
    let mut d = Vec::new();
    b.on_timer(PERIOD, Timer::FdTick, &mut out, &mut d);
    let mut want = sends(&[2, 3], Msg::Heartbeat);
    want.push(Effect::SetTimer {
        timer: Timer::FdTick,
        after: PERIOD,
    });
    assert_eq!(out.effects, want, "nobody silent long enough yet");
}

#[test]
fn a_peer_silent_past_the_timeout_is_suspected_not_before() {
    let mut b = ct(1);
    let mut out = Out::new(1, 3);
    let mut d = Vec::new();
    b.on_timer(TIMEOUT, Timer::FdTick, &mut out, &mut d);
    assert!(!b.suspects(2), "silent exactly the timeout: not yet");
    let mut out = Out::new(1, 3);
    b.on_timer(TIMEOUT + 1, Timer::FdTick, &mut out, &mut d);
    assert!(b.suspects(2) && b.suspects(3));
    for server in [2, 3] {
        let change = Effect::Detector {
            server,
            suspects: true,
        };
        assert!(out.effects.contains(&change), "{:?}", out.effects);
    }
}

#[test]
fn a_forced_suspicion_holds_until_its_end_then_a_message_lifts_it() {
    let mut b = ct(1);
    let mut out = Out::new(1, 3);
    let mut d = Vec::new();
    b.on_control(
        0,
        Control::Suspect {
            server: 2,
            until: 5_000,
        },
        &mut out,
        &mut d,
    );
    assert!(b.suspects(2));
    let _ = msg(&mut b, 1, 4_999, 2, Msg::Heartbeat);
    assert!(b.suspects(2), "forced until 5 ms");
    let _ = msg(&mut b, 1, 5_000, 2, Msg::Heartbeat);
    assert!(
        !b.suspects(2),
        "heard from at the end of the forced suspicion"
    );
    // A tick at that very instant does not force it again.
    let mut out = Out::new(1, 3);
    b.on_timer(5_000, Timer::FdTick, &mut out, &mut d);
    assert!(!b.suspects(2));
}

#[test]
fn the_coordinator_proposes_what_it_received_once_and_delivers_the_decision_once() {
    let a = [m(2, 0, "a")];
    let mut s1 = ct(1);
    // s2's message reaches s1, the round-1 coordinator: it proposes it.
    let (e, d) = msg(&mut s1, 1, 10, 2, Msg::AbData(a[0].clone()));
    assert_eq!(e, sends(&[2, 3], propose(&a)));
    assert!(d.is_empty());
    // The same message again (a relay) changes nothing.
    assert_eq!(
        msg(&mut s1, 1, 11, 3, Msg::AbData(a[0].clone())),
        (vec![], vec![])
    );
    // A majority of acks: decided and delivered.
    let (e, d) = msg(&mut s1, 1, 20, 2, Msg::CAck { k: 0, r: 1 });
    let mut want = sends(&[2, 3], decide(&a));
    want.push(Effect::Note {
        note: Note::ConsensusDecided,
        by: 1,
    });
    assert_eq!(e, want, "nothing left to order: no next instance");
    assert_eq!(d, a.to_vec());
    // Delivered: a late copy is not received again, nor proposed in the next instance.
    assert_eq!(
        msg(&mut s1, 1, 30, 3, Msg::AbData(a[0].clone())),
        (vec![], vec![])
    );
}

#[test]
fn a_participant_delivers_a_decided_value_once_even_if_it_hears_it_twice() {
    let a = [m(1, 0, "a")];
    let mut s2 = ct(2);
    let (_, d) = msg(&mut s2, 2, 10, 1, Msg::AbData(a[0].clone()));
    assert!(d.is_empty());
    let (e, _) = msg(&mut s2, 2, 11, 1, propose(&a));
    assert_eq!(e, vec![send(1, Msg::CAck { k: 0, r: 1 })]);
    let (_, d) = msg(&mut s2, 2, 20, 1, decide(&a));
    assert_eq!(d, a.to_vec());
    let (_, d) = msg(&mut s2, 2, 21, 3, decide(&a));
    assert!(d.is_empty(), "delivered once");
}

#[test]
fn a_suspected_senders_messages_are_relayed_to_all_others_once() {
    let (a, b) = (m(3, 0, "a"), m(3, 1, "b"));
    let mut s2 = ct(2);
    let _ = msg(&mut s2, 2, 10, 3, Msg::AbData(a.clone()));
    let _ = msg(&mut s2, 2, 11, 3, Msg::AbData(b.clone()));
    let mut out = Out::new(2, 3);
    let mut d = Vec::new();
    s2.on_control(
        12,
        Control::Suspect {
            server: 3,
            until: u64::MAX,
        },
        &mut out,
        &mut d,
    );
    let relays: Vec<&Effect> = out
        .effects
        .iter()
        .filter(|e| {
            matches!(
                e,
                Effect::Send {
                    msg: Msg::AbData(_),
                    ..
                }
            )
        })
        .collect();
    assert_eq!(
        relays,
        sends(&[1, 3], Msg::AbData(a))
            .iter()
            .chain(&sends(&[1, 3], Msg::AbData(b)))
            .collect::<Vec<_>>()
    );
    // Suspecting s1 relays nothing of s3's, and s3's are not relayed twice.
    let mut out = Out::new(2, 3);
    s2.on_control(
        13,
        Control::Suspect {
            server: 1,
            until: u64::MAX,
        },
        &mut out,
        &mut d,
    );
    assert!(!out.effects.iter().any(|e| matches!(
        e,
        Effect::Send {
            msg: Msg::AbData(_),
            ..
        }
    )));
}

#[test]
fn a_broadcast_is_diffused_to_all_others_and_ordered_by_consensus() {
    let mut s1 = ct(1);
    let mut out = Out::new(1, 3);
    let mut d = Vec::new();
    s1.broadcast(0, Body::Validate { ticket: "t".into() }, &mut out, &mut d);
    let a = [m(1, 0, "t")];
    let mut want = sends(&[2, 3], Msg::AbData(a[0].clone()));
    want.extend(sends(&[2, 3], propose(&a)));
    assert_eq!(out.effects, want);
    assert!(d.is_empty(), "delivered only when decided");
}

#[test]
fn the_detector_never_suspects_itself_or_a_server_that_does_not_exist() {
    use ticketlab_protocols::fd::FailureDetector;
    let mut fd = FailureDetector::new(1, 3, PERIOD, TIMEOUT);
    let mut out = Out::new(1, 3);
    for p in [1, 0, 4] {
        let change = fd.force(p, u64::MAX, &mut out);
        assert!(change.suspected.is_empty(), "s{p}");
    }
    assert!(out.effects.is_empty());
    assert!(!fd.force(2, 100, &mut out).suspected.is_empty());
}

#[test]
fn a_tick_lifts_a_suspicion_once_the_peer_is_heard_again_within_its_timeout() {
    use ticketlab_protocols::fd::FailureDetector;
    let mut fd = FailureDetector::new(1, 3, PERIOD, TIMEOUT);
    let mut out = Out::new(1, 3);
    // Silent too long: suspected at the tick.
    let change = fd.tick(TIMEOUT + 1, &mut out);
    assert_eq!(change.suspected, vec![2, 3]);
    // A protocol timer is not the detector's: nothing changes.
    let change = fd.on_timer(TIMEOUT + 2, Timer::Protocol(7), &mut out);
    assert!(change.suspected.is_empty() && change.unsuspected.is_empty());
    // s2 heard again: its suspicion ends (at once, on the message).
    let change = fd.heard_from(TIMEOUT + 3, 2, &mut out);
    assert_eq!(change.unsuspected, vec![2]);
    assert!(!fd.suspects(2) && fd.suspects(3));
    // The next tick neither lifts s3 (still silent) nor suspects s2 again.
    let change = fd.tick(TIMEOUT + 4, &mut out);
    assert!(change.suspected.is_empty() && change.unsuspected.is_empty());
}

// ---------------------------------------------------------------------------------------------
// The backlog handed to consensus lazily: the same effects as a copy per message

#[test]
fn an_idle_round1_coordinator_proposes_a_message_the_moment_it_arrives() {
    let a = [m(2, 0, "a")];
    let mut s1 = ct(1);
    // A stray C-ACK wakes instance 0 with nothing to propose: s1 is round 1's coordinator,
    // active, without a proposal.
    assert_eq!(
        msg(&mut s1, 1, 5, 2, Msg::CAck { k: 0, r: 1 }),
        (vec![], vec![])
    );
    // The first message must be proposed at once, not when consensus next hears something.
    let (e, d) = msg(&mut s1, 1, 10, 2, Msg::AbData(a[0].clone()));
    assert_eq!(e, sends(&[2, 3], propose(&a)));
    assert!(d.is_empty());
}

#[test]
fn a_message_received_mid_instance_is_in_the_estimate_of_the_next_round() {
    let (a, b, c) = (m(3, 0, "a"), m(3, 1, "b"), m(1, 0, "c"));
    let mut s2 = ct(2);
    // a starts instance 0 at s2 (a participant of round 1); b arrives while it runs.
    assert_eq!(
        msg(&mut s2, 2, 10, 3, Msg::AbData(a.clone())),
        (vec![], vec![])
    );
    assert_eq!(
        msg(&mut s2, 2, 11, 3, Msg::AbData(b.clone())),
        (vec![], vec![])
    );
    // s2 suspects s1 and coordinates round 2: its own estimate must hold a and b.
    let mut out = Out::new(2, 3);
    let mut d = Vec::new();
    s2.on_control(
        12,
        Control::Suspect {
            server: 1,
            until: u64::MAX,
        },
        &mut out,
        &mut d,
    );
    let (e, _) = msg(
        &mut s2,
        2,
        13,
        3,
        Msg::Estimate {
            k: 0,
            r: 2,
            value: vec![c],
            ts: 0,
        },
    );
    let proposal = vec![a, b];
    assert_eq!(
        e,
        sends(
            &[1, 3],
            Msg::Propose {
                k: 0,
                r: 2,
                value: proposal
            }
        ),
        "ties at ts 0 go to the lowest sender: s2's own estimate"
    );
}

#[test]
fn states_hash_as_what_they_stand_for_not_as_when_consensus_got_its_copy() {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};
    let hash = |b: &CtBroadcast| {
        let mut h = DefaultHasher::new();
        b.hash(&mut h);
        h.finish()
    };
    let (a, b) = (m(3, 0, "a"), m(3, 1, "b"));
    // s2 with a and b, consensus's copy not yet updated with b ...
    let mut lazy = ct(2);
    msg(&mut lazy, 2, 10, 3, Msg::AbData(a.clone()));
    msg(&mut lazy, 2, 11, 3, Msg::AbData(b.clone()));
    // ... and the same after an input that hands the copy over and changes nothing else (a
    // decision pull from a process that thinks s2 is ahead).
    let mut fresh = ct(2);
    msg(&mut fresh, 2, 10, 3, Msg::AbData(a.clone()));
    msg(&mut fresh, 2, 11, 3, Msg::AbData(b));
    msg(&mut fresh, 2, 12, 3, Msg::CNack { k: 0, r: 0 });
    assert_eq!(hash(&lazy), hash(&fresh));
    // Different contents hash apart.
    let mut one = ct(2);
    msg(&mut one, 2, 10, 3, Msg::AbData(a));
    assert_ne!(hash(&one), hash(&lazy));
}
