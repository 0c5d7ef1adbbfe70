//! Single-node effect tests of Chandra–Toueg consensus (`consensus.rs`), the safety core every
//! broadcast reuses: feed one process inputs, assert the exact effects and decisions. Each test
//! names the rule of the module doc it pins down; mutating that rule's line makes it fail.

use ticketlab_protocols::consensus::{Consensus, Decision, Flaw};
use ticketlab_protocols::fd::FailureDetector;
use ticketlab_protocols::{AppMsg, Effect, Msg, Note, Out, ServerId};

mod common;
use common::{m, send, sends};

const DECIDED: Effect = Effect::Note {
    note: Note::ConsensusDecided,
    by: 1,
};
const EXTRA: Effect = Effect::Note {
    note: Note::ConsensusExtraRound,
    by: 1,
};

fn propose(k: u64, r: u32, value: &[AppMsg]) -> Msg {
    Msg::Propose {
        k,
        r,
        value: value.to_vec(),
    }
}

fn estimate(k: u64, r: u32, value: &[AppMsg], ts: u32) -> Msg {
    Msg::Estimate {
        k,
        r,
        value: value.to_vec(),
        ts,
    }
}

fn decide(k: u64, value: &[AppMsg]) -> Msg {
    Msg::Decide {
        k,
        value: value.to_vec(),
    }
}

fn decision(k: u64, value: &[AppMsg]) -> Option<Decision> {
    Some(Decision {
        k,
        value: value.to_vec(),
    })
}

/// One process: its consensus and its failure detector (suspicions are forced by the tests).
struct Node {
    me: ServerId,
    n: u16,
    c: Consensus,
    fd: FailureDetector,
}

type Step = (Vec<Effect>, Option<Decision>);

impl Node {
    fn new(me: ServerId, n: u16) -> Self {
        Node {
            me,
            n,
            c: Consensus::new(me, n),
            fd: FailureDetector::new(me, n, 1_000, 1_000_000),
        }
    }

    fn out(&self) -> Out {
        Out::new(self.me, self.n)
    }

    fn pending(&mut self, v: &[AppMsg]) -> Step {
        let mut out = self.out();
        let d = self.c.set_pending(v.to_vec(), &self.fd, &mut out);
        (out.effects, d)
    }

    fn msg(&mut self, from: ServerId, msg: Msg) -> Step {
        let mut out = self.out();
        let d = self.c.on_message(from, msg, &self.fd, &mut out);
        (out.effects, d)
    }

    /// The failure detector starts suspecting `p` (its own effects are not consensus's).
    fn suspect_only(&mut self, p: ServerId) {
        let mut out = self.out();
        self.fd.force(p, u64::MAX, &mut out);
    }

    /// Suspect `p` and tell consensus.
    fn suspect(&mut self, p: ServerId) -> Step {
        self.suspect_only(p);
        let mut out = self.out();
        let d = self.c.on_suspect(p, &self.fd, &mut out);
        (out.effects, d)
    }
}

/// s2 of n = 3 with `own` pending, after suspecting s1: coordinator of round 2, its own
/// estimate in, waiting for one more.
fn round2_coordinator_n3(own: &[AppMsg]) -> Node {
    round2_coordinator_n3_with(Node::new(2, 3), own)
}

fn round2_coordinator_n3_with(mut s2: Node, own: &[AppMsg]) -> Node {
    assert_eq!(
        s2.pending(own),
        (vec![], None),
        "round 1: s1 proposes, not s2"
    );
    let (e, d) = s2.suspect(1);
    let mut want = vec![send(1, Msg::CNack { k: 0, r: 1 }), EXTRA];
    // Entering round 2 as its coordinator: announce that round 1 is over.
    want.extend(sends(&[1, 3], Msg::CNack { k: 0, r: 1 }));
    assert_eq!((e, d), (want, None), "one estimate of a majority of 2");
    s2
}

