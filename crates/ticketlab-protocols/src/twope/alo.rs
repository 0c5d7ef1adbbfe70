//! `alo-2pe`: 2PE made at-least-once — properties E-1′ and E-2′ (paper §2.2), the modification
//! the paper's §6 only announces ("the 2SE protocol could be modified to solve the at-least-once
//! problem"; we read 2SE as 2PE). Everything below the Phase-1 line is \[reconstructed\].
//!
//! **Properties** (paper §2.2):
//! - E-1′: if a server accepts τ and does not crash, no other server accepts τ, and no server
//!   accepts τ twice;
//! - E-2′: if not all servers of σ(τ) crash, some server of σ(τ) eventually accepts τ.
//!
//! Exactly once without crashes; with crashes τ may be accepted several times. E-1 and E-2′
//! cannot hold together (§2.2, Figures 1–2): s_1, s_2, s_3 receive τ; in Figure 1 s_1 crashes just
//! before accepting, so E-2′ forces s_2 or s_3 to accept; in Figure 2 s_1 crashes just after
//! accepting, and s_2, s_3 cannot tell the runs apart — a message from s_1 at accept time may be
//! lost with it — so they accept there too. `alo-2pe` does: it gives up E-1 in Figure 2.
//!
//! **Phase 1** is 2PE's (Algorithm 1, lines 5–24, [`super::TwoPe`] unchanged): NEWTKT to all, ACK
//! or NACK naming the first server acked, accept on ⌈(n+1)/2⌉ replies that all name this server.
//!
//! **Phase 2** \[reconstructed\]: the Phase-2 message (s_i, τ, Replies_i) is A-broadcast as in 2PE
//! (over CT-broadcast), and the same atomic broadcast carries two more bodies about τ:
//! - `EXCLUDE(s_x)` ([`Body::Exclude`]): a server whose τ is unresolved in Phase 2 sends it when
//!   its failure detector has suspected s_x for a heartbeat period [reconstructed: a server that
//!   was itself frozen suspects every peer on waking until their queued messages come in, and
//!   must not halt them for it] and s_x *blocks* it: s_x ∈ Replies_i has neither a
//!   delivered Phase-2 message nor an exclusion, or s_x is the current winner and τ is not closed
//!   (narrower than "any s_x ∈ Replies": an s_x whose Phase-2 message is already delivered and
//!   that is not the winner blocks nobody, so it is not excluded). Once per (τ, s_x) per server.
//!   On delivery, every server adds s_x to Excl^τ, and s_x itself halts ([`Out::halt`], recorded
//!   as a crash) — unless τ was already closed (below), where the exclusion is void.
//! - `DONE(τ)` ([`Body::Done`]): "the origin accepted τ". The Phase-2 winner broadcasts it right
//!   after accepting. A Phase-1 acceptor broadcasts it when it sees contention — the first
//!   delivered Phase-2 message about τ (a claimant it beat waits for it): Lemma 1(b) puts a Phase-1
//!   acceptor in every other Replies, and it never sends a Phase-2 message, so without DONE a
//!   contending claimant could only wait or exclude it. A delivered DONE(τ) from s ∉ Excl^τ
//!   *closes* τ; every later entry about τ is void.
//!
//! Every server reduces each ticket's delivered sequence with [`Stream`] — a pure function of the
//! sequence, which atomic broadcast gives every server alike, and buffered from the first
//! delivery whether or not the server is in Phase 2 (2PE's Phase-2 trap):
//! - Srvs^τ: senders of delivered Phase-2 messages; Excl^τ: delivered exclusions;
//! - winner(τ): the earliest delivered Phase-2 message whose sender ∉ Excl^τ and whose
//!   Replies ⊆ Srvs^τ ∪ Excl^τ (both sets as delivered so far). It stays the winner until its sender
//!   is excluded; then it is recomputed (also whenever there is none and a set grew).
//!
//! A server in Phase 2 accepts (phase 2) when it becomes the winner, then broadcasts DONE(τ); it
//! rejects (phase 2) when τ is closed by someone else. **Decisions are final**: no server is
//! told "reject" and later "accept" — a loser waits for the DONE, and if the winner is excluded
//! first, the next winner is recomputed (it may be the waiting loser, which then accepts). A server
//! that reaches Phase 2 after τ was closed rejects at once, without broadcasting its Phase-2
//! message (nothing it could broadcast would change the outcome) \[reconstructed\].
//!
//! Excl^τ is per ticket, not global: the exclusions that matter for τ are then ordered with τ's
//! other messages by any broadcast that orders same-ticket messages (Generic Broadcast's conflict
//! relation included), at the cost of one EXCLUDE per (ticket, crashed blocker) \[reconstructed\].
//!
//! **Correctness sketch.**
//! - E-1′: a Phase-1 acceptor a is in every other Replies (Lemma 1(b)) and sends no Phase-2
//!   message, so no Phase-2 message is eligible before a ∈ Excl^τ, and a halts when it delivers
//!   that exclusion (τ cannot be closed before it: closing needs a winner or a's own DONE). A
//!   winner w accepts at the point of the sequence where it becomes winner; it is replaced only by
//!   an EXCLUDE(w) later in the sequence, at which point w halts; after a DONE nobody else wins.
//!   So at most one acceptor survives once every server has delivered the sequence; nobody accepts
//!   twice (vTkts).
//! - E-2′: a claimant that does not crash finishes Phase 1 (a majority is up). If a live server
//!   accepted in Phase 1 it closes τ with DONE once a Phase-2 message shows contention. Otherwise
//!   every claimant named in a Replies either sends a Phase-2 message, closes τ, or crashed/halted
//!   — and then ◇S completeness makes every waiting server suspect it and exclude it. Eventually
//!   Srvs^τ ∪ Excl^τ covers some delivered message: a winner exists; if it is crashed it is
//!   suspected and excluded, and the next one is recomputed; a live winner accepts.
//! - Why the halt: under ◇S alone a slow live acceptor looks crashed; E-1′ with E-2′ would need a
//!   perfect detector. Halting the excluded server turns a false suspicion into a crash — the
//!   primary-partition "suicide" of Oliveira–Almeida–Rodrigues \[OAR\] §4. It also keeps E-2′: an
//!   excluded server that stayed alive could never win, yet could end up σ(τ)'s only survivor.
//!   The price: **each false suspicion of a blocking claimant costs a server**, so the fault model
//!   is "at most ⌊(n−1)/2⌋ servers lost to crashes *plus* halts" (`max_faults`; explore keeps
//!   its generated suspicions inside it, see `src/explore.rs`).
//!
//! **Cost.** An uncontended ticket ends in Phase 1 exactly as in 2PE: NEWTKT to n−1 servers and
//! n−1 replies, 2(n−1) messages, accepted after 2δ (the reply round trip) — the theory row
//! (f < n/2, 2δ, 2(n−1)). Nothing of Phase 2 runs: no DONE, no EXCLUDE. A contended ticket pays
//! 2PE's Phase 2 plus one DONE broadcast (4(n−1) messages over CT-broadcast), and its losers
//! decide when the DONE is delivered, ≈ 2δ after the winner on CT's failure-free path. Each
//! EXCLUDE is one more broadcast, only after a suspicion.
//!
//! The failure detector is CT-broadcast's own ([`AtomicBroadcast::suspects`]): a broadcast that
//! exposes none never suspects, and `alo-2pe` would then wait for every crashed blocker forever.

