//! `bft-fleet` (`fleet/`): Fig. 5's rules as a table, justification by replay, the servers'
//! checks of Fig. 4 (forged or missing signatures, one echo per index, the timestamp lower
//! bound), and whole clusters of state machines under random delivery orders: solo cost, one
//! winner among racing claimants, progress without b silent servers.

use std::collections::BTreeSet;
use ticketlab_protocols::fleet::{
    step, Action, Entry, Fleet, Justifier, Obs, Pos, Reply, Request, St, Val,
};
use ticketlab_protocols::{Effect, Msg, NodeConfig, Out, Outcome, Protocol, ServerId, Ticket};

mod common;
use common::{bounded, fleet_reply, fleet_requests};

fn obs(last: &[Option<(u32, Val)>]) -> Obs {
    Obs {
        last: last.to_vec(),
    }
}

fn st(round: u32, pref: ServerId, pos: Pos) -> St {
    St { round, pref, pos }
}

const A: Val = Val::Id(1);
const B: Val = Val::Id(2);

#[test]
fn fig5_rules_after_a_global_read() {
    // Line 5: leaders agree → LeadersAgree adopts their value.
    let agree = obs(&[Some((1, A)), Some((0, B))]);
    assert_eq!(
        step(st(1, 2, Pos::Main), &agree),
        Action::Append {
            then: st(1, 1, Pos::Agree1),
            val: A
        }
    );
    // Leaders disagree (two values, or ⊥) → ⊥.
    let split = obs(&[Some((1, A)), Some((1, B))]);
    assert_eq!(
        step(st(1, 1, Pos::Main), &split),
        Action::Append {
            then: st(1, 1, Pos::Disagree1),
            val: Val::Bot
        }
    );
    let bot = obs(&[Some((1, Val::Bot)), Some((0, B))]);
    assert!(matches!(
        step(st(1, 1, Pos::Main), &bot),
        Action::Append { val: Val::Bot, .. }
    ));
    // Lines 14–15, 18–19, 27–28, 31–32: a change of status sends the client back to line 4.
    assert_eq!(
        step(st(1, 2, Pos::Agree1), &agree),
        Action::Rescan {
            then: st(1, 2, Pos::Main)
        }
    );
    assert_eq!(
        step(st(1, 2, Pos::Agree2), &agree),
        Action::Rescan {
            then: st(1, 2, Pos::Main)
        }
    );
    assert_eq!(
        step(st(1, 1, Pos::Disagree2), &agree),
        Action::Rescan {
            then: st(1, 1, Pos::Main)
        }
    );
    // Line 20: decide only when every disagreeing client is two rounds behind…
    let alone = obs(&[Some((3, A)), Some((1, B))]);
    assert_eq!(step(st(3, 1, Pos::Agree2), &alone), Action::Decide(1));
    let close = obs(&[Some((3, A)), Some((2, B))]);
    assert_eq!(
        step(st(3, 1, Pos::Agree2), &close),
        Action::Append {
            then: st(4, 1, Pos::Main),
            val: A
        }
    );
    // … and never in round 0 [reconstructed], however alone the client is.
    let solo0 = obs(&[Some((0, A)), None]);
    assert_eq!(
        step(st(0, 1, Pos::Agree2), &solo0),
        Action::Append {
            then: st(1, 1, Pos::Main),
            val: A
        }
    );
    let solo1 = obs(&[Some((1, A)), None]);
    assert_eq!(step(st(1, 1, Pos::Agree2), &solo1), Action::Decide(1));
    // Line 33: only a leader flips the coin; a client behind moves on with its pref.
    assert_eq!(
        step(st(1, 1, Pos::Disagree2), &split),
        Action::Coin { round: 1 }
    );
    assert_eq!(
        step(st(0, 1, Pos::Disagree2), &split),
        Action::Append {
            then: st(1, 1, Pos::Main),
            val: A
        }
    );
}

fn e(round: u32, val: Val, ts: &[u32]) -> Entry {
    Entry {
        round,
        val,
        ts: ts.to_vec(),
    }
}

