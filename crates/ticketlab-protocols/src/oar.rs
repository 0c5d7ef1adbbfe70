//! SE over Felber–Schiper's optimistic active replication (OAR) ordering: `se-oar`.
//!
//! Implements \[OAR\] §4–5 — Fig. 5 (client), Fig. 6 (server Tasks 0, 1a, 1b, 1c, 2), Fig. 7
//! (Cnsv-order) with the ⊖ operators of App. A.3 — as an e-ticket protocol (SE, Pedone §3.1).
//!
//! **Mapping** \[reconstructed\]: the server s_i that receives τ from a user is both OAR's client
//! (Fig. 5) and one of the replicas. It orders m = (s_i, τ). A replica's reply to m is FIRST if no
//! message about τ precedes m in its A_delivered ⊕ O_delivered, DUP otherwise; s_i accepts τ iff
//! the reply it adopts (Fig. 5 l.3–5) is FIRST. The sequencer of epoch k is s_{(k mod n)+1}: s_1
//! first, then s+1 after each phase 2 (§5.3, rotating coordinator).
//!
//! **Messages** (`Msg::Oar*`):
//! - OAR-SUBMIT(m): s_i's R-multicast of m (Fig. 5 l.2), to all others. A receiver relays it to all
//!   others, once, only if it suspects m's origin (so a message the origin sent to some servers
//!   before crashing still reaches every correct one: R-multicast agreement, Lemma 1).
//! - OAR-ORDER(k, seq, msgs): the sequencer's ordering message (Task 1a, l.10), numbered within
//!   epoch k; sent at once on each SUBMIT (not "periodically" \[reconstructed\]) with every message
//!   it has R-delivered and not ordered. When s_i is the sequencer it sends no SUBMIT: its ORDER
//!   carries m \[reconstructed\].
//! - OAR-VOTE(k, m, reply, W): a replica's reply to sender(m) (l.19, l.29), W = {s} at the
//!   sequencer, {p, s} at another replica p, Π after A-delivery. s_i's own vote is local.
//! - OAR-PHASEII(k): Task 1c/2 (l.21), R-broadcast: sent to all by a server suspecting the
//!   sequencer, relayed to all others by every server on first receipt.
//! - OAR-STATE(k, O_dlv, O_notdlv): a server's Cnsv-order input, to all others.
//! - The lab's Chandra–Toueg consensus ([`Consensus`], instance k = epoch k), unchanged.
//!
//! **Good run** (Fig. 2, 6): s_i sends SUBMIT(m) (n−1); the sequencer s receives it at δ, sends
//! ORDER (n−1), opt-delivers m and votes {s} to s_i; every other replica opt-delivers m at 2δ and
//! votes {p, s} (one VOTE from each p ≠ s_i: n−1). s_i decides once the union of the weights of its
//! votes of one epoch reaches ⌈(n+1)/2⌉ (Fig. 5 l.3), adopting the reply of largest weight. At 2δ
//! it holds its own vote {s_i, s} (ORDER arrived) and s's {s}: weight 2, enough at n = 3; the
//! other votes arrive at 3δ. Hence **3(n−1) messages; 2δ at n = 3, 3δ otherwise**. If s_i = s:
//! ORDER (n−1) and n−1 VOTEs arriving at 2δ: **2(n−1) messages, 2δ**. Theory row printed: the
//! s_i ≠ s row ([`theory`]).
//!
//! **Why accepting needs a majority weight** (E-1): an Opt-delivery seen by a minority may be
//! undone by phase 2 (Fig. 4, §5.4): the external inconsistency of Fig. 1(b). A reply with majority
//! weight is final (Prop. 7) and every final reply comes from one total order (Prop. 5), so at most
//! one message about τ is ever adopted as FIRST. E-2 follows from Prop. 4 with f < n/2 (every
//! message of a correct s_i is eventually delivered in some epoch, and s_i then decides it)
//! [reconstructed argument].
//!
//! **Fallback** (Task 1c, Task 2, Fig. 7): a server that suspects the current sequencer sends
//! PHASEII(k). On PHASEII(k) a server stops opt-delivering in epoch k (later ORDER(k) are ignored),
//! and sends STATE(k, O_dlv, O_notdlv) to all. After ⌈(n+1)/2⌉ STATEs, its own included, it
//! proposes all it has, as a vector sorted by server id ([`Body::OarState`] bodies), to consensus
//! instance k: the decision then holds a majority's values, which is Maj-validity (§5.5; the paper
//! leaves this to \[Fel98\]) \[reconstructed\]. Consensus messages of instance k are held until this
//! server has proposed (so no estimate is ever empty). On decision D^k it runs Fig. 7:
//! dlv_max = longest dlv_i; if O_dlv is a prefix of dlv_max, New ← dlv_max ⊖ O_dlv, else
//! Good ← ⊙(O_dlv, dlv_max), Bad ← O_dlv ⊖ Good; notdlv ← ⊎(notdlv_i in D^k order) ⊖ dlv_max;
//! New ← New ⊕ notdlv; the common prefix of Bad and New moves back to Good (l.15–19, ⊖ prefix).
//! It Opt-undelivers Bad, last message first (footnote 2), A-delivers New voting W = Π (l.25–29),
//! then l.30–32: A_delivered ⊕= (O_dlv ⊖ Bad) ⊕ New, O_dlv ← ε, k ← k+1, s ← s+1. Every own
//! pending m in (O_dlv ⊖ Bad) ⊕ New is final (Cnsv-order agreement, §5.4), so s_i decides it at once
//! \[reconstructed\]. Decision ≈ suspicion + 5δ (PHASEII δ, STATE δ, PROPOSE–ACK–DECIDE 3δ; one
//! round more when s_1, consensus' round-1 coordinator, is the crashed one).
//!
//! **Choices where the paper is silent** \[reconstructed\]:
//! - The ⊖ printed as ⊕/⊙ in Fig. 7 l.7, 11, 13, 18, 19 and §5.4 is read as in App. A.3.
//! - Task 1b has no epoch test: ORDER(k′ < k) and ORDER(k) after PHASEII(k) are dropped for
//!   delivery; ORDER(k′ > k) (a server still finishing epoch k′−1) is held until epoch k′ —
//!   dropping it would lose a prefix of the FIFO stream and block this replica's votes for the
//!   whole epoch; a seqno gap is buffered (A.3 Lemma 2 needs FIFO).
//! - The messages an ORDER carries are R-delivered by every receiver, even when the ORDER itself
//!   is dropped (Lemma 1 for the s_i = s case, where no SUBMIT exists); a message opt-undelivered
//!   and not re-delivered stays R-delivered and is ordered again in a later epoch.
//! - A new sequencer orders what it has R-delivered and not delivered as soon as its epoch starts;
//!   a server whose new epoch's sequencer is already suspected starts phase 2 of it at once.
//! - s_i rejects τ with 0 messages if τ was already submitted to it or if a message about τ is in
//!   its A_delivered ⊕ O_delivered (an opt-delivered one may be undone later: rejecting is always
//!   safe for E-1, and E-2 still holds since that message's origin is in σ(τ)).
//! - Votes are kept per (m, epoch) for as long as m is pending, whatever s_i's own epoch: a
//!   majority weight within one epoch is final (Prop. 7) even when s_i has moved on.
//! - The §5.3 Remark (a periodic phase 2 for garbage collection) is not implemented.
//!
//! **Counters**: one [`Note::FastDelivery`] per ticket s_i decides on the fast path (majority of
//! optimistic weights), one [`Note::Fallback`] per phase 2 a server completes.