use super::TwoPe;
use crate::servers_text;
use crate::{
    AppMsg, AtomicBroadcast, Body, NodeConfig, Note, Out, Outcome, ServerId, Ticket, Time,
};
use std::collections::{BTreeMap, BTreeSet};

/// One delivered entry about a ticket, in delivery order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Entry {
    /// (s_k, τ, Replies_k).
    Phase2(ServerId, Vec<ServerId>),
    /// EXCLUDE(s_x).
    Exclude(ServerId),
    /// DONE(τ) from s.
    Done(ServerId),
}

/// One ticket's delivered sequence, reduced as it is delivered (identical at every server at the
/// same point of the sequence).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stream {
    /// Phase-2 messages in delivery order: (sender, Replies_sender).
    msgs: Vec<(ServerId, Vec<ServerId>)>,
    /// Srvs^τ.
    srvs: BTreeSet<ServerId>,
    /// Excl^τ.
    excl: BTreeSet<ServerId>,
    winner: Option<ServerId>,
    /// The server whose DONE closed τ.
    closed: Option<ServerId>,
}

impl Stream {
    /// Apply the next delivered entry. Returns `false` when it was void (τ already closed, a
    /// repeated exclusion, a DONE from an excluded server).
    pub fn apply(&mut self, e: Entry) -> bool {
        if self.closed.is_some() {
            return false;
        }
        let effective = match e {
            Entry::Phase2(k, replies) => {
                self.msgs.push((k, replies));
                self.srvs.insert(k);
                true
            }
            Entry::Exclude(x) => {
                let new = self.excl.insert(x);
                if self.winner == Some(x) {
                    self.winner = None;
                }
                new
            }
            Entry::Done(s) => {
                // Only an acceptor sends DONE: the winner, or a Phase-1 acceptor (then there is no
                // winner: it is in every Replies and not in Srvs, so no message is eligible).
                let ok = !self.excl.contains(&s) && self.winner.is_none_or(|w| w == s);
                if ok {
                    self.closed = Some(s);
                    self.winner = Some(s);
                }
                ok
            }
        };
        self.recompute();
        effective
    }

