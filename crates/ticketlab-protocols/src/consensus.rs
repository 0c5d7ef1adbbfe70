//! Chandra–Toueg consensus with the ◇S failure detector, as a sequence of instances
//! (docs/PROTOCOLS.md §4; \[CT96\] as cited in the paper's §4). This is the reusable ordering core:
//! CT-broadcast runs one instance per batch, and OPT/Generic Broadcast fall back to it.
//!
//! Instance k runs rounds r = 1, 2, … with a rotating coordinator c(r) = s_{((r−1) mod n)+1}: round 1
//! is always coordinated by s_1 (a documented choice; rotating with k would spread load but make a
//! ticket's latency depend on the instance number).
//!
//! Round r at a participant p (estimate `est`, timestamp `ts`, 0 = not locked):
//! - r > 1: p sends ESTIMATE(k, r, est, ts) to c(r). Round 1 has no estimate phase: c(1) proposes its
//!   own value at once (safe: no value can be locked before round 1).
//! - On PROPOSE(k, r, v) from c(r): est ← v, ts ← r, send C-ACK(k, r). p then stays in round r,
//!   waiting for the decision. This is what makes a failure-free instance cost exactly
//!   PROPOSE + ACK + DECIDE = 3(n−1) messages (docs/PROTOCOLS.md §4); classic CT would already
//!   send the round-2 estimates.
//! - p leaves round r for r+1 (sending its estimate to c(r+1)) when it suspects c(r) — it then also
//!   sends C-NACK(k, r) to c(r) — or when it receives C-NACK(k, r) from anyone, or any message of a
//!   later round (it jumps there).
//!
//! At the coordinator c(r):
//! - r > 1: wait for a majority of estimates (its own included), propose the one with the highest
//!   ts (ties: a non-empty one, then the lowest sender id — deterministic);
//! - on a majority of C-ACKs (its own included) decide and send DECIDE(k, v) to all others, once;
//! - on C-NACK(k, r), or a message of a later round, before deciding: abandon the round and send
//!   C-NACK(k, r) to all others, so that participants waiting in round r move on. Without this,
//!   participants that acked would wait forever for a live coordinator that gave up (the price of
//!   the wait-after-ACK optimisation above; it costs messages only when something was suspected);
//! - on entering round r > 1: send C-NACK(k, r−1) to all others, which pulls stragglers into
//!   round r and makes any process that already decided k answer with DECIDE (see catch-up).
//!
//! Decision: on DECIDE(k, v) a process decides v; it relays DECIDE to all others only if it suspects
//! the sender (so a coordinator crash in the middle of its send cannot block the others). A process
//! that has decided k answers a stale ESTIMATE, PROPOSE or C-NACK of instance k with DECIDE(k, v)
//! (catch-up), and a process that receives a message of a later instance from p pulls the decision
//! it missed from p once (a C-NACK with r = 0). A coordinator that decides through a DECIDE it did
//! not send (a catch-up reply, another round's decision) forwards it to whoever may wait on it:
//! everyone once it has proposed, else the processes whose estimate it holds — nothing else would
//! tell them (found by the OPT/GB stress tests, seeds 410 and 18282, where no later-instance
//! traffic may come to trigger a pull). None of this happens in a failure-free run (s_1 decides
//! round 1 itself). Together with the relay rule this keeps every correct process moving when a
//! coordinator crashes in the middle of sending DECIDE.
//!
//! Safety (agreement) is CT's locking argument, unchanged by the optimisations: a decision in round
//! r needs a majority of processes with ts = r and est = v; any later coordinator hears a majority of
//! estimates, which intersects that majority, and picks the highest ts, hence v. Values are the full
//! messages (not ids) so a decided message is never waiting for a lost diffusion.
//!
//! Validity is the caller's business: the decided value is some process's initial value (its
//! `pending` when it first estimated or proposed) or a value proposed from those. CT-broadcast
//! accepts any value. OPT and Generic Broadcast (`opt.rs`, `gb.rs`) need every initial value to
//! carry what their fast path may already have delivered, so they hand [`Consensus::set_pending`]
//! their stage-k value *before* feeding it any message of instance k (instance k = stage k), and
//! never call `set_pending` for an instance whose stage is still on its fast path. To make that
//! contract checkable, a decision clears `pending`: a new instance never starts from the previous
//! instance's estimate (CT-broadcast sets it again right after each decision, so nothing changes
//! for it). [`Consensus::catch_up`] lets a caller answer a stage message of its own (OPT's STOP)
//! for an instance it has already decided, like the stale-message replies above.