/// s2 of n = 5, inactive, pulled into round 2 by an estimate from `from`: its own estimate is
/// empty (ts 0), `from`'s is in; it needs one more for a majority of 3.
fn round2_coordinator_n5(from: ServerId, first: Msg) -> Node {
    let mut s2 = Node::new(2, 5);
    let (e, d) = s2.msg(from, first);
    let mut want = vec![EXTRA];
    want.extend(sends(&[1, 3, 4, 5], Msg::CNack { k: 0, r: 1 }));
    assert_eq!((e, d), (want, None));
    s2
}

// ---------------------------------------------------------------------------------------------
// Round 1, failure-free

#[test]
fn round1_coordinator_proposes_its_value_at_once_and_decides_on_a_majority_of_acks() {
    let a = [m(1, 0, "a")];
    let mut s1 = Node::new(1, 3);
    assert_eq!(s1.pending(&[]), (vec![], None), "nothing to order");
    assert_eq!(s1.pending(&a), (sends(&[2, 3], propose(0, 1, &a)), None));
    // Own ack + one = a majority of 3.
    let mut want = sends(&[2, 3], decide(0, &a));
    want.push(DECIDED);
    assert_eq!(s1.msg(2, Msg::CAck { k: 0, r: 1 }), (want, decision(0, &a)));
    assert_eq!(s1.c.instance(), 1);
    // The late ack of the decided instance needs nothing.
    assert_eq!(s1.msg(3, Msg::CAck { k: 0, r: 1 }), (vec![], None));
    // A decision clears pending: instance 1 starts only from a new value.
    let b = [m(2, 0, "b")];
    assert_eq!(s1.pending(&b), (sends(&[2, 3], propose(1, 1, &b)), None));
}

#[test]
fn a_decision_clears_pending_so_the_next_instance_never_starts_from_the_previous_value() {
    let a = [m(1, 0, "a")];
    let mut s1 = Node::new(1, 3);
    s1.pending(&a);
    s1.msg(2, Msg::CAck { k: 0, r: 1 });
    // Instance 1 is started by someone else's message, before s1's caller set a new value: s1
    // has nothing to propose in round 1 (a is decided), so the C-NACK moves it to round 2 with
    // an empty estimate.
    let mut want = sends(&[2, 3], Msg::CNack { k: 1, r: 1 });
    want.extend([EXTRA, send(2, estimate(1, 2, &[], 0))]);
    assert_eq!(s1.msg(3, Msg::CNack { k: 1, r: 1 }), (want, None));
}

#[test]
fn coordinator_decides_only_on_a_majority_of_acks() {
    // n = 5: majority 3 = own ack + two others; one other is not enough.
    let a = [m(1, 0, "a")];
    let mut s1 = Node::new(1, 5);
    s1.pending(&a);
    assert_eq!(s1.msg(4, Msg::CAck { k: 0, r: 1 }), (vec![], None));
    assert_eq!(
        s1.msg(4, Msg::CAck { k: 0, r: 1 }),
        (vec![], None),
        "the same acker twice counts once"
    );
    let (e, d) = s1.msg(2, Msg::CAck { k: 0, r: 1 });
    assert_eq!(d, decision(0, &a));
    assert_eq!(e.last(), Some(&DECIDED));
    assert_eq!(e.len(), 5, "DECIDE to the 4 others, then the note");
}

#[test]
fn participant_acks_the_proposal_then_waits_for_decide_and_does_not_relay_it() {
    let (a, x) = ([m(1, 0, "a")], [m(3, 0, "x")]);
    let mut s3 = Node::new(3, 3);
    assert_eq!(
        s3.pending(&x),
        (vec![], None),
        "round 1 has no estimate phase"
    );
    assert_eq!(
        s3.msg(1, propose(0, 1, &a)),
        (vec![send(1, Msg::CAck { k: 0, r: 1 })], None)
    );
    assert_eq!(s3.msg(1, decide(0, &a)), (vec![DECIDED], decision(0, &a)));
}

#[test]
fn a_decide_from_a_suspected_sender_is_relayed_to_all_others() {
    let a = [m(1, 0, "a")];
    let mut s3 = Node::new(3, 3);
    s3.suspect_only(2);
    let mut want = sends(&[1, 2], decide(0, &a));
    want.push(DECIDED);
    assert_eq!(s3.msg(2, decide(0, &a)), (want, decision(0, &a)));
}

