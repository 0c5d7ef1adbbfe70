//! The staged-broadcast skeleton shared by OPT-broadcast (`opt.rs`) and Generic Broadcast
//! (`gb.rs`): both run stages k = 0, 1, … with a fast path of their own, and end stage k only by
//! [`Consensus`] instance k (stage k = consensus instance k, so `Consensus` is reused unchanged in
//! its numbering). What differs — how a stage reports, fast-delivers and stops, and what value it
//! hands consensus — is a [`StageRules`]; everything else is here, once:
//!
//! - **Receipt**: the first copy of a message (DATA, a relay, or a stage message carrying it) is
//!   kept as undelivered in receipt order; while the stage runs the rules see it
//!   ([`StageRules::fresh`]), once it stopped it only joins the consensus value.
//! - **Stopping** stage k (the rules' fast path gave up, or another process says the stage is
//!   ending) happens once per stage; the rules then send what their spec says
//!   ([`StageRules::on_stop`]).
//! - **The consensus value** is a head given by the rules (OPT: the frozen seq_k; GB: majSet_k)
//!   followed by the other undelivered messages in receipt order. It is handed to consensus k
//!   (`Consensus::set_pending`) only once the stage has stopped and consensus is at this stage,
//!   and again whenever it grows.
//! - **Consensus messages** of instance k stop stage k *before* [`Consensus`] sees them, and are
//!   held until this process has its value (the head exists) — DECIDE excepted, a decision is
//!   always safe to adopt. This is the contract of `Consensus::set_pending`: every initial value of
//!   instance k carries what stage k's fast path may have delivered (the safety point 2 of
//!   `opt.rs`, point 3 of `gb.rs`). For OPT the head exists as soon as the stage stopped, so
//!   nothing is ever held there.
//! - **Decisions** are queued and applied between two messages, never in the middle of one
//!   (`Staged::drive`): deliver D_k minus what is delivered, in D_k's order, count one
//!   [`Note::Fallback`], move to stage k+1, replay what waited for it (held messages of k, now
//!   stale, so `Consensus` answers processes that are behind; stage messages of k+1 buffered by
//!   `Staged::later`; consensus messages of k+1 buffered by `Consensus`), and let the rules
//!   start stage k+1 with what is left.
//! - **Failure detector**: any message proves its sender alive; on a suspicion of p, the
//!   undelivered messages whose origin is p are relayed once (as in CT-broadcast), the rules react
//!   ([`StageRules::on_suspected`]), and consensus is told (only when it is at our stage).
//!
//! Nothing here changes which messages are sent or in which order: it is the code the two
//! broadcasts had in common, with the differences as hooks.

use super::backlog::Backlog;
use super::consensus::{instance_of, Consensus, Decision};
use super::fd::{FailureDetector, FdChange};
use super::{AppMsg, AtomicBroadcast, Body, Control, Msg, MsgId, MsgIds, NodeConfig, Note, Out};
use super::{ServerId, Time, Timer};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Debug;

/// What a staged broadcast does on its own: its messages, its fast path, its stop and its
/// consensus value. The hooks get the whole [`Staged`] state (common fields and `rules`).
pub trait StageRules: Debug + Send + Sized {
    /// The per-stage state of a fresh broadcast.
    fn new(cfg: &NodeConfig) -> Self;
    /// The DATA message diffusing `m`, sent in stage `k` (a broadcast or a relay).
    fn data(k: u64, m: AppMsg) -> Msg;
    /// The broadcast's own message types (consensus messages are everyone's).
    fn owns(msg: &Msg) -> bool;
    /// The head of this process's consensus value for the current stage, once it has one.
    fn head(b: &Staged<Self>) -> Option<&[AppMsg]>;
    /// First receipt of `m` while the stage runs (it is already in `undelivered`).
    fn fresh(b: &mut Staged<Self>, m: AppMsg, out: &mut Out, delivered: &mut Vec<AppMsg>);
    /// The stage has just stopped (`local`: on this process's own initiative).
    fn on_stop(b: &mut Staged<Self>, local: bool, out: &mut Out);
    /// One of the broadcast's own messages ([`StageRules::owns`]).
    fn handle(b: &mut Staged<Self>, from: ServerId, msg: Msg, out: &mut Out, d: &mut Vec<AppMsg>);
    /// The failure detector began suspecting someone (after the relays, before consensus hears).
    fn on_suspected(_b: &mut Staged<Self>, _out: &mut Out) {}
    /// A sanity check of decision `d` against the stage's fast deliveries (debug builds).
    fn check_decision(_b: &Staged<Self>, _d: &Decision) {}
    /// Stage `b.stage` begins, after the previous one's decision: clear the per-stage state and
    /// start the stage with what is still undelivered.
    fn start_stage(b: &mut Staged<Self>, out: &mut Out, delivered: &mut Vec<AppMsg>);
}