use super::fd::FailureDetector;
use super::quorum::majority;
use super::{AppMsg, Msg, Note, Out, ServerId};
use std::collections::{BTreeMap, BTreeSet};

/// A deliberate bug, for the bug zoo (teaching material and a target for `explore`): each one
/// breaks a step of the locking argument above. Never set in a shipped protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flaw {
    /// The coordinator counts a C-ACK of an *older* round toward its current proposal — of an
    /// earlier round of this instance, or of an earlier instance (its tally ignores the
    /// instance): an ACK for an earlier value no longer proves that a majority locked this one.
    StaleAck,
    /// A coordinator of round r > 1 proposes without waiting for a majority of estimates (its
    /// own is enough): it may miss the value a majority locked in an earlier round.
    EarlyPropose,
}

/// A decided instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decision {
    pub k: u64,
    pub value: Vec<AppMsg>,
}

#[derive(Debug)]
pub struct Consensus {
    me: ServerId,
    n: u16,
    /// The current (lowest undecided) instance.
    k: u64,
    active: bool,
    round: u32,
    /// Locked estimate (ts > 0); when ts = 0 the estimate is `pending`.
    locked: Vec<AppMsg>,
    ts: u32,
    /// The caller's undelivered messages: the estimate while nothing is locked.
    pending: Vec<AppMsg>,
    // Coordinator state for the current round.
    estimates: BTreeMap<ServerId, (Vec<AppMsg>, u32)>,
    proposal: Option<Vec<AppMsg>>,
    acks: BTreeSet<ServerId>,
    /// Decided values, kept for catch-up replies.
    decisions: BTreeMap<u64, Vec<AppMsg>>,
    /// Messages of instances not reached yet.
    future: BTreeMap<u64, Vec<(ServerId, Msg)>>,
    /// (process, instance) pairs whose decision was already pulled.
    pulled: BTreeSet<(ServerId, u64)>,
    /// A deliberate bug (bug zoo only).
    flaw: Option<Flaw>,
}

impl std::hash::Hash for Consensus {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.hash_with_pending(None, h);
    }
}

/// The instance number of a consensus message, if it is one.
pub fn instance_of(msg: &Msg) -> Option<u64> {
    match msg {
        Msg::Estimate { k, .. }
        | Msg::Propose { k, .. }
        | Msg::CAck { k, .. }
        | Msg::CNack { k, .. }
        | Msg::Decide { k, .. } => Some(*k),
        _ => None,
    }
}

impl Consensus {
    pub fn new(me: ServerId, n: u16) -> Self {
        Consensus {
            me,
            n,
            k: 0,
            active: false,
            round: 0,
            locked: Vec::new(),
            ts: 0,
            pending: Vec::new(),
            estimates: BTreeMap::new(),
            proposal: None,
            acks: BTreeSet::new(),
            decisions: BTreeMap::new(),
            future: BTreeMap::new(),
            pulled: BTreeSet::new(),
            flaw: None,
        }
    }

    /// This instance sequence with a deliberate bug (the bug zoo).
    pub fn with_flaw(mut self, flaw: Flaw) -> Self {
        self.flaw = Some(flaw);
        self
    }

    /// The coordinator of round r (any instance).
    pub fn coordinator(&self, r: u32) -> ServerId {
        ((r.max(1) - 1) % u32::from(self.n)) as ServerId + 1
    }