use super::consensus::{instance_of, Consensus, Decision};
use super::fd::{FailureDetector, FdChange};
use super::quorum::majority;
use super::{AppMsg, Body, Control, Msg, MsgId, MsgIds, NodeConfig, Note, Out, Outcome};
use super::{Protocol, ServerId, Theory, Ticket, Time, Timer};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

/// The theory row printed for `se-oar`: the s_i ≠ s row (see the module doc).
pub fn theory(n: u64) -> Theory {
    Theory {
        resilience: "f < n/2".into(),
        latency_delta: if majority(n as u16) <= 2 { 2.0 } else { 3.0 },
        messages_per_ticket: 3 * (n - 1),
    }
}

/// A STATE's (O_dlv, O_notdlv).
type State = (Vec<AppMsg>, Vec<AppMsg>);

/// Votes s_i holds for one of its messages in one epoch (Fig. 5 l.3–5).
#[derive(Debug, Default, Hash)]
struct Votes {
    /// ∪ W_i.
    union: BTreeSet<ServerId>,
    /// |W_max| and its reply (FIRST = true).
    best: Option<(usize, bool)>,
}

#[derive(Hash)]
pub struct Oar {
    me: ServerId,
    n: u16,
    fd: FailureDetector,
    cons: Consensus,
    ids: MsgIds,
    /// The epoch k.
    k: u64,
    /// In phase 2 of epoch k (PHASEII(k) delivered here).
    phase2: bool,
    /// R_delivered ⊖ A_delivered, in receipt order, and its ids.
    r_pending: Vec<AppMsg>,
    r_ids: BTreeSet<MsgId>,
    /// A_delivered: ids, and the first message per ticket.
    a_ids: BTreeSet<MsgId>,
    a_first: BTreeMap<Ticket, MsgId>,
    /// O_delivered of epoch k with each message's reply (FIRST = true), its ids, first per ticket.
    o_dlv: Vec<(AppMsg, bool)>,
    o_ids: BTreeSet<MsgId>,
    o_first: BTreeMap<Ticket, MsgId>,
    /// Sequencer: the next ORDER number to send; others: the next one to opt-deliver.
    next_seq: u64,
    /// ORDERs waiting for their epoch or for a gap, by (epoch, seq).
    orders: BTreeMap<(u64, u64), Vec<AppMsg>>,
    /// Epochs whose PHASEII was delivered (and relayed) here.
    phase2_seen: BTreeSet<u64>,
    /// STATEs by epoch and sender (this server's own included).
    states: BTreeMap<u64, BTreeMap<ServerId, State>>,
    /// This server has proposed to consensus instance k.
    proposed: bool,
    /// Consensus messages of instances this server has not proposed to yet.
    held: BTreeMap<u64, Vec<(ServerId, Msg)>>,
    /// Messages relayed (SUBMIT) because their origin was suspected.
    relayed: BTreeSet<MsgId>,
    /// Tickets users submitted here.
    received: BTreeSet<Ticket>,
    /// This server's own messages not decided yet.
    own: BTreeMap<MsgId, Ticket>,
    votes: BTreeMap<(MsgId, u64), Votes>,
    /// Opt-undeliveries so far (for tests).
    undone: u64,
}

