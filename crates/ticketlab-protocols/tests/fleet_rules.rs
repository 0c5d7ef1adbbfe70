//! `bft-fleet` (`fleet/`), rule by rule: the b+1 signatures of a certificate and of a flip, what
//! a scan absorbs (b+1 identical, validly signed reports of a full-length element), which answers
//! a client counts, the checks of the justification replay, and the servers' bounds checks on
//! what they install, gather, echo and store. n = 5, b = 1 (q = 4) throughout, where b+1 and b·1
//! differ. Inputs are crafted: this file signs as the servers do (keys and statements as
//! `fleet/mod.rs` derives and encodes them; the first test checks it signs identically).
//!
//! Equivalent mutants (no observable difference), so not tested here: none left. Two pieces of
//! dead code that only such mutants touched were removed from `src/fleet/`:
//! - `Client::append`'s `.filter(|(_, i)| i > 0)` before looking up certificates: no element 0
//!   is ever learnt, so the lookup of (k, 0) already yields nothing (`i >= 0` was equivalent);
//! - `Justifier::replay`'s `Action::Rescan` arm: every rescan returns to `St { pos: Main, ..st }`,
//!   which the replay already steps from for every state (deleting the arm was equivalent).

use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use ticketlab_protocols::fleet::{Cert, Entry, Fleet, Justifier, Reply, Request, Stamped, Val};
use ticketlab_protocols::{Effect, Msg, NodeConfig, Out, Outcome, Protocol, ServerId};

mod common;
use common::{bounded, fleet_reply, fleet_requests};

const N: u16 = 5;
const B: u16 = 1;

fn cfg(me: ServerId, seed: u64) -> NodeConfig {
    NodeConfig {
        me,
        n: N,
        heartbeat: 20_000,
        suspect_after: 100_000,
        seed,
        delta: 10_000,
        byzantine: B,
    }
}

fn e(round: u32, val: Val, ts: &[u32]) -> Entry {
    Entry {
        round,
        val,
        ts: ts.to_vec(),
    }
}

const A: Val = Val::Id(1);
const BB: Val = Val::Id(2);

// ---------------------------------------------------------------------------------------------
// Signing as the servers do.

/// Every server's key for a run's seed, and the statements they sign.
struct Keys {
    seed: u64,
}

impl Keys {
    fn key(&self, s: ServerId) -> SigningKey {
        let mut h = Sha256::new();
        h.update(b"ticketlab/bft-fleet/key");
        h.update(self.seed.to_le_bytes());
        h.update(s.to_le_bytes());
        SigningKey::from_bytes(&h.finalize().into())
    }

    fn sign(&self, s: ServerId, statement: &[u8]) -> Vec<u8> {
        self.key(s).sign(statement).to_bytes().to_vec()
    }
}

fn nums(b: &mut Vec<u8>, xs: &[u32]) {
    b.extend((xs.len() as u32).to_le_bytes());
    for x in xs {
        b.extend(x.to_le_bytes());
    }
}

fn head(tag: &[u8], j: ServerId, i: u32) -> Vec<u8> {
    let mut b = b"ticketlab/bft-fleet/".to_vec();
    b.extend(tag);
    b.push(0);
    b.extend(1u32.to_le_bytes());
    b.extend(b"t");
    b.extend(j.to_le_bytes());
    b.extend(i.to_le_bytes());
    b
}

fn with_entry(mut b: Vec<u8>, e: &Entry) -> Vec<u8> {
    b.extend(e.round.to_le_bytes());
    b.extend(match e.val {
        Val::Bot => [0, 0, 0],
        Val::Id(s) => {
            let [lo, hi] = s.to_le_bytes();
            [1, lo, hi]
        }
    });
    nums(&mut b, &e.ts);
    b
}

/// "Element i of τ_j is e."
fn value(j: ServerId, i: u32, e: &Entry) -> Vec<u8> {
    with_entry(head(b"value", j, i), e)
}

fn echo(j: ServerId, i: u32, e: &Entry) -> Vec<u8> {
    with_entry(head(b"echo", j, i), e)
}

fn gather(j: ServerId, i: u32, ts: &[u32], d: &[u32]) -> Vec<u8> {
    let mut b = head(b"gather", j, i);
    nums(&mut b, ts);
    nums(&mut b, d);
    b
}