    /// Hash the state as [`Hash`] does, but as if `pending` (when given) had been handed over
    /// with [`set_pending`](Self::set_pending) while it [does not act at
    /// once](Self::wants_pending): how a caller that hands its value over lazily hashes the
    /// state it stands for (`check` merges states by these hashes).
    pub fn hash_with_pending<H: std::hash::Hasher>(&self, pending: Option<&[AppMsg]>, h: &mut H) {
        use std::hash::Hash;
        // Every field, in declaration order (a new field does not compile until it is here).
        let Consensus {
            me,
            n,
            k,
            active,
            round,
            locked,
            ts,
            pending: own,
            estimates,
            proposal,
            acks,
            decisions,
            future,
            pulled,
            flaw,
        } = self;
        me.hash(h);
        n.hash(h);
        k.hash(h);
        active.hash(h);
        round.hash(h);
        locked.hash(h);
        ts.hash(h);
        match pending {
            Some(p) => p.hash(h),
            None => own.hash(h),
        }
        estimates.hash(h);
        proposal.hash(h);
        acks.hash(h);
        decisions.hash(h);
        future.hash(h);
        pulled.hash(h);
        flaw.hash(h);
    }

    /// The current instance number.
    pub fn instance(&self) -> u64 {
        self.k
    }

    fn estimate(&self) -> &Vec<AppMsg> {
        if self.ts > 0 {
            &self.locked
        } else {
            &self.pending
        }
    }

    /// Whether new undelivered messages would act at once through
    /// [`set_pending`](Self::set_pending): the instance is idle (they start it) or this process coordinates
    /// round 1 and has not proposed yet. Otherwise `pending` is only read when a round is entered,
    /// so a caller may hand it over later — before its next call into this instance — with the
    /// same outcome.
    pub fn wants_pending(&self) -> bool {
        !self.active
            || (self.round == 1 && self.coordinator(1) == self.me && self.proposal.is_none())
    }

    /// The caller's undelivered messages changed. Starts the current instance when there is
    /// something to order; lets the round-1 coordinator propose.
    pub fn set_pending(
        &mut self,
        pending: Vec<AppMsg>,
        fd: &FailureDetector,
        out: &mut Out,
    ) -> Option<Decision> {
        self.pending = pending;
        if self.pending.is_empty() {
            return None;
        }
        if !self.active {
            self.active = true;
            return self.enter_round(1, fd, out);
        }
        if self.round == 1 && self.coordinator(1) == self.me && self.proposal.is_none() {
            let v = self.pending.clone();
            return self.propose(v, out);
        }
        None
    }

    fn enter_round(&mut self, r: u32, fd: &FailureDetector, out: &mut Out) -> Option<Decision> {
        let mut r = r;
        loop {
            if r > 1 {
                out.note(Note::ConsensusExtraRound);
            }
            self.reset_round(r);
            let c = self.coordinator(r);
            if c == self.me {
                if r == 1 {
                    if !self.pending.is_empty() {
                        let v = self.pending.clone();
                        return self.propose(v, out);
                    }
                    return None;
                }
                // Announce that round r−1 is over: participants still waiting there move here
                // and send their estimates, and any process that already decided instance k
                // answers with DECIDE (catch-up). Without it, a coordinator that missed a
                // decision (its DECIDE lost with a crashed sender) would wait for estimates from
                // processes that have moved on, and they for it.
                out.send_others(&Msg::CNack {
                    k: self.k,
                    r: r - 1,
                });
                let own = (self.estimate().clone(), self.ts);
                self.estimates.insert(self.me, own);
                return self.check_estimates(out);
            }
            if r > 1 {
                out.send(
                    c,
                    Msg::Estimate {
                        k: self.k,
                        r,
                        value: self.estimate().clone(),
                        ts: self.ts,
                    },
                );
            }
            if !fd.suspects(c) {
                return None;
            }
            // Already suspected: tell it and move on (ends at the latest at our own round).
            out.send(c, Msg::CNack { k: self.k, r });
            r += 1;
        }
    }

    /// Enter round `r` with no coordinator state.
    fn reset_round(&mut self, r: u32) {
        self.round = r;
        self.estimates.clear();
        self.proposal = None;
        self.acks.clear();
    }