impl Oar {
    pub fn new(cfg: &NodeConfig) -> Self {
        Oar {
            me: cfg.me,
            n: cfg.n,
            fd: FailureDetector::new(cfg.me, cfg.n, cfg.heartbeat, cfg.suspect_after),
            cons: Consensus::new(cfg.me, cfg.n),
            ids: MsgIds::new(cfg.me),
            k: 0,
            phase2: false,
            r_pending: Vec::new(),
            r_ids: BTreeSet::new(),
            a_ids: BTreeSet::new(),
            a_first: BTreeMap::new(),
            o_dlv: Vec::new(),
            o_ids: BTreeSet::new(),
            o_first: BTreeMap::new(),
            next_seq: 0,
            orders: BTreeMap::new(),
            phase2_seen: BTreeSet::new(),
            states: BTreeMap::new(),
            proposed: false,
            held: BTreeMap::new(),
            relayed: BTreeSet::new(),
            received: BTreeSet::new(),
            own: BTreeMap::new(),
            votes: BTreeMap::new(),
            undone: 0,
        }
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.k
    }

    /// Whether this server is in phase 2 of its current epoch.
    pub fn in_phase2(&self) -> bool {
        self.phase2
    }

    /// How many Opt-undeliveries this server made (Fig. 6 l.26).
    pub fn undone(&self) -> u64 {
        self.undone
    }

    /// The sequencer of epoch k: s_1, s_2, … (§5.3).
    pub fn sequencer(&self, k: u64) -> ServerId {
        (k % u64::from(self.n)) as ServerId + 1
    }

    fn all(&self) -> Vec<ServerId> {
        (1..=self.n).collect()
    }

