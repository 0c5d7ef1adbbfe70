//! CT-broadcast: atomic broadcast by a sequence of Chandra–Toueg consensus instances
//! (docs/PROTOCOLS.md §5; \[CT96\] as cited in the paper's §4).
//!
//! - Diffusion: to A-broadcast m, send AB-DATA(m) to all others (n−1). Receivers keep m as
//!   undelivered and do not relay it, unless the failure detector suspects m's origin: then they
//!   relay it once to all others, so a message the origin sent to only some servers before crashing
//!   still reaches the coordinators.
//! - Ordering: instance k of [`Consensus`] orders the undelivered messages (in receipt order); on
//!   DECIDE(k, v) the messages of v not yet delivered are delivered in v's order, then instance k+1
//!   starts if anything is still undelivered.
//! - Failure-free cost of one broadcast from a non-coordinator: AB-DATA + C-PROPOSE + C-ACK +
//!   C-DECIDE = 4(n−1) messages, delivered at the broadcaster after 4δ. From the round-1 coordinator
//!   (s_1) it is still 4(n−1) messages but only 2δ at s_1: it proposes at once and decides on the
//!   majority of C-ACKs; the other servers deliver it after 3δ (docs/PROTOCOLS.md §5).

use super::backlog::Backlog;
use super::consensus::{Consensus, Decision};
use super::fd::{FailureDetector, FdChange};
use super::{
    AppMsg, AtomicBroadcast, Body, Control, Msg, MsgId, MsgIds, NodeConfig, Out, ServerId,
};
use super::{Time, Timer};
use std::collections::{BTreeSet, VecDeque};

#[derive(Debug)]
pub struct CtBroadcast {
    fd: FailureDetector,
    cons: Consensus,
    ids: MsgIds,
    /// Received, not yet delivered, in receipt order.
    undelivered: Backlog,
    /// `undelivered` changed since consensus last got it ([`CtBroadcast::refresh`]).
    stale: bool,
    delivered: BTreeSet<MsgId>,
    relayed: BTreeSet<MsgId>,
}

/// The state it stands for: consensus as if it held the undelivered messages already (a stale
/// copy is handed over before consensus reads it, see `offer`), so states that differ only in
/// when the copy is made hash alike.
impl std::hash::Hash for CtBroadcast {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let CtBroadcast {
            fd,
            cons,
            ids,
            undelivered,
            stale,
            delivered,
            relayed,
        } = self;
        fd.hash(h);
        let pending = stale.then(|| undelivered.to_vec());
        cons.hash_with_pending(pending.as_deref(), h);
        ids.hash(h);
        undelivered.hash(h);
        delivered.hash(h);
        relayed.hash(h);
    }
}

impl CtBroadcast {
    pub fn new(cfg: &NodeConfig) -> Self {
        CtBroadcast {
            fd: FailureDetector::new(cfg.me, cfg.n, cfg.heartbeat, cfg.suspect_after),
            cons: Consensus::new(cfg.me, cfg.n),
            ids: MsgIds::new(cfg.me),
            undelivered: Backlog::default(),
            stale: false,
            delivered: BTreeSet::new(),
            relayed: BTreeSet::new(),
        }
    }

    /// CT-broadcast over a deliberately broken consensus (the bug zoo).
    pub fn with_flaw(mut self, flaw: super::consensus::Flaw) -> Self {
        self.cons = self.cons.with_flaw(flaw);
        self
    }

    fn receive(&mut self, m: AppMsg) -> bool {
        if self.delivered.contains(&m.id) || !self.undelivered.push(m) {
            return false;
        }
        self.stale = true;
        true
    }

    /// New undelivered messages: handed to consensus at once when they act at once
    /// ([`Consensus::wants_pending`]: they start the instance, or the round-1 coordinator
    /// proposes them), else just before consensus's next input ([`CtBroadcast::refresh`]) — the
    /// same outcomes as handing over every change, without copying the whole backlog per message
    /// received (which made a loaded server quadratic in its backlog).
    fn offer(&mut self, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        if self.cons.wants_pending() {
            let d = self.hand_over(out);
            self.drive(d, out, delivered);
        }
    }

    /// Bring consensus's copy of the undelivered messages up to date before an input. Only an
    /// assignment: while the copy is stale, consensus does not want it at once (see `offer`),
    /// and nothing but its own inputs changes that.
    fn refresh(&mut self, out: &mut Out) {
        if self.stale {
            let d = self.hand_over(out);
            debug_assert!(d.is_none(), "a deferred pending acted at once");
        }
    }

    /// Give consensus a copy of the undelivered messages.
    fn hand_over(&mut self, out: &mut Out) -> Option<Decision> {
        self.stale = false;
        self.cons
            .set_pending(self.undelivered.to_vec(), &self.fd, out)
    }

    /// Run consensus to quiescence from a first result: deliver each decision, restart the next
    /// instance with what is left, and replay messages that were early for it.
    fn drive(&mut self, first: Option<Decision>, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        let mut decision = first;
        let mut inbox: VecDeque<(ServerId, Msg)> = VecDeque::new();
        loop {
            while let Some(d) = decision.take() {
                for m in d.value {
                    if self.delivered.insert(m.id) {
                        self.undelivered.remove(&m.id);
                        delivered.push(m);
                    }
                }
                decision = self.hand_over(out);
                inbox.extend(self.cons.take_future());
            }
            match inbox.pop_front() {
                Some((from, msg)) => {
                    self.refresh(out);
                    decision = self.cons.on_message(from, msg, &self.fd, out);
                }
                None => break,
            }
        }
    }

    fn on_fd_change(&mut self, change: FdChange, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        for p in change.suspected {
            for m in self.undelivered.iter().filter(|m| m.id.origin == p) {
                if self.relayed.insert(m.id) {
                    out.send_others(&Msg::AbData(m.clone()));
                }
            }
            self.refresh(out);
            let d = self.cons.on_suspect(p, &self.fd, out);
            self.drive(d, out, delivered);
        }
    }
}

impl AtomicBroadcast for CtBroadcast {
    fn start(&mut self, _now: Time, out: &mut Out) {
        self.fd.start(out);
    }

    fn broadcast(&mut self, _now: Time, body: Body, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        let m = AppMsg {
            id: self.ids.next(),
            body,
        };
        out.send_others(&Msg::AbData(m.clone()));
        self.receive(m);
        self.offer(out, delivered);
    }

    fn on_message(
        &mut self,
        now: Time,
        from: ServerId,
        msg: Msg,
        out: &mut Out,
        delivered: &mut Vec<AppMsg>,
    ) -> Option<Msg> {
        let change = self.fd.heard_from(now, from, out);
        self.on_fd_change(change, out, delivered);
        match msg {
            Msg::Heartbeat => None,
            Msg::AbData(m) => {
                if self.receive(m) {
                    self.offer(out, delivered);
                }
                None
            }
            m if m.is_consensus() => {
                self.refresh(out);
                let d = self.cons.on_message(from, m, &self.fd, out);
                self.drive(d, out, delivered);
                None
            }
            other => Some(other),
        }
    }

    fn on_timer(&mut self, now: Time, timer: Timer, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        let change = self.fd.on_timer(now, timer, out);
        self.on_fd_change(change, out, delivered);
    }

    fn on_control(&mut self, _now: Time, ctl: Control, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        let change = self.fd.on_control(ctl, out);
        self.on_fd_change(change, out, delivered);
    }

    fn suspects(&self, p: ServerId) -> bool {
        self.fd.suspects(p)
    }
}