// ---------------------------------------------------------------------------------------------
// Estimates and proposals of later rounds

#[test]
fn a_later_round_coordinator_proposes_only_after_a_majority_of_estimates() {
    let (b, c) = ([m(3, 0, "b")], [m(4, 0, "c")]);
    // Own + s3 = 2 < 3: the set-up checks that s2 is still waiting.
    let mut s2 = round2_coordinator_n5(3, estimate(0, 2, &b, 0));
    let (e, d) = s2.msg(4, estimate(0, 2, &c, 0));
    assert_eq!(
        (e, d),
        (sends(&[1, 3, 4, 5], propose(0, 2, &b)), None),
        "3 estimates: propose"
    );
    // Later estimates change nothing.
    assert_eq!(s2.msg(5, estimate(0, 2, &c, 1)), (vec![], None));
}

#[test]
fn the_estimate_with_the_highest_timestamp_wins() {
    let (b, c) = ([m(3, 0, "b")], [m(4, 0, "c")]);
    let mut s2 = round2_coordinator_n5(3, estimate(0, 2, &b, 0));
    let (e, _) = s2.msg(4, estimate(0, 2, &c, 1));
    assert_eq!(
        e,
        sends(&[1, 3, 4, 5], propose(0, 2, &c)),
        "ts 1 beats ts 0"
    );
}

#[test]
fn equal_timestamps_prefer_a_non_empty_value_then_the_lowest_sender() {
    let (b, c) = ([m(3, 0, "b")], [m(4, 0, "c")]);
    // Own estimate (s2) is empty, s3's and s4's are not, all ts 0: s3's (non-empty, then lowest).
    let mut s2 = round2_coordinator_n5(3, estimate(0, 2, &b, 0));
    let (e, _) = s2.msg(4, estimate(0, 2, &c, 0));
    assert_eq!(e, sends(&[1, 3, 4, 5], propose(0, 2, &b)));
    // The other arrival order: the sender id decides, not arrival.
    let mut s2 = round2_coordinator_n5(4, estimate(0, 2, &c, 0));
    let (e, _) = s2.msg(3, estimate(0, 2, &b, 0));
    assert_eq!(e, sends(&[1, 3, 4, 5], propose(0, 2, &b)));
    // Two empty values and one non-empty one: the non-empty one (s4), whatever the ids.
    let mut s2 = round2_coordinator_n5(3, estimate(0, 2, &[], 0));
    let (e, _) = s2.msg(4, estimate(0, 2, &c, 0));
    assert_eq!(e, sends(&[1, 3, 4, 5], propose(0, 2, &c)));
    // Equal locked timestamps: the lowest sender.
    let mut s2 = round2_coordinator_n5(4, estimate(0, 2, &c, 1));
    let (e, _) = s2.msg(3, estimate(0, 2, &b, 1));
    assert_eq!(e, sends(&[1, 3, 4, 5], propose(0, 2, &b)));
}

#[test]
fn acks_and_nacks_of_an_older_round_do_not_count_in_the_current_one() {
    let (a, b) = ([m(2, 0, "a")], [m(3, 0, "b")]);
    let mut s2 = round2_coordinator_n3(&a);
    // s3's estimate completes the majority; equal ts, both non-empty: s2's own (lowest id).
    assert_eq!(
        s2.msg(3, estimate(0, 2, &b, 0)),
        (sends(&[1, 3], propose(0, 2, &a)), None)
    );
    // A round-1 ack (of s1's proposal) would make a majority with s2's own ack: not counted.
    assert_eq!(s2.msg(3, Msg::CAck { k: 0, r: 1 }), (vec![], None));
    // A round-1 C-NACK is old news: s2 does not abandon round 2.
    assert_eq!(s2.msg(1, Msg::CNack { k: 0, r: 1 }), (vec![], None));
    // The round-2 ack decides.
    let mut want = sends(&[1, 3], decide(0, &a));
    want.push(DECIDED);
    assert_eq!(s2.msg(3, Msg::CAck { k: 0, r: 2 }), (want, decision(0, &a)));
}

