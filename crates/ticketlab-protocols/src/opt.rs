//! OPT-broadcast: optimistic atomic broadcast (PROTOCOLS.md §4 [reconstructed]; [Ped99] as cited
//! in the paper's §4 and Table 1 row "SE protocol with OPT-broadcast").
//!
//! Stages k = 0, 1, …; stage k ends only by consensus instance k (so stage k = consensus instance
//! k, and [`Consensus`] is reused unchanged in its numbering). Each process keeps seq_k, the order in
//! which it received messages this stage.
//!
//! - **Broadcast** m: OPT-DATA(k, m) to all others (n−1), then receive m locally.
//! - **Receive** m (first copy, from OPT-DATA, an OPT-ORDER that carries it, or a relay) while
//!   stage k runs: append it to seq_k and send OPT-ORDER(k, pos, m) to all others — the broadcaster
//!   too, as a separate message — so n(n−1) ORDERs per message. ORDER is the spec's
//!   ORDER(k, seq_k) sent incrementally: links are FIFO, so a receiver rebuilds the sender's whole
//!   seq_k from its ORDERs in arrival order.
//! - **Fast delivery**: deliver the longest prefix of seq_k that all n − 1 others have reported
//!   identically (and this process holds). One silent process blocks the fast path (f_opt = 0).
//! - **Fallback**: a process *stops* stage k when an ORDER disagrees with its own seq_k at some
//!   position, when its failure detector suspects any process while stage k has something
//!   undelivered (or a message arrives while someone is suspected), or when it receives any
//!   consensus message of instance k or an OPT-STOP(k). Stopping freezes seq_k (no more ORDERs for
//!   stage k) and hands consensus k the value seq_k ++ (other undelivered messages, in receipt
//!   order). On DECIDE(k, v) it delivers v minus what it already delivered, in v's order, and
//!   starts stage k+1 with what is left (appending it to seq_{k+1} and ORDERing it, or stopping at
//!   once if someone is suspected).
//! - Failure-free cost of one broadcast: (n−1) DATA + n(n−1) ORDER = (n+1)(n−1) messages,
//!   delivered everywhere after 2δ (the others' ORDERs arrive one δ after they got DATA).
//!
//! # Safety (uniform total order and agreement)
//!
//! 1. Within a stage, fast-delivered prefixes are prefixes of one another: a process fast-delivers
//!    P only when all n processes (itself included) reported P as a prefix of their seq_k, and
//!    seq_k only ever grows by appending.
//! 2. Every value consensus k can decide starts with every fast-delivered prefix P of stage k.
//!    A process contributes to consensus k only after stopping stage k (any instance-k message
//!    stops it before [`Consensus`] sees the message), and its value is its frozen seq_k followed
//!    by other messages; it reported P before stopping, so its seq_k starts with P. Consensus
//!    only ever proposes a process's value or an earlier proposal (validity), hence D_k starts
//!    with P — PROTOCOLS.md §4: "any fast-delivered prefix was reported identically by all n, so
//!    it prefixes every proposal". Fast delivery after stopping (ORDERs still arriving) is just as
//!    safe: it needs the same n identical reports, all sent before their senders stopped.
//! 3. So the sequence a process delivers in stage k is exactly D_k when the stage ended by
//!    consensus (its fast prefix, then the rest of D_k in order), or a prefix of the common
//!    agreed sequence otherwise; the set delivered at the end of each stage is the same
//!    everywhere, so the next stage starts from the same delivered set. Agreement of consensus
//!    (CT's locking argument, `consensus.rs`) makes D_k the same at all processes.
//!    SE over OPT then has E-1 from total order exactly as over CT (paper §3.1).
//!
//! Liveness: with no failure and no suspicion the fast path delivers; otherwise every correct
//! process eventually stops the stage (◇S completeness: a crashed process is suspected), and
//! consensus k terminates with f < n/2 like CT-broadcast. Messages of a suspected origin are
//! relayed once (as in CT-broadcast), so a decided or undelivered message reaches every process.
//!
//! # Choices where the spec is silent (documented for ARCHITECTURE.md)
//!
//! - **OPT-STOP**. A process that stops on its own sends OPT-STOP(k) to the round-1 coordinator
//!   of consensus k only (s_1), unless it is s_1 or suspects it (then consensus moves past round 1
//!   by itself). Without it a process that alone saw an inconsistency or a suspicion would wait
//!   in round 1 for a coordinator still on the fast path. Every other process learns of the stop
//!   from s_1's PROPOSE (or a later round's C-NACK): any instance-k message stops stage k. A STOP
//!   for a stage already decided is answered with DECIDE (catch-up).
//! - A consensus value is the *whole* frozen seq_k (fast-delivered part included) followed by
//!   the other undelivered messages; the latter keep being appended while the instance runs, so
//!   the round-1 coordinator proposes as soon as it knows of anything.
//! - Any receipt of m counts: OPT-DATA, a relay, or an OPT-ORDER carrying m (ORDERs carry the
//!   message, so `Msg::ticket` names it and a diffusion cut by a crash still spreads).
//! - Fast delivery stays allowed after stopping, until the decision (see safety, point 2).
//! - Messages of a later stage (ORDER, STOP) are buffered until that stage starts; later-instance
//!   consensus messages are buffered by [`Consensus`]. Earlier-stage ORDERs only contribute the
//!   message they carry.
//! - Counters: one [`Note::FastDelivery`] per message fast-delivered at a process, one
//!   [`Note::Fallback`] per stage a process ends by consensus.

