//! 2PE, the two-phase e-ticket protocol (paper §3.2, Algorithm 1; docs/PROTOCOLS.md §10).
//!
//! Phase 1 (lines 5–24):
//! - Task 1 (lines 6–12): τ from a user. If τ ∈ rTkts, reject at once; else add it, clear
//!   Replies^τ and send (s_i, τ, NEWTKT) to all servers *including itself* — the own copy is
//!   handled locally, without a message (Figure 5: s_1 counts its own ACK).
//! - Task 2 (lines 13–18): NEWTKT from s_j. If some (s_k, τ) ∈ aTkts, reply (s_k, τ, NACK) to s_j;
//!   else record (s_j, τ) and reply (s_j, τ, ACK). Every server replies.
//! - Task 3 (lines 19–24): a reply (s_j, τ, ACK|NACK) from s_k while τ ∉ vTkts adds s_j to Replies^τ.
//!   When replies from ⌈(n+1)/2⌉ distinct servers are in: accept in Phase 1 if Replies^τ = {s_i},
//!   else enter Phase 2. Replies^τ is frozen at that moment; later replies change nothing.
//!
//! Phase 2 (lines 25–36): A-broadcast (s_i, τ, Replies_i^τ), then walk the A-delivered Phase-2
//! messages about τ in delivery order, adding each sender to Srvs^τ, until a message
//! (s_k, τ, Replies_k) with k = i or Replies_k ⊆ Srvs^τ; accept iff that message is s_i's own and
//! Replies_i ⊆ Srvs^τ, else reject; τ joins vTkts.
//!
//! The Phase-2 trap (docs/PROTOCOLS.md §10): another server's Phase-2 message about τ may be
//! delivered at s_i before s_i enters Phase 2. Lemmas 1(c) and 2 need every Phase-2 server to walk the *same*
//! delivered sequence from its start, so every server buffers every delivered Phase-2 message per
//! ticket, whether or not it is in Phase 2, and the walk always starts from the first.
//!
//! Choices where the paper is silent: an immediate reject of a resubmission (line 8) is reported as
//! Phase 1; replies to a ticket this server never broadcast are ignored.
//!
//! The same state machine runs `alo-2pe` (at-least-once, [`alo`]) when built with
//! [`TwoPe::at_least_once`]: Phase 1 is unchanged, Phase 2 decides by [`alo`]'s winner rule instead
//! of the walk. Without it nothing of [`alo`] runs.

pub mod alo;

use super::quorum::majority;
use super::{servers_text, ServerId, Ticket, Time, Timer};
use super::{AppMsg, AtomicBroadcast, Body, Control, Msg, NodeConfig, Out, Outcome, Protocol};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

/// Per-ticket state at the server that received it from a user.
#[derive(Debug, Default, Hash)]
struct Validation {
    /// Servers whose reply arrived (the "from s_k" of line 21).
    responders: BTreeSet<ServerId>,
    /// Replies^τ: the server ids carried in the replies (the s_j of line 20).
    replies: BTreeSet<ServerId>,
    /// Set once Phase 2 starts: Replies_i^τ frozen.
    phase2: Option<Vec<ServerId>>,
}

#[derive(Hash)]
pub struct TwoPe<A: AtomicBroadcast> {
    me: ServerId,
    /// Replies needed before deciding Phase 1: ⌈(n+1)/2⌉ (line 21).
    quorum: u16,
    ab: A,
    /// rTkts: tickets received from users.
    r_tkts: BTreeSet<Ticket>,
    /// aTkts: ticket → the first server whose NEWTKT this server acked.
    a_tkts: BTreeMap<Ticket, ServerId>,
    /// vTkts: tickets this server has decided.
    v_tkts: BTreeSet<Ticket>,
    /// Validations in progress at this server.
    open: BTreeMap<Ticket, Validation>,
    /// Every delivered Phase-2 message per ticket, in delivery order: (sender, Replies_sender).
    delivered_p2: BTreeMap<Ticket, Vec<(ServerId, Vec<ServerId>)>>,
    /// `Some` in at-least-once mode (`alo-2pe`).
    alo: Option<alo::Alo>,
    /// Bug zoo (`2pe-own-phase2`): the walk stops only at this server's own message, ignoring
    /// an earlier message whose Replies are covered (lines 30–31).
    own_phase2_only: bool,
}

