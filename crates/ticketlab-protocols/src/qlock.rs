//! `qlock`: quorum locking per ticket, two protocols (crash faults, b = 0, majority quorums).
//!
//! Mapping \[reconstructed\]: the lock object is the ticket τ, the contender is the server that
//! received τ from a user, and every server is a quorum member. A quorum is ⌈(n+1)/2⌉ servers and
//! the contender is one of them: it answers its own query locally (no message), first, and waits
//! for the first ⌈(n+1)/2⌉ − 1 remote replies. Every server always replies, so a crashed minority
//! never blocks a contender (the replies of the others arrive; links are reliable).
//!
//! # `qlock-amo`: Fleet's at-most-one mutual exclusion
//!
//! Malkhi–Reiter, "An architecture for survivable coordination in large-scale systems" (Fleet),
//! §3.2(2): a *contend* operation that "succeeds in at most one among all contending clients"; a
//! client alone is guaranteed to succeed, "though no client might succeed if multiple clients
//! contend". Fleet defers the algorithm to Phalanx; ours \[reconstructed\]:
//! - s_i, given τ, sends QL-TRY(τ) to all others and answers itself locally;
//! - every server grants τ to τ's *first* claimant forever: QL-FREE to it (again, if it asks
//!   again), QL-LOCKED to everyone else;
//! - s_i accepts iff its first ⌈(n+1)/2⌉ answers (its own first) are all FREE, else rejects.
//!
//! Two majorities intersect in a server that granted only one of them: E-1. Under contention both
//! racers can reject (each grants itself first): E-2 fails, by design — this is 2PE's Phase 1
//! without Phase 2, the lab's baseline for *why* 2PE needs Phase 2. It claims E-1 only.
//! Failure-free: (n−1) TRY + (n−1) replies = **2(n−1)** messages, decided at **2δ** (the
//! ⌈(n+1)/2⌉−1-th remote reply arrives one round trip after the TRYs left).
//!
//! # `qlock-backoff`: Chockler–Malkhi–Reiter backoff mutex + ordering, one object per τ
//!
//! Chockler, Malkhi, Reiter, "Backoff protocols for distributed mutual exclusion and ordering".
//!
//! **Mutex (§4; the code of Fig. 1 is missing from the text, this follows its prose):**
//! - a server answers QL-TRY with QL-FREE if it last answered FREE *for τ* more than Δ+2δ ago
//!   (or never), else QL-LOCKED;
//! - the contender succeeds iff at most b = 0 of its first quorum of answers are LOCKED;
//! - otherwise it sleeps for a duration drawn uniformly from [(Δ+4δ), 2^s(Δ+4δ)], s = the number of
//!   queries already made in this contend (first sleep: [Δ+4δ, 2(Δ+4δ)]), then queries again. The
//!   draw ("←_R") comes from a splitmix64 stream seeded by the run seed, the server id and the
//!   ticket (one stream per claim: tickets stay independent objects).
//! - Δ = 6δ \[reconstructed\]: it covers get, propose and commit (three round trips). δ is
//!   `NodeConfig::delta`, the known bound (§3). There is no unlock: a crashed holder's lease just
//!   expires (§1).
//! - The mutex is safe only in synchronous runs (Lemma 1), and an expired lease admits a second
//!   contender, so here it serves liveness only \[reconstructed\]: safety is the ordering protocol's.
//! - Exponent cap \[reconstructed\]: s is capped at [`MAX_BACKOFF_EXP`] in 2^s, so the upper bound
//!   cannot overflow; the paper's analysis (Lemma 2) needs only O(log t) doublings.
//!
//! **Ordering (§6, Figs. 2–3 as written, b = 0):**
//! - σ = (version, holder), σ^0 = (0, ⊥) committed and proposed everywhere with rank 0 (§7).
//! - o_i = "claim by s_i": doOp(o_i) sets holder ← s_i if holder = ⊥; response(o_i) = accept iff
//!   holder = s_i. \[reconstructed\] σ.reflects(o) is true for every claim once holder ≠ ⊥: a claim
//!   applied to a state with a holder changes nothing and its response is already fixed, so the
//!   state needs no more than (version, holder). Hence apply (Fig. 2 l.44–51) sets holder to a
//!   claim drawn uniformly from `pending` (the first "o ←_R pending") when σ^c has no holder, and
//!   always increments the version; commit (Fig. 3 l.23) empties `pending` once holder ≠ ⊥.
//! - submit is local (Fig. 3 l.2): s_i adds o_i to its own `pending`; s_i runs the ordering thread
//!   (Fig. 2 l.8–32) for τ while o_i is undecided, and its get quorum always contains itself
//!   \[reconstructed\], so o_i is always among the pending claims it applies.
//! - Ranks are (counter, id), compared lexicographically (§6.2). get needs r > maxRank, propose
//!   and commit r ≥ maxRank (Fig. 3); otherwise the server answers QL-RANKEX with its maxRank. One
//!   RankException aborts the attempt (b+1 = 1); the next rank's counter exceeds every counter
//!   seen (reported, or in the local maxRank). An aborted attempt restarts at Fig. 2 l.8: a new
//!   contend, s = 0.
//! - Fig. 2 l.14–24 with b = 0: σ^c = the highest-version committed state reported (ties by
//!   holder, deterministic); σ^pc = choose() = the proposed state of the highest (version,
//!   proposer); completed ← max(completed, (highest proposed version) − 1); then re-commit σ^c if
//!   its version > completed, else σ^pc if its version > completed, else apply(pending, σ^c) with
//!   pending = every claim some get reply reported.
//! - propose and commit go to all others and to s_i itself (locally, after the sends: "∥ u ∈ U").
//!   s_i decides when *its own* commit (the server-side commit at s_i, from its own ordering
//!   thread or from another server's QL-COMMIT) defines response(o_i), i.e. leaves σ^c.holder ≠ ⊥
//!   (Fig. 3 l.24, Fig. 2 l.5): accept iff holder = s_i. It does not await the commit replies.
//! - If s_i's local σ^c.holder ∉ {⊥, s_i} when τ arrives, it rejects at once with 0 messages.
//!   A resubmission of τ to the same server is rejected at once too (it never accepts twice).
//! - The §5 optimisations are off.
//!
//! E-1 holds in every run, also asynchronous ones (Thm 1, Order: every committed state descends
//! from σ^0 through one sequence, and the holder, once set, never changes), so pauses, partitions
//! and false suspicions cannot break it; the protocol uses no failure detector (suspicions are
//! ignored). E-2 holds with probability 1 once the run is stable and f < n/2 (Thm 2): two racers
//! back off; the mutex winner runs get/propose/commit and the holder it commits is a contender, which
//! accepts at its own commit; the other reads holder ≠ itself and rejects.
//!
//! **Failure-free count and latency:** four quorum RPCs — QL-TRY/QL-FREE, QL-GET/QL-STATE,
//! QL-PROPOSE/QL-PROPOSED, QL-COMMIT/QL-COMMITTED — of (n−1) requests and (n−1) replies each:
//! **8(n−1)** messages. s_i sends TRY at 0, has its quorum of FREEs at 2δ, of get replies at 4δ,
//! of propose replies at 6δ, and commits locally and decides at **6δ**.
//!
//! With t synchronous contenders all return in expected O(Δt) (Lemma 2, Cor. 1), one w.p. 1
//! (Cor. 2); a retry-k collision has probability ≤ (t_k−1)/2^k. Simultaneous racers always collide
//! on their first try here (each answers FREE to itself first), so contention costs at least one
//! backoff. Counters: [`Note::Try`] per TRY round, [`Note::Backoff`] per backoff and
//! [`Note::BackoffUs`] by the µs slept.