#[test]
fn justification_replays_the_appenders_rounds() {
    let mut j = Justifier::default();
    // p1: ⟨0, 1⟩, then (reading nobody) the announcements of round 0.
    j.learn(1, 1, e(0, A, &[0, 0]));
    j.learn(1, 2, e(0, A, &[1, 0]));
    j.learn(1, 3, e(0, A, &[2, 0]));
    // Round 1's line 2 after round 0's second announcement.
    j.learn(1, 4, e(1, A, &[3, 0]));
    for i in 1..=4 {
        assert_eq!(j.justified(1, i), Some(true), "τ_1[{i}]");
    }
    // p2 proposes someone else, or starts past round 0: not justified.
    j.learn(2, 1, e(0, A, &[0, 0]));
    assert_eq!(j.justified(2, 1), Some(false));
    let mut j2 = Justifier::default();
    j2.learn(2, 1, e(1, B, &[0, 0]));
    assert_eq!(j2.justified(2, 1), Some(false));
    // p2 claims to have read p1 in round 1 (ts = 4) yet keeps announcing its own value in round
    // 0: a correct client that read a round-1 leader agreeing on 1 adopts it.
    let mut j3 = Justifier::default();
    for i in 1..=4 {
        j3.learn(1, i, j.entry(1, i).unwrap().clone());
    }
    j3.learn(2, 1, e(0, B, &[0, 0]));
    j3.learn(2, 2, e(0, B, &[4, 1]));
    assert_eq!(j3.justified(2, 2), Some(false));
    j3.learn(2, 3, e(0, B, &[4, 1]));
    // Its honest counterpart adopts 1.
    let mut j4 = Justifier::default();
    for i in 1..=4 {
        j4.learn(1, i, j.entry(1, i).unwrap().clone());
    }
    j4.learn(2, 1, e(0, B, &[0, 0]));
    j4.learn(2, 2, e(0, A, &[4, 1]));
    assert_eq!(j4.justified(2, 2), Some(true));
    // An element whose timestamp names an element not read yet is undecided, not false.
    let mut j5 = Justifier::default();
    j5.learn(2, 1, e(0, B, &[0, 0]));
    j5.learn(2, 2, e(0, B, &[7, 1]));
    assert_eq!(j5.justified(2, 2), None);
}

#[test]
fn a_coin_may_only_pick_a_proposal_within_the_timestamp() {
    // p1 and p2 both at round 1 with different values: p1 announces ⊥ twice, then flips.
    let base = |j: &mut Justifier| {
        j.learn(2, 1, e(0, B, &[0, 0]));
        j.learn(1, 1, e(0, A, &[0, 0]));
        j.learn(1, 2, e(0, Val::Bot, &[1, 1]));
        j.learn(1, 3, e(0, Val::Bot, &[2, 1]));
    };
    let mut ok = Justifier::default();
    base(&mut ok);
    ok.learn(1, 4, e(1, B, &[3, 1]));
    assert_eq!(
        ok.justified(1, 4),
        Some(true),
        "the coin picked p2's proposal"
    );
    let mut bad = Justifier::default();
    base(&mut bad);
    bad.learn(1, 4, e(1, Val::Id(3), &[3, 1]));
    assert_eq!(bad.justified(1, 4), Some(false), "nobody proposed 3");
}

fn cfg(me: ServerId, n: u16, b: u16) -> NodeConfig {
    NodeConfig {
        me,
        n,
        heartbeat: 20_000,
        suspect_after: 100_000,
        seed: 7,
        delta: 10_000,
        byzantine: b,
    }
}

/// A bound on the deliveries of one run: the longest correct run of these tests (one of the 60
/// racing seeds or the b-silent runs) delivers 1,104 messages; one past 20,000 never ends.
const MAX_DELIVERIES: usize = 20_000;

/// A cluster of `bft-fleet` state machines and the messages in flight between them.
struct Net {
    nodes: Vec<Fleet>,
    flight: Vec<(ServerId, ServerId, Msg)>,
    decisions: Vec<(ServerId, Outcome)>,
    sent: usize,
    /// Messages delivered so far (bounded by [`MAX_DELIVERIES`]).
    delivered: usize,
    /// Servers whose messages are dropped, both ways (silent or crashed).
    mute: BTreeSet<ServerId>,
    rng: u64,
}

impl Net {
    fn new(n: u16, b: u16, seed: u64) -> Self {
        Net {
            nodes: (1..=n).map(|s| Fleet::new(&cfg(s, n, b))).collect(),
            flight: Vec::new(),
            decisions: Vec::new(),
            sent: 0,
            delivered: 0,
            mute: BTreeSet::new(),
            rng: seed.wrapping_mul(6364136223846793005).wrapping_add(1),
        }
    }