    fn recompute(&mut self) {
        if self.closed.is_some() || self.winner.is_some() {
            return;
        }
        let (srvs, excl) = (&self.srvs, &self.excl);
        self.winner = self
            .msgs
            .iter()
            .find(|(k, replies)| {
                !excl.contains(k) && replies.iter().all(|s| srvs.contains(s) || excl.contains(s))
            })
            .map(|(k, _)| *k);
    }

    pub fn winner(&self) -> Option<ServerId> {
        self.winner
    }

    pub fn closed(&self) -> Option<ServerId> {
        self.closed
    }

    pub fn excluded(&self) -> &BTreeSet<ServerId> {
        &self.excl
    }

    /// Whether some Phase-2 message about τ was delivered (contention).
    pub fn contended(&self) -> bool {
        !self.msgs.is_empty()
    }

    /// The servers that keep `me` (in Phase 2 with `mine` = Replies_me) from a decision, and that
    /// an exclusion would unblock: members of Replies_me with neither a delivered Phase-2 message
    /// nor an exclusion, and the current winner when it is not `me`. Empty once τ is closed.
    pub fn blockers(&self, me: ServerId, mine: &[ServerId]) -> BTreeSet<ServerId> {
        if self.closed.is_some() {
            return BTreeSet::new();
        }
        let mut b: BTreeSet<ServerId> = mine
            .iter()
            .copied()
            .filter(|s| *s != me && !self.srvs.contains(s) && !self.excl.contains(s))
            .collect();
        if let Some(w) = self.winner.filter(|&w| w != me) {
            b.insert(w);
        }
        b
    }
}

/// The at-least-once state of one server.
#[derive(Debug, Hash)]
pub struct Alo {
    n: u16,
    /// A suspicion counts for exclusion once it has held this long (one heartbeat period).
    settle: Time,
    /// When this server's detector was first seen suspecting each server it suspects now.
    since: BTreeMap<ServerId, Time>,
    streams: BTreeMap<Ticket, Stream>,
    /// The EXCLUDE(s_x) about τ this server has broadcast.
    sent: BTreeSet<(Ticket, ServerId)>,
    /// Tickets accepted here in Phase 1 whose DONE waits for a sign of contention.
    phase1_accepts: BTreeSet<Ticket>,
    halted: bool,
}

impl Alo {
    pub fn new(cfg: &NodeConfig) -> Self {
        Alo {
            n: cfg.n,
            settle: cfg.heartbeat,
            since: BTreeMap::new(),
            streams: BTreeMap::new(),
            sent: BTreeSet::new(),
            phase1_accepts: BTreeSet::new(),
            halted: false,
        }
    }
}

impl<A: AtomicBroadcast> TwoPe<A> {
    /// This server halted (excluded): it handles nothing more.
    pub(super) fn alo_halted(&self) -> bool {
        self.alo.as_ref().is_some_and(|a| a.halted)
    }

    fn alo_mut(&mut self) -> &mut Alo {
        self.alo.as_mut().expect("at-least-once mode")
    }

    /// The reduced delivered sequence about `ticket` (for tests and inspection).
    pub fn alo_stream(&self, ticket: &Ticket) -> Option<&Stream> {
        self.alo.as_ref()?.streams.get(ticket)
    }