use super::consensus::{instance_of, Consensus, Decision};
use super::fd::{FailureDetector, FdChange};
use super::{AppMsg, AtomicBroadcast, Body, Control, Msg, MsgId, MsgIds, NodeConfig, Note, Out};
use super::{ServerId, Time, Timer};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[derive(Debug)]
pub struct OptBroadcast {
    me: ServerId,
    n: u16,
    fd: FailureDetector,
    cons: Consensus,
    ids: MsgIds,
    /// The current stage k (= the consensus instance that will end it).
    stage: u64,
    /// Stage k stopped: seq_k frozen, consensus k under way.
    stopped: bool,
    /// seq_k: this process's receipt order in stage k.
    seq: Vec<AppMsg>,
    /// How many of seq_k's first messages were fast-delivered.
    fast: usize,
    /// For every other process, its seq_k as reported by its ORDERs (ids).
    reports: BTreeMap<ServerId, Vec<MsgId>>,
    /// Received and not delivered, in receipt order.
    undelivered: Vec<AppMsg>,
    /// Delivered or undelivered: every message received so far.
    known: BTreeSet<MsgId>,
    delivered: BTreeSet<MsgId>,
    relayed: BTreeSet<MsgId>,
    /// ORDER and STOP messages of stages not reached yet.
    future: BTreeMap<u64, Vec<(ServerId, Msg)>>,
    /// Messages to handle before returning (replays of buffered ones included).
    inbox: VecDeque<(ServerId, Msg)>,
    /// Decisions not applied yet (applied between two messages, never in the middle of one).
    decided: VecDeque<Decision>,
}

impl OptBroadcast {
    pub fn new(cfg: &NodeConfig) -> Self {
        OptBroadcast {
            me: cfg.me,
            n: cfg.n,
            fd: FailureDetector::new(cfg.me, cfg.n, cfg.heartbeat, cfg.suspect_after),
            cons: Consensus::new(cfg.me, cfg.n),
            ids: MsgIds::new(cfg.me),
            stage: 0,
            stopped: false,
            seq: Vec::new(),
            fast: 0,
            reports: BTreeMap::new(),
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

    /// Whether the current stage has left the fast path.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    fn any_suspected(&self) -> bool {
        (1..=self.n).any(|p| p != self.me && self.fd.suspects(p))
    }

    /// Consensus is at our stage: no decision is waiting to be applied.
    fn in_step(&self) -> bool {
        self.cons.instance() == self.stage
    }

    fn push_decision(&mut self, d: Option<Decision>) {
        if let Some(d) = d {
            self.decided.push_back(d);
        }
    }

    /// The value this process gives consensus k: frozen seq_k, then the other undelivered messages.
    fn value(&self) -> Vec<AppMsg> {
        let in_seq: BTreeSet<MsgId> = self.seq.iter().map(|m| m.id).collect();
        let mut v = self.seq.clone();
        v.extend(
            self.undelivered
                .iter()
                .filter(|m| !in_seq.contains(&m.id))
                .cloned(),
        );
        v
    }

    fn update_pending(&mut self, out: &mut Out) {
        if self.stopped && self.in_step() {
            let d = self.cons.set_pending(self.value(), &self.fd, out);
            self.push_decision(d);
        }
    }

    /// Leave the fast path of stage k. `local`: on this process's own initiative (not because
    /// another process's message said the stage is stopping).
    fn stop(&mut self, local: bool, out: &mut Out) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let c1 = self.cons.coordinator(1);
        if local && c1 != self.me && !self.fd.suspects(c1) {
            out.send(c1, Msg::OptStop { k: self.stage });
        }
        self.update_pending(out);
    }

    /// Append m to seq_k and report it.
    fn append(&mut self, m: AppMsg, out: &mut Out) {
        debug_assert!(!self.stopped);
        let pos = self.seq.len();
        out.send_others(&Msg::OptOrder {
            k: self.stage,
            pos: pos as u64,
            m: m.clone(),
        });
        let id = m.id;
        self.seq.push(m);
        let clash = self
            .reports
            .values()
            .any(|r| r.get(pos).is_some_and(|&x| x != id));
        if clash {
            self.stop(true, out);
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
        } else if self.any_suspected() {
            // The fast path cannot complete: do not report, fall back at once.
            self.stop(true, out);
        } else {
            self.append(m, out);
            self.try_fast(out, delivered);
        }
    }