#[test]
fn a_proposal_of_a_later_round_moves_a_participant_there_and_older_ones_get_a_nack() {
    let (a, b, x) = ([m(1, 0, "a")], [m(2, 0, "b")], [m(3, 0, "x")]);
    let mut s3 = Node::new(3, 3);
    s3.pending(&x);
    // In round 1, s2's round-2 proposal: jump to round 2 and ack it.
    assert_eq!(
        s3.msg(2, propose(0, 2, &b)),
        (vec![EXTRA, send(2, Msg::CAck { k: 0, r: 2 })], None)
    );
    // s1's round-1 proposal, arriving late, is refused.
    assert_eq!(
        s3.msg(1, propose(0, 1, &a)),
        (vec![send(1, Msg::CNack { k: 0, r: 1 })], None)
    );
    // s3 locked b with ts 2: when it coordinates round 3, b wins over a ts-0 estimate.
    let (e, d) = s3.suspect(2);
    let mut want = vec![send(2, Msg::CNack { k: 0, r: 2 }), EXTRA];
    want.extend(sends(&[1, 2], Msg::CNack { k: 0, r: 2 }));
    assert_eq!((e, d), (want, None));
    assert_eq!(
        s3.msg(1, estimate(0, 3, &a, 0)),
        (sends(&[1, 2], propose(0, 3, &b)), None)
    );
}

#[test]
fn a_coordinator_that_proposed_moves_to_a_later_rounds_proposal_and_releases_its_own() {
    let (a, b) = ([m(1, 0, "a")], [m(2, 0, "b")]);
    let mut s1 = Node::new(1, 3);
    s1.pending(&a);
    // s2 coordinates round 2 already: s1 abandons round 1 for everyone, then acks.
    let mut want = sends(&[2, 3], Msg::CNack { k: 0, r: 1 });
    want.push(EXTRA);
    want.push(send(2, Msg::CAck { k: 0, r: 2 }));
    assert_eq!(s1.msg(2, propose(0, 2, &b)), (want, None));
    // Round-1 acks are now stale.
    assert_eq!(s1.msg(3, Msg::CAck { k: 0, r: 1 }), (vec![], None));
}

#[test]
fn a_round1_coordinator_woken_by_a_message_proposes_once_it_has_something_to_order() {
    let a = [m(1, 0, "a")];
    let mut s1 = Node::new(1, 3);
    // A pull (C-NACK of round 0) starts instance 0 at s1 with nothing to order yet.
    assert_eq!(s1.msg(2, Msg::CNack { k: 0, r: 0 }), (vec![], None));
    // Its own messages arrive: still round 1, s1 coordinates it, nothing proposed: propose.
    assert_eq!(s1.pending(&a), (sends(&[2, 3], propose(0, 1, &a)), None));
    // Pending changing again after the proposal proposes nothing new.
    assert_eq!(s1.pending(&a), (vec![], None));
}

#[test]
fn a_round1_participant_with_new_messages_never_proposes() {
    let (a, x) = ([m(1, 0, "a")], [m(2, 0, "x")]);
    let mut s2 = Node::new(2, 3);
    assert_eq!(
        s2.msg(1, propose(0, 1, &a)),
        (vec![send(1, Msg::CAck { k: 0, r: 1 })], None)
    );
    assert_eq!(s2.pending(&x), (vec![], None), "s1 coordinates round 1");
}

#[test]
fn a_coordinator_jumping_to_a_later_round_abandons_its_own_for_everyone() {
    let (a, x) = ([m(1, 0, "a")], [m(3, 0, "x")]);
    let mut s1 = Node::new(1, 3);
    s1.pending(&a);
    // s3 already estimates for round 2: s1 leaves round 1, telling s2 and s3.
    let (e, _) = s1.msg(3, estimate(0, 2, &x, 0));
    assert_eq!(
        e.first(),
        Some(&send(2, Msg::CNack { k: 0, r: 1 })),
        "{e:?}"
    );
    assert!(e.contains(&send(3, Msg::CNack { k: 0, r: 1 })), "{e:?}");
}