    /// A-broadcast `body` and handle what that delivered at once.
    fn alo_broadcast(&mut self, now: Time, body: Body, out: &mut Out) {
        let mut delivered = Vec::new();
        self.ab.broadcast(now, body, out, &mut delivered);
        self.alo_on_delivered(now, delivered, out);
    }

    fn alo_done(&mut self, now: Time, ticket: &Ticket, out: &mut Out) {
        out.note(Note::Done);
        let body = Body::Done {
            ticket: ticket.clone(),
        };
        self.alo_broadcast(now, body, out);
    }

    /// τ was just accepted in Phase 1 here: DONE now if contention already showed, else later.
    pub(super) fn alo_accepted_in_phase1(&mut self, now: Time, ticket: &Ticket, out: &mut Out) {
        let a = self.alo_mut();
        match a.streams.get(ticket) {
            Some(st) if st.closed().is_none() && st.contended() => self.alo_done(now, ticket, out),
            _ => {
                a.phase1_accepts.insert(ticket.clone());
            }
        }
    }

    /// At the entry of Phase 2: if τ is already closed, reject at once (no Phase-2 broadcast).
    pub(super) fn alo_already_closed(&mut self, ticket: &Ticket, out: &mut Out) -> bool {
        let closed = self
            .alo_mut()
            .streams
            .get(ticket)
            .is_some_and(|st| st.closed().is_some());
        if closed {
            self.open.remove(ticket);
            self.v_tkts.insert(ticket.clone());
            let why = "Phase 2: a DONE had already closed it".to_string();
            out.decide_why(ticket.clone(), Outcome::Reject, Some(2), why);
        }
        closed
    }

    pub(super) fn alo_on_delivered(&mut self, now: Time, delivered: Vec<AppMsg>, out: &mut Out) {
        for m in delivered {
            if self.alo_halted() {
                return;
            }
            let me = self.me;
            let origin = m.id.origin;
            let (ticket, entry) = match m.body {
                Body::Phase2 { ticket, replies } => (ticket, Entry::Phase2(origin, replies)),
                Body::Exclude { ticket, server } => (ticket, Entry::Exclude(server)),
                Body::Done { ticket } => (ticket, Entry::Done(origin)),
                Body::Validate { .. } | Body::OarState { .. } => continue,
            };
            let a = self.alo_mut();
            let st = a.streams.entry(ticket.clone()).or_default();
            let open_before = st.closed().is_none();
            st.apply(entry.clone());
            if entry == Entry::Exclude(me) && open_before {
                // Excluded from an open ticket: stop for good (the runtime records a crash).
                a.halted = true;
                out.halt();
                return;
            }
            let owe_done =
                st.closed().is_none() && st.contended() && a.phase1_accepts.remove(&ticket);
            if owe_done {
                self.alo_done(now, &ticket, out);
            }
            self.alo_settle(now, &ticket, out);
        }
    }

    /// Decide τ if this server is in Phase 2 and the sequence says so.
    pub(super) fn alo_settle(&mut self, now: Time, ticket: &Ticket, out: &mut Out) {
        if self.alo_halted() {
            return;
        }
        if self.open.get(ticket).is_none_or(|v| v.phase2.is_none()) {
            return;
        }
        let me = self.me;
        let Some(st) = self.alo_mut().streams.get(ticket) else {
            return;
        };
        let (outcome, why) = if let Some(c) = st.closed() {
            (Outcome::Reject, format!("Phase 2: s{c}'s DONE closed it"))
        } else if st.winner() == Some(me) {
            let why = format!(
                "Phase 2: winner of the delivered sequence, with Srvs = {}, Excl = {}",
                servers_text(&st.srvs),
                servers_text(st.excluded())
            );
            (Outcome::Accept, why)
        } else {
            return;
        };
        self.open.remove(ticket);
        self.v_tkts.insert(ticket.clone());
        out.decide_why(ticket.clone(), outcome, Some(2), why);
        if outcome == Outcome::Accept {
            self.alo_done(now, ticket, out);
        }
    }