fn flip(round: u32) -> Vec<u8> {
    head(b"flip", 0, round)
}

// ---------------------------------------------------------------------------------------------
// A claimant s1 among correct servers s2..s5, FIFO delivery, with made-up elements of other
// arrays slipped into the scan answers s1 receives.

/// Element i of τ_k as reported to s1 by each of `by` (server, whether its signature is genuine).
struct Injected {
    k: ServerId,
    i: u32,
    entry: Entry,
    by: Vec<(ServerId, bool)>,
}

/// A bound on deliveries: the longest run here (the flips) delivers 296 messages; one past
/// 20,000 never ends.
const MAX_DELIVERIES: usize = 20_000;

struct Lab {
    keys: Keys,
    nodes: Vec<Fleet>,
    flight: VecDeque<(ServerId, ServerId, Msg)>,
    /// Every message sent, in order.
    sent: Vec<(ServerId, ServerId, Msg)>,
    decisions: Vec<(ServerId, Outcome)>,
    injected: Vec<Injected>,
    delivered: usize,
}

impl Lab {
    fn new(seed: u64) -> Self {
        Lab {
            keys: Keys { seed },
            nodes: (1..=N).map(|s| Fleet::new(&cfg(s, seed))).collect(),
            flight: VecDeque::new(),
            sent: Vec::new(),
            decisions: Vec::new(),
            injected: Vec::new(),
            delivered: 0,
        }
    }

    fn take(&mut self, me: ServerId, out: Out) {
        for eff in out.effects {
            match eff {
                Effect::Send { to, msg } => {
                    self.sent.push((me, to, msg.clone()));
                    self.flight.push_back((me, to, msg));
                }
                Effect::Decide { outcome, .. } => self.decisions.push((me, outcome)),
                _ => {}
            }
        }
    }

    fn submit(&mut self) {
        let mut out = Out::new(1, N);
        self.nodes[0].on_ticket(0, "t".into(), &mut out);
        self.take(1, out);
    }

    /// Slip the injected elements `from` reports into its scan answer.
    fn doctor(&self, from: ServerId, msg: &mut Msg) {
        let Msg::FlReply {
            rep: Reply::Arrays { arrays },
            ..
        } = msg
        else {
            return;
        };
        for x in &self.injected {
            let Some(&(_, genuine)) = x.by.iter().find(|(s, _)| *s == from) else {
                continue;
            };
            let array = &mut arrays[usize::from(x.k) - 1];
            let at = x.i as usize - 1;
            if array.len() <= at {
                array.resize(at + 1, None);
            }
            if array[at].is_none() {
                // A forged report: the server's signature on another value.
                let signed = if genuine {
                    value(x.k, x.i, &x.entry)
                } else {
                    value(x.k, x.i, &e(7, Val::Bot, &[]))
                };
                array[at] = Some(Stamped {
                    entry: x.entry.clone(),
                    sig: self.keys.sign(from, &signed),
                });
            }
        }
    }

    fn deliver(&mut self, from: ServerId, to: ServerId, mut msg: Msg) {
        self.delivered += 1;
        assert!(
            self.delivered <= MAX_DELIVERIES,
            "more than MAX_DELIVERIES = {MAX_DELIVERIES} deliveries: the run does not end"
        );
        if to == 1 {
            self.doctor(from, &mut msg);
        }
        let mut out = Out::new(to, N);
        self.nodes[usize::from(to) - 1].on_message(0, from, msg, &mut out);
        self.take(to, out);
    }

    fn run(&mut self) {
        while let Some((from, to, msg)) = self.flight.pop_front() {
            self.deliver(from, to, msg);
        }
    }

    /// s1's requests as sent to s2 (one per Q-RPC).
    fn requests(&self) -> Vec<Request> {
        self.sent
            .iter()
            .filter_map(|(from, to, m)| match m {
                Msg::FlRequest { req, .. } if *from == 1 && *to == 2 => Some(req.clone()),
                _ => None,
            })
            .collect()
    }