impl<A: AtomicBroadcast> TwoPe<A> {
    pub fn new(cfg: &NodeConfig, ab: A) -> Self {
        TwoPe {
            me: cfg.me,
            quorum: majority(cfg.n),
            ab,
            r_tkts: BTreeSet::new(),
            a_tkts: BTreeMap::new(),
            v_tkts: BTreeSet::new(),
            open: BTreeMap::new(),
            delivered_p2: BTreeMap::new(),
            alo: None,
            own_phase2_only: false,
        }
    }

    /// The bug zoo's `2pe-own-phase2`: the Phase-2 walk waits for this server's own message only.
    pub fn with_own_phase2_only(mut self) -> Self {
        self.own_phase2_only = true;
        self
    }

    /// At-least-once mode: `alo-2pe` ([`alo`]).
    pub fn at_least_once(mut self, cfg: &NodeConfig) -> Self {
        self.alo = Some(alo::Alo::new(cfg));
        self
    }

    /// Replace the Phase-1 quorum — only for the deliberately broken `2pe-minority` variant.
    pub fn with_quorum(mut self, quorum: u16) -> Self {
        self.quorum = quorum;
        self
    }

    /// Task 2: a NEWTKT from `from` (possibly this server itself). Returns the reply.
    fn on_newtkt(&mut self, from: ServerId, ticket: &Ticket) -> Msg {
        match self.a_tkts.get(ticket) {
            Some(&owner) => Msg::Nack {
                owner,
                ticket: ticket.clone(),
            },
            None => {
                self.a_tkts.insert(ticket.clone(), from);
                Msg::Ack {
                    owner: from,
                    ticket: ticket.clone(),
                }
            }
        }
    }

    /// Task 3: a reply from `from`.
    fn on_reply(&mut self, now: Time, from: ServerId, reply: Msg, out: &mut Out) {
        // An ACK carries owner = s_i and a NACK some s_k ≠ s_i: Replies^τ (the owners) says it all.
        let (owner, ticket) = match reply {
            Msg::Ack { owner, ticket } | Msg::Nack { owner, ticket } => (owner, ticket),
            _ => return,
        };
        if self.v_tkts.contains(&ticket) {
            return;
        }
        let Some(v) = self.open.get_mut(&ticket) else {
            return;
        };
        if v.phase2.is_some() || !v.responders.insert(from) {
            return;
        }
        v.replies.insert(owner);
        if v.responders.len() < usize::from(self.quorum) {
            return;
        }
        if v.replies.len() == 1 && v.replies.contains(&self.me) {
            let why = format!(
                "Phase 1: Replies = {{s{}}} from {} — a quorum acked this server alone",
                self.me,
                servers_text(&v.responders)
            );
            self.open.remove(&ticket);
            self.v_tkts.insert(ticket.clone());
            out.decide_why(ticket.clone(), Outcome::Accept, Some(1), why);
            if self.alo.is_some() {
                self.alo_accepted_in_phase1(now, &ticket, out);
            }
            return;
        }
        // Phase 2 (lines 26–27).
        let replies: Vec<ServerId> = v.replies.iter().copied().collect();
        v.phase2 = Some(replies.clone());
        if self.alo.is_some() && self.alo_already_closed(&ticket, out) {
            return;
        }
        let mut delivered = Vec::new();
        self.ab.broadcast(
            now,
            Body::Phase2 {
                ticket: ticket.clone(),
                replies,
            },
            out,
            &mut delivered,
        );
        self.on_delivered(now, delivered, out);
        self.walk(now, &ticket, out);
    }

    fn on_delivered(&mut self, now: Time, delivered: Vec<AppMsg>, out: &mut Out) {
        if self.alo.is_some() {
            return self.alo_on_delivered(now, delivered, out);
        }
        for m in delivered {
            if let Body::Phase2 { ticket, replies } = m.body {
                self.delivered_p2
                    .entry(ticket.clone())
                    .or_default()
                    .push((m.id.origin, replies));
                self.walk(now, &ticket, out);
            }
        }
    }

