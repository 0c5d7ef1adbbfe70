//! OPT-broadcast: optimistic atomic broadcast (docs/PROTOCOLS.md §7 \[reconstructed\];
//! \[Ped99\] as cited in the paper's §4 and Table 1 row "SE protocol with OPT-broadcast").
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
//!    with P — docs/PROTOCOLS.md §7: "any fast-delivered prefix was reported identically by all n
//!    processes, so it prefixes every proposal". Fast delivery after stopping (ORDERs still
//!    arriving) is just as safe: it needs the same n identical reports, all sent before their
//!    senders stopped.
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
//!
//! The stage skeleton (receipt, stop-once, the consensus value, decisions applied between
//! messages, buffering, relays on suspicion) is shared with Generic Broadcast in `staged.rs`;
//! this module is OPT's [`StageRules`]: seq_k, ORDER, fast prefixes and STOP.
//!
//! [`Consensus`]: crate::consensus::Consensus

use super::consensus::Decision;
use super::staged::{StageRules, Staged};
use super::{AppMsg, Msg, MsgId, NodeConfig, Note, Out, ServerId};
use std::collections::BTreeMap;

/// OPT-broadcast: the staged skeleton with OPT's rules.
pub type OptBroadcast = Staged<OptStage>;

/// OPT's per-stage state.
#[derive(Debug, Default, Hash)]
pub struct OptStage {
    /// seq_k: this process's receipt order in stage k.
    seq: Vec<AppMsg>,
    /// How many of seq_k's first messages were fast-delivered.
    fast: usize,
    /// For every other process, its seq_k as reported by its ORDERs (ids).
    reports: BTreeMap<ServerId, Vec<MsgId>>,
    /// For each position p of seq_k, how many other processes reported seq_k\[p\] there: kept
    /// as reports and seq_k grow, so the fast path's check is O(1) per position, not O(n)
    /// (at n = 501 the O(n) scan per ORDER was cubic per broadcast).
    agree: Vec<usize>,
    /// Bug zoo (`opt-majority-fast`): fast-deliver on a majority of identical reports.
    majority_fast: bool,
}

impl StageRules for OptStage {
    fn new(_cfg: &NodeConfig) -> Self {
        OptStage::default()
    }

    fn data(k: u64, m: AppMsg) -> Msg {
        Msg::OptData { k, m }
    }

    fn owns(msg: &Msg) -> bool {
        matches!(
            msg,
            Msg::OptData { .. } | Msg::OptOrder { .. } | Msg::OptStop { .. }
        )
    }

    /// Frozen seq_k: OPT's value exists as soon as the stage stopped.
    fn head(b: &Staged<Self>) -> Option<&[AppMsg]> {
        Some(&b.rules.seq)
    }

    fn fresh(b: &mut Staged<Self>, m: AppMsg, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        if b.any_suspected() {
            // The fast path cannot complete: do not report, fall back at once.
            b.stop(true, out);
        } else {
            b.append(m, out);
            b.try_fast(out, delivered);
        }
    }

    /// Tell the round-1 coordinator of consensus k, unless the stop came from elsewhere, we are
    /// it, or we suspect it; then hand consensus our value.
    fn on_stop(b: &mut Staged<Self>, local: bool, out: &mut Out) {
        let c1 = b.cons.coordinator(1);
        if local && c1 != b.me && !b.fd.suspects(c1) {
            out.send(c1, Msg::OptStop { k: b.stage });
        }
        b.update_pending(out);
    }

    fn handle(b: &mut Staged<Self>, from: ServerId, msg: Msg, out: &mut Out, d: &mut Vec<AppMsg>) {
        match msg {
            Msg::OptData { m, .. } => b.receive(m, out, d),
            Msg::OptOrder { k, pos, ref m } => {
                b.later(from, k, &msg);
                let m = m.clone();
                b.on_order(from, k, pos, m, out, d)
            }
            Msg::OptStop { k } => {
                if k < b.stage {
                    b.cons.catch_up(from, k, out);
                } else if k == b.stage {
                    b.stop(false, out);
                } else {
                    b.later(from, k, &msg);
                }
            }
            _ => {}
        }
    }