/// A staged broadcast: the common state, and the `rules`' own.
#[derive(Debug)]
pub struct Staged<R: StageRules> {
    pub(crate) me: ServerId,
    pub(crate) n: u16,
    pub(crate) fd: FailureDetector,
    pub(crate) cons: Consensus,
    ids: MsgIds,
    /// The current stage k (= the consensus instance that will end it).
    pub(crate) stage: u64,
    /// Stage k stopped: the fast path is over for it, consensus k under way.
    pub(crate) stopped: bool,
    /// Received and not delivered, in receipt order.
    pub(crate) undelivered: Backlog,
    /// Consensus k's value changed since consensus last got it ([`Staged::update_pending`]).
    stale: bool,
    /// Delivered or undelivered: every message received so far.
    known: BTreeSet<MsgId>,
    pub(crate) delivered: BTreeSet<MsgId>,
    relayed: BTreeSet<MsgId>,
    /// Consensus messages of instance k held until this process has its value.
    held: Vec<(ServerId, Msg)>,
    /// Stage messages of stages not reached yet.
    future: BTreeMap<u64, Vec<(ServerId, Msg)>>,
    /// Messages to handle before returning (replays of buffered ones included).
    inbox: VecDeque<(ServerId, Msg)>,
    /// Decisions not applied yet (applied between two messages, never in the middle of one).
    decided: VecDeque<Decision>,
    /// The broadcast's own per-stage state.
    pub(crate) rules: R,
    /// Byzantine servers the run declares (`NodeConfig::byzantine`): with any, the stage
    /// invariants are not asserted.
    byzantine: u16,
}

/// The state it stands for: consensus as if it held the current value already (a stale value is
/// handed over before anything reads or changes it, see `update_pending`), so states that
/// differ only in when it is handed over hash alike.
impl<R: StageRules + std::hash::Hash> std::hash::Hash for Staged<R> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let Staged {
            me,
            n,
            fd,
            cons,
            ids,
            stage,
            stopped,
            undelivered,
            stale,
            known,
            delivered,
            relayed,
            held,
            future,
            inbox,
            decided,
            rules,
            byzantine,
        } = self;
        me.hash(h);
        n.hash(h);
        fd.hash(h);
        let pending = if *stale { self.value() } else { None };
        cons.hash_with_pending(pending.as_deref(), h);
        ids.hash(h);
        stage.hash(h);
        stopped.hash(h);
        undelivered.hash(h);
        known.hash(h);
        delivered.hash(h);
        relayed.hash(h);
        held.hash(h);
        future.hash(h);
        inbox.hash(h);
        decided.hash(h);
        rules.hash(h);
        byzantine.hash(h);
    }
}

impl<R: StageRules> Staged<R> {
    pub fn new(cfg: &NodeConfig) -> Self {
        Staged {
            me: cfg.me,
            n: cfg.n,
            fd: FailureDetector::new(cfg.me, cfg.n, cfg.heartbeat, cfg.suspect_after),
            cons: Consensus::new(cfg.me, cfg.n),
            ids: MsgIds::new(cfg.me),
            stage: 0,
            stopped: false,
            undelivered: Backlog::default(),
            stale: false,
            known: BTreeSet::new(),
            delivered: BTreeSet::new(),
            relayed: BTreeSet::new(),
            held: Vec::new(),
            future: BTreeMap::new(),
            inbox: VecDeque::new(),
            decided: VecDeque::new(),
            rules: R::new(cfg),
            byzantine: cfg.byzantine,
        }
    }

    /// The current stage (for tests and tracing).
    pub fn stage(&self) -> u64 {
        self.stage
    }

    /// Whether the current stage has stopped (left its fast path).
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    pub(crate) fn any_suspected(&self) -> bool {
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

    /// The value this process gives consensus k: the rules' head, then the other undelivered
    /// messages in receipt order.
    fn value(&self) -> Option<Vec<AppMsg>> {
        let head = R::head(self)?;
        let ids: BTreeSet<MsgId> = head.iter().map(|m| m.id).collect();
        let mut v = head.to_vec();
        v.extend(
            self.undelivered
                .iter()
                .filter(|m| !ids.contains(&m.id))
                .cloned(),
        );
        Some(v)
    }

    /// Consensus k's value changed (the stage stopped, a message arrived, the head exists):
    /// hand it over at once when it acts at once ([`Consensus::wants_pending`]: it starts the
    /// instance or the round-1 coordinator proposes it), else just before the next thing that
    /// reads it or changes it ([`Staged::flush`]) — the same outcomes as handing over every
    /// change, without building the whole value per message received (which made a loaded
    /// server quadratic in its backlog).
    pub(crate) fn update_pending(&mut self, out: &mut Out) {
        if !self.stopped || !self.in_step() {
            return;
        }
        self.stale = true;
        if self.cons.wants_pending() {
            self.flush(out);
        }
    }

    /// [`Staged::flush`] where there is no effect sink: a stale value is one consensus did not
    /// want at once, and only its own inputs (each after a flush) change that — handing it over
    /// now is an assignment, with no effect and no decision.
    fn flush_now(&mut self) {
        let mut out = Out::new(self.me, self.n);
        let decided = self.decided.len();
        self.flush(&mut out);
        debug_assert!(
            out.effects.is_empty() && self.decided.len() == decided,
            "a deferred value acted at once"
        );
    }

    /// Hand consensus k the value if it changed since it last got it and exists. Called before
    /// every consensus input and before a delivery takes a message out of the backlog, so
    /// consensus always holds the value of the last `update_pending`.
    fn flush(&mut self, out: &mut Out) {
        if !std::mem::take(&mut self.stale) {
            return;
        }
        if let Some(v) = self.value() {
            let d = self.cons.set_pending(v, &self.fd, out);
            self.push_decision(d);
        }
    }

    /// Leave the fast path of stage k, once. `local`: on this process's own initiative (not
    /// because another process's message said the stage is stopping).
    pub(crate) fn stop(&mut self, local: bool, out: &mut Out) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        R::on_stop(self, local, out);
    }

