//! `alo-2pe`: 2PE made at-least-once — properties E-1′ and E-2′ (paper §2.2), the modification
//! the paper's §6 only announces ("the 2SE protocol could be modified to solve the at-least-once
//! problem"; we read 2SE as 2PE). Everything below the Phase-1 line is [reconstructed].
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
//! **Phase 2** [reconstructed]: the Phase-2 message (s_i, τ, Replies_i) is A-broadcast as in 2PE
//! (over CT-broadcast), and the same atomic broadcast carries two more bodies about τ:
//! - `EXCLUDE(s_x)` ([`Body::Exclude`]): a server whose τ is unresolved in Phase 2 sends it when
//!   its failure detector suspects s_x and s_x *blocks* it: s_x ∈ Replies_i has neither a
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
//! message (nothing it could broadcast would change the outcome) [reconstructed].
//!
//! Excl^τ is per ticket, not global: the exclusions that matter for τ are then ordered with τ's
//! other messages by any broadcast that orders same-ticket messages (Generic Broadcast's conflict
//! relation included), at the cost of one EXCLUDE per (ticket, crashed blocker) [reconstructed].
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
//!   primary-partition "suicide" of Oliveira–Almeida–Rodrigues [OAR] §4. It also keeps E-2′: an
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
use crate::{AppMsg, AtomicBroadcast, Body, NodeConfig, Note, Out, Outcome, ServerId, Ticket, Time};
use std::collections::{BTreeMap, BTreeSet};

/// One delivered entry about a ticket, in delivery order.
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
#[derive(Debug)]
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
            out.decide(ticket.clone(), Outcome::Reject, Some(2));
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
                Body::Validate { .. } => continue,
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
            let owe_done = st.closed().is_none()
                && st.contended()
                && a.phase1_accepts.remove(&ticket);
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
        let Some(st) = self.alo_mut().streams.get(ticket) else {
            return;
        };
        let outcome = if st.closed().is_some() {
            Outcome::Reject
        } else if st.winner() == Some(self.me) {
            Outcome::Accept
        } else {
            return;
        };
        self.open.remove(ticket);
        self.v_tkts.insert(ticket.clone());
        out.decide(ticket.clone(), outcome, Some(2));
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