    /// The elements s1 appended, in order (from its writes).
    fn appended(&self) -> Vec<Entry> {
        self.requests()
            .into_iter()
            .filter_map(|r| match r {
                Request::Write { entry, .. } => Some(entry),
                _ => None,
            })
            .collect()
    }
}

/// A proposer's first element ⟨0, k⟩, having read nothing.
fn proposal(k: ServerId) -> Entry {
    e(0, Val::Id(k), &[0; 5])
}

/// s1 alone, except for p2's proposal as reported (genuinely or not) by `by`: what s1 appends
/// second tells whether its first scan absorbed τ_2[1].
fn second_append_with(entry: Entry, by: &[(ServerId, bool)]) -> Entry {
    let mut lab = Lab::new(3);
    lab.injected.push(Injected {
        k: 2,
        i: 1,
        entry,
        by: by.to_vec(),
    });
    lab.submit();
    lab.run();
    assert_eq!(lab.decisions.len(), 1, "s1 decides");
    lab.appended()[1].clone()
}

#[test]
fn the_test_signer_signs_as_the_servers_do() {
    let mut lab = Lab::new(11);
    lab.submit();
    lab.run();
    assert_eq!(lab.decisions, vec![(1, Outcome::Accept)]);
    // s3's stored copy of τ_1[1], as its scan answer shows it.
    let mut out = Out::new(3, N);
    let scan = Msg::FlRequest {
        ticket: "t".into(),
        rpc: 1,
        req: Request::Scan,
    };
    lab.nodes[2].on_message(0, 1, scan, &mut out);
    let Some(Effect::Send {
        msg: Msg::FlReply {
            rep: Reply::Arrays { arrays },
            ..
        },
        ..
    }) = out.effects.first()
    else {
        panic!("s3 answers a scan: {:?}", out.effects)
    };
    let stored = arrays[0][0].as_ref().expect("s3 stores τ_1[1]");
    assert_eq!(stored.entry, e(0, A, &[0; 5]));
    assert_eq!(stored.sig, lab.keys.sign(3, &value(1, 1, &stored.entry)));
}

// ---------------------------------------------------------------------------------------------
// The client.

#[test]
fn certificates_carry_b_plus_1_valid_signatures() {
    bounded(|| {
        // s1's own elements (from its commits' done answers) and p2's (from a scan, where the
        // three other servers answering report it): each certificate s1 forwards has exactly
        // b+1 = 2 signatures, all valid.
        let mut lab = Lab::new(5);
        lab.injected.push(Injected {
            k: 2,
            i: 1,
            entry: proposal(2),
            by: vec![(2, true), (3, true), (4, true), (5, true)],
        });
        lab.submit();
        lab.run();
        let mut certs: Vec<Cert> = Vec::new();
        for r in lab.requests() {
            if let Request::Init { certs: c, .. } = r {
                certs.extend(c);
            }
        }
        assert!(certs.iter().any(|c| c.array == 1), "own elements certified");
        assert!(
            certs.iter().any(|c| c.array == 2),
            "p2's proposal certified"
        );
        for c in &certs {
            assert_eq!(c.sigs.len(), usize::from(B) + 1, "{c:?}");
            for (s, sig) in &c.sigs {
                assert_eq!(*sig, lab.keys.sign(*s, &value(c.array, c.index, &c.entry)));
            }
        }
    });
}

#[test]
fn the_flip_hashes_the_shares_of_the_b_plus_1_lowest_signers() {
    bounded(|| {
        // p2..p5 proposed themselves: s1 reads five leaders at round 0 that disagree, announces
        // ⊥ twice and flips. Its shares come from s1 itself and s2, s3, s4 (FIFO); the flip
        // hashes s1's and s2's, and picks the k-th largest of the view {1..5}, k = flip mod 5.
        let mut told_apart = false;
        for seed in 1..=6 {
            let mut lab = Lab::new(seed);
            for k in 2..=5 {
                lab.injected.push(Injected {
                    k,
                    i: 1,
                    entry: proposal(k),
                    by: vec![(2, true), (3, true), (4, true), (5, true)],
                });
            }
            lab.submit();
            lab.run();
            let pick = |signers: &[ServerId]| {
                let mut h = Sha256::new();
                for &s in signers {
                    h.update(lab.keys.sign(s, &flip(0)));
                }
                let flip = u64::from_le_bytes(h.finalize()[..8].try_into().unwrap());
                5 - (flip % 5) as ServerId
            };
            let expected = pick(&[1, 2]);
            told_apart |= pick(&[1]) != expected;
            assert!(
                lab.requests().contains(&Request::Flip { round: 0 }),
                "seed {seed}: s1 flips in round 0"
            );
            let first_of_round_1 = lab
                .appended()
                .into_iter()
                .find(|e| e.round == 1)
                .expect("s1 reaches round 1");
            assert_eq!(first_of_round_1.val, Val::Id(expected), "seed {seed}");
            let outcome = if expected == 1 {
                Outcome::Accept
            } else {
                Outcome::Reject
            };
            assert_eq!(lab.decisions, vec![(1, outcome)], "seed {seed}");
        }
        assert!(told_apart, "some seed's flip differs with one share");
    });
}