use super::quorum::majority;
use super::{Control, Effect, Msg, NodeConfig, Note, Out, Outcome, Protocol};
use super::{ServerId, Ticket, Time, Timer};
pub use crate::draw::SplitMix64;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

mod amo;
pub use amo::QlockAmo;

/// The cap on s in 2^s(Δ+4δ) \[reconstructed\]: keeps the bound finite (2^20 · 10δ).
pub const MAX_BACKOFF_EXP: u32 = 20;

/// A rank (§6.2): (counter, id), compared lexicographically, so no two servers share one.
/// `Rank::default()` = (0, 0) is the rank of σ^0's initial propose and commit.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Rank {
    pub counter: u32,
    pub id: ServerId,
}

/// σ = (version, holder); `QState::default()` is σ^0 = (0, ⊥).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct QState {
    pub version: u64,
    pub holder: Option<ServerId>,
}

/// What get(r) returns (Fig. 3 l.8): ⟨σ^c, σ^pc, proposer, pending⟩.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct Report {
    pub committed: QState,
    pub proposed: QState,
    pub proposer: Rank,
    /// The claims pending at the server (by claimant).
    pub pending: Vec<ServerId>,
}

fn try_msg(ticket: &Ticket, attempt: u32) -> Msg {
    Msg::QlTry {
        ticket: ticket.clone(),
        attempt,
    }
}