    /// Lines 28–35: the deterministic walk over the delivered Phase-2 messages about τ.
    fn walk(&mut self, now: Time, ticket: &Ticket, out: &mut Out) {
        if self.alo.is_some() {
            return self.alo_settle(now, ticket, out);
        }
        let Some(mine) = self.open.get(ticket).and_then(|v| v.phase2.clone()) else {
            return;
        };
        let Some(seq) = self.delivered_p2.get(ticket) else {
            return;
        };
        let mut srvs: BTreeSet<ServerId> = BTreeSet::new();
        for (k, replies_k) in seq {
            srvs.insert(*k);
            let covered = !self.own_phase2_only && replies_k.iter().all(|s| srvs.contains(s));
            if *k == self.me || covered {
                let accept = *k == self.me && mine.iter().all(|s| srvs.contains(s));
                let outcome = if accept {
                    Outcome::Accept
                } else {
                    Outcome::Reject
                };
                let stop = if *k == self.me {
                    "its own message"
                } else {
                    "a message its Srvs cover"
                };
                let why = format!(
                    "Phase 2: the walk stopped at (s{k}, Replies = {}), {stop}, with Srvs = {}; \
                     own Replies = {}",
                    servers_text(replies_k),
                    servers_text(&srvs),
                    servers_text(&mine)
                );
                self.open.remove(ticket);
                self.v_tkts.insert(ticket.clone());
                out.decide_why(ticket.clone(), outcome, Some(2), why);
                return;
            }
        }
    }
}

impl<A: AtomicBroadcast + Hash> Protocol for TwoPe<A> {
    fn state_hash(&self, mut h: &mut dyn Hasher) {
        self.hash(&mut h);
    }
    fn on_start(&mut self, now: Time, out: &mut Out) {
        self.ab.start(now, out);
    }

    fn on_ticket(&mut self, now: Time, ticket: Ticket, out: &mut Out) {
        if self.alo_halted() {
            return;
        }
        if !self.r_tkts.insert(ticket.clone()) {
            let why = "received twice by this server".to_string();
            out.decide_why(ticket, Outcome::Reject, Some(1), why);
            return;
        }
        self.open.insert(ticket.clone(), Validation::default());
        out.send_others(&Msg::NewTkt {
            ticket: ticket.clone(),
        });
        let reply = self.on_newtkt(self.me, &ticket);
        self.on_reply(now, self.me, reply, out);
        self.alo_exclude_suspected(now, out);
    }

    fn on_message(&mut self, now: Time, from: ServerId, msg: Msg, out: &mut Out) {
        if self.alo_halted() {
            return;
        }
        let mut delivered = Vec::new();
        let unhandled = self.ab.on_message(now, from, msg, out, &mut delivered);
        self.on_delivered(now, delivered, out);
        if self.alo_halted() {
            return;
        }
        match unhandled {
            Some(Msg::NewTkt { ticket }) => {
                let reply = self.on_newtkt(from, &ticket);
                out.send(from, reply);
            }
            Some(reply @ (Msg::Ack { .. } | Msg::Nack { .. })) => {
                self.on_reply(now, from, reply, out)
            }
            _ => {}
        }
        self.alo_exclude_suspected(now, out);
    }

    fn on_timer(&mut self, now: Time, timer: Timer, out: &mut Out) {
        if self.alo_halted() {
            return;
        }
        let mut delivered = Vec::new();
        self.ab.on_timer(now, timer, out, &mut delivered);
        self.on_delivered(now, delivered, out);
        self.alo_exclude_suspected(now, out);
    }

    fn on_control(&mut self, now: Time, ctl: Control, out: &mut Out) {
        if self.alo_halted() {
            return;
        }
        let mut delivered = Vec::new();
        self.ab.on_control(now, ctl, out, &mut delivered);
        self.on_delivered(now, delivered, out);
        self.alo_exclude_suspected(now, out);
    }
}

#[cfg(test)]
mod tests {
    //! Single-node effect tests for Algorithm 1's three tasks: feed inputs, assert the exact
    //! effects (heartbeat timers and notes left out).
    use super::*;
    use crate::ct::CtBroadcast;
    use crate::{Effect, MsgId};