    // ---- Task 0: R-delivery ------------------------------------------------------------------

    /// R-deliver m (SUBMIT, or carried by an ORDER). Relays it once if its origin is suspected.
    fn r_deliver(&mut self, m: &AppMsg, out: &mut Out) {
        if self.a_ids.contains(&m.id) || self.r_ids.contains(&m.id) {
            return;
        }
        self.r_ids.insert(m.id);
        self.r_pending.push(m.clone());
        if m.id.origin != self.me && self.fd.suspects(m.id.origin) && self.relayed.insert(m.id) {
            out.send_others(&Msg::OarSubmit(m.clone()));
        }
    }

    // ---- Task 1a / 1b: the optimistic phase ----------------------------------------------------

    /// Task 1a: the sequencer orders what it R-delivered and did not deliver, at once.
    fn order_unordered(&mut self, out: &mut Out) {
        if self.phase2 || self.sequencer(self.k) != self.me {
            return;
        }
        let msgs: Vec<AppMsg> = self
            .r_pending
            .iter()
            .filter(|m| !self.o_ids.contains(&m.id))
            .cloned()
            .collect();
        if msgs.is_empty() {
            return;
        }
        out.send_others(&Msg::OarOrder {
            k: self.k,
            seq: self.next_seq,
            msgs: msgs.clone(),
        });
        self.next_seq += 1;
        // l.10: "we assume that the sequencer immediately delivers this message" (Task 1b, W = {s}).
        for m in msgs {
            self.opt_deliver(m, vec![self.me], out);
        }
    }

    /// Task 1b at a non-sequencer: opt-deliver the ORDERs of epoch k in seqno order.
    fn process_orders(&mut self, out: &mut Out) {
        // Stale epochs: nothing to deliver.
        let stale: Vec<(u64, u64)> = self
            .orders
            .range(..(self.k, 0))
            .map(|(key, _)| *key)
            .collect();
        for key in stale {
            self.orders.remove(&key);
        }
        if self.phase2 {
            return;
        }
        let s = self.sequencer(self.k);
        let mut weight = vec![self.me, s];
        weight.sort_unstable();
        while let Some(msgs) = self.orders.remove(&(self.k, self.next_seq)) {
            self.next_seq += 1;
            for m in msgs {
                self.opt_deliver(m, weight.clone(), out);
            }
        }
    }

    /// FIRST iff no message about τ precedes m in A_delivered ⊕ O_delivered.
    fn reply_for(&self, m: &AppMsg) -> bool {
        let t = m.body.ticket();
        !self.a_first.contains_key(t) && !self.o_first.contains_key(t)
    }

    /// Append m to O_delivered (Opt-deliver, or A-deliver in phase 2) and reply to sender(m).
    fn deliver(&mut self, m: AppMsg, weight: Vec<ServerId>, out: &mut Out) {
        let first = self.reply_for(&m);
        self.o_first.entry(m.body.ticket().clone()).or_insert(m.id);
        self.o_ids.insert(m.id);
        self.o_dlv.push((m.clone(), first));
        let k = self.k;
        if m.id.origin == self.me {
            self.vote(m.id, k, first, &weight, out);
        } else {
            out.send(
                m.id.origin,
                Msg::OarVote {
                    k,
                    id: m.id,
                    ticket: m.body.ticket().clone(),
                    first,
                    weight,
                },
            );
        }
    }

    fn opt_deliver(&mut self, m: AppMsg, weight: Vec<ServerId>, out: &mut Out) {
        self.deliver(m, weight, out);
    }

    // ---- Fig. 5: s_i as OAR's client -----------------------------------------------------------

    /// A reply (vote) for own message `id` in epoch `k` (Fig. 5 l.3–5).
    fn vote(&mut self, id: MsgId, k: u64, first: bool, weight: &[ServerId], out: &mut Out) {
        if !self.own.contains_key(&id) {
            return;
        }
        let v = self.votes.entry((id, k)).or_default();
        v.union.extend(weight.iter().copied());
        if v.best.is_none_or(|(w, _)| weight.len() > w) {
            v.best = Some((weight.len(), first));
        }
        if v.union.len() >= usize::from(majority(self.n)) {
            let (w, first) = v.best.expect("a vote");
            if w < usize::from(self.n) {
                out.note(Note::FastDelivery);
            }
            self.decide(id, first, out);
        }
    }