fn answer(ticket: &Ticket, attempt: u32, free: bool) -> Msg {
    let ticket = ticket.clone();
    if free {
        Msg::QlFree { ticket, attempt }
    } else {
        Msg::QlLocked { ticket, attempt }
    }
}

// =============================================================================================
// qlock-backoff

/// The server side of τ's object: the mutex's last FREE and Fig. 3's variables.
#[derive(Debug, Default, Hash)]
struct Object {
    /// When this server last answered FREE for τ.
    last_free: Option<Time>,
    max_rank: Rank,
    /// σ^c
    committed: QState,
    /// σ^pc
    proposed: QState,
    proposer: Rank,
    pending: BTreeSet<ServerId>,
}

/// Where this server's ordering thread for its own claim on τ is.
#[derive(Debug, Hash)]
enum Phase {
    /// A TRY round: the answers so far (its own first).
    Trying {
        responders: BTreeSet<ServerId>,
        locked: bool,
    },
    /// Backing off; the claim's timer fires the next try.
    Sleeping,
    /// get(rank): the replies so far (its own first).
    Getting {
        rank: Rank,
        reports: BTreeMap<ServerId, Report>,
    },
    /// propose(state, rank): the servers that accepted it.
    Proposing {
        rank: Rank,
        state: QState,
        acks: BTreeSet<ServerId>,
    },
}

/// The client side (Fig. 2's ordering thread) of this server's own, undecided claim on τ.
#[derive(Debug, Hash)]
struct Claim {
    /// Its timer: `Timer::Protocol(timer)`.
    timer: u64,
    /// s: queries already made in the current contend.
    s: u32,
    /// TRY rounds of this claim so far; numbers the rounds so stale answers are ignored.
    attempt: u32,
    /// The highest rank counter seen (RankExceptions, the local maxRank).
    seen: u32,
    /// Fig. 2's `completed`.
    completed: u64,
    phase: Phase,
    /// This claim's draws (backoff, apply's order): seeded by the run seed, the server and τ.
    rng: SplitMix64,
}

/// `qlock-backoff`: the CMR backoff mutex plus the §6 ordering protocol, one object per ticket
/// (see the module doc).
#[derive(Hash)]
pub struct QlockBackoff {
    me: ServerId,
    quorum: u16,
    /// Δ + 2δ: a server answers FREE at most once per window and ticket.
    free_window: Time,
    /// Δ + 4δ: the backoff unit.
    backoff_unit: Time,
    /// The run seed: each claim draws from its own stream (seed, server, ticket), so one
    /// ticket's draws never depend on another's — tickets are independent objects.
    seed: u64,
    received: BTreeSet<Ticket>,
    objects: BTreeMap<Ticket, Object>,
    claims: BTreeMap<Ticket, Claim>,
    /// Timer id → its claim's ticket.
    timers: BTreeMap<u64, Ticket>,
    next_timer: u64,
}