    fn propose(&mut self, v: Vec<AppMsg>, out: &mut Out) -> Option<Decision> {
        self.locked = v.clone();
        self.ts = self.round;
        self.acks.clear();
        self.acks.insert(self.me);
        out.send_others(&Msg::Propose {
            k: self.k,
            r: self.round,
            value: v.clone(),
        });
        self.proposal = Some(v);
        self.check_acks(out)
    }

    fn check_estimates(&mut self, out: &mut Out) -> Option<Decision> {
        let need = match self.flaw {
            Some(Flaw::EarlyPropose) => 1,
            _ => usize::from(majority(self.n)),
        };
        if self.proposal.is_some() || self.estimates.len() < need {
            return None;
        }
        // Highest ts; then non-empty; then lowest server id (BTreeMap order, first max wins).
        let mut best: Option<(&ServerId, &(Vec<AppMsg>, u32))> = None;
        for e in &self.estimates {
            let better = match best {
                None => true,
                Some((_, (bv, bts))) => {
                    let (v, ts) = e.1;
                    (*ts, !v.is_empty()) > (*bts, !bv.is_empty())
                }
            };
            if better {
                best = Some(e);
            }
        }
        let v = best.map(|(_, (v, _))| v.clone()).unwrap_or_default();
        self.propose(v, out)
    }

    fn check_acks(&mut self, out: &mut Out) -> Option<Decision> {
        if self.acks.len() < usize::from(majority(self.n)) {
            return None;
        }
        let v = self.proposal.clone()?;
        out.send_others(&Msg::Decide {
            k: self.k,
            value: v.clone(),
        });
        Some(self.decide(v, out))
    }

    fn decide(&mut self, value: Vec<AppMsg>, out: &mut Out) -> Decision {
        out.note(Note::ConsensusDecided);
        let k = self.k;
        self.decisions.insert(k, value.clone());
        self.k += 1;
        self.active = false;
        self.ts = 0;
        self.locked.clear();
        self.pending.clear();
        self.reset_round(0);
        Decision { k, value }
    }

    /// Leave the current round for r+1 (or later), telling whoever waits on us.
    fn abandon_round(&mut self, fd: &FailureDetector, out: &mut Out) -> Option<Decision> {
        let r = self.round;
        let c = self.coordinator(r);
        if c == self.me {
            out.send_others(&Msg::CNack { k: self.k, r });
        }
        self.enter_round(r + 1, fd, out)
    }

    /// Jump forward to round `r` (a later round is under way somewhere).
    fn jump_to(&mut self, r: u32, fd: &FailureDetector, out: &mut Out) -> Option<Decision> {
        if self.coordinator(self.round) == self.me && self.round >= 1 {
            out.send_others(&Msg::CNack {
                k: self.k,
                r: self.round,
            });
        }
        self.enter_round(r, fd, out)
    }

    /// The failure detector began suspecting `p`.
    pub fn on_suspect(
        &mut self,
        p: ServerId,
        fd: &FailureDetector,
        out: &mut Out,
    ) -> Option<Decision> {
        if !self.active || self.round == 0 || self.coordinator(self.round) != p || p == self.me {
            return None;
        }
        out.send(
            p,
            Msg::CNack {
                k: self.k,
                r: self.round,
            },
        );
        self.enter_round(self.round + 1, fd, out)
    }