    fn take(&mut self, me: ServerId, out: Out) {
        for eff in out.effects {
            match eff {
                Effect::Send { to, msg } => {
                    self.sent += 1;
                    if !self.mute.contains(&me) && !self.mute.contains(&to) {
                        self.flight.push((me, to, msg));
                    }
                }
                Effect::Decide { outcome, .. } => self.decisions.push((me, outcome)),
                _ => {}
            }
        }
    }

    fn submit(&mut self, s: ServerId) {
        let mut out = Out::new(s, self.nodes.len() as u16);
        self.nodes[usize::from(s) - 1].on_ticket(0, "t".into(), &mut out);
        self.take(s, out);
    }

    /// Deliver messages in a random order (FIFO when `random` is false) until none is left.
    fn run(&mut self, random: bool) {
        while !self.flight.is_empty() {
            let i = if random {
                self.rng = self
                    .rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (self.rng >> 33) as usize % self.flight.len()
            } else {
                0
            };
            let (from, to, msg) = self.flight.remove(i);
            self.deliver(from, to, msg);
        }
    }

    /// Hand `msg` to `to`, counting it: a run that needs more than [`MAX_DELIVERIES`] never
    /// ends (rounds that do not progress, a scan that never completes), so it fails at once.
    fn deliver(&mut self, from: ServerId, to: ServerId, msg: Msg) {
        self.delivered += 1;
        assert!(
            self.delivered <= MAX_DELIVERIES,
            "more than MAX_DELIVERIES = {MAX_DELIVERIES} deliveries: the run does not end"
        );
        let mut out = Out::new(to, self.nodes.len() as u16);
        self.nodes[usize::from(to) - 1].on_message(0, from, msg, &mut out);
        self.take(to, out);
    }
}

#[test]
fn a_solo_claimant_decides_itself_after_24_quorum_rpcs() {
    for n in [1, 3, 4, 7] {
        let mut net = Net::new(n, 0, 1);
        net.submit(1);
        net.run(false);
        assert_eq!(net.decisions, vec![(1, Outcome::Accept)], "n = {n}");
        // Rounds 0 and 1: six appends of three Q-RPCs and six scans, 2(n−1) messages each.
        assert_eq!(net.sent, 48 * usize::from(n - 1), "n = {n}");
    }
}

#[test]
fn racing_claimants_agree_on_one_winner_under_random_orders() {
    bounded(racing_claimants);
}

fn racing_claimants() {
    let mut winners = BTreeSet::new();
    for seed in 0..60 {
        let (n, claimants): (u16, &[ServerId]) = match seed % 3 {
            0 => (3, &[1, 2]),
            1 => (4, &[1, 3, 4]),
            _ => (5, &[2, 5]),
        };
        let mut net = Net::new(n, 0, seed);
        for &c in claimants {
            net.submit(c);
        }
        net.run(true);
        let mut decided: Vec<ServerId> = net.decisions.iter().map(|d| d.0).collect();
        decided.sort_unstable();
        assert_eq!(
            decided,
            claimants.to_vec(),
            "seed {seed}: every claimant decides"
        );
        let accepts: Vec<ServerId> = net
            .decisions
            .iter()
            .filter(|d| d.1 == Outcome::Accept)
            .map(|d| d.0)
            .collect();
        assert_eq!(accepts.len(), 1, "seed {seed}: {:?}", net.decisions);
        winners.insert(accepts[0]);
    }
    assert!(winners.len() > 2, "different races have different winners");
}

#[test]
fn b_silent_servers_cost_nothing_but_their_answers() {
    bounded(b_silent_servers);
}

fn b_silent_servers() {
    // n = 5, b = 1: quorums of ⌈(5+3)/2⌉ = 4; s5 never answers.
    for seed in 0..10 {
        let mut net = Net::new(5, 1, seed);
        net.mute.insert(5);
        net.submit(1);
        net.submit(2);
        net.run(true);
        let accepts = net
            .decisions
            .iter()
            .filter(|d| d.1 == Outcome::Accept)
            .count();
        assert_eq!((net.decisions.len(), accepts), (2, 1), "seed {seed}");
    }
    // Two silent servers leave three answers: below the quorum, nobody decides (and nothing
    // unsafe happens).
    let mut net = Net::new(5, 1, 0);
    net.mute.extend([4, 5]);
    net.submit(1);
    net.run(true);
    assert!(net.decisions.is_empty());
}