impl QlockBackoff {
    pub fn new(cfg: &NodeConfig) -> Self {
        // δ ≥ 1 µs: with δ = 0 the window and the backoff would be empty.
        let delta = cfg.delta.max(1);
        let big_delta = 6 * delta;
        QlockBackoff {
            me: cfg.me,
            quorum: majority(cfg.n),
            free_window: big_delta + 2 * delta,
            backoff_unit: big_delta + 4 * delta,
            seed: cfg.seed,
            received: BTreeSet::new(),
            objects: BTreeMap::new(),
            claims: BTreeMap::new(),
            timers: BTreeMap::new(),
            next_timer: 0,
        }
    }

    fn obj(&mut self, ticket: &Ticket) -> &mut Object {
        self.objects.entry(ticket.clone()).or_default()
    }

    // ---- server side (§4 try, Fig. 3) -----------------------------------------------------

    /// try(): FREE iff the last FREE for τ was more than Δ+2δ ago.
    fn try_here(&mut self, now: Time, ticket: &Ticket) -> bool {
        let window = self.free_window;
        let o = self.obj(ticket);
        let free = o.last_free.is_none_or(|t| now.saturating_sub(t) > window);
        if free {
            o.last_free = Some(now);
        }
        free
    }

    /// Fig. 3 l.5–10.
    fn get_here(&mut self, ticket: &Ticket, r: Rank) -> Result<Report, Rank> {
        let o = self.obj(ticket);
        if r > o.max_rank {
            o.max_rank = r;
            Ok(Report {
                committed: o.committed,
                proposed: o.proposed,
                proposer: o.proposer,
                pending: o.pending.iter().copied().collect(),
            })
        } else {
            Err(o.max_rank)
        }
    }

    /// Fig. 3 l.11–18.
    fn propose_here(&mut self, ticket: &Ticket, state: QState, r: Rank) -> Result<(), Rank> {
        let o = self.obj(ticket);
        if r >= o.max_rank {
            o.max_rank = r;
            o.proposer = r;
            o.proposed = state;
            Ok(())
        } else {
            Err(o.max_rank)
        }
    }

    /// Fig. 3 l.19–27, and Fig. 2 l.5 at this server: when the commit defines the response of
    /// this server's own open claim, decide it.
    fn commit_here(
        &mut self,
        ticket: &Ticket,
        state: QState,
        r: Rank,
        out: &mut Out,
    ) -> Result<(), Rank> {
        let o = self.obj(ticket);
        if r < o.max_rank {
            return Err(o.max_rank);
        }
        o.max_rank = r;
        o.committed = state;
        let Some(holder) = state.holder else {
            return Ok(());
        };
        o.pending.clear();
        if let Some(claim) = self.claims.remove(ticket) {
            self.timers.remove(&claim.timer);
            if matches!(claim.phase, Phase::Sleeping) {
                out.effects.push(Effect::CancelTimer {
                    timer: Timer::Protocol(claim.timer),
                });
            }
            let outcome = if holder == self.me {
                Outcome::Accept
            } else {
                Outcome::Reject
            };
            out.decide(ticket.clone(), outcome, None);
        }
        Ok(())
    }

    // ---- client side (§4 contend, Fig. 2 ordering thread) ---------------------------------

    /// Fig. 2 l.9: a new contend (s = 0), querying at once.
    fn contend(&mut self, now: Time, ticket: &Ticket, out: &mut Out) {
        if let Some(c) = self.claims.get_mut(ticket) {
            c.s = 0;
            self.query(now, ticket, out);
        }
    }

