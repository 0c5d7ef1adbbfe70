//! Generic Broadcast (docs/PROTOCOLS.md §8 \[reconstructed\]; \[PS99\] as cited in the paper's
//! §4 and Table 1 row "SE protocol with Generic Broadcast").
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
//!
//! The stage skeleton (receipt, stop-once, the consensus value, holding consensus messages until
//! the value exists, decisions applied between messages, buffering, relays on suspicion) is shared
//! with OPT-broadcast in `staged.rs`; this module is Generic Broadcast's [`StageRules`]: the
//! conflict check, ACKs, CHKs and majSet.
//!
//! [`Consensus`]: crate::consensus::Consensus
//! [`Body::ticket`]: crate::Body::ticket
//! [`AtomicBroadcast`]: crate::AtomicBroadcast

use super::consensus::Decision;
use super::quorum::{gb_quorum, majority};
use super::staged::{StageRules, Staged};
use super::{AppMsg, Msg, MsgId, NodeConfig, Note, Out, ServerId, Ticket};
use std::collections::{BTreeMap, BTreeSet};

/// Generic Broadcast: the staged skeleton with GB's rules.
pub type GenericBroadcast = Staged<GbStage>;

/// Generic Broadcast's per-stage state.
#[derive(Debug, Hash)]
pub struct GbStage {
    /// q = ⌈(2n+1)/3⌉: ACKs for fast delivery, CHKs for stage termination.
    q: usize,
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
    /// Messages fast-delivered in stage k (checked against the decision in debug builds).
    fast_k: Vec<MsgId>,
}

impl StageRules for GbStage {
    fn new(cfg: &NodeConfig) -> Self {
        GbStage {
            q: usize::from(gb_quorum(cfg.n)),
            acked: Vec::new(),
            acked_tickets: BTreeMap::new(),
            acks: BTreeMap::new(),
            chks: Vec::new(),
            maj: None,
            fast_k: Vec::new(),
        }
    }

    fn data(_k: u64, m: AppMsg) -> Msg {
        Msg::GbData(m)
    }

    fn owns(msg: &Msg) -> bool {
        matches!(msg, Msg::GbData(_) | Msg::GbAck { .. } | Msg::GbChk { .. })
    }

    /// majSet_k: GB's value exists only once q CHKs are in (consensus messages wait for it).
    fn head(b: &Staged<Self>) -> Option<&[AppMsg]> {
        b.rules.maj.as_deref()
    }

    fn fresh(b: &mut Staged<Self>, m: AppMsg, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        b.consider(m, out, delivered);
    }

    /// Stage termination: no more ACKs (the skeleton's `stopped`), send CHK(k, pending_k).
    fn on_stop(b: &mut Staged<Self>, _local: bool, out: &mut Out) {
        out.send_others(&Msg::GbChk {
            k: b.stage,
            pending: b.rules.acked.clone(),
        });
        let own = (b.me, b.rules.acked.clone());
        b.rules.chks.push(own);
        b.check_ready(out);
    }

    fn handle(b: &mut Staged<Self>, from: ServerId, msg: Msg, out: &mut Out, d: &mut Vec<AppMsg>) {
        match msg {
            Msg::GbData(m) => b.receive(m, out, d),
            Msg::GbAck { k, ref m } => {
                b.later(from, k, &msg);
                let m = m.clone();
                b.on_ack(from, k, m, out, d)
            }
            Msg::GbChk { k, ref pending } => {
                b.later(from, k, &msg);
                let set = pending.clone();
                b.on_chk(from, k, set, out, d)
            }
            _ => {}
        }
    }

    fn check_decision(b: &Staged<Self>, d: &Decision) {
        #[cfg(debug_assertions)]
        for id in &b.rules.fast_k {
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
        #[cfg(not(debug_assertions))]
        let _ = (b, d);
    }

    /// Stage k+1 starts with what is left: every leftover is received again (acked, or a
    /// conflict that terminates the stage).
    fn start_stage(b: &mut Staged<Self>, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        let s = &mut b.rules;
        s.acked.clear();
        s.acked_tickets.clear();
        s.acks.clear();
        s.chks.clear();
        s.maj = None;
        s.fast_k.clear();
        for m in b.undelivered.to_vec() {
            if b.stopped {
                break; // the rest stays undelivered and goes into the value
            }
            if !b.delivered.contains(&m.id) {
                b.consider(m, out, delivered);
            }
        }
    }
}

impl GenericBroadcast {
    /// First sight of m in a running stage: ack it, or terminate the stage on a conflict.
    fn consider(&mut self, m: AppMsg, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        debug_assert!(!self.stopped);
        match self.rules.acked_tickets.get(m.body.ticket()) {
            Some(&id) if id == m.id => return,
            Some(_) => return self.stop(true, out),
            None => {}
        }
        let s = &mut self.rules;
        s.acked_tickets.insert(m.body.ticket().clone(), m.id);
        s.acked.push(m.clone());
        s.acks.entry(m.id).or_default().insert(self.me);
        out.send_others(&Msg::GbAck {
            k: self.stage,
            m: m.clone(),
        });
        self.try_fast(m.id, out, delivered);
    }

    fn try_fast(&mut self, id: MsgId, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        let acks = self.rules.acks.get(&id).map_or(0, |a| a.len());
        if self.delivered.contains(&id) || acks < self.rules.q {
            return;
        }
        let Some(m) = self.undelivered.get(&id).cloned() else {
            return;
        };
        self.deliver(m, delivered);
        self.rules.fast_k.push(id);
        out.note(Note::FastDelivery);
    }

    /// With q CHKs in: majSet_k, the consensus value, and the held consensus messages.
    fn check_ready(&mut self, out: &mut Out) {
        let s = &mut self.rules;
        if s.maj.is_some() || s.chks.len() < s.q {
            return;
        }
        let mut count: BTreeMap<MsgId, (usize, &AppMsg)> = BTreeMap::new();
        for (_, set) in &s.chks {
            for m in set {
                count.entry(m.id).or_insert((0, m)).0 += 1;
            }
        }
        // "More than half of them": majority(q) = ⌊q/2⌋+1 of the q CHKs.
        let need = usize::from(majority(s.q as u16));
        let maj: Vec<AppMsg> = count
            .values()
            .filter(|(c, _)| *c >= need)
            .map(|(_, m)| (*m).clone())
            .collect();
        s.maj = Some(maj);
        self.update_pending(out);
        self.release_held();
    }

    /// ACK(k, m); a later stage's ACK was kept by [`Staged::later`].
    fn on_ack(&mut self, from: ServerId, k: u64, m: AppMsg, out: &mut Out, d: &mut Vec<AppMsg>) {
        if k != self.stage {
            return self.receive(m, out, d);
        }
        let id = m.id;
        self.rules.acks.entry(id).or_default().insert(from);
        self.receive(m, out, d);
        self.try_fast(id, out, d);
    }

    /// CHK(k, pending): terminate stage k too, and count the first q CHKs (one per process).
    fn on_chk(
        &mut self,
        from: ServerId,
        k: u64,
        set: Vec<AppMsg>,
        out: &mut Out,
        d: &mut Vec<AppMsg>,
    ) {
        if k == self.stage {
            self.stop(false, out);
            let chks = &mut self.rules.chks;
            if chks.len() < self.rules.q && chks.iter().all(|(p, _)| *p != from) {
                chks.push((from, set.clone()));
            }
        }
        for m in set {
            self.receive(m, out, d);
        }
        if k == self.stage {
            self.check_ready(out);
        }
    }
}
