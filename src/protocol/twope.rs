//! 2PE, the two-phase e-ticket protocol (paper §3.2, Algorithm 1; PROTOCOLS.md §1).
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
//! The Phase-2 trap (PROTOCOLS.md §1): another server's Phase-2 message about τ may be delivered at
//! s_i before s_i enters Phase 2. Lemmas 1(c) and 2 need every Phase-2 server to walk the *same*
//! delivered sequence from its start, so every server buffers every delivered Phase-2 message per
//! ticket, whether or not it is in Phase 2, and the walk always starts from the first.
//!
//! Choices where the paper is silent: an immediate reject of a resubmission (line 8) is reported as
//! Phase 1; replies to a ticket this server never broadcast are ignored.

use super::quorum::majority;
use super::{AppMsg, AtomicBroadcast, Body, Control, Msg, NodeConfig, Out, Outcome, Protocol};
use super::{ServerId, Ticket, Time, Timer};
use std::collections::{BTreeMap, BTreeSet};

/// Per-ticket state at the server that received it from a user.
#[derive(Debug, Default)]
struct Validation {
    /// Servers whose reply arrived (the "from s_k" of line 21).
    responders: BTreeSet<ServerId>,
    /// Replies^τ: the server ids carried in the replies (the s_j of line 20).
    replies: BTreeSet<ServerId>,
    /// Set once Phase 2 starts: Replies_i^τ frozen.
    phase2: Option<Vec<ServerId>>,
}

pub struct TwoPe<A: AtomicBroadcast> {
    me: ServerId,
    n: u16,
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
}

impl<A: AtomicBroadcast> TwoPe<A> {
    pub fn new(cfg: &NodeConfig, ab: A) -> Self {
        TwoPe {
            me: cfg.me,
            n: cfg.n,
            ab,
            r_tkts: BTreeSet::new(),
            a_tkts: BTreeMap::new(),
            v_tkts: BTreeSet::new(),
            open: BTreeMap::new(),
            delivered_p2: BTreeMap::new(),
        }
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

    fn reply_to(&mut self, now: Time, to: ServerId, reply: Msg, out: &mut Out) {
        if to == self.me {
            self.on_reply(now, self.me, reply, out);
        } else {
            out.send(to, reply);
        }
    }

    /// Task 3: a reply from `from`.
    fn on_reply(&mut self, now: Time, from: ServerId, reply: Msg, out: &mut Out) {
        let (owner, ticket, is_ack) = match reply {
            Msg::Ack { owner, ticket } => (owner, ticket, true),
            Msg::Nack { owner, ticket } => (owner, ticket, false),
            _ => return,
        };
        let _ = is_ack; // An ACK carries owner = s_i, a NACK some s_k ≠ s_i: Replies says it all.
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
        if v.responders.len() < usize::from(majority(self.n)) {
            return;
        }
        if v.replies.len() == 1 && v.replies.contains(&self.me) {
            self.open.remove(&ticket);
            self.v_tkts.insert(ticket.clone());
            out.decide(ticket, Outcome::Accept, Some(1));
            return;
        }
        // Phase 2 (lines 26–27).
        let replies: Vec<ServerId> = v.replies.iter().copied().collect();
        v.phase2 = Some(replies.clone());
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
        self.on_delivered(delivered, out);
        self.walk(&ticket, out);
    }

    fn on_delivered(&mut self, delivered: Vec<AppMsg>, out: &mut Out) {
        for m in delivered {
            if let Body::Phase2 { ticket, replies } = m.body {
                self.delivered_p2
                    .entry(ticket.clone())
                    .or_default()
                    .push((m.id.origin, replies));
                self.walk(&ticket, out);
            }
        }
    }

    /// Lines 28–35: the deterministic walk over the delivered Phase-2 messages about τ.
    fn walk(&mut self, ticket: &Ticket, out: &mut Out) {
        let Some(mine) = self.open.get(ticket).and_then(|v| v.phase2.clone()) else {
            return;
        };
        let Some(seq) = self.delivered_p2.get(ticket) else {
            return;
        };
        let mut srvs: BTreeSet<ServerId> = BTreeSet::new();
        for (k, replies_k) in seq {
            srvs.insert(*k);
            let covered = replies_k.iter().all(|s| srvs.contains(s));
            if *k == self.me || covered {
                let accept = *k == self.me && mine.iter().all(|s| srvs.contains(s));
                let outcome = if accept {
                    Outcome::Accept
                } else {
                    Outcome::Reject
                };
                self.open.remove(ticket);
                self.v_tkts.insert(ticket.clone());
                out.decide(ticket.clone(), outcome, Some(2));
                return;
            }
        }
    }
}

impl<A: AtomicBroadcast> Protocol for TwoPe<A> {
    fn on_start(&mut self, now: Time, out: &mut Out) {
        self.ab.start(now, out);
    }

    fn on_ticket(&mut self, now: Time, ticket: Ticket, out: &mut Out) {
        if !self.r_tkts.insert(ticket.clone()) {
            out.decide(ticket, Outcome::Reject, Some(1));
            return;
        }
        self.open.insert(ticket.clone(), Validation::default());
        out.send_others(&Msg::NewTkt {
            ticket: ticket.clone(),
        });
        let reply = self.on_newtkt(self.me, &ticket);
        self.on_reply(now, self.me, reply, out);
    }

    fn on_message(&mut self, now: Time, from: ServerId, msg: Msg, out: &mut Out) {
        let mut delivered = Vec::new();
        let unhandled = self.ab.on_message(now, from, msg, out, &mut delivered);
        self.on_delivered(delivered, out);
        match unhandled {
            Some(Msg::NewTkt { ticket }) => {
                let reply = self.on_newtkt(from, &ticket);
                self.reply_to(now, from, reply, out);
            }
            Some(reply @ (Msg::Ack { .. } | Msg::Nack { .. })) => {
                self.on_reply(now, from, reply, out)
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, now: Time, timer: Timer, out: &mut Out) {
        let mut delivered = Vec::new();
        self.ab.on_timer(now, timer, out, &mut delivered);
        self.on_delivered(delivered, out);
    }

    fn on_control(&mut self, now: Time, ctl: Control, out: &mut Out) {
        let mut delivered = Vec::new();
        self.ab.on_control(now, ctl, out, &mut delivered);
        self.on_delivered(delivered, out);
    }
}