/// Run a claimant s1 (n = 4, b = 0, quorum 3) to its first write: its FL-WRITE as sent to s4.
fn first_write() -> (Net, Msg) {
    let mut net = Net::new(4, 0, 0);
    net.submit(1);
    // Deliver the three inits and s2's and s3's gathers: s1 then writes.
    loop {
        let (from, to, msg) = net.flight.remove(0);
        if let Msg::FlRequest {
            req: Request::Write { .. },
            ..
        } = &msg
        {
            if to == 4 {
                return (net, msg);
            }
            net.flight.push((from, to, msg));
            continue;
        }
        net.deliver(from, to, msg);
    }
}

fn answer(net: &mut Net, to: ServerId, from: ServerId, msg: Msg) -> Option<Reply> {
    let mut out = Out::new(to, 4);
    net.nodes[usize::from(to) - 1].on_message(0, from, msg, &mut out);
    fleet_reply(out.effects)
}

#[test]
fn servers_check_signatures_echo_once_and_bound_timestamps() {
    let (mut net, write) = first_write();
    let Msg::FlRequest {
        ticket,
        rpc,
        req: Request::Write {
            index,
            entry,
            gathers,
        },
    } = write.clone()
    else {
        unreachable!()
    };
    // A forged gather (one signature byte flipped) leaves two valid of the three needed.
    let mut forged = gathers.clone();
    forged[1].2[0] ^= 1;
    let bad = Msg::FlRequest {
        ticket: ticket.clone(),
        rpc,
        req: Request::Write {
            index,
            entry: entry.clone(),
            gathers: forged,
        },
    };
    assert_eq!(answer(&mut net, 4, 1, bad), None);
    // The same gathers under another signer's name do not count either.
    let mut renamed = gathers.clone();
    renamed[1].0 = 4;
    let bad = Msg::FlRequest {
        ticket: ticket.clone(),
        rpc,
        req: Request::Write {
            index,
            entry: entry.clone(),
            gathers: renamed,
        },
    };
    assert_eq!(answer(&mut net, 4, 1, bad), None);
    // The genuine write is echoed…
    assert!(matches!(
        answer(&mut net, 4, 1, write),
        Some(Reply::Echo { .. })
    ));
    // … and a second value for the same index is not: one echo per index (Lemma 4.1).
    let other = Msg::FlRequest {
        ticket: ticket.clone(),
        rpc,
        req: Request::Write {
            index,
            entry: Entry {
                val: Val::Id(4),
                ..entry.clone()
            },
            gathers: gathers.clone(),
        },
    };
    assert_eq!(answer(&mut net, 4, 1, other), None);
    // A commit needs q = 3 valid echoes: one is not enough.
    let lone = Msg::FlRequest {
        ticket: ticket.clone(),
        rpc,
        req: Request::Commit {
            index,
            entry: entry.clone(),
            echoes: vec![],
        },
    };
    assert_eq!(answer(&mut net, 4, 1, lone), None);
    // An init must name its own previous element (index − 1) and elements that exist.
    let skip = Msg::FlRequest {
        ticket: ticket.clone(),
        rpc,
        req: Request::Init {
            index: 3,
            ts: vec![2, 0, 0, 0],
            certs: vec![],
        },
    };
    assert_eq!(answer(&mut net, 4, 1, skip), None);
    let ghost = Msg::FlRequest {
        ticket,
        rpc,
        req: Request::Init {
            index: 1,
            ts: vec![0, 5, 0, 0],
            certs: vec![],
        },
    };
    assert_eq!(answer(&mut net, 4, 1, ghost), None);
}

/// s1's effects on one message.
fn feed(net: &mut Net, to: ServerId, from: ServerId, msg: Msg) -> Vec<Effect> {
    let mut out = Out::new(to, 4);
    net.nodes[usize::from(to) - 1].on_message(0, from, msg, &mut out);
    out.effects
}

fn request(m: &Msg) -> Option<(u32, &Request)> {
    match m {
        Msg::FlRequest { rpc, req, .. } => Some((*rpc, req)),
        _ => None,
    }
}