    /// A suspicion while stage k has something undelivered ends its fast path.
    fn on_suspected(b: &mut Staged<Self>, out: &mut Out) {
        if !b.stopped && !b.undelivered.is_empty() {
            b.stop(true, out);
        }
    }

    fn check_decision(b: &Staged<Self>, d: &Decision) {
        let (seq, fast) = (&b.rules.seq, b.rules.fast);
        debug_assert!(
            b.rules.majority_fast
                || d.value.len() >= fast
                    && d.value.iter().zip(&seq[..fast]).all(|(a, b)| a.id == b.id),
            "OPT safety: the decision of stage {} must start with the fast-delivered prefix",
            d.k
        );
    }

    /// Stage k+1 starts with what is left: append it to seq_{k+1} and ORDER it, or stop at once
    /// if someone is suspected.
    fn start_stage(b: &mut Staged<Self>, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        b.rules = OptStage {
            majority_fast: b.rules.majority_fast,
            ..OptStage::default()
        };
        let left = b.undelivered.to_vec();
        if left.is_empty() {
            return;
        }
        if b.any_suspected() {
            b.stop(true, out);
            return;
        }
        for m in left {
            if b.stopped {
                break; // the rest stays undelivered and goes into the value
            }
            b.append(m, out);
        }
        b.try_fast(out, delivered);
    }
}

impl OptBroadcast {
    /// The bug zoo's `opt-majority-fast`: a prefix is fast-delivered once a majority of the
    /// processes (this one included) reported it, not all n. Breaks safety point 2 above: the
    /// minority's seq_k may disagree, and consensus may decide it.
    pub fn with_majority_fast(mut self) -> Self {
        self.rules.majority_fast = true;
        self
    }

    /// Append m to seq_k and report it.
    fn append(&mut self, m: AppMsg, out: &mut Out) {
        debug_assert!(!self.stopped);
        let pos = self.rules.seq.len();
        out.send_others(&Msg::OptOrder {
            k: self.stage,
            pos: pos as u64,
            m: m.clone(),
        });
        let id = m.id;
        self.rules.seq.push(m);
        let at = |r: &Vec<MsgId>| r.get(pos).copied();
        let reported = self.rules.reports.values().filter_map(at);
        let agreeing = reported.clone().filter(|&x| x == id).count();
        let clash = reported.into_iter().any(|x| x != id);
        self.rules.agree.push(agreeing);
        if clash {
            self.stop(true, out);
        }
    }

    /// Deliver the longest prefix of seq_k every other process reported identically.
    fn try_fast(&mut self, out: &mut Out, delivered: &mut Vec<AppMsg>) {
        let s = &self.rules;
        // Reports needed from the others: all n − 1 (the zoo variant: a majority less itself).
        let needed = if s.majority_fast {
            usize::from(super::quorum::majority(self.n)) - 1
        } else {
            usize::from(self.n) - 1
        };
        let mut l = s.fast;
        while l < s.seq.len() && s.agree[l] >= needed {
            l += 1;
        }
        for i in self.rules.fast..l {
            let m = self.rules.seq[i].clone();
            if self.deliver(m, delivered) {
                out.note(Note::FastDelivery);
            }
        }
        self.rules.fast = l;
    }

    /// ORDER(k, pos, m); a later stage's report was kept by [`Staged::later`].
    fn on_order(
        &mut self,
        from: ServerId,
        k: u64,
        pos: u64,
        m: AppMsg,
        out: &mut Out,
        delivered: &mut Vec<AppMsg>,
    ) {
        if k != self.stage {
            // Only the message it carries matters now (a later stage's report waits).
            self.receive(m, out, delivered);
            return;
        }
        let rep = self.rules.reports.entry(from).or_default();
        // FIFO links: reports arrive in position order. Anything else is treated as a clash.
        let clash = match usize::try_from(pos) {
            Ok(p) if p == rep.len() => {
                rep.push(m.id);
                match self.rules.seq.get(p) {
                    Some(x) if x.id == m.id => {
                        self.rules.agree[p] += 1;
                        false
                    }
                    Some(_) => true,
                    None => false,
                }
            }
            _ => true,
        };
        if clash {
            self.stop(true, out);
        }
        self.receive(m, out, delivered);
        self.try_fast(out, delivered);
    }
}