    /// After every input: EXCLUDE each blocker of a ticket unresolved in Phase 2 that has been
    /// suspected for a heartbeat period.
    pub(super) fn alo_exclude_suspected(&mut self, now: Time, out: &mut Out) {
        let Some(a) = self.alo.as_mut() else {
            return;
        };
        if a.halted {
            return;
        }
        for p in (1..=a.n).filter(|&p| p != self.me) {
            if self.ab.suspects(p) {
                a.since.entry(p).or_insert(now);
            } else {
                a.since.remove(&p);
            }
        }
        let a = &*a;
        let settled = |x: ServerId| a.since.get(&x).is_some_and(|&t| now >= t + a.settle);
        let empty = Stream::default();
        let mut todo = Vec::new();
        for (ticket, v) in &self.open {
            let Some(mine) = &v.phase2 else {
                continue;
            };
            let st = a.streams.get(ticket).unwrap_or(&empty);
            for x in st.blockers(self.me, mine) {
                if settled(x) && !a.sent.contains(&(ticket.clone(), x)) {
                    todo.push((ticket.clone(), x));
                }
            }
        }
        for (ticket, server) in todo {
            if self.alo_halted() {
                return;
            }
            self.alo_mut().sent.insert((ticket.clone(), server));
            out.note(Note::Exclude);
            self.alo_broadcast(now, Body::Exclude { ticket, server }, out);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The winner rule on delivered sequences, and single-node effects (feed inputs, assert the
    //! exact sends, decisions and halts; heartbeats, timers and notes left out).
    use super::*;
    use crate::ct::CtBroadcast;
    use crate::{Control, Effect, Msg, MsgId, Protocol, Timer};

    const N: u16 = 5;
    const HB: Time = 20_000;

    fn p2(k: ServerId, r: &[ServerId]) -> Entry {
        Entry::Phase2(k, r.to_vec())
    }

    #[test]
    fn a_phase1_acceptor_blocks_every_winner_until_it_is_excluded() {
        // s1 accepted in Phase 1: it is in every Replies and sends no Phase-2 message.
        let mut st = Stream::default();
        st.apply(p2(2, &[1, 2]));
        st.apply(p2(3, &[1]));
        assert_eq!(st.winner(), None);
        assert_eq!(st.blockers(2, &[1, 2]), BTreeSet::from([1]));
        assert!(st.apply(Entry::Exclude(1)));
        assert_eq!(st.winner(), Some(2), "the earliest eligible message wins");
        assert!(!st.apply(Entry::Exclude(1)), "a repeated exclusion is void");
        assert_eq!(
            st.blockers(3, &[1]),
            BTreeSet::from([2]),
            "the winner blocks s3"
        );
    }

    #[test]
    fn an_excluded_winner_is_replaced_and_a_done_closes_for_good() {
        let mut st = Stream::default();
        st.apply(p2(2, &[2, 3]));
        st.apply(p2(3, &[2, 3]));
        assert_eq!(st.winner(), Some(2));
        st.apply(Entry::Exclude(2));
        assert_eq!(st.winner(), Some(3));
        // s2's DONE (sent before its exclusion was delivered) is void: s2 is excluded.
        assert!(!st.apply(Entry::Done(2)));
        assert_eq!(st.closed(), None);
        assert!(st.apply(Entry::Done(3)));
        assert_eq!(st.closed(), Some(3));
        // After the DONE, an exclusion of the acceptor is void, and nobody is blocked.
        assert!(!st.apply(Entry::Exclude(3)));
        assert_eq!(st.winner(), Some(3));
        assert!(st.blockers(4, &[3, 4]).is_empty());
    }

    #[test]
    fn a_phase1_acceptors_done_closes_a_ticket_without_winner() {
        let mut st = Stream::default();
        st.apply(p2(2, &[1, 2]));
        assert!(st.apply(Entry::Done(1)));
        assert_eq!(st.closed(), Some(1));
        assert!(
            !st.apply(p2(3, &[1])),
            "late Phase-2 messages change nothing"
        );
        assert_eq!(st.winner(), Some(1));
    }

    fn node(me: ServerId) -> TwoPe<CtBroadcast> {
        let cfg = NodeConfig {
            me,
            n: N,
            heartbeat: HB,
            suspect_after: 1_000_000,
            seed: 1,
            delta: 10_000,
            byzantine: 0,
        };
        TwoPe::new(&cfg, CtBroadcast::new(&cfg)).at_least_once(&cfg)
    }

    fn t() -> Ticket {
        Ticket::from("tau")
    }

    /// Sends (but heartbeats and consensus), decisions (without their `why`) and halts.
    fn effects(out: &mut Out) -> Vec<Effect> {
        out.drain()
            .filter_map(|e| match e {
                Effect::Send { ref msg, .. } => {
                    (*msg != Msg::Heartbeat && !msg.is_consensus()).then_some(e)
                }
                Effect::Decide {
                    ticket,
                    outcome,
                    phase,
                    ..
                } => Some(Effect::Decide {
                    ticket,
                    outcome,
                    phase,
                    why: None,
                }),
                Effect::Halt => Some(e),
                _ => None,
            })
            .collect()
    }

    fn app(origin: ServerId, seq: u64, body: Body) -> AppMsg {
        AppMsg {
            id: MsgId { origin, seq },
            body,
        }
    }

    fn decide_msg(k: u64, m: AppMsg) -> Msg {
        Msg::Decide { k, value: vec![m] }
    }

    fn data_to_others(me: ServerId, m: AppMsg) -> Vec<Effect> {
        (1..=N)
            .filter(|&to| to != me)
            .map(|to| Effect::Send {
                to,
                msg: Msg::AbData(m.clone()),
            })
            .collect()
    }

    fn decision(outcome: Outcome, phase: u8) -> Effect {
        Effect::Decide {
            ticket: t(),
            outcome,
            phase: Some(phase),
            why: None,
        }
    }

    /// s1 takes τ and accepts it in Phase 1 (acks from s2 and s3).
    fn phase1_acceptor(out: &mut Out) -> TwoPe<CtBroadcast> {
        let mut s1 = node(1);
        s1.on_start(0, out);
        s1.on_ticket(0, t(), out);
        for from in [2, 3] {
            let ack = Msg::Ack {
                owner: 1,
                ticket: t(),
            };
            s1.on_message(20_000, from, ack, out);
        }
        assert_eq!(effects(out).last(), Some(&decision(Outcome::Accept, 1)));
        s1
    }

    #[test]
    fn an_uncontended_phase1_accept_broadcasts_nothing_and_a_contended_one_done() {
        let mut out = Out::new(1, N);
        let mut s1 = phase1_acceptor(&mut out);
        let at = 25_000;
        s1.on_timer(at, Timer::FdTick, &mut out);
        assert_eq!(effects(&mut out), vec![], "uncontended: Phase 1 only");
        // s2's Phase-2 message about τ is delivered: contention; s1 closes τ with DONE.
        let theirs = app(
            2,
            0,
            Body::Phase2 {
                ticket: t(),
                replies: vec![1, 2],
            },
        );
        s1.on_message(60_000, 3, decide_msg(0, theirs), &mut out);
        let done = app(1, 0, Body::Done { ticket: t() });
        assert_eq!(effects(&mut out), data_to_others(1, done));
    }

    #[test]
    fn an_excluded_server_halts_unless_the_ticket_was_closed_first() {
        let mut out = Out::new(1, N);
        let mut s1 = phase1_acceptor(&mut out);
        let excl = app(
            2,
            0,
            Body::Exclude {
                ticket: t(),
                server: 1,
            },
        );
        s1.on_message(60_000, 3, decide_msg(0, excl.clone()), &mut out);
        assert_eq!(effects(&mut out), vec![Effect::Halt]);
        assert!(s1.alo_halted());
        s1.on_ticket(61_000, Ticket::from("other"), &mut out);
        assert_eq!(effects(&mut out), vec![], "a halted server does nothing");

        // The same exclusion after s1's DONE closed τ: void, s1 goes on.
        let mut out = Out::new(1, N);
        let mut s1 = phase1_acceptor(&mut out);
        let done = app(1, 0, Body::Done { ticket: t() });
        s1.on_message(50_000, 3, decide_msg(0, done), &mut out);
        s1.on_message(60_000, 3, decide_msg(1, excl), &mut out);
        assert_eq!(effects(&mut out), vec![]);
        assert!(!s1.alo_halted());
    }

    /// s2 takes τ after acking s1: NACKs naming s1 put it in Phase 2 with Replies = {s1}.
    fn claimant(out: &mut Out) -> TwoPe<CtBroadcast> {
        let mut s2 = node(2);
        s2.on_start(0, out);
        s2.on_message(10_000, 1, Msg::NewTkt { ticket: t() }, out);
        s2.on_ticket(16_000, t(), out);
        for from in [3, 4] {
            let nack = Msg::Nack {
                owner: 1,
                ticket: t(),
            };
            s2.on_message(36_000, from, nack, out);
        }
        let mine = app(
            2,
            0,
            Body::Phase2 {
                ticket: t(),
                replies: vec![1],
            },
        );
        assert!(effects(out).ends_with(&data_to_others(2, mine)));
        s2
    }

    fn mine() -> AppMsg {
        app(
            2,
            0,
            Body::Phase2 {
                ticket: t(),
                replies: vec![1],
            },
        )
    }

    #[test]
    fn a_blocker_suspected_for_a_heartbeat_period_is_excluded_once() {
        let mut out = Out::new(2, N);
        let mut s2 = claimant(&mut out);
        s2.on_message(50_000, 1, decide_msg(0, mine()), &mut out);
        assert_eq!(
            effects(&mut out),
            vec![],
            "s1 blocks: not eligible, s2 waits"
        );
        let suspect = Control::Suspect {
            server: 1,
            until: 1_000_000,
        };
        s2.on_control(60_000, suspect, &mut out);
        s2.on_timer(60_000 + HB - 1, Timer::FdTick, &mut out);
        let no_exclude = effects(&mut out).iter().all(|e| {
            !matches!(e, Effect::Send { msg: Msg::AbData(m), .. }
                if matches!(m.body, Body::Exclude { .. }))
        });
        assert!(
            no_exclude,
            "not before the suspicion held a heartbeat period"
        );
        s2.on_timer(60_000 + HB, Timer::FdTick, &mut out);
        let excl = app(
            2,
            1,
            Body::Exclude {
                ticket: t(),
                server: 1,
            },
        );
        let sent: Vec<Effect> = effects(&mut out)
            .into_iter()
            .filter(|e| {
                matches!(
                    e,
                    Effect::Send {
                        msg: Msg::AbData(_),
                        ..
                    }
                )
            })
            .collect();
        assert_eq!(sent, data_to_others(2, excl.clone()));
        s2.on_timer(60_000 + 2 * HB, Timer::FdTick, &mut out);
        assert!(
            effects(&mut out).iter().all(|e| !matches!(
                e,
                Effect::Send {
                    msg: Msg::AbData(_),
                    ..
                }
            )),
            "once per (τ, s_x)"
        );
        // The exclusion is delivered: s2's message is now the winner, s2 accepts and says DONE.
        s2.on_message(120_000, 3, decide_msg(1, excl), &mut out);
        let done = app(2, 2, Body::Done { ticket: t() });
        let mut want = vec![decision(Outcome::Accept, 2)];
        want.extend(data_to_others(2, done));
        assert_eq!(effects(&mut out), want);
    }

    #[test]
    fn a_loser_waits_for_the_done_and_then_rejects() {
        let mut out = Out::new(2, N);
        let mut s2 = claimant(&mut out);
        s2.on_message(50_000, 1, decide_msg(0, mine()), &mut out);
        assert_eq!(effects(&mut out), vec![]);
        // s1 accepted in Phase 1 and closes τ.
        let done = app(1, 0, Body::Done { ticket: t() });
        s2.on_message(90_000, 3, decide_msg(1, done), &mut out);
        assert_eq!(effects(&mut out), vec![decision(Outcome::Reject, 2)]);
    }

    #[test]
    fn phase2_after_the_ticket_closed_rejects_at_once_without_broadcasting() {
        let mut s4 = node(4);
        let mut out = Out::new(4, N);
        s4.on_start(0, &mut out);
        s4.on_message(10_000, 1, Msg::NewTkt { ticket: t() }, &mut out);
        let done = app(1, 0, Body::Done { ticket: t() });
        s4.on_message(30_000, 1, decide_msg(0, done), &mut out);
        s4.on_ticket(40_000, t(), &mut out);
        out.drain();
        for from in [2, 3] {
            let nack = Msg::Nack {
                owner: 1,
                ticket: t(),
            };
            s4.on_message(60_000, from, nack, &mut out);
        }
        assert_eq!(effects(&mut out), vec![decision(Outcome::Reject, 2)]);
    }
}
