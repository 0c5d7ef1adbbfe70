//! Generic Broadcast (PROTOCOLS.md §5 [reconstructed]; [PS99] as cited in the paper's §4 and
//! Table 1 row "SE protocol with Generic Broadcast").
//!
//! Conflict relation for e-tickets: two messages conflict iff they are different messages about
//! the same ticket ([`Body::ticket`]). Only conflicting messages are ordered; q = ⌈(2n+1)/3⌉
//! ([`gb_quorum`]).
//!
//! Stages k = 0, 1, …; stage k ends only by consensus instance k (so [`Consensus`] is reused with
//! its own instance numbering). Each process keeps pending_k, the messages it acked in stage k —
//! conflict-free by construction.
//!
//! - **Broadcast** m: GB-DATA(m) to all others (n−1), then receive m locally.
//! - **Receive** m (first copy: GB-DATA, a relay, or a GB-ACK / GB-CHK that carries it) while
//!   stage k runs: if m conflicts with nothing in pending_k, add it and send GB-ACK(k, m) to all
//!   others — the broadcaster too, as a separate message — so n(n−1) ACKs per message; otherwise
//!   start stage termination.
//! - **Fast delivery**: deliver m once ACK(k, m) came from q distinct processes, counting oneself.
//! - **Stage termination**: stop acking; send GB-CHK(k, pending_k) to all others; wait for q CHKs
//!   of stage k (one's own included, the first q in arrival order); majSet = the messages in more
//!   than half of them (≥ ⌊q/2⌋+1); give consensus k the value majSet (sorted by message id)
//!   followed by the other undelivered messages in receipt order. On DECIDE(k, v): deliver v minus
//!   what is already delivered, in v's order — i.e. majSet first, then the rest in the decided
//!   order, which is PS99's (majSet, rest) pair written as one sequence — then start stage k+1
//!   with what is left (every leftover is received again: acked, or a conflict).
//! - A process also terminates stage k on a CHK(k) or on any consensus message of instance k.
//! - Failure-free, no conflict, one broadcast: (n−1) DATA + n(n−1) ACK = (n+1)(n−1) messages,
//!   delivered everywhere after 2δ.
//!
//! # Safety (generic order and agreement)
//!
//! Let q = ⌈(2n+1)/3⌉, so 2q > n and 3q > 2n (`quorum.rs` tests both).
//! 1. Two conflicting messages are never both fast-delivered in one stage: their q-ack sets
//!    intersect (2q > n), and no process acks two conflicting messages in a stage.
//! 2. A message m fast-delivered in stage k is in every process's majSet_k: its q ackers sent
//!    their ACK before their CHK, so m is in each of their CHKs; any q CHKs include at least
//!    2q − n of them, and 2q − n ≥ ⌊q/2⌋ + 1 because 3q ≥ 2n + 1. majSet_k is itself
//!    conflict-free: two of its messages are each in more than half of the same q CHKs, so some
//!    process acked both.
//! 3. A process gives consensus k a value only once it has its majSet_k (consensus messages of
//!    instance k other than DECIDE are held until then), so every proposal and every decision
//!    D_k starts with a majSet_k, which contains all of stage k's fast-delivered messages, and
//!    contains no message conflicting with them (2). Hence every process delivers a
//!    fast-delivered m before any message conflicting with it that is ordered in stage k (it is
//!    in D_k's conflict-free head, the conflicting one in D_k's tail), and messages of different
//!    stages are ordered by stage everywhere (a stage's deliveries all precede the next stage's:
//!    late ACKs of an ended stage are ignored). Consensus agreement makes D_k the same everywhere.
//!
//! So conflicting messages — those about one ticket — are delivered in the same order at every
//! process, which is all SE needs (paper §3.1: every server sees the same first message about τ).
//! [`GenericBroadcast`] implements [`AtomicBroadcast`] with this weaker order: messages about
//! different tickets may be delivered in different orders at different servers.
//!
//! # Resilience (decision for ARCHITECTURE.md)
//!
//! Both paths need q = ⌈(2n+1)/3⌉ processes: the fast path q ACKs, stage termination q CHKs (point
//! 2 needs n_ack + n_chk − n ≥ ⌊n_chk/2⌋ + 1, i.e. 2·n_ack + n_chk ≥ 2n + 1 up to rounding; q for
//! both meets it).
//! So SE/GB tolerates f < n/3 crashes in total ([`super::ProtocolKind::max_faults`] =
//! ⌈n/3⌉−1), as Table 1 says; it does *not* terminate with up to ⌊(n−1)/2⌋ crashes. With more
//! crashes it stays safe but a stage may block. Waiting for only a majority of CHKs (to terminate
//! with f < n/2) would keep point 2 at n ≤ 6, 8, 9 and 12 but break it at n = 7, 10, 11 and every
//! n ≥ 13 (a fast-delivered message is then only sure to be in q + ⌊n/2⌋ + 1 − n of the CHKs), so
//! we keep the spec's uniform rule.
//!
//! # Other choices where the spec is silent
//!
//! - Any receipt counts: GB-DATA, a relay, and the messages carried by GB-ACK and GB-CHK. A
//!   process that first learns m from an ACK acks it too (same cost as from DATA).
//! - Fast delivery stays allowed after stopping, until the decision (point 2 only needs the
//!   ackers' ACKs to precede their CHKs).
//! - DECIDE of instance k is applied even before majSet_k is known (a decision is always safe to
//!   adopt); the other held consensus messages are replayed after it, as stale ones, so that
//!   [`Consensus`] can answer processes that are behind.
//! - Later-stage ACKs and CHKs are buffered until that stage (their messages are received at
//!   once); earlier-stage ones only contribute the messages they carry.
//! - Suspicions do not end a stage (the fast path survives f < n/3); messages of a suspected
//!   origin are relayed once, as in CT-broadcast.
//! - Counters: one [`Note::FastDelivery`] per message fast-delivered at a process, one
//!   [`Note::Fallback`] per stage a process ends by consensus.