#[test]
fn estimates_count_only_at_the_coordinator_of_their_own_round() {
    let (a, b) = ([m(2, 0, "a")], [m(3, 0, "b")]);
    // The round-2 coordinator ignores a round-1 estimate (it would make a majority with its own).
    let mut s2 = round2_coordinator_n3(&a);
    assert_eq!(s2.msg(3, estimate(0, 1, &b, 0)), (vec![], None));
    // A participant of round 2 (s3; s2 coordinates it) ignores estimates sent its way.
    let mut s3 = Node::new(3, 3);
    s3.pending(&b);
    let _ = s3.suspect(1);
    assert_eq!(s3.msg(1, estimate(0, 2, &a, 0)), (vec![], None));
    assert_eq!(
        s3.msg(2, estimate(0, 2, &a, 0)),
        (vec![], None),
        "two would be a majority, were s3 the coordinator"
    );
}

// ---------------------------------------------------------------------------------------------
// Abandoning a coordinator

#[test]
fn a_participant_that_suspects_the_coordinator_nacks_it_and_estimates_to_the_next() {
    let x = [m(3, 0, "x")];
    let mut s3 = Node::new(3, 3);
    s3.pending(&x);
    let (e, d) = s3.suspect(1);
    assert_eq!(
        (e, d),
        (
            vec![
                send(1, Msg::CNack { k: 0, r: 1 }),
                EXTRA,
                send(2, estimate(0, 2, &x, 0)),
            ],
            None
        )
    );
    // Suspecting someone who coordinates no round of ours changes nothing.
    assert_eq!(s3.suspect(1), (vec![], None));
}

#[test]
fn an_already_suspected_next_coordinator_is_skipped_up_to_our_own_round() {
    let x = [m(3, 0, "x")];
    let mut s3 = Node::new(3, 3);
    s3.pending(&x);
    s3.suspect_only(2);
    let (e, d) = s3.suspect(1);
    let mut want = vec![
        send(1, Msg::CNack { k: 0, r: 1 }),
        EXTRA,
        send(2, estimate(0, 2, &x, 0)),
        send(2, Msg::CNack { k: 0, r: 2 }),
        EXTRA,
    ];
    want.extend(sends(&[1, 2], Msg::CNack { k: 0, r: 2 }));
    assert_eq!((e, d), (want, None));
}

#[test]
fn a_coordinator_nacked_in_its_round_abandons_it_for_everyone_and_moves_on() {
    let a = [m(1, 0, "a")];
    let mut s1 = Node::new(1, 3);
    s1.pending(&a);
    let (e, d) = s1.msg(3, Msg::CNack { k: 0, r: 1 });
    let mut want = sends(&[2, 3], Msg::CNack { k: 0, r: 1 });
    // It proposed a in round 1: its estimate is now locked with ts 1.
    want.extend([EXTRA, send(2, estimate(0, 2, &a, 1))]);
    assert_eq!((e, d), (want, None));
    // An ack of the abandoned round decides nothing.
    assert_eq!(s1.msg(2, Msg::CAck { k: 0, r: 1 }), (vec![], None));
}

#[test]
fn a_participant_moves_on_at_a_nack_of_its_round_or_a_later_one() {
    let x = [m(3, 0, "x")];
    let mut s3 = Node::new(3, 3);
    s3.pending(&x);
    // The coordinator s1 abandoned round 1: estimate to s2.
    assert_eq!(
        s3.msg(1, Msg::CNack { k: 0, r: 1 }),
        (vec![EXTRA, send(2, estimate(0, 2, &x, 0))], None)
    );
    // Round 2 is over too (announced by a round-3 coordinator): s3 is the coordinator of 3.
    let (e, _) = s3.msg(2, Msg::CNack { k: 0, r: 2 });
    let mut want = vec![EXTRA];
    want.extend(sends(&[1, 2], Msg::CNack { k: 0, r: 2 }));
    assert_eq!(e, want);
    // A C-NACK of a later round than ours: jump past it.
    let mut s3 = Node::new(3, 3);
    s3.pending(&x);
    assert_eq!(s3.msg(2, Msg::CNack { k: 0, r: 2 }).0, want);
}