    /// One TRY round: QL-TRY to the others, the local answer first.
    fn query(&mut self, now: Time, ticket: &Ticket, out: &mut Out) {
        let free = self.try_here(now, ticket);
        let Some(c) = self.claims.get_mut(ticket) else {
            return;
        };
        c.attempt += 1;
        c.phase = Phase::Trying {
            responders: BTreeSet::from([self.me]),
            locked: !free,
        };
        out.note(Note::Try);
        out.send_others(&try_msg(ticket, c.attempt));
        self.tried(now, ticket, out);
    }

    /// An answer to TRY round `attempt`, counted if it is among the round's first quorum.
    fn answered(
        &mut self,
        now: Time,
        from: ServerId,
        ticket: &Ticket,
        attempt: u32,
        free: bool,
        out: &mut Out,
    ) {
        let Some(c) = self.claims.get_mut(ticket) else {
            return;
        };
        if c.attempt != attempt {
            return;
        }
        if let Phase::Trying { responders, locked } = &mut c.phase {
            if responders.insert(from) {
                *locked |= !free;
                self.tried(now, ticket, out);
            }
        }
    }

    /// After an answer: with a quorum in, succeed (get) or back off.
    fn tried(&mut self, now: Time, ticket: &Ticket, out: &mut Out) {
        let Some(c) = self.claims.get_mut(ticket) else {
            return;
        };
        let Phase::Trying { responders, locked } = &c.phase else {
            return;
        };
        if responders.len() < usize::from(self.quorum) {
            return;
        }
        if !*locked {
            self.start_get(now, ticket, out);
            return;
        }
        c.s += 1;
        let hi = self.backoff_unit << c.s.min(MAX_BACKOFF_EXP);
        let sleep = c.rng.uniform(self.backoff_unit, hi);
        c.phase = Phase::Sleeping;
        out.note(Note::Backoff);
        out.note_by(Note::BackoffUs, sleep);
        out.set_timer(Timer::Protocol(c.timer), sleep);
    }

    /// Fig. 2 l.10–13: get(r) with a fresh rank, from the others and locally.
    fn start_get(&mut self, now: Time, ticket: &Ticket, out: &mut Out) {
        let local_max = self.obj(ticket).max_rank.counter;
        let Some(c) = self.claims.get_mut(ticket) else {
            return;
        };
        let rank = Rank {
            counter: c.seen.max(local_max) + 1,
            id: self.me,
        };
        c.seen = rank.counter;
        out.send_others(&Msg::QlGet {
            ticket: ticket.clone(),
            rank,
        });
        let mut reports = BTreeMap::new();
        match self.get_here(ticket, rank) {
            Ok(report) => {
                reports.insert(self.me, report);
            }
            Err(max) => return self.abort(now, ticket, max, out),
        }
        if let Some(c) = self.claims.get_mut(ticket) {
            c.phase = Phase::Getting { rank, reports };
        }
        self.got(now, ticket, out);
    }

    /// After a get reply: with a quorum in, choose σ (Fig. 2 l.14–24) and propose it.
    fn got(&mut self, now: Time, ticket: &Ticket, out: &mut Out) {
        let Some(c) = self.claims.get_mut(ticket) else {
            return;
        };
        let Phase::Getting { rank, reports } = &c.phase else {
            return;
        };
        if reports.len() < usize::from(self.quorum) {
            return;
        }
        let rank = *rank;
        let (state, completed) = choose_state(c.completed, reports, &mut c.rng);
        c.completed = completed;
        c.phase = Phase::Proposing {
            rank,
            state,
            acks: BTreeSet::new(),
        };
        out.send_others(&Msg::QlPropose {
            ticket: ticket.clone(),
            rank,
            state,
        });
        match self.propose_here(ticket, state, rank) {
            Ok(()) => self.proposed(now, self.me, ticket, rank, out),
            Err(max) => self.abort(now, ticket, max, out),
        }
    }