#[test]
fn a_scan_absorbs_an_element_b_plus_1_servers_report() {
    bounded(|| {
        // Reported by exactly b+1 = 2 of the 4 answers: read, so s1 sees two leaders and
        // announces ⊥, its timestamp naming τ_2[1].
        let second = second_append_with(proposal(2), &[(2, true), (3, true)]);
        assert_eq!(second, e(0, Val::Bot, &[1, 1, 0, 0, 0]));
        // By b = 1 only: not read; s1 is alone and announces itself.
        let second = second_append_with(proposal(2), &[(2, true)]);
        assert_eq!(second, e(0, A, &[1, 0, 0, 0, 0]));
    });
}

#[test]
fn a_scan_needs_b_plus_1_valid_signatures() {
    bounded(|| {
        // Three servers report τ_2[1], but only one signature (or none) is genuine.
        let second = second_append_with(proposal(2), &[(2, true), (3, false), (4, false)]);
        assert_eq!(second, e(0, A, &[1, 0, 0, 0, 0]));
        let second = second_append_with(proposal(2), &[(2, false), (3, false), (4, false)]);
        assert_eq!(second, e(0, A, &[1, 0, 0, 0, 0]));
        // Two genuine ones suffice.
        let second = second_append_with(proposal(2), &[(2, false), (3, true), (4, true)]);
        assert_eq!(second, e(0, Val::Bot, &[1, 1, 0, 0, 0]));
    });
}

#[test]
fn a_scan_ignores_an_element_whose_timestamp_is_not_n_long() {
    bounded(|| {
        // Validly signed by three servers, but its timestamp covers 4 arrays of 5.
        let all = [(2, true), (3, true), (4, true)];
        let second = second_append_with(e(0, BB, &[0; 4]), &all);
        assert_eq!(second, e(0, A, &[1, 0, 0, 0, 0]));
        let second = second_append_with(e(0, BB, &[0; 6]), &all);
        assert_eq!(second, e(0, A, &[1, 0, 0, 0, 0]));
    });
}

/// The first Init of s1 delivered to s2 and s3 and their gathers back: s1 holds 3 of the q = 4
/// gathers it needs. Returns the lab and the init as sent to s4 (not delivered).
fn three_gathers() -> (Lab, Msg) {
    let mut lab = Lab::new(9);
    lab.submit();
    let inits: Vec<_> = lab.flight.drain(..).collect();
    assert_eq!(inits.len(), 4, "s1's init to the others");
    for (from, to, msg) in inits.iter().take(2).cloned() {
        lab.deliver(from, to, msg);
    }
    while let Some((from, to, msg)) = lab.flight.pop_front() {
        lab.deliver(from, to, msg);
    }
    (lab, inits[2].2.clone())
}

fn writes(effects: &[Effect]) -> usize {
    fleet_requests(effects, "FL-WRITE")
}

fn feed(lab: &mut Lab, to: ServerId, from: ServerId, msg: Msg) -> Vec<Effect> {
    let mut out = Out::new(to, N);
    lab.nodes[usize::from(to) - 1].on_message(0, from, msg, &mut out);
    out.effects
}

fn answer(lab: &mut Lab, to: ServerId, from: ServerId, msg: Msg) -> Option<Reply> {
    fleet_reply(feed(lab, to, from, msg))
}