// ---------------------------------------------------------------------------------------------
// Forwarding DECIDE

#[test]
fn a_coordinator_that_learns_the_decision_before_proposing_forwards_it_to_its_estimators() {
    let (b, v) = ([m(3, 0, "b")], [m(5, 0, "v")]);
    let mut s2 = round2_coordinator_n5(3, estimate(0, 2, &b, 0));
    // s3 sent an estimate and waits on s2; s4 and s5 did not. The decision comes from s4.
    assert_eq!(
        s2.msg(4, decide(0, &v)),
        (vec![send(3, decide(0, &v)), DECIDED], decision(0, &v))
    );
}

#[test]
fn a_coordinator_that_learns_the_decision_after_proposing_forwards_it_to_everyone_else() {
    let (b, c, v) = ([m(3, 0, "b")], [m(4, 0, "c")], [m(1, 0, "v")]);
    let mut s2 = round2_coordinator_n5(3, estimate(0, 2, &b, 0));
    s2.msg(4, estimate(0, 2, &c, 0));
    // After its PROPOSE anyone may have acked and wait for s2's DECIDE, s5 included. The
    // decision of another round (a catch-up reply) comes from s1.
    let mut want = sends(&[3, 4, 5], decide(0, &v));
    want.push(DECIDED);
    assert_eq!(s2.msg(1, decide(0, &v)), (want, decision(0, &v)));
}

#[test]
fn a_decide_from_the_own_round_coordinator_is_not_forwarded() {
    // s2 is a participant: its round's coordinator is s1, and forwarding is not its business.
    let a = [m(1, 0, "a")];
    let mut s2 = Node::new(2, 5);
    s2.msg(1, propose(0, 1, &a));
    assert_eq!(s2.msg(1, decide(0, &a)), (vec![DECIDED], decision(0, &a)));
}

// ---------------------------------------------------------------------------------------------
// Catch-up: decided processes answer, processes behind pull

#[test]
fn a_decided_process_answers_stale_estimates_proposals_and_nacks_with_decide() {
    let (a, x) = ([m(1, 0, "a")], [m(3, 0, "x")]);
    let mut s2 = Node::new(2, 3);
    s2.msg(1, propose(0, 1, &a));
    s2.msg(1, decide(0, &a));
    let answer = (vec![send(3, decide(0, &a))], None);
    assert_eq!(s2.msg(3, estimate(0, 2, &x, 0)), answer.clone());
    assert_eq!(s2.msg(3, propose(0, 3, &x)), answer.clone());
    assert_eq!(s2.msg(3, Msg::CNack { k: 0, r: 1 }), answer.clone());
    assert_eq!(
        s2.msg(3, Msg::CNack { k: 0, r: 0 }),
        answer,
        "a pull (r = 0)"
    );
    // Late acks and decisions of a decided instance arrive in every failure-free run: no answer.
    assert_eq!(s2.msg(3, Msg::CAck { k: 0, r: 1 }), (vec![], None));
    assert_eq!(s2.msg(3, decide(0, &a)), (vec![], None));
    // `catch_up` (OPT's STOP of a decided stage) answers the same way, and only when decided.
    let mut out = Out::new(2, 3);
    s2.c.catch_up(3, 0, &mut out);
    s2.c.catch_up(3, 1, &mut out);
    assert_eq!(out.effects, vec![send(3, decide(0, &a))]);
}

