//! `qlock-amo` and `bqlock-amo`: Fleet's at-most-one quorum lock per ticket (see the parent
//! module's doc, §1–3), and its Byzantine masking-quorum form.

use super::{answer, try_msg};
use crate::quorum::majority;
use crate::{Control, Msg, NodeConfig, Note, Out, Outcome, Protocol};
use crate::{ServerId, Ticket, Time, Timer};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

/// The first `quorum` answers to one TRY round.
#[derive(Debug, Default, Hash)]
struct Tally {
    responders: BTreeSet<ServerId>,
    /// LOCKED answers among them.
    locked: u16,
}

/// `qlock-amo`: Fleet's at-most-one lock per ticket (see the module doc).
#[derive(Hash)]
pub struct QlockAmo {
    me: ServerId,
    quorum: u16,
    /// LOCKED answers tolerated in a quorum: 0, or b for `bqlock-amo`.
    tolerated: u16,
    /// Tickets received from users (a resubmission is rejected at once).
    received: BTreeSet<Ticket>,
    /// τ → its first claimant, granted forever.
    granted: BTreeMap<Ticket, ServerId>,
    /// This server's own claims awaiting their quorum.
    open: BTreeMap<Ticket, Tally>,
}

impl QlockAmo {
    pub fn new(cfg: &NodeConfig) -> Self {
        QlockAmo {
            me: cfg.me,
            quorum: majority(cfg.n),
            tolerated: 0,
            received: BTreeSet::new(),
            granted: BTreeMap::new(),
            open: BTreeMap::new(),
        }
    }

    /// `bqlock-amo`: the masking-quorum lock for b = `cfg.byzantine` Byzantine servers — the
    /// first q = ⌈(n+3b+1)/2⌉ answers (its own first), accept iff at most b are LOCKED. Two
    /// winners' FREE sets share ≥ 2(q−b)−n ≥ b+1 servers, one of them correct, and a correct
    /// server grants only τ's first claimant (docs/seeds/byzantine.md). With b = 0 it is
    /// qlock-amo.
    pub fn masking(cfg: &NodeConfig) -> Self {
        let b = cfg.byzantine;
        QlockAmo {
            quorum: (cfg.n + 3 * b + 1).div_ceil(2),
            tolerated: b,
            ..QlockAmo::new(cfg)
        }
    }

    /// FREE iff `from` is τ's first claimant.
    fn grant(&mut self, from: ServerId, ticket: &Ticket) -> bool {
        *self.granted.entry(ticket.clone()).or_insert(from) == from
    }

    fn tally(&mut self, from: ServerId, ticket: &Ticket, free: bool, out: &mut Out) {
        let Some(t) = self.open.get_mut(ticket) else {
            return;
        };
        if !t.responders.insert(from) {
            return;
        }
        t.locked += u16::from(!free);
        if t.responders.len() >= usize::from(self.quorum) {
            let accept = t.locked <= self.tolerated;
            self.open.remove(ticket);
            let outcome = if accept {
                Outcome::Accept
            } else {
                Outcome::Reject
            };
            out.decide(ticket.clone(), outcome, None);
        }
    }
}

impl Protocol for QlockAmo {
    fn state_hash(&self, mut h: &mut dyn Hasher) {
        self.hash(&mut h);
    }
    fn on_start(&mut self, _now: Time, _out: &mut Out) {}

    fn on_ticket(&mut self, _now: Time, ticket: Ticket, out: &mut Out) {
        if !self.received.insert(ticket.clone()) {
            out.decide(ticket, Outcome::Reject, None);
            return;
        }
        out.note(Note::Try);
        out.send_others(&try_msg(&ticket, 0));
        self.open.insert(ticket.clone(), Tally::default());
        let free = self.grant(self.me, &ticket);
        self.tally(self.me, &ticket, free, out);
    }

    fn on_message(&mut self, _now: Time, from: ServerId, msg: Msg, out: &mut Out) {
        match msg {
            Msg::QlTry { ticket, attempt } => {
                let free = self.grant(from, &ticket);
                out.send(from, answer(&ticket, attempt, free));
            }
            Msg::QlFree { ticket, .. } => self.tally(from, &ticket, true, out),
            Msg::QlLocked { ticket, .. } => self.tally(from, &ticket, false, out),
            _ => {}
        }
    }

    fn on_timer(&mut self, _now: Time, _timer: Timer, _out: &mut Out) {}

    fn on_control(&mut self, _now: Time, _ctl: Control, _out: &mut Out) {}
}