use super::consensus::{instance_of, Consensus, Decision};
use super::fd::{FailureDetector, FdChange};
use super::quorum::{gb_quorum, majority};
use super::{AppMsg, AtomicBroadcast, Body, Control, Msg, MsgId, MsgIds, NodeConfig, Note, Out};
use super::{ServerId, Ticket, Time, Timer};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[derive(Debug)]
pub struct GenericBroadcast {
    me: ServerId,
    /// q = ⌈(2n+1)/3⌉: ACKs for fast delivery, CHKs for stage termination.
    q: usize,
    fd: FailureDetector,
    cons: Consensus,
    ids: MsgIds,
    /// The current stage k (= the consensus instance that will end it).
    stage: u64,
    /// Stage k is terminating: no more ACKs, CHK sent.
    stopped: bool,
    /// pending_k: the messages this process acked in stage k, in ack order.
    acked: Vec<AppMsg>,
    /// pending_k by ticket (the conflict check).
    acked_tickets: BTreeMap<Ticket, MsgId>,
    /// Who acked what in stage k (this process included).
    acks: BTreeMap<MsgId, BTreeSet<ServerId>>,
    /// The first q CHKs of stage k (own included), in arrival order.
    chks: Vec<(ServerId, Vec<AppMsg>)>,
    /// majSet_k, once q CHKs are in.
    maj: Option<Vec<AppMsg>>,
    /// Consensus messages of instance k held until majSet_k is known.
    held: Vec<(ServerId, Msg)>,
    /// Messages fast-delivered in stage k (checked against the decision in debug builds).
    fast_k: Vec<MsgId>,
    /// Received and not delivered, in receipt order.
    undelivered: Vec<AppMsg>,
    known: BTreeSet<MsgId>,
    delivered: BTreeSet<MsgId>,
    relayed: BTreeSet<MsgId>,
    /// ACK and CHK messages of stages not reached yet.
    future: BTreeMap<u64, Vec<(ServerId, Msg)>>,
    inbox: VecDeque<(ServerId, Msg)>,
    decided: VecDeque<Decision>,
}

impl GenericBroadcast {
    pub fn new(cfg: &NodeConfig) -> Self {
        GenericBroadcast {
            me: cfg.me,
            q: usize::from(gb_quorum(cfg.n)),
            fd: FailureDetector::new(cfg.me, cfg.n, cfg.heartbeat, cfg.suspect_after),
            cons: Consensus::new(cfg.me, cfg.n),
            ids: MsgIds::new(cfg.me),
            stage: 0,
            stopped: false,
            acked: Vec::new(),
            acked_tickets: BTreeMap::new(),
            acks: BTreeMap::new(),
            chks: Vec::new(),
            maj: None,
            held: Vec::new(),
            fast_k: Vec::new(),
            undelivered: Vec::new(),
            known: BTreeSet::new(),
            delivered: BTreeSet::new(),
            relayed: BTreeSet::new(),
            future: BTreeMap::new(),
            inbox: VecDeque::new(),
            decided: VecDeque::new(),
        }
    }

    /// The current stage (for tests and tracing).
    pub fn stage(&self) -> u64 {
        self.stage
    }