#[test]
fn a_process_behind_pulls_the_missed_decision_once_per_sender_and_replays_what_was_early() {
    let (a, b) = ([m(1, 0, "a")], [m(1, 1, "b")]);
    let mut s3 = Node::new(3, 3);
    // s1 is at instance 1: s3 missed the decision of 0. Pull it from s1 once.
    assert_eq!(
        s3.msg(1, propose(1, 1, &b)),
        (vec![send(1, Msg::CNack { k: 0, r: 0 })], None)
    );
    assert_eq!(s3.msg(1, decide(1, &b)), (vec![], None), "pulled already");
    assert_eq!(
        s3.msg(2, Msg::CNack { k: 1, r: 1 }),
        (vec![send(2, Msg::CNack { k: 0, r: 0 })], None),
        "another process ahead: pull from it too"
    );
    assert_eq!(
        s3.c.take_future(),
        vec![],
        "nothing of instance 0 was early"
    );
    // The pull's answer decides 0; the early messages of 1 are handed back in arrival order.
    assert_eq!(s3.msg(1, decide(0, &a)), (vec![DECIDED], decision(0, &a)));
    assert_eq!(
        s3.c.take_future(),
        vec![
            (1, propose(1, 1, &b)),
            (1, decide(1, &b)),
            (2, Msg::CNack { k: 1, r: 1 }),
        ]
    );
    assert_eq!(s3.msg(1, decide(1, &b)), (vec![DECIDED], decision(1, &b)));
}

#[test]
fn a_pull_for_the_current_instance_is_not_a_nack() {
    let x = [m(3, 0, "x")];
    let mut s3 = Node::new(3, 3);
    s3.pending(&x);
    // s2 believes s3 is ahead; it is not. Round 1 goes on: no estimate to round 2.
    assert_eq!(s3.msg(2, Msg::CNack { k: 0, r: 0 }), (vec![], None));
    assert_eq!(
        s3.msg(1, propose(0, 1, &x)),
        (vec![send(1, Msg::CAck { k: 0, r: 1 })], None),
        "still in round 1"
    );
}

#[test]
fn the_coordinator_of_round_r_rotates_from_s1() {
    let c = Consensus::new(1, 3);
    let got: Vec<ServerId> = (1..=7).map(|r| c.coordinator(r)).collect();
    assert_eq!(got, vec![1, 2, 3, 1, 2, 3, 1]);
    assert_eq!(c.coordinator(0), 1);
}

// ---------------------------------------------------------------------------------------------
// The bug zoo: each flaw breaks exactly the rule the tests above pin down

#[test]
fn zoo_stale_ack_counts_an_older_rounds_ack_toward_the_current_proposal() {
    let (a, b) = ([m(2, 0, "a")], [m(3, 0, "b")]);
    let mut node = Node::new(2, 3);
    node.c = Consensus::new(2, 3).with_flaw(Flaw::StaleAck);
    let mut s2 = round2_coordinator_n3_with(node, &a);
    assert_eq!(
        s2.msg(3, estimate(0, 2, &b, 0)),
        (sends(&[1, 3], propose(0, 2, &a)), None)
    );
    // The correct coordinator ignores this round-1 ack; the flawed one decides on it.
    let mut want = sends(&[1, 3], decide(0, &a));
    want.push(DECIDED);
    assert_eq!(s2.msg(3, Msg::CAck { k: 0, r: 1 }), (want, decision(0, &a)));
}

#[test]
fn zoo_stale_ack_counts_an_earlier_instances_late_ack_toward_the_next_proposal() {
    let (a, b) = ([m(1, 0, "a")], [m(2, 0, "b")]);
    for flawed in [false, true] {
        let mut s1 = Node::new(1, 3);
        if flawed {
            s1.c = Consensus::new(1, 3).with_flaw(Flaw::StaleAck);
        }
        s1.pending(&a);
        s1.msg(2, Msg::CAck { k: 0, r: 1 });
        // s3's ack of instance 0 still in flight when instance 1 starts; before the proposal
        // it counts for nothing either way.
        let early = s1.msg(3, Msg::CAck { k: 0, r: 1 });
        assert_eq!(early, (vec![], None));
        assert_eq!(s1.pending(&b), (sends(&[2, 3], propose(1, 1, &b)), None));
        let late = s1.msg(3, Msg::CAck { k: 0, r: 1 });
        if flawed {
            // Own ack + instance 0's: "a majority" for b, which nobody else has seen.
            let mut want = sends(&[2, 3], decide(1, &b));
            want.push(DECIDED);
            assert_eq!(late, (want, decision(1, &b)));
        } else {
            assert_eq!(late, (vec![], None), "the correct tally knows its instance");
        }
    }
}