    fn decide(&mut self, id: MsgId, first: bool, out: &mut Out) {
        let Some(ticket) = self.own.remove(&id) else {
            return;
        };
        let stale: Vec<(MsgId, u64)> = self
            .votes
            .range((id, 0)..=(id, u64::MAX))
            .map(|(key, _)| *key)
            .collect();
        for key in stale {
            self.votes.remove(&key);
        }
        let outcome = if first {
            Outcome::Accept
        } else {
            Outcome::Reject
        };
        out.decide(ticket, outcome, None);
    }

    // ---- Task 1c / Task 2: the conservative phase ---------------------------------------------

    /// Deliver PHASEII(k′): relay on first receipt (R-broadcast), remember it for epoch k′.
    fn phase2_delivered(&mut self, k: u64, out: &mut Out) {
        if k >= self.k && self.phase2_seen.insert(k) {
            out.send_others(&Msg::OarPhase2 { k });
        }
    }

    /// Enter phase 2 of epoch k: freeze O_delivered, send STATE(k, O_dlv, O_notdlv) to all.
    fn enter_phase2(&mut self, out: &mut Out) {
        self.phase2 = true;
        let k = self.k;
        self.orders.retain(|key, _| key.0 != k);
        let dlv: Vec<AppMsg> = self.o_dlv.iter().map(|(m, _)| m.clone()).collect();
        let notdlv: Vec<AppMsg> = self
            .r_pending
            .iter()
            .filter(|m| !self.o_ids.contains(&m.id))
            .cloned()
            .collect();
        out.send_others(&Msg::OarState {
            k,
            dlv: dlv.clone(),
            notdlv: notdlv.clone(),
        });
        self.states
            .entry(k)
            .or_default()
            .insert(self.me, (dlv, notdlv));
    }

    /// Propose once a majority of STATEs of epoch k is here; replay held consensus messages.
    fn try_propose(&mut self, out: &mut Out) -> Option<Decision> {
        if !self.phase2 || self.proposed {
            return None;
        }
        let k = self.k;
        let states = self.states.get(&k)?;
        if states.len() < usize::from(majority(self.n)) {
            return None;
        }
        debug_assert_eq!(self.cons.instance(), k);
        let value: Vec<AppMsg> = states
            .iter()
            .map(|(&p, (dlv, notdlv))| AppMsg {
                id: MsgId { origin: p, seq: k },
                body: Body::OarState {
                    dlv: dlv.clone(),
                    notdlv: notdlv.clone(),
                },
            })
            .collect();
        self.proposed = true;
        if let Some(d) = self.cons.set_pending(value, &self.fd, out) {
            return Some(d);
        }
        let mut held = self.held.remove(&k).unwrap_or_default().into_iter();
        while let Some((from, msg)) = held.next() {
            if let Some(d) = self.cons.on_message(from, msg, &self.fd, out) {
                // What is left is now stale: fed back after the epoch ends.
                let rest: Vec<(ServerId, Msg)> = held.collect();
                if !rest.is_empty() {
                    self.held.insert(k, rest);
                }
                return Some(d);
            }
        }
        None
    }