#[test]
fn a_gather_counts_only_if_signed_and_n_long() {
    let (mut lab, init_to_s4) = three_gathers();
    assert!(
        !lab.requests()
            .iter()
            .any(|r| matches!(r, Request::Write { .. })),
        "3 gathers of 4: no write yet"
    );
    let Msg::FlRequest { rpc, .. } = init_to_s4 else {
        unreachable!()
    };
    let Some(Reply::Gather { d, sig }) = answer(&mut lab, 4, 1, init_to_s4) else {
        panic!("s4 gathers")
    };
    let gather_reply = |d: Vec<u32>, sig: Vec<u8>| Msg::FlReply {
        ticket: "t".into(),
        rpc,
        rep: Reply::Gather { d, sig },
    };
    // s4's gather with one signature byte flipped: no quorum yet.
    let mut garbled = sig.clone();
    garbled[3] ^= 1;
    assert_eq!(
        writes(&feed(&mut lab, 1, 4, gather_reply(d.clone(), garbled))),
        0
    );
    // A gather s4 really signed, but over a D of 4 entries, not n = 5: no quorum either.
    let short = vec![0; 4];
    let sig_short = lab.keys.sign(4, &gather(1, 1, &[0; 5], &short));
    assert_eq!(
        writes(&feed(&mut lab, 1, 4, gather_reply(short, sig_short))),
        0
    );
    // The genuine one completes the Q-RPC: the write goes to the 4 others.
    assert_eq!(writes(&feed(&mut lab, 1, 4, gather_reply(d, sig))), 4);
}

// ---------------------------------------------------------------------------------------------
// Justification (Justifier::replay).

#[test]
fn a_first_element_proposes_its_own_array_which_its_timestamp_covers() {
    // τ_3[1] = ⟨0, 3⟩ with a timestamp of 2 arrays: it cannot have counted its own.
    let mut j = Justifier::default();
    j.learn(3, 1, e(0, Val::Id(3), &[0, 0]));
    assert_eq!(j.justified(3, 1), Some(false));
    let mut j = Justifier::default();
    j.learn(2, 1, e(0, BB, &[0, 0]));
    assert_eq!(j.justified(2, 1), Some(true));
}

#[test]
fn a_first_element_counts_none_of_its_own_but_may_have_read_others() {
    let mut j = Justifier::default();
    j.learn(2, 1, e(0, BB, &[0, 0]));
    j.learn(1, 1, e(0, A, &[0, 1]));
    assert_eq!(j.justified(1, 1), Some(true), "read p2's proposal first");
    let mut j = Justifier::default();
    j.learn(1, 1, e(0, A, &[1, 0]));
    assert_eq!(j.justified(1, 1), Some(false), "counts itself");
}

#[test]
fn a_later_element_counts_exactly_its_predecessors_in_an_n_long_timestamp() {
    let base = || {
        let mut j = Justifier::default();
        j.learn(1, 1, e(0, A, &[0, 0]));
        j
    };
    // What a client alone does next: it reads itself and announces its value.
    let mut j = base();
    j.learn(1, 2, e(0, A, &[1, 0]));
    assert_eq!(j.justified(1, 2), Some(true));
    // ⊥ after a read of nothing would be right, but the timestamp must count element 1.
    let mut j = base();
    j.learn(1, 2, e(0, Val::Bot, &[0, 0]));
    assert_eq!(j.justified(1, 2), Some(false));
    // The right count in a timestamp of 3 arrays (of 2).
    let mut j = base();
    j.learn(1, 2, e(0, A, &[1, 0, 0]));
    assert_eq!(j.justified(1, 2), Some(false));
}

#[test]
fn between_appends_a_client_may_rerun_the_main_loops_read() {
    // ⟨0,1⟩ four times: the announcements of LeadersAgree (elements 2 and 3), then, after a
    // second-announcement state, line 4's action again (an extra `Last`, "return"): the main
    // loop's ⟨0,1⟩ rather than round 1's.
    let mut j = Justifier::default();
    for i in 1..=4 {
        j.learn(1, i, e(0, A, &[i - 1, 0]));
    }
    assert_eq!(j.justified(1, 4), Some(true));
    // Round 1's ⟨1,1⟩ after the second announcement is justified too.
    let mut j = Justifier::default();
    for i in 1..=3 {
        j.learn(1, i, e(0, A, &[i - 1, 0]));
    }
    j.learn(1, 4, e(1, A, &[3, 0]));
    assert_eq!(j.justified(1, 4), Some(true));
}