#[test]
fn zoo_early_propose_proposes_a_later_round_on_its_own_estimate_alone() {
    let a = [m(2, 0, "a")];
    let mut s2 = Node::new(2, 3);
    s2.c = Consensus::new(2, 3).with_flaw(Flaw::EarlyPropose);
    assert_eq!(s2.pending(&a), (vec![], None));
    let (e, d) = s2.suspect(1);
    assert_eq!(d, None);
    // The correct coordinator waits for a second estimate (see round2_coordinator_n3); the flawed
    // one proposes at once, ignoring whatever a majority may have locked in round 1.
    assert!(
        e.contains(&send(1, propose(0, 2, &a))) && e.contains(&send(3, propose(0, 2, &a))),
        "{e:?}"
    );
}

#[test]
fn zoo_stale_ack_still_ignores_an_ack_of_a_round_it_has_not_reached() {
    // The flaw counts acks of older rounds and instances, never of a later round.
    let (a, b) = ([m(2, 0, "a")], [m(3, 0, "b")]);
    let mut node = Node::new(2, 3);
    node.c = Consensus::new(2, 3).with_flaw(Flaw::StaleAck);
    let mut s2 = round2_coordinator_n3_with(node, &a);
    s2.msg(3, estimate(0, 2, &b, 0));
    assert_eq!(s2.msg(3, Msg::CAck { k: 0, r: 3 }), (vec![], None));
}

// ---------------------------------------------------------------------------------------------
// State hashes (what `check` merges states by)

fn hash_of(c: &Consensus) -> u64 {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};
    let mut h = DefaultHasher::new();
    c.hash(&mut h);
    h.finish()
}

fn hash_with(c: &Consensus, pending: Option<&[AppMsg]>) -> u64 {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::Hasher;
    let mut h = DefaultHasher::new();
    c.hash_with_pending(pending, &mut h);
    h.finish()
}

#[test]
fn the_hash_tells_states_apart_and_hashes_a_pending_value_as_if_handed_over() {
    let (a, b) = ([m(3, 0, "a")], [m(3, 0, "a"), m(3, 1, "b")]);
    // s2, a participant of round 1: a new pending value is an assignment only.
    let mut s2 = Node::new(2, 3);
    let before = hash_of(&s2.c);
    assert_eq!(hash_with(&s2.c, None), before);
    s2.pending(&a);
    assert!(!s2.c.wants_pending());
    let with_a = hash_of(&s2.c);
    assert_ne!(with_a, before, "a pending value is part of the state");
    let as_if_b = hash_with(&s2.c, Some(&b));
    assert_ne!(as_if_b, with_a);
    s2.pending(&b);
    assert_eq!(hash_of(&s2.c), as_if_b, "as if handed over = handed over");
    // Another process with the same inputs hashes apart (its id is part of the state).
    let mut s3 = Node::new(3, 3);
    s3.pending(&b);
    assert_ne!(hash_of(&s3.c), hash_of(&s2.c));
}

#[test]
fn pending_is_wanted_at_once_only_when_idle_or_by_round1s_coordinator_before_it_proposes() {
    let a = [m(1, 0, "a")];
    let mut s1 = Node::new(1, 3);
    assert!(s1.c.wants_pending(), "idle: a value starts the instance");
    // Woken by a stray ack with nothing to propose: round 1's coordinator wants a value.
    assert_eq!(s1.msg(2, Msg::CAck { k: 0, r: 1 }), (vec![], None));
    assert!(s1.c.wants_pending());
    s1.pending(&a);
    assert!(!s1.c.wants_pending(), "proposed");
    let mut s2 = Node::new(2, 3);
    s2.pending(&a);
    assert!(!s2.c.wants_pending(), "a round-1 participant");
    s2.suspect(1);
    assert!(
        !s2.c.wants_pending(),
        "round 2's coordinator reads it on entering"
    );
}