    const N: u16 = 5;

    fn node(me: ServerId) -> TwoPe<CtBroadcast> {
        let cfg = NodeConfig {
            me,
            n: N,
            heartbeat: 20_000,
            suspect_after: 100_000,
            seed: 1,
            delta: 10_000,
            byzantine: 0,
        };
        TwoPe::new(&cfg, CtBroadcast::new(&cfg))
    }

    fn t() -> Ticket {
        Ticket::from("tau")
    }

    /// Sends and decisions only.
    /// Sends and decisions (without their `why`, which `decisions_say_why` checks).
    fn effects(out: &mut Out) -> Vec<Effect> {
        out.drain()
            .filter_map(|e| match e {
                Effect::Send { .. } => Some(e),
                Effect::Decide {
                    ticket,
                    outcome,
                    phase,
                    ..
                } => Some(Effect::Decide {
                    ticket,
                    outcome,
                    phase,
                    why: None,
                }),
                _ => None,
            })
            .collect()
    }

    fn send(to: ServerId, msg: Msg) -> Effect {
        Effect::Send { to, msg }
    }

    #[test]
    fn task1_sends_newtkt_to_all_others_and_acks_itself() {
        let mut s1 = node(1);
        let mut out = Out::new(1, N);
        s1.on_ticket(0, t(), &mut out);
        let newtkt = Msg::NewTkt { ticket: t() };
        assert_eq!(
            effects(&mut out),
            (2..=N)
                .map(|to| send(to, newtkt.clone()))
                .collect::<Vec<_>>()
        );
        // Its own NEWTKT was acked locally: a second server's NEWTKT now gets a NACK naming s1.
        s1.on_message(5, 3, Msg::NewTkt { ticket: t() }, &mut out);
        assert_eq!(
            effects(&mut out),
            vec![send(
                3,
                Msg::Nack {
                    owner: 1,
                    ticket: t()
                }
            )]
        );
    }

    #[test]
    fn task1_rejects_a_resubmission_at_once() {
        let mut s1 = node(1);
        let mut out = Out::new(1, N);
        s1.on_ticket(0, t(), &mut out);
        out.drain();
        s1.on_ticket(1, t(), &mut out);
        assert_eq!(
            effects(&mut out),
            vec![Effect::Decide {
                ticket: t(),
                outcome: Outcome::Reject,
                phase: Some(1),
                why: None
            }]
        );
    }

    #[test]
    fn task2_acks_the_first_and_nacks_later_ones_with_the_first_owner() {
        let mut s3 = node(3);
        let mut out = Out::new(3, N);
        s3.on_message(10, 1, Msg::NewTkt { ticket: t() }, &mut out);
        assert_eq!(
            effects(&mut out),
            vec![send(
                1,
                Msg::Ack {
                    owner: 1,
                    ticket: t()
                }
            )]
        );
        s3.on_message(35, 5, Msg::NewTkt { ticket: t() }, &mut out);
        assert_eq!(
            effects(&mut out),
            vec![send(
                5,
                Msg::Nack {
                    owner: 1,
                    ticket: t()
                }
            )]
        );
        // The same sender again (a retransmission) still gets the recorded owner.
        s3.on_message(36, 1, Msg::NewTkt { ticket: t() }, &mut out);
        assert_eq!(
            effects(&mut out),
            vec![send(
                1,
                Msg::Nack {
                    owner: 1,
                    ticket: t()
                }
            )]
        );
    }

    #[test]
    fn task3_accepts_in_phase1_on_a_majority_of_acks_and_ignores_later_replies() {
        let mut s1 = node(1);
        let mut out = Out::new(1, N);
        s1.on_ticket(0, t(), &mut out);
        out.drain();
        s1.on_message(
            20,
            2,
            Msg::Ack {
                owner: 1,
                ticket: t(),
            },
            &mut out,
        );
        assert_eq!(effects(&mut out), vec![]);
        // The same replier twice does not make a majority.
        s1.on_message(
            20,
            2,
            Msg::Ack {
                owner: 1,
                ticket: t(),
            },
            &mut out,
        );
        assert_eq!(effects(&mut out), vec![]);
        s1.on_message(
            20,
            3,
            Msg::Ack {
                owner: 1,
                ticket: t(),
            },
            &mut out,
        );
        assert_eq!(
            effects(&mut out),
            vec![Effect::Decide {
                ticket: t(),
                outcome: Outcome::Accept,
                phase: Some(1),
                why: None
            }]
        );
        s1.on_message(
            21,
            4,
            Msg::Nack {
                owner: 5,
                ticket: t(),
            },
            &mut out,
        );
        assert_eq!(effects(&mut out), vec![]);
    }

