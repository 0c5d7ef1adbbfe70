//! SE, the simple e-ticket protocol (paper §3.1; docs/PROTOCOLS.md §9).
//!
//! On τ from a user, s_i A-broadcasts (s_i, τ) and waits for the first A-delivered message about τ:
//! it accepts iff that message is its own. If s_i has already A-delivered a message about τ (τ was
//! validated elsewhere before), the first one was not its own: it rejects without broadcasting. A
//! second submission of τ to the same server is rejected at once. E-1 follows from uniform
//! agreement and total order (every server sees the same first message about τ), E-2 from validity.
//!
//! SE is generic over the [`AtomicBroadcast`]: CT-, OPT- and Generic Broadcast plug in unchanged.
//! Decisions carry no phase (`phase: null` in the history).

use super::{AppMsg, AtomicBroadcast, Body, Control, Msg, NodeConfig, Out, Outcome, Protocol};
use super::{ServerId, Ticket, Time, Timer};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

#[derive(Hash)]
pub struct Se<A: AtomicBroadcast> {
    me: ServerId,
    ab: A,
    /// Tickets received from users (a resubmission is rejected at once).
    received: BTreeSet<Ticket>,
    /// For each ticket, the origin of the first delivered message about it.
    first: BTreeMap<Ticket, ServerId>,
    /// Tickets this server broadcast and has not decided yet.
    waiting: BTreeSet<Ticket>,
}

impl<A: AtomicBroadcast> Se<A> {
    pub fn new(cfg: &NodeConfig, ab: A) -> Self {
        Se {
            me: cfg.me,
            ab,
            received: BTreeSet::new(),
            first: BTreeMap::new(),
            waiting: BTreeSet::new(),
        }
    }

    fn on_delivered(&mut self, delivered: Vec<AppMsg>, out: &mut Out) {
        for m in delivered {
            let ticket = m.body.ticket().clone();
            if self.first.contains_key(&ticket) {
                continue;
            }
            self.first.insert(ticket.clone(), m.id.origin);
            if self.waiting.remove(&ticket) {
                let outcome = if m.id.origin == self.me {
                    Outcome::Accept
                } else {
                    Outcome::Reject
                };
                let why = format!(
                    "the first delivered message about it is s{}'s (#{} of s{})",
                    m.id.origin, m.id.seq, m.id.origin
                );
                out.decide_why(ticket, outcome, None, why);
            }
        }
    }
}

impl<A: AtomicBroadcast + Hash> Protocol for Se<A> {
    fn state_hash(&self, mut h: &mut dyn Hasher) {
        self.hash(&mut h);
    }
    fn on_start(&mut self, now: Time, out: &mut Out) {
        self.ab.start(now, out);
    }

    fn on_ticket(&mut self, now: Time, ticket: Ticket, out: &mut Out) {
        if !self.received.insert(ticket.clone()) || self.first.contains_key(&ticket) {
            let why = match self.first.get(&ticket) {
                Some(o) => format!("s{o}'s message about it was delivered first, already"),
                None => "received twice by this server".to_string(),
            };
            out.decide_why(ticket, Outcome::Reject, None, why);
            return;
        }
        self.waiting.insert(ticket.clone());
        let mut delivered = Vec::new();
        self.ab
            .broadcast(now, Body::Validate { ticket }, out, &mut delivered);
        self.on_delivered(delivered, out);
    }

    fn on_message(&mut self, now: Time, from: ServerId, msg: Msg, out: &mut Out) {
        let mut delivered = Vec::new();
        // SE has no messages of its own: everything belongs to the broadcast layer.
        let _unhandled = self.ab.on_message(now, from, msg, out, &mut delivered);
        self.on_delivered(delivered, out);
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