    /// A propose ack (Fig. 2 l.26–27); with a quorum, commit (l.28–29) to all and locally.
    fn proposed(&mut self, now: Time, from: ServerId, ticket: &Ticket, r: Rank, out: &mut Out) {
        let Some(c) = self.claims.get_mut(ticket) else {
            return;
        };
        let Phase::Proposing { rank, state, acks } = &mut c.phase else {
            return;
        };
        if *rank != r || !acks.insert(from) || acks.len() < usize::from(self.quorum) {
            return;
        }
        let state = *state;
        c.completed = c.completed.max(state.version.saturating_sub(1));
        out.send_others(&Msg::QlCommit {
            ticket: ticket.clone(),
            rank: r,
            state,
        });
        match self.commit_here(ticket, state, r, out) {
            // Decided unless σ had no holder (cannot happen: every state proposed after σ^0 has
            // one); then the thread loops (Fig. 2 l.32).
            Ok(()) => {
                if let Some(c) = self.claims.get_mut(ticket) {
                    c.completed = c.completed.max(state.version);
                    self.contend(now, ticket, out);
                }
            }
            Err(max) => self.abort(now, ticket, max, out),
        }
    }

    /// A RankException (b+1 = 1 aborts): a new rank above `max`, a new contend.
    fn abort(&mut self, now: Time, ticket: &Ticket, max: Rank, out: &mut Out) {
        if let Some(c) = self.claims.get_mut(ticket) {
            c.seen = c.seen.max(max.counter);
            self.contend(now, ticket, out);
        }
    }

    /// The claim's current rank, if it is in get or propose.
    fn rank_of(&self, ticket: &Ticket) -> Option<Rank> {
        match &self.claims.get(ticket)?.phase {
            Phase::Getting { rank, .. } | Phase::Proposing { rank, .. } => Some(*rank),
            _ => None,
        }
    }
}

/// Fig. 2 l.14–24 (and choose, l.33–43, and apply, l.44–51) with b = 0: the state to propose and
/// the new `completed`.
fn choose_state(
    completed: u64,
    reports: &BTreeMap<ServerId, Report>,
    rng: &mut SplitMix64,
) -> (QState, u64) {
    let sigma_c = reports
        .values()
        .map(|r| r.committed)
        .max()
        .unwrap_or_default();
    let sigma_pc = reports
        .values()
        .max_by_key(|r| (r.proposed.version, r.proposer))
        .map(|r| r.proposed)
        .unwrap_or_default();
    // l.17: completed ← max{completed, max{v : some σ_u^pc.version > v}}.
    let mut completed = completed;
    if sigma_pc.version >= 1 {
        completed = completed.max(sigma_pc.version - 1);
    }
    if sigma_c.version > completed {
        return (sigma_c, completed);
    }
    if sigma_pc.version > completed {
        return (sigma_pc, completed);
    }
    let pending: BTreeSet<ServerId> = reports
        .values()
        .flat_map(|r| r.pending.iter().copied())
        .collect();
    (apply(&pending, sigma_c, rng), completed)
}

/// Fig. 2 l.44–51: the pending claims in uniformly random order; the first one applied to a state
/// without a holder becomes the holder, the rest are then reflected (no-ops).
fn apply(pending: &BTreeSet<ServerId>, mut state: QState, rng: &mut SplitMix64) -> QState {
    if state.holder.is_none() && !pending.is_empty() {
        let pick = if pending.len() == 1 {
            0
        } else {
            rng.uniform(0, pending.len() as u64 - 1) as usize
        };
        state.holder = pending.iter().nth(pick).copied();
    }
    state.version += 1;
    state
}

impl Protocol for QlockBackoff {
    fn state_hash(&self, mut h: &mut dyn Hasher) {
        self.hash(&mut h);
    }
    fn on_start(&mut self, _now: Time, _out: &mut Out) {}