    #[test]
    fn task3_enters_phase2_with_the_frozen_replies_when_a_nack_is_in_the_majority() {
        let mut s5 = node(5);
        let mut out = Out::new(5, N);
        // s5 acked s1's NEWTKT before its user handed it τ: its own reply is a NACK naming s1.
        s5.on_message(10, 1, Msg::NewTkt { ticket: t() }, &mut out);
        out.drain();
        s5.on_ticket(25, t(), &mut out);
        out.drain();
        s5.on_message(
            45,
            2,
            Msg::Nack {
                owner: 1,
                ticket: t(),
            },
            &mut out,
        );
        assert_eq!(effects(&mut out), vec![]);
        s5.on_message(
            45,
            3,
            Msg::Nack {
                owner: 1,
                ticket: t(),
            },
            &mut out,
        );
        let body = Body::Phase2 {
            ticket: t(),
            replies: vec![1],
        };
        let data = Msg::AbData(AppMsg {
            id: MsgId { origin: 5, seq: 0 },
            body,
        });
        assert_eq!(
            effects(&mut out),
            (1..=4).map(|to| send(to, data.clone())).collect::<Vec<_>>(),
            "Phase 2 A-broadcasts (s5, τ, {{s1}}) and decides nothing yet"
        );
    }

    #[test]
    fn phase2_walks_messages_delivered_before_it_started() {
        // s2 sees the decision ordering another server's Phase-2 message about τ before it enters
        // Phase 2 itself (the trap of docs/PROTOCOLS.md §10): it must still walk from that first one.
        let mut s2 = node(2);
        let mut out = Out::new(2, N);
        s2.on_message(5, 5, Msg::NewTkt { ticket: t() }, &mut out);
        s2.on_ticket(6, t(), &mut out);
        out.drain();
        let other = AppMsg {
            id: MsgId { origin: 5, seq: 0 },
            body: Body::Phase2 {
                ticket: t(),
                replies: vec![2, 5],
            },
        };
        s2.on_message(
            30,
            1,
            Msg::Decide {
                k: 0,
                value: vec![other],
            },
            &mut out,
        );
        assert_eq!(effects(&mut out), vec![]);
        // Replies arrive: NACKs naming s5 → Phase 2 with Replies = {s2, s5}.
        s2.on_message(
            40,
            3,
            Msg::Nack {
                owner: 5,
                ticket: t(),
            },
            &mut out,
        );
        s2.on_message(
            40,
            4,
            Msg::Nack {
                owner: 5,
                ticket: t(),
            },
            &mut out,
        );
        out.drain();
        // Its own message is ordered second: Srvs = {s5, s2} ⊇ Replies_2, so s2 accepts.
        let mine = AppMsg {
            id: MsgId { origin: 2, seq: 0 },
            body: Body::Phase2 {
                ticket: t(),
                replies: vec![2, 5],
            },
        };
        s2.on_message(
            80,
            1,
            Msg::Decide {
                k: 1,
                value: vec![mine],
            },
            &mut out,
        );
        // Its own Replies: the owners its NACKs named.
        let why = "Phase 2: the walk stopped at (s2, Replies = {s2, s5}), its own message, with \
                   Srvs = {s2, s5}; own Replies = {s5}";
        assert_eq!(
            out.drain()
                .filter(|e| !matches!(e, Effect::Note { .. }))
                .collect::<Vec<_>>(),
            vec![Effect::Decide {
                ticket: t(),
                outcome: Outcome::Accept,
                phase: Some(2),
                why: Some(why.to_string())
            }]
        );
    }
}