    /// Cnsv-order (Fig. 7) on D^k, then Fig. 6 l.25–32.
    fn end_epoch(&mut self, value: Vec<AppMsg>, out: &mut Out) {
        let k = self.k;
        let decided: Vec<State> = value
            .into_iter()
            .filter_map(|m| match m.body {
                Body::OarState { dlv, notdlv } => Some((dlv, notdlv)),
                _ => None,
            })
            .collect();
        // l.5: dlv_max, the longest dlv_i (they are prefixes of one another, Lemma 2).
        let mut dlv_max: &[AppMsg] = &[];
        for (dlv, _) in &decided {
            if dlv.len() > dlv_max.len() {
                dlv_max = dlv;
            }
        }
        let o: Vec<MsgId> = self.o_dlv.iter().map(|(m, _)| m.id).collect();
        let common = o
            .iter()
            .zip(dlv_max.iter())
            .take_while(|(a, b)| **a == b.id)
            .count();
        let mut new: Vec<AppMsg>;
        let mut good = common;
        if common == o.len() {
            // l.6–8: O_dlv is a prefix of dlv_max.
            new = dlv_max[common..].to_vec();
        } else {
            // l.9–11: Good ← ⊙(O_dlv, dlv_max), Bad ← O_dlv ⊖ Good (the suffix o[common..]).
            new = Vec::new();
        }
        // l.12–14: notdlv ← ⊎(notdlv_i) ⊖ dlv_max; New ← New ⊕ notdlv.
        let in_max: BTreeSet<MsgId> = dlv_max.iter().map(|m| m.id).collect();
        let mut seen: BTreeSet<MsgId> = BTreeSet::new();
        for (_, notdlv) in &decided {
            for m in notdlv {
                if !in_max.contains(&m.id) && seen.insert(m.id) {
                    new.push(m.clone());
                }
            }
        }
        // l.15–19: the common prefix of Bad and New is not undone.
        let prefix = o[good..]
            .iter()
            .zip(new.iter())
            .take_while(|(a, b)| **a == b.id)
            .count();
        good += prefix;
        new.drain(..prefix);
        // l.25–26: Opt-undeliver Bad, last message first (footnote 2).
        while self.o_dlv.len() > good {
            let (m, _) = self.o_dlv.pop().expect("bad message");
            self.o_ids.remove(&m.id);
            self.undone += 1;
            let t = m.body.ticket();
            if self.o_first.get(t) == Some(&m.id) {
                self.o_first.remove(t);
            }
        }
        // Own messages of Good are final: decide them now.
        let good_own: Vec<(MsgId, bool)> = self
            .o_dlv
            .iter()
            .filter(|(m, _)| self.own.contains_key(&m.id))
            .map(|(m, first)| (m.id, *first))
            .collect();
        for (id, first) in good_own {
            self.decide(id, first, out);
        }
        // l.27–29: A-deliver New, reply with weight Π (own ones decide at once: |Π| ≥ majority).
        let all = self.all();
        for m in new {
            self.deliver(m, all.clone(), out);
        }
        // l.30–32.
        for (m, _) in std::mem::take(&mut self.o_dlv) {
            self.a_first.entry(m.body.ticket().clone()).or_insert(m.id);
            self.a_ids.insert(m.id);
        }
        let a_ids = &self.a_ids;
        self.r_pending.retain(|m| !a_ids.contains(&m.id));
        self.r_ids.retain(|id| !a_ids.contains(id));
        self.o_ids.clear();
        self.o_first.clear();
        self.k = k + 1;
        self.phase2 = false;
        self.proposed = false;
        self.next_seq = 0;
        self.states = self.states.split_off(&self.k);
        self.phase2_seen = self.phase2_seen.split_off(&self.k);
        out.note(Note::Fallback);
    }

    /// Move on as far as the current state allows: stale held messages, phase 2 entry, proposal,
    /// epoch ends, then the optimistic phase of the (new) epoch.
    fn progress(&mut self, mut decision: Option<Decision>, out: &mut Out) {
        loop {
            if let Some(d) = decision.take() {
                debug_assert_eq!(d.k, self.k);
                self.end_epoch(d.value, out);
            }
            // Held messages of decided instances are stale: consensus answers them (catch-up).
            let now_k = self.cons.instance();
            let stale: Vec<u64> = self.held.range(..now_k).map(|(k, _)| *k).collect();
            for k in stale {
                for (from, msg) in self.held.remove(&k).unwrap_or_default() {
                    let d = self.cons.on_message(from, msg, &self.fd, out);
                    debug_assert!(d.is_none());
                }
            }
            if !self.phase2 && self.phase2_seen.contains(&self.k) {
                self.enter_phase2(out);
            }
            if self.phase2 {
                decision = self.try_propose(out);
                if decision.is_some() {
                    continue;
                }
                return;
            }
            // Task 1c: the sequencer is suspected (also: a new epoch whose sequencer already is).
            if self.fd.suspects(self.sequencer(self.k)) {
                let k = self.k;
                self.phase2_delivered(k, out);
                continue;
            }
            self.process_orders(out);
            self.order_unordered(out);
            return;
        }
    }