    fn deliver(&mut self, m: AppMsg, delivered: &mut Vec<AppMsg>) -> bool {
        if !self.delivered.insert(m.id) {
            return false;
        }
        self.undelivered.retain(|u| u.id != m.id);
        delivered.push(m);
        true
    }

    /// Deliver the longest prefix of seq_k every other process reported identically.
    fn try_fast(&mut self, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        let mut l = self.fast;
        while l < self.seq.len() {
            let id = self.seq[l].id;
            let agreed = (1..=self.n).filter(|&p| p != self.me).all(|p| {
                self.reports
                    .get(&p)
                    .and_then(|r| r.get(l))
                    .is_some_and(|&x| x == id)
            });
            if !agreed {
                break;
            }
            l += 1;
        }
        for i in self.fast..l {
            let m = self.seq[i].clone();
            if self.deliver(m, delivered) {
                out.note(Note::FastDelivery);
            }
        }
        self.fast = l;
    }

    fn on_order(
        &mut self,
        from: ServerId,
        k: u64,
        pos: u64,
        m: AppMsg,
        out: &mut Out,
        delivered: &mut Vec<AppMsg>,
    ) {
        if k > self.stage {
            self.future.entry(k).or_default().push((
                from,
                Msg::OptOrder {
                    k,
                    pos,
                    m: m.clone(),
                },
            ));
        }
        if k != self.stage {
            // Only the message it carries matters now (a later stage's report waits above).
            self.receive(m, out, delivered);
            return;
        }
        let rep = self.reports.entry(from).or_default();
        // FIFO links: reports arrive in position order. Anything else is treated as a clash.
        let clash = match usize::try_from(pos) {
            Ok(p) if p == rep.len() => {
                rep.push(m.id);
                self.seq.get(p).is_some_and(|x| x.id != m.id)
            }
            _ => true,
        };
        if clash {
            self.stop(true, out);
        }
        self.receive(m, out, delivered);
        self.try_fast(out, delivered);
    }

    /// A consensus message: stop the stage first if it is about this stage, so that consensus
    /// only ever sees this process's stage value (module doc, safety point 2).
    fn on_consensus(&mut self, from: ServerId, msg: Msg, out: &mut Out) {
        let k = instance_of(&msg).expect("a consensus message");
        if k == self.stage {
            self.stop(false, out);
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
            Msg::OptData { m, .. } => self.receive(m, out, delivered),
            Msg::OptOrder { k, pos, m } => self.on_order(from, k, pos, m, out, delivered),
            Msg::OptStop { k } => {
                if k < self.stage {
                    self.cons.catch_up(from, k, out);
                } else if k == self.stage {
                    self.stop(false, out);
                } else {
                    self.future
                        .entry(k)
                        .or_default()
                        .push((from, Msg::OptStop { k }));
                }
            }
            m if m.is_consensus() => self.on_consensus(from, m, out),
            _ => {}
        }
    }

    /// Stage k decided: deliver, start stage k+1.
    fn apply(&mut self, d: Decision, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        debug_assert_eq!(d.k, self.stage);
        debug_assert!(
            d.value.len() >= self.fast
                && d.value
                    .iter()
                    .zip(&self.seq[..self.fast])
                    .all(|(a, b)| a.id == b.id),
            "OPT safety: the decision of stage {} must start with the fast-delivered prefix",
            d.k
        );
        for m in d.value {
            self.known.insert(m.id);
            self.deliver(m, delivered);
        }
        out.note(Note::Fallback);
        self.stage += 1;
        self.stopped = false;
        self.seq.clear();
        self.fast = 0;
        self.reports.clear();
        if let Some(v) = self.future.remove(&self.stage) {
            self.inbox.extend(v);
        }
        self.inbox.extend(self.cons.take_future());
        let left = self.undelivered.clone();
        if left.is_empty() {
            return;
        }
        if self.any_suspected() {
            self.stop(true, out);
            return;
        }
        for m in left {
            if self.stopped {
                break; // the rest stays undelivered and goes into the value
            }
            self.append(m, out);
        }
        self.try_fast(out, delivered);
    }

    /// Handle the inbox and apply decisions until both are empty.
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
                    out.send_others(&Msg::OptData {
                        k: self.stage,
                        m: m.clone(),
                    });
                }
            }
            if !self.stopped && !self.undelivered.is_empty() {
                self.stop(true, out);
            }
            if self.in_step() {
                let d = self.cons.on_suspect(p, &self.fd, out);
                self.push_decision(d);
            }
            self.drive(out, delivered);
        }
    }
}

impl AtomicBroadcast for OptBroadcast {
    fn start(&mut self, _now: Time, out: &mut Out) {
        self.fd.start(out);
    }

    fn broadcast(&mut self, _now: Time, body: Body, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        let m = AppMsg {
            id: self.ids.next(),
            body,
        };
        out.send_others(&Msg::OptData {
            k: self.stage,
            m: m.clone(),
        });
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
                || matches!(
                    m,
                    Msg::OptData { .. } | Msg::OptOrder { .. } | Msg::OptStop { .. }
                ) =>
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