    /// A consensus message from `from`. Returns the decision it caused, if any.
    pub fn on_message(
        &mut self,
        from: ServerId,
        msg: Msg,
        fd: &FailureDetector,
        out: &mut Out,
    ) -> Option<Decision> {
        let k = instance_of(&msg)?;
        if k < self.k && self.flaw == Some(Flaw::StaleAck) && matches!(msg, Msg::CAck { .. }) {
            // The flaw: a late C-ACK of an earlier instance (every failure-free run has some)
            // counted toward this instance's proposal.
            if self.proposal.is_some() {
                self.acks.insert(from);
                return self.check_acks(out);
            }
            return None;
        }
        if k < self.k {
            // Stale: help a process that is behind (never for C-ACK or DECIDE: those arrive late in
            // every failure-free run and need nothing).
            if matches!(
                msg,
                Msg::Estimate { .. } | Msg::Propose { .. } | Msg::CNack { .. }
            ) {
                if let Some(v) = self.decisions.get(&k) {
                    out.send(
                        from,
                        Msg::Decide {
                            k,
                            value: v.clone(),
                        },
                    );
                }
            }
            return None;
        }
        if k > self.k {
            // `from` is ahead: it decided instance self.k. Pull the decision once (a stale
            // C-NACK makes it answer with DECIDE); never happens in a failure-free run, where
            // the only later-instance messages come from the coordinator after its DECIDE (FIFO).
            if self.pulled.insert((from, self.k)) {
                out.send(from, Msg::CNack { k: self.k, r: 0 });
            }
            self.future.entry(k).or_default().push((from, msg));
            return None;
        }
        if let Msg::Decide { value, .. } = msg {
            if fd.suspects(from) {
                out.send_others(&Msg::Decide {
                    k,
                    value: value.clone(),
                });
            } else if self.active && self.coordinator(self.round) == self.me {
                // We coordinate our round and the decision comes from elsewhere (a catch-up
                // reply, another round's coordinator), whose sender may have crashed in the
                // middle of sending it. Whoever waits on us would wait forever: after our
                // PROPOSE, every process may ack it (late acks get no answer, see below) and
                // wait for our DECIDE; before it, those that sent us an estimate wait for it
                // (later estimates get the stale-message answer).
                let waiting: Vec<ServerId> = if self.proposal.is_some() {
                    (1..=self.n).collect()
                } else {
                    self.estimates.keys().copied().collect()
                };
                for p in waiting.into_iter().filter(|&p| p != self.me && p != from) {
                    out.send(
                        p,
                        Msg::Decide {
                            k,
                            value: value.clone(),
                        },
                    );
                }
            }
            return Some(self.decide(value, out));
        }
        if !self.active {
            self.active = true;
            if let Some(d) = self.enter_round(1, fd, out) {
                return Some(d);
            }
        }
        match msg {
            Msg::Estimate { r, value, ts, .. } => {
                if r > self.round {
                    if let Some(d) = self.jump_to(r, fd, out) {
                        return Some(d);
                    }
                }
                if r == self.round && self.coordinator(r) == self.me && self.proposal.is_none() {
                    self.estimates.insert(from, (value, ts));
                    return self.check_estimates(out);
                }
                None
            }
            Msg::Propose { r, value, .. } => {
                if r < self.round {
                    out.send(from, Msg::CNack { k, r });
                    return None;
                }
                if r > self.round {
                    if self.coordinator(self.round) == self.me {
                        out.send_others(&Msg::CNack { k, r: self.round });
                    }
                    if r > 1 {
                        out.note(Note::ConsensusExtraRound);
                    }
                    self.reset_round(r);
                }
                self.locked = value;
                self.ts = r;
                out.send(from, Msg::CAck { k, r });
                None
            }
            Msg::CAck { r, .. } => {
                let counted = r == self.round
                    || (self.flaw == Some(Flaw::StaleAck) && r < self.round && r > 0);
                if counted && self.proposal.is_some() {
                    self.acks.insert(from);
                    return self.check_acks(out);
                }
                None
            }
            Msg::CNack { r, .. } => {
                if r == 0 {
                    // A decision pull from a process that believes we are ahead; we are not.
                    return None;
                }
                if r == self.round {
                    return self.abandon_round(fd, out);
                }
                if r > self.round {
                    return self.jump_to(r + 1, fd, out);
                }
                None
            }
            _ => None,
        }
    }

    /// If instance `k` is decided here, send DECIDE(k, v) to `to` (it is behind: catch-up).
    pub fn catch_up(&self, to: ServerId, k: u64, out: &mut Out) {
        if let Some(v) = self.decisions.get(&k) {
            out.send(
                to,
                Msg::Decide {
                    k,
                    value: v.clone(),
                },
            );
        }
    }

    /// Messages buffered for the current instance, to be fed back through `on_message` after the
    /// caller has delivered the previous decision and updated `pending`.
    pub fn take_future(&mut self) -> Vec<(ServerId, Msg)> {
        self.future.remove(&self.k).unwrap_or_default()
    }
}