#[test]
fn a_coin_starts_the_next_round() {
    // p1 and p2 at round 0 with different values: p1 announces ⊥ twice and flips Coin(0).
    let base = || {
        let mut j = Justifier::default();
        j.learn(2, 1, e(0, BB, &[0, 0]));
        j.learn(1, 1, e(0, A, &[0, 0]));
        j.learn(1, 2, e(0, Val::Bot, &[1, 1]));
        j.learn(1, 3, e(0, Val::Bot, &[2, 1]));
        j
    };
    for (round, ok) in [(1, Some(true)), (0, Some(false)), (2, Some(false))] {
        let mut j = base();
        j.learn(1, 4, e(round, BB, &[3, 1]));
        assert_eq!(j.justified(1, 4), ok, "the coin's ⟨{round}, 2⟩");
    }
}

// ---------------------------------------------------------------------------------------------
// The servers (Arrays::serve, Arrays::install), fed s1's requests directly.

fn req(index_rpc: u32, req: Request) -> Msg {
    Msg::FlRequest {
        ticket: "t".into(),
        rpc: index_rpc,
        req,
    }
}

fn server(seed: u64, me: ServerId) -> Fleet {
    Fleet::new(&cfg(me, seed))
}

fn serve(node: &mut Fleet, me: ServerId, from: ServerId, r: Request) -> Option<Reply> {
    let mut out = Out::new(me, N);
    node.on_message(0, from, req(1, r), &mut out);
    out.effects.into_iter().find_map(|e| match e {
        Effect::Send {
            msg: Msg::FlReply { rep, .. },
            ..
        } => Some(rep),
        _ => None,
    })
}

fn stored(node: &mut Fleet, me: ServerId, k: ServerId) -> Vec<Option<Stamped>> {
    match serve(node, me, 1, Request::Scan) {
        Some(Reply::Arrays { arrays }) => arrays[usize::from(k) - 1].clone(),
        other => panic!("a scan answer: {other:?}"),
    }
}

fn is_gather(r: &Option<Reply>) -> bool {
    matches!(r, Some(Reply::Gather { .. }))
}

#[test]
fn an_init_needs_a_positive_index_and_an_n_long_timestamp() {
    let mut s2 = server(1, 2);
    let init = |index, ts: &[u32]| Request::Init {
        index,
        ts: ts.to_vec(),
        certs: vec![],
    };
    assert_eq!(serve(&mut s2, 2, 1, init(0, &[0; 5])), None);
    assert_eq!(serve(&mut s2, 2, 1, init(1, &[0; 3])), None);
    assert_eq!(serve(&mut s2, 2, 1, init(1, &[0; 6])), None);
    assert!(is_gather(&serve(&mut s2, 2, 1, init(1, &[0; 5]))));
}

/// s1's first init, naming τ_2[1] and carrying `cert` for it.
fn init_naming(cert: Cert) -> Request {
    Request::Init {
        index: 1,
        ts: vec![0, 1, 0, 0, 0],
        certs: vec![cert],
    }
}

#[test]
fn a_server_installs_a_certified_element_with_b_plus_1_valid_signatures() {
    let keys = Keys { seed: 4 };
    let p2 = proposal(2);
    let sig = |s| (s, keys.sign(s, &value(2, 1, &p2)));
    let cert = |sigs: Vec<(ServerId, Vec<u8>)>| Cert {
        array: 2,
        index: 1,
        entry: p2.clone(),
        sigs,
    };
    let mut s3 = server(4, 3);
    // b = 1 signature, the same twice, or one of two forged: not installed, so the init names
    // an element s3 lacks.
    let mut forged = sig(4);
    forged.1[0] ^= 1;
    for sigs in [vec![sig(2)], vec![sig(2), sig(2)], vec![sig(2), forged]] {
        assert_eq!(serve(&mut s3, 3, 1, init_naming(cert(sigs))), None);
        assert!(stored(&mut s3, 3, 2).is_empty());
    }
    // b+1 = 2 valid ones: installed (s3 signs its own copy), and the init is gathered.
    assert!(is_gather(&serve(
        &mut s3,
        3,
        1,
        init_naming(cert(vec![sig(2), sig(4)]))
    )));
    let copy = stored(&mut s3, 3, 2);
    assert_eq!(copy.len(), 1);
    let copy = copy[0].as_ref().expect("τ_2[1] installed");
    assert_eq!(copy.entry, p2);
    assert_eq!(copy.sig, keys.sign(3, &value(2, 1, &p2)));
}