#[test]
fn signed_statements_bind_their_content() {
    let (mut net, write) = first_write();
    let Some((
        rpc,
        Request::Write {
            index,
            entry,
            gathers,
        },
    )) = request(&write).map(|(r, q)| (r, q.clone()))
    else {
        unreachable!()
    };
    let ticket = "t".into();
    let msg = |req| Msg::FlRequest {
        ticket: Ticket::clone(&ticket),
        rpc,
        req,
    };
    // The gathers were signed for this timestamp: another one does not pass with them.
    let mut other_ts = entry.clone();
    other_ts.ts[1] += 1;
    let bad = msg(Request::Write {
        index,
        entry: other_ts,
        gathers: gathers.clone(),
    });
    assert_eq!(answer(&mut net, 4, 1, bad), None);
    // Echoes of s2, s3 and s4 for the entry: a quorum for it, and for no other value.
    let mut echoes = Vec::new();
    for s in [2, 3, 4] {
        let w = msg(Request::Write {
            index,
            entry: entry.clone(),
            gathers: gathers.clone(),
        });
        match answer(&mut net, s, 1, w) {
            Some(Reply::Echo { sig }) => echoes.push((s, sig)),
            other => panic!("s{s}: {other:?}"),
        }
    }
    let forged = Entry {
        val: Val::Id(2),
        ..entry.clone()
    };
    let commit = |entry: Entry| {
        msg(Request::Commit {
            index,
            entry,
            echoes: echoes.clone(),
        })
    };
    assert_eq!(answer(&mut net, 4, 1, commit(forged)), None);
    assert!(matches!(
        answer(&mut net, 4, 1, commit(entry.clone())),
        Some(Reply::Done { .. })
    ));
}

#[test]
fn masking_quorums_are_n_plus_2b_plus_1_over_2() {
    for (n, b, q) in [
        (1, 0, 1),
        (3, 0, 2),
        (4, 0, 3),
        (5, 1, 4),
        (6, 1, 5),
        (9, 2, 7),
    ] {
        assert_eq!(
            ticketlab_protocols::fleet::quorum(n, b),
            q,
            "n = {n}, b = {b}"
        );
    }
}

#[test]
fn an_answer_to_another_rpc_or_with_a_bad_signature_does_not_count() {
    let (mut net, write) = first_write();
    let Some((rpc, _)) = request(&write) else {
        unreachable!()
    };
    // s4's echo, relabelled as the answer to another Q-RPC: ignored.
    let Some(Reply::Echo { sig }) = answer(&mut net, 4, 1, write.clone()) else {
        panic!("s4 echoes")
    };
    let echo = |rpc| Msg::FlReply {
        ticket: "t".into(),
        rpc,
        rep: Reply::Echo { sig: sig.clone() },
    };
    let commits = |effects: &[Effect]| fleet_requests(effects, "FL-COMMIT");
    assert_eq!(commits(&feed(&mut net, 1, 4, echo(rpc + 7))), 0);
    // s2's genuine echo makes two with s1's own: below the quorum of 3.
    let to_s2 = net
        .flight
        .iter()
        .position(|(_, to, m)| *to == 2 && matches!(request(m), Some((_, Request::Write { .. }))))
        .expect("the write to s2");
    let (_, _, w2) = net.flight.remove(to_s2);
    let Some(Reply::Echo { sig: sig2 }) = answer(&mut net, 2, 1, w2) else {
        panic!("s2 echoes")
    };
    let genuine2 = Msg::FlReply {
        ticket: "t".into(),
        rpc,
        rep: Reply::Echo { sig: sig2 },
    };
    assert_eq!(commits(&feed(&mut net, 1, 2, genuine2)), 0);
    // A garbled signature under the right number does not count either …
    let mut garbled = sig.clone();
    garbled[7] ^= 0x40;
    let bad = Msg::FlReply {
        ticket: "t".into(),
        rpc,
        rep: Reply::Echo { sig: garbled },
    };
    assert_eq!(commits(&feed(&mut net, 1, 4, bad)), 0);
    // … and s4's echo under the right number completes it.
    assert_eq!(commits(&feed(&mut net, 1, 4, echo(rpc))), 3);
}

#[test]
fn each_quorum_rpc_has_a_new_number() {
    let mut net = Net::new(3, 0, 0);
    net.submit(1);
    let mut seen: Vec<u32> = Vec::new();
    while !net.flight.is_empty() {
        let (from, to, msg) = net.flight.remove(0);
        if from == 1 && to == 2 {
            if let Some((rpc, _)) = request(&msg) {
                seen.push(rpc);
            }
        }
        net.deliver(from, to, msg);
    }
    // 24 Q-RPCs, numbered 1, 2, …, 24.
    assert_eq!(seen, (1..=24).collect::<Vec<u32>>());
}
