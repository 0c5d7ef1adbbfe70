//! Single-node effect tests of `qlock-amo` and `bqlock-amo` (`qlock.rs`): feed one server
//! inputs, assert the exact effects.

use ticketlab_protocols::qlock::QlockAmo;
use ticketlab_protocols::{Note, Out, Outcome, Protocol};

mod common;
use common::qlock::*;
use common::{send, sends};

// =============================================================================================
// qlock-amo

#[test]
fn amo_sends_try_to_all_others_and_accepts_on_a_quorum_of_free() {
    let mut s1 = QlockAmo::new(&cfg(1, N, 1));
    let e = step(&mut s1, 1, |p, o| p.on_ticket(0, t(), o));
    let mut want = vec![note(Note::Try, 1)];
    want.extend(sends(&others(1), try_(0)));
    assert_eq!(e, want);
    // Its own FREE counts: two remote FREEs make the quorum of 3.
    assert_eq!(
        step(&mut s1, 1, |p, o| p.on_message(2, 2, free(0), o)),
        vec![]
    );
    assert_eq!(
        step(&mut s1, 1, |p, o| p.on_message(2, 4, free(0), o)),
        vec![decide(Outcome::Accept)]
    );
    // Later answers change nothing, not even a LOCKED.
    assert_eq!(
        step(&mut s1, 1, |p, o| p.on_message(3, 5, locked(0), o)),
        vec![]
    );
}

#[test]
fn amo_rejects_when_a_locked_is_among_the_first_quorum() {
    let mut s1 = QlockAmo::new(&cfg(1, N, 1));
    step(&mut s1, 1, |p, o| p.on_ticket(0, t(), o));
    assert_eq!(
        step(&mut s1, 1, |p, o| p.on_message(2, 3, locked(0), o)),
        vec![]
    );
    // A duplicate answer from s3 is not a second vote.
    assert_eq!(
        step(&mut s1, 1, |p, o| p.on_message(2, 3, free(0), o)),
        vec![]
    );
    assert_eq!(
        step(&mut s1, 1, |p, o| p.on_message(2, 2, free(0), o)),
        vec![decide(Outcome::Reject)]
    );
}

/// bqlock-amo at n = 6, b = 1: the first q = ⌈(6+3+1)/2⌉ = 5 answers (its own first) decide,
/// and one LOCKED among them is masked; two are not.
#[test]
fn bqlock_masks_b_locked_answers_in_a_quorum_of_n_plus_3b_plus_1_over_2() {
    let step6 = |p: &mut QlockAmo, f: &dyn Fn(&mut QlockAmo, &mut Out)| {
        let mut out = Out::new(1, 6);
        f(p, &mut out);
        out.effects
    };
    let masking = |me| {
        let mut c = cfg(me, 6, 1);
        c.byzantine = 1;
        QlockAmo::masking(&c)
    };
    for (answers, want) in [
        (
            vec![(2, true), (3, false), (4, true), (5, true)],
            Outcome::Accept,
        ),
        (
            vec![(2, false), (3, false), (4, true), (5, true)],
            Outcome::Reject,
        ),
    ] {
        let mut s1 = masking(1);
        let sent = step6(&mut s1, &|p, o| p.on_ticket(0, t(), o));
        assert_eq!(
            sent.len(),
            6,
            "TRY to the five others, and a note: {sent:?}"
        );
        let (last, first) = answers.split_last().unwrap();
        for &(from, ok) in first {
            let m = if ok { free(0) } else { locked(0) };
            assert_eq!(
                step6(&mut s1, &|p, o| p.on_message(2, from, m.clone(), o)),
                vec![]
            );
        }
        let m = if last.1 { free(0) } else { locked(0) };
        assert_eq!(
            step6(&mut s1, &|p, o| p.on_message(2, last.0, m.clone(), o)),
            vec![decide(want)]
        );
    }
    // With b = 0 it is qlock-amo: a majority (4 of 6), no LOCKED tolerated.
    let mut s1 = QlockAmo::masking(&cfg(1, 6, 1));
    step6(&mut s1, &|p, o| p.on_ticket(0, t(), o));
    step6(&mut s1, &|p, o| p.on_message(2, 2, free(0), o));
    step6(&mut s1, &|p, o| p.on_message(2, 3, free(0), o));
    assert_eq!(
        step6(&mut s1, &|p, o| p.on_message(2, 4, locked(0), o)),
        vec![decide(Outcome::Reject)]
    );
}

#[test]
fn amo_grants_the_first_claimant_forever_including_itself() {
    let mut s3 = QlockAmo::new(&cfg(3, N, 1));
    assert_eq!(
        step(&mut s3, 3, |p, o| p.on_message(0, 2, try_(0), o)),
        vec![send(2, free(0))]
    );
    assert_eq!(
        step(&mut s3, 3, |p, o| p.on_message(1, 4, try_(0), o)),
        vec![send(4, locked(0))]
    );
    assert_eq!(
        step(&mut s3, 3, |p, o| p.on_message(99_000_000, 2, try_(0), o)),
        vec![send(2, free(0))],
        "forever: no lease"
    );
    // s3's own claim gets LOCKED locally: it can only reject, whatever the others say.
    step(&mut s3, 3, |p, o| p.on_ticket(5, t(), o));
    step(&mut s3, 3, |p, o| p.on_message(7, 1, free(0), o));
    assert_eq!(
        step(&mut s3, 3, |p, o| p.on_message(7, 5, free(0), o)),
        vec![decide(Outcome::Reject)]
    );
}

#[test]
fn amo_rejects_a_resubmission_at_once_without_messages() {
    let mut s1 = QlockAmo::new(&cfg(1, N, 1));
    step(&mut s1, 1, |p, o| p.on_ticket(0, t(), o));
    step(&mut s1, 1, |p, o| p.on_message(2, 2, free(0), o));
    step(&mut s1, 1, |p, o| p.on_message(2, 3, free(0), o));
    assert_eq!(
        step(&mut s1, 1, |p, o| p.on_ticket(5, t(), o)),
        vec![decide(Outcome::Reject)]
    );
}