    /// A consensus message: fed to consensus if this server proposed to its instance, answered if
    /// stale, held otherwise.
    fn on_consensus(&mut self, from: ServerId, msg: Msg, out: &mut Out) {
        let inst = instance_of(&msg).expect("a consensus message");
        if inst < self.cons.instance() {
            let d = self.cons.on_message(from, msg, &self.fd, out);
            debug_assert!(d.is_none());
            return;
        }
        if inst == self.k && self.proposed {
            let d = self.cons.on_message(from, msg, &self.fd, out);
            self.progress(d, out);
            return;
        }
        self.held.entry(inst).or_default().push((from, msg));
    }

    fn on_fd_change(&mut self, change: FdChange, out: &mut Out) {
        for p in change.suspected {
            // R-multicast agreement: relay what the suspect sent us and may not have sent all.
            let relay: Vec<AppMsg> = self
                .r_pending
                .iter()
                .filter(|m| m.id.origin == p && !self.relayed.contains(&m.id))
                .cloned()
                .collect();
            for m in relay {
                self.relayed.insert(m.id);
                out.send_others(&Msg::OarSubmit(m));
            }
            let d = if self.proposed {
                self.cons.on_suspect(p, &self.fd, out)
            } else {
                None
            };
            self.progress(d, out);
        }
    }
}

impl Protocol for Oar {
    fn state_hash(&self, mut h: &mut dyn Hasher) {
        self.hash(&mut h);
    }
    fn on_start(&mut self, _now: Time, out: &mut Out) {
        self.fd.start(out);
    }

    fn on_ticket(&mut self, _now: Time, ticket: Ticket, out: &mut Out) {
        if !self.received.insert(ticket.clone())
            || self.a_first.contains_key(&ticket)
            || self.o_first.contains_key(&ticket)
        {
            out.decide(ticket, Outcome::Reject, None);
            return;
        }
        let m = AppMsg {
            id: self.ids.next(),
            body: Body::Validate {
                ticket: ticket.clone(),
            },
        };
        self.own.insert(m.id, ticket);
        if self.phase2 || self.sequencer(self.k) != self.me {
            // Fig. 5 l.2: R-multicast m.
            out.send_others(&Msg::OarSubmit(m.clone()));
        }
        // s_i = s: the ORDER carries m (order_unordered, via progress).
        self.r_deliver(&m, out);
        self.progress(None, out);
    }

    fn on_message(&mut self, now: Time, from: ServerId, msg: Msg, out: &mut Out) {
        let change = self.fd.heard_from(now, from, out);
        self.on_fd_change(change, out);
        match msg {
            Msg::Heartbeat => {}
            Msg::OarSubmit(m) => {
                self.r_deliver(&m, out);
                self.progress(None, out);
            }
            Msg::OarOrder { k, seq, msgs } => {
                for m in &msgs {
                    self.r_deliver(m, out);
                }
                if k > self.k || (k == self.k && !self.phase2) {
                    self.orders.insert((k, seq), msgs);
                }
                self.progress(None, out);
            }
            Msg::OarVote {
                k,
                id,
                first,
                weight,
                ..
            } => self.vote(id, k, first, &weight, out),
            Msg::OarPhase2 { k } => {
                self.phase2_delivered(k, out);
                self.progress(None, out);
            }
            Msg::OarState { k, dlv, notdlv } if k >= self.k => {
                self.states
                    .entry(k)
                    .or_default()
                    .entry(from)
                    .or_insert((dlv, notdlv));
                self.progress(None, out);
            }
            m if m.is_consensus() => self.on_consensus(from, m, out),
            _ => {}
        }
    }

    fn on_timer(&mut self, now: Time, timer: Timer, out: &mut Out) {
        let change = self.fd.on_timer(now, timer, out);
        self.on_fd_change(change, out);
    }

    fn on_control(&mut self, _now: Time, ctl: Control, out: &mut Out) {
        let change = self.fd.on_control(ctl, out);
        self.on_fd_change(change, out);
    }
}