    /// A copy of m arrived (or m was broadcast here).
    pub(crate) fn receive(&mut self, m: AppMsg, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        if !self.known.insert(m.id) {
            return;
        }
        self.undelivered.push(m.clone());
        if self.stopped {
            self.update_pending(out);
        } else {
            R::fresh(self, m, out, delivered);
        }
    }

    /// Deliver m unless it already was; false if it was.
    pub(crate) fn deliver(&mut self, m: AppMsg, delivered: &mut Vec<AppMsg>) -> bool {
        if self.delivered.contains(&m.id) {
            return false;
        }
        if self.stale {
            // Consensus must hold the value as it was before this delivery (see `flush`).
            self.flush_now();
        }
        self.delivered.insert(m.id);
        self.undelivered.remove(&m.id);
        delivered.push(m);
        true
    }

    /// Keep `msg`, a stage message of stage `k`, for when stage `k` starts, if `k` is later than
    /// the current stage.
    pub(crate) fn later(&mut self, from: ServerId, k: u64, msg: &Msg) {
        if k > self.stage {
            self.future.entry(k).or_default().push((from, msg.clone()));
        }
    }

    /// The held consensus messages go first in the inbox, in their arrival order (the rules
    /// have just produced this process's value).
    pub(crate) fn release_held(&mut self) {
        for x in self.held.drain(..).rev() {
            self.inbox.push_front(x);
        }
    }

    /// A consensus message: stop the stage first if it is about this stage, so that consensus
    /// only ever sees this process's stage value; hold it until that value exists. DECIDE passes.
    fn on_consensus(&mut self, from: ServerId, msg: Msg, out: &mut Out) {
        let k = instance_of(&msg).expect("a consensus message");
        if k == self.stage {
            self.stop(false, out);
            if R::head(self).is_none() && !matches!(msg, Msg::Decide { .. }) {
                self.held.push((from, msg));
                return;
            }
        }
        if !self.in_step() {
            // A decision is waiting to be applied (possible only when n = 1): after it.
            self.inbox.push_back((from, msg));
            return;
        }
        self.flush(out);
        let d = self.cons.on_message(from, msg, &self.fd, out);
        self.push_decision(d);
    }

    fn handle(&mut self, from: ServerId, msg: Msg, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        if msg.is_consensus() {
            self.on_consensus(from, msg, out);
        } else {
            R::handle(self, from, msg, out, delivered);
        }
    }

    /// Stage k decided: deliver, start stage k+1.
    fn apply(&mut self, d: Decision, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        debug_assert_eq!(d.k, self.stage);
        // The stage invariants hold against crash faults; a run that declares Byzantine
        // servers (which a crash-tolerant broadcast does not mask) may break them.
        if self.byzantine == 0 {
            R::check_decision(self, &d);
        }
        for m in d.value {
            self.known.insert(m.id);
            self.deliver(m, delivered);
        }
        out.note(Note::Fallback);
        self.stage += 1;
        self.stopped = false;
        // Held messages of the decided instance are stale now: Consensus answers them.
        self.inbox.extend(std::mem::take(&mut self.held));
        if let Some(v) = self.future.remove(&self.stage) {
            self.inbox.extend(v);
        }
        self.inbox.extend(self.cons.take_future());
        R::start_stage(self, out, delivered);
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
                    out.send_others(&R::data(self.stage, m.clone()));
                }
            }
            R::on_suspected(self, out);
            if self.in_step() {
                self.flush(out);
                let d = self.cons.on_suspect(p, &self.fd, out);
                self.push_decision(d);
            }
            self.drive(out, delivered);
        }
    }
}

impl<R: StageRules> AtomicBroadcast for Staged<R> {
    fn start(&mut self, _now: Time, out: &mut Out) {
        self.fd.start(out);
    }

    fn broadcast(&mut self, _now: Time, body: Body, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        let m = AppMsg {
            id: self.ids.next(),
            body,
        };
        out.send_others(&R::data(self.stage, m.clone()));
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
            m if m.is_consensus() || R::owns(&m) => {
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