    fn on_ticket(&mut self, now: Time, ticket: Ticket, out: &mut Out) {
        if !self.received.insert(ticket.clone()) {
            out.decide(ticket, Outcome::Reject, None);
            return;
        }
        let me = self.me;
        let o = self.obj(&ticket);
        if o.committed.holder.is_some_and(|h| h != me) {
            out.decide(ticket, Outcome::Reject, None);
            return;
        }
        // Fig. 3 l.2: submit is local.
        o.pending.insert(me);
        let timer = self.next_timer;
        self.next_timer += 1;
        self.timers.insert(timer, ticket.clone());
        self.claims.insert(
            ticket.clone(),
            Claim {
                timer,
                s: 0,
                attempt: 0,
                seen: 0,
                completed: 0,
                phase: Phase::Sleeping,
                rng: SplitMix64::for_ticket(self.seed, self.me, &ticket.0),
            },
        );
        self.contend(now, &ticket, out);
    }

    fn on_message(&mut self, now: Time, from: ServerId, msg: Msg, out: &mut Out) {
        match msg {
            Msg::QlTry { ticket, attempt } => {
                let free = self.try_here(now, &ticket);
                out.send(from, answer(&ticket, attempt, free));
            }
            Msg::QlFree { ticket, attempt } => {
                self.answered(now, from, &ticket, attempt, true, out)
            }
            Msg::QlLocked { ticket, attempt } => {
                self.answered(now, from, &ticket, attempt, false, out)
            }
            Msg::QlGet { ticket, rank } => {
                let reply = match self.get_here(&ticket, rank) {
                    Ok(report) => Msg::QlState {
                        ticket,
                        rank,
                        report,
                    },
                    Err(max) => Msg::QlRankEx { ticket, rank, max },
                };
                out.send(from, reply);
            }
            Msg::QlState {
                ticket,
                rank,
                report,
            } => {
                if let Some(c) = self.claims.get_mut(&ticket) {
                    if let Phase::Getting { rank: r, reports } = &mut c.phase {
                        if *r == rank {
                            reports.entry(from).or_insert(report);
                            self.got(now, &ticket, out);
                        }
                    }
                }
            }
            Msg::QlPropose {
                ticket,
                rank,
                state,
            } => {
                let reply = match self.propose_here(&ticket, state, rank) {
                    Ok(()) => Msg::QlProposed { ticket, rank },
                    Err(max) => Msg::QlRankEx { ticket, rank, max },
                };
                out.send(from, reply);
            }
            Msg::QlProposed { ticket, rank } => self.proposed(now, from, &ticket, rank, out),
            Msg::QlCommit {
                ticket,
                rank,
                state,
            } => {
                let reply = match self.commit_here(&ticket, state, rank, out) {
                    Ok(()) => Msg::QlCommitted {
                        ticket: ticket.clone(),
                        rank,
                    },
                    Err(max) => Msg::QlRankEx {
                        ticket: ticket.clone(),
                        rank,
                        max,
                    },
                };
                out.send(from, reply);
            }
            Msg::QlCommitted { .. } => {}
            Msg::QlRankEx { ticket, rank, max } => {
                if let Some(c) = self.claims.get_mut(&ticket) {
                    c.seen = c.seen.max(max.counter);
                }
                if self.rank_of(&ticket) == Some(rank) {
                    self.abort(now, &ticket, max, out);
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, now: Time, timer: Timer, out: &mut Out) {
        let Timer::Protocol(id) = timer else {
            return;
        };
        let Some(ticket) = self.timers.get(&id).cloned() else {
            return;
        };
        if matches!(
            self.claims.get(&ticket).map(|c| &c.phase),
            Some(Phase::Sleeping)
        ) {
            self.query(now, &ticket, out);
        }
    }

    fn on_control(&mut self, _now: Time, _ctl: Control, _out: &mut Out) {}
}