#[test]
fn a_server_ignores_a_certificate_for_index_0_a_bad_array_or_a_short_timestamp() {
    let keys = Keys { seed: 4 };
    let certified = |array: ServerId, index: u32, entry: Entry| Cert {
        array,
        index,
        sigs: vec![
            (2, keys.sign(2, &value(array, index, &entry))),
            (4, keys.sign(4, &value(array, index, &entry))),
        ],
        entry,
    };
    let plain = |c: Cert| Request::Init {
        index: 1,
        ts: vec![0; 5],
        certs: vec![c],
    };
    let mut s3 = server(4, 3);
    // Well signed, but no element 0 or array 6 exists: ignored, the init still gathered.
    assert!(is_gather(&serve(
        &mut s3,
        3,
        1,
        plain(certified(2, 0, proposal(2)))
    )));
    assert!(is_gather(&serve(
        &mut s3,
        3,
        1,
        plain(certified(6, 1, proposal(6)))
    )));
    assert!(is_gather(&serve(
        &mut s3,
        3,
        1,
        plain(certified(0, 1, proposal(2)))
    )));
    // Well signed, but its timestamp covers 4 arrays: not installed, so an init naming it fails.
    let mut s3 = server(4, 3);
    let short = e(0, BB, &[0; 4]);
    assert_eq!(
        serve(&mut s3, 3, 1, init_naming(certified(2, 1, short))),
        None
    );
    assert!(stored(&mut s3, 3, 2).is_empty());
}

/// q = 4 gathers (of s1..s4, D all 0) for element `index` of τ_1 with `entry`'s timestamp.
fn gathers(keys: &Keys, index: u32, entry: &Entry) -> Vec<(ServerId, Vec<u32>, Vec<u8>)> {
    (1..=4)
        .map(|s| {
            let d = vec![0; 5];
            let sig = keys.sign(s, &gather(1, index, &entry.ts, &d));
            (s, d, sig)
        })
        .collect()
}

#[test]
fn a_server_echoes_only_a_positive_index_and_an_n_long_timestamp() {
    let keys = Keys { seed: 6 };
    let mut s5 = server(6, 5);
    let write = |index, entry: Entry| Request::Write {
        index,
        gathers: gathers(&keys, index, &entry),
        entry,
    };
    assert_eq!(serve(&mut s5, 5, 1, write(1, e(0, A, &[0; 4]))), None);
    assert_eq!(serve(&mut s5, 5, 1, write(0, e(0, A, &[0; 5]))), None);
    assert!(matches!(
        serve(&mut s5, 5, 1, write(1, e(0, A, &[0; 5]))),
        Some(Reply::Echo { .. })
    ));
}

#[test]
fn a_server_stores_only_a_positive_index_and_an_n_long_timestamp() {
    let keys = Keys { seed: 6 };
    let mut s5 = server(6, 5);
    let commit = |index, entry: Entry| Request::Commit {
        index,
        echoes: (1..=4)
            .map(|s| (s, keys.sign(s, &echo(1, index, &entry))))
            .collect(),
        entry,
    };
    assert_eq!(serve(&mut s5, 5, 1, commit(1, e(0, A, &[0; 4]))), None);
    assert_eq!(serve(&mut s5, 5, 1, commit(0, e(0, A, &[0; 5]))), None);
    assert!(stored(&mut s5, 5, 1).is_empty());
    let p1 = e(0, A, &[0; 5]);
    assert_eq!(
        serve(&mut s5, 5, 1, commit(1, p1.clone())),
        Some(Reply::Done {
            sig: keys.sign(5, &value(1, 1, &p1))
        })
    );
}