    /// Whether the current stage is terminating.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    fn in_step(&self) -> bool {
        self.cons.instance() == self.stage
    }

    fn push_decision(&mut self, d: Option<Decision>) {
        if let Some(d) = d {
            self.decided.push_back(d);
        }
    }

    /// majSet_k, then the other undelivered messages in receipt order.
    fn value(&self) -> Option<Vec<AppMsg>> {
        let maj = self.maj.as_ref()?;
        let ids: BTreeSet<MsgId> = maj.iter().map(|m| m.id).collect();
        let mut v = maj.clone();
        v.extend(
            self.undelivered
                .iter()
                .filter(|m| !ids.contains(&m.id))
                .cloned(),
        );
        Some(v)
    }

    fn update_pending(&mut self, out: &mut Out) {
        if !self.stopped || !self.in_step() {
            return;
        }
        if let Some(v) = self.value() {
            let d = self.cons.set_pending(v, &self.fd, out);
            self.push_decision(d);
        }
    }

    /// A copy of m arrived (or m was broadcast here).
    fn receive(&mut self, m: AppMsg, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        if !self.known.insert(m.id) {
            return;
        }
        self.undelivered.push(m.clone());
        if self.stopped {
            self.update_pending(out);
        } else {
            self.consider(m, out, delivered);
        }
    }

    /// First sight of m in a running stage: ack it, or terminate the stage on a conflict.
    fn consider(&mut self, m: AppMsg, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        debug_assert!(!self.stopped);
        match self.acked_tickets.get(m.body.ticket()) {
            Some(&id) if id == m.id => return,
            Some(_) => return self.terminate(out),
            None => {}
        }
        self.acked_tickets.insert(m.body.ticket().clone(), m.id);
        self.acked.push(m.clone());
        self.acks.entry(m.id).or_default().insert(self.me);
        out.send_others(&Msg::GbAck {
            k: self.stage,
            m: m.clone(),
        });
        self.try_fast(m.id, out, delivered);
    }

    fn deliver(&mut self, m: AppMsg, delivered: &mut Vec<AppMsg>) -> bool {
        if !self.delivered.insert(m.id) {
            return false;
        }
        self.undelivered.retain(|u| u.id != m.id);
        delivered.push(m);
        true
    }

    fn try_fast(&mut self, id: MsgId, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        if self.delivered.contains(&id) || self.acks.get(&id).map_or(0, |a| a.len()) < self.q {
            return;
        }
        let Some(m) = self.undelivered.iter().find(|m| m.id == id).cloned() else {
            return;
        };
        self.deliver(m, delivered);
        self.fast_k.push(id);
        out.note(Note::FastDelivery);
    }

    /// Stage termination: stop acking, send CHK(k, pending_k).
    fn terminate(&mut self, out: &mut Out) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        out.send_others(&Msg::GbChk {
            k: self.stage,
            pending: self.acked.clone(),
        });
        self.chks.push((self.me, self.acked.clone()));
        self.check_ready(out);
    }

    /// With q CHKs in: majSet_k, the consensus value, and the held consensus messages.
    fn check_ready(&mut self, out: &mut Out) {
        if self.maj.is_some() || self.chks.len() < self.q {
            return;
        }
        let mut count: BTreeMap<MsgId, (usize, &AppMsg)> = BTreeMap::new();
        for (_, set) in &self.chks {
            for m in set {
                count.entry(m.id).or_insert((0, m)).0 += 1;
            }
        }
        // "More than half of them": majority(q) = ⌊q/2⌋+1 of the q CHKs.
        let need = usize::from(majority(self.q as u16));
        let maj: Vec<AppMsg> = count
            .values()
            .filter(|(c, _)| *c >= need)
            .map(|(_, m)| (*m).clone())
            .collect();
        self.maj = Some(maj);
        self.update_pending(out);
        for x in self.held.drain(..).rev() {
            self.inbox.push_front(x);
        }
    }

    fn on_ack(&mut self, from: ServerId, k: u64, m: AppMsg, out: &mut Out, d: &mut Vec<AppMsg>) {
        if k > self.stage {
            self.future
                .entry(k)
                .or_default()
                .push((from, Msg::GbAck { k, m: m.clone() }));
        }
        if k != self.stage {
            return self.receive(m, out, d);
        }
        let id = m.id;
        self.acks.entry(id).or_default().insert(from);
        self.receive(m, out, d);
        self.try_fast(id, out, d);
    }

    fn on_chk(
        &mut self,
        from: ServerId,
        k: u64,
        set: Vec<AppMsg>,
        out: &mut Out,
        d: &mut Vec<AppMsg>,
    ) {
        if k > self.stage {
            self.future.entry(k).or_default().push((
                from,
                Msg::GbChk {
                    k,
                    pending: set.clone(),
                },
            ));
        }
        if k == self.stage {
            self.terminate(out);
            if self.chks.len() < self.q && self.chks.iter().all(|(p, _)| *p != from) {
                self.chks.push((from, set.clone()));
            }
        }
        for m in set {
            self.receive(m, out, d);
        }
        if k == self.stage {
            self.check_ready(out);
        }
    }

    /// A consensus message: terminate the stage if it is about this stage, and hold it until
    /// this process has its own value (module doc, safety point 3). DECIDE passes.
    fn on_consensus(&mut self, from: ServerId, msg: Msg, out: &mut Out) {
        let k = instance_of(&msg).expect("a consensus message");
        if k == self.stage {
            self.terminate(out);
            if self.maj.is_none() && !matches!(msg, Msg::Decide { .. }) {
                self.held.push((from, msg));
                return;
            }
        }
        if !self.in_step() {
            // A decision is waiting to be applied (possible only when n = 1): after it.
            self.inbox.push_back((from, msg));
            return;
        }
        let d = self.cons.on_message(from, msg, &self.fd, out);
        self.push_decision(d);
    }

    fn handle(&mut self, from: ServerId, msg: Msg, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        match msg {
            Msg::GbData(m) => self.receive(m, out, delivered),
            Msg::GbAck { k, m } => self.on_ack(from, k, m, out, delivered),
            Msg::GbChk { k, pending } => self.on_chk(from, k, pending, out, delivered),
            m if m.is_consensus() => self.on_consensus(from, m, out),
            _ => {}
        }
    }

    /// Stage k decided: deliver, start stage k+1.
    fn apply(&mut self, d: Decision, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        debug_assert_eq!(d.k, self.stage);
        #[cfg(debug_assertions)]
        for id in &self.fast_k {
            let pos = d.value.iter().position(|m| m.id == *id);
            let pos =
                pos.unwrap_or_else(|| panic!("GB safety: fast-delivered {id:?} not in D_{}", d.k));
            let t = d.value[pos].body.ticket();
            assert!(
                d.value[..pos].iter().all(|m| m.body.ticket() != t),
                "GB safety: a message conflicting with fast-delivered {id:?} precedes it in D_{}",
                d.k
            );
        }
        for m in d.value {
            self.known.insert(m.id);
            self.deliver(m, delivered);
        }
        out.note(Note::Fallback);
        self.stage += 1;
        self.stopped = false;
        self.acked.clear();
        self.acked_tickets.clear();
        self.acks.clear();
        self.chks.clear();
        self.maj = None;
        self.fast_k.clear();
        // Held messages of the decided instance are stale now: Consensus answers them.
        self.inbox.extend(std::mem::take(&mut self.held));
        if let Some(v) = self.future.remove(&self.stage) {
            self.inbox.extend(v);
        }
        self.inbox.extend(self.cons.take_future());
        for m in self.undelivered.clone() {
            if self.stopped {
                break; // the rest stays undelivered and goes into the value
            }
            if !self.delivered.contains(&m.id) {
                self.consider(m, out, delivered);
            }
        }
    }

    fn drive(&mut self, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        loop {
            if let Some(d) = self.decided.pop_front() {
                self.apply(d, out, delivered);
            } else if let Some((from, msg)) = self.inbox.pop_front() {
                self.handle(from, msg, out, delivered);
            } else {
                break;
            }
        }
    }

    fn on_fd_change(&mut self, change: FdChange, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        for p in change.suspected {
            for m in self.undelivered.iter().filter(|m| m.id.origin == p) {
                if self.relayed.insert(m.id) {
                    out.send_others(&Msg::GbData(m.clone()));
                }
            }
            if self.in_step() {
                let d = self.cons.on_suspect(p, &self.fd, out);
                self.push_decision(d);
            }
            self.drive(out, delivered);
        }
    }
}

impl AtomicBroadcast for GenericBroadcast {
    fn start(&mut self, _now: Time, out: &mut Out) {
        self.fd.start(out);
    }

    fn broadcast(&mut self, _now: Time, body: Body, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        let m = AppMsg {
            id: self.ids.next(),
            body,
        };
        out.send_others(&Msg::GbData(m.clone()));
        self.receive(m, out, delivered);
        self.drive(out, delivered);
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
            m if m.is_consensus()
                || matches!(m, Msg::GbData(_) | Msg::GbAck { .. } | Msg::GbChk { .. }) =>
            {
                self.inbox.push_back((from, m));
                self.drive(out, delivered);
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
}
