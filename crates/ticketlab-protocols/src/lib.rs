//! Protocols as deterministic state machines with no I/O.
//!
//! Every protocol in ticketlab is a [`Protocol`]: a per-server state machine whose inputs are method
//! calls (a ticket from a user, a message from a server, a timer that fired, a control command) and
//! whose outputs are [`Effect`]s collected in an [`Out`] (send a message, set or cancel a timer,
//! decide a ticket, count an internal event). Time comes in as `now` (microseconds since the start
//! of the run); nothing here reads a clock, opens a socket, spawns a thread or draws a random number.
//! Both runtimes — the deterministic simulator (`ticketlab::sim`) and the process runtime — drive the
//! same code.
//!
//! Architecture invariant: nothing under `protocol/` imports tokio, std::net, std::thread,
//! std::time or rand (guarded by a test in `tests/no_io.rs`). Maps whose order can reach an output are
//! `BTreeMap`/`BTreeSet`, so a run is a pure function of its inputs.
//!
//! Conventions fixed here and relied on by the runtimes and the checker:
//! - servers are numbered 1..=n ([`ServerId`]), as s_1..s_n in the paper;
//! - a protocol never sends to itself: messages a server "sends to itself" in the paper (2PE's own
//!   NEWTKT and ACK, a broadcaster's own copy) are handled locally, so every [`Effect::Send`] is a
//!   server→server message that crosses a link and is counted;
//! - [`Effect::SetTimer`] replaces a pending timer with the same [`Timer`] id.

pub mod backlog;
pub mod consensus;
pub mod ct;
pub mod draw;
pub mod fd;
pub mod fleet;
pub mod gb;
mod kind;
pub mod oar;
pub mod opt;
pub mod qlock;
pub mod quorum;
pub mod se;
pub mod staged;
pub mod twope;

pub use kind::{Property, ProtocolKind, Theory};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::{Hash, Hasher};

/// Microseconds since the start of the run.
pub type Time = u64;

/// A server id, 1-based (s_1..s_n).
pub type ServerId = u16;

/// An e-ticket. Tickets are opaque strings; forged or tampered tickets are just other strings
/// (authenticity is out of the paper's scope, see its footnote 1).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ticket(pub String);

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Ticket {
    fn from(s: &str) -> Self {
        Ticket(s.to_string())
    }
}

/// The result of validating a ticket at one server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Accept,
    Reject,
}

/// Identifies one atomically broadcast message: its origin and the origin's sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MsgId {
    pub origin: ServerId,
    pub seq: u64,
}

/// The application payload of an atomic (or generic) broadcast.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub enum Body {
    /// SE: "s_i broadcasts τ" (paper §3.1).
    Validate { ticket: Ticket },
    /// 2PE Phase 2: (s_i, τ, Replies_i^τ) (Algorithm 1, line 27). The origin of the message is s_i.
    Phase2 {
        ticket: Ticket,
        replies: Vec<ServerId>,
    },
    /// alo-2pe Phase 2: EXCLUDE(s_x) about τ — `server` is excluded from τ (it halts on delivery).
    Exclude { ticket: Ticket, server: ServerId },
    /// alo-2pe: DONE(τ) — the origin accepted τ; once delivered, the others reject.
    Done { ticket: Ticket },
    /// SE/OAR: one server's STATE(k, O_dlv, O_notdlv) inside a Cnsv-order consensus value
    /// (`oar.rs`); the server is the id's origin. About no single ticket.
    OarState {
        dlv: Vec<AppMsg>,
        notdlv: Vec<AppMsg>,
    },
}

/// What [`Body::ticket`] answers for a body about no ticket (an OAR consensus value).
static NO_TICKET: Ticket = Ticket(String::new());

impl Body {
    /// The ticket the payload is about; Generic Broadcast's conflict relation is "same ticket".
    pub fn ticket(&self) -> &Ticket {
        match self {
            Body::Validate { ticket } | Body::Phase2 { ticket, .. } => ticket,
            Body::Exclude { ticket, .. } | Body::Done { ticket } => ticket,
            Body::OarState { .. } => &NO_TICKET,
        }
    }
}

/// Numbers one server's broadcasts: (me, 0), (me, 1), …
#[derive(Clone, Debug, Hash)]
pub struct MsgIds {
    origin: ServerId,
    next: u64,
}

impl MsgIds {
    pub fn new(origin: ServerId) -> Self {
        MsgIds { origin, next: 0 }
    }

    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> MsgId {
        let id = MsgId {
            origin: self.origin,
            seq: self.next,
        };
        self.next += 1;
        id
    }
}

/// A message handed to an atomic broadcast, with its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct AppMsg {
    pub id: MsgId,
    pub body: Body,
}

/// Every server→server message of every protocol: the wire type of the process runtime.
///
/// One flat enum (rather than one per layer) keeps the runtimes protocol-agnostic and gives every
/// message a stable type name for the counters ([`Msg::kind`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub enum Msg {
    /// Failure-detector heartbeat (counted separately, never in messages per ticket).
    Heartbeat,
    /// 2PE (s_i, τ, NEWTKT), Algorithm 1 line 12.
    NewTkt { ticket: Ticket },
    /// 2PE (s_j, τ, ACK), line 18: `owner` is s_j, the server the replier acked.
    Ack { owner: ServerId, ticket: Ticket },
    /// 2PE (s_k, τ, NACK), line 15: `owner` is s_k, the server the replier acked before.
    Nack { owner: ServerId, ticket: Ticket },
    /// CT-broadcast diffusion of a message (also used to relay a suspected sender's message).
    AbData(AppMsg),
    /// CT consensus, instance `k`, round `r`: estimate sent to the round's coordinator.
    Estimate {
        k: u64,
        r: u32,
        value: Vec<AppMsg>,
        ts: u32,
    },
    /// CT consensus: the coordinator's proposal.
    Propose { k: u64, r: u32, value: Vec<AppMsg> },
    /// CT consensus: a participant adopted the proposal of round `r`.
    CAck { k: u64, r: u32 },
    /// CT consensus: a participant suspected the coordinator of round `r` (or saw a later round).
    CNack { k: u64, r: u32 },
    /// CT consensus: the decision of instance `k`.
    Decide { k: u64, value: Vec<AppMsg> },
    /// OPT-broadcast DATA(k, m): diffusion of m, sent in stage `k` (also a relay of a suspected
    /// origin's message). The stage is informative: receipt does not depend on it.
    OptData { k: u64, m: AppMsg },
    /// OPT-broadcast ORDER(k, seq_k), sent incrementally: "position `pos` of my seq_k is `m`".
    /// Links are FIFO, so a receiver rebuilds the sender's whole seq_k from these.
    OptOrder { k: u64, pos: u64, m: AppMsg },
    /// OPT-broadcast: "I stopped stage `k`", sent to the round-1 coordinator of consensus k by a
    /// process that left the fast path on its own (inconsistent order or suspicion).
    OptStop { k: u64 },
    /// Generic Broadcast DATA(m) (also a relay of a suspected origin's message).
    GbData(AppMsg),
    /// Generic Broadcast ACK(k, m): the sender acked m in stage `k` (m had no conflict there).
    GbAck { k: u64, m: AppMsg },
    /// Generic Broadcast CHK(k, pending_k): stage termination, with the sender's acked set.
    GbChk { k: u64, pending: Vec<AppMsg> },
    /// qlock (`qlock.rs`): TRY(τ), the contender's quorum query; `attempt` numbers its rounds.
    QlTry { ticket: Ticket, attempt: u32 },
    /// qlock: the answer FREE to TRY round `attempt`.
    QlFree { ticket: Ticket, attempt: u32 },
    /// qlock: the answer LOCKED to TRY round `attempt`.
    QlLocked { ticket: Ticket, attempt: u32 },
    /// qlock-backoff: get(r) (CMR Fig. 3 l.5).
    QlGet { ticket: Ticket, rank: qlock::Rank },
    /// qlock-backoff: get's return ⟨σ^c, σ^pc, proposer, pending⟩.
    QlState {
        ticket: Ticket,
        rank: qlock::Rank,
        report: qlock::Report,
    },
    /// qlock-backoff: propose(σ, r) (Fig. 3 l.11).
    QlPropose {
        ticket: Ticket,
        rank: qlock::Rank,
        state: qlock::QState,
    },
    /// qlock-backoff: propose returned.
    QlProposed { ticket: Ticket, rank: qlock::Rank },
    /// qlock-backoff: commit(σ, r) (Fig. 3 l.19).
    QlCommit {
        ticket: Ticket,
        rank: qlock::Rank,
        state: qlock::QState,
    },
    /// qlock-backoff: commit returned.
    QlCommitted { ticket: Ticket, rank: qlock::Rank },
    /// qlock-backoff: RankException for the request of rank `rank`; `max` is the server's maxRank.
    QlRankEx {
        ticket: Ticket,
        rank: qlock::Rank,
        max: qlock::Rank,
    },
    /// SE/OAR (`oar.rs`): s_i's R-multicast of m = (s_i, τ) (also a relay of a suspected origin's m).
    OarSubmit(AppMsg),
    /// SE/OAR: the epoch-`k` sequencer's ORDER, number `seq` of the epoch, of unordered messages.
    OarOrder { k: u64, seq: u64, msgs: Vec<AppMsg> },
    /// SE/OAR: a replica's reply to sender(m): FIRST (`first`) or DUP, weight W, epoch `k`.
    OarVote {
        k: u64,
        id: MsgId,
        ticket: Ticket,
        first: bool,
        weight: Vec<ServerId>,
    },
    /// SE/OAR: PHASEII(k), R-broadcast (relayed on first receipt).
    OarPhase2 { k: u64 },
    /// SE/OAR: STATE(k, O_dlv, O_notdlv), the sender's Cnsv-order input.
    OarState {
        k: u64,
        dlv: Vec<AppMsg>,
        notdlv: Vec<AppMsg>,
    },
    /// bft-fleet (`fleet/`): a client's request of Q-RPC number `rpc` on τ's consensus object.
    FlRequest {
        ticket: Ticket,
        rpc: u32,
        req: fleet::Request,
    },
    /// bft-fleet: a server's answer to Q-RPC `rpc`.
    FlReply {
        ticket: Ticket,
        rpc: u32,
        rep: fleet::Reply,
    },
}

/// Every message type name [`Msg::kind`] can return, except HEARTBEAT.
pub const MSG_KINDS: &[&str] = &[
    "NEWTKT",
    "ACK",
    "NACK",
    "AB-DATA",
    "C-ESTIMATE",
    "C-PROPOSE",
    "C-ACK",
    "C-NACK",
    "C-DECIDE",
    "OPT-DATA",
    "OPT-ORDER",
    "OPT-STOP",
    "GB-DATA",
    "GB-ACK",
    "GB-CHK",
    "QL-TRY",
    "QL-FREE",
    "QL-LOCKED",
    "QL-GET",
    "QL-STATE",
    "QL-PROPOSE",
    "QL-PROPOSED",
    "QL-COMMIT",
    "QL-COMMITTED",
    "QL-RANKEX",
    "OAR-SUBMIT",
    "OAR-ORDER",
    "OAR-VOTE",
    "OAR-PHASEII",
    "OAR-STATE",
    "FL-INIT",
    "FL-GATHER",
    "FL-WRITE",
    "FL-ECHO",
    "FL-COMMIT",
    "FL-DONE",
    "FL-SCAN",
    "FL-ARRAYS",
    "FL-FLIP",
    "FL-SHARE",
];

impl Msg {
    /// The message type name used in counters, `messages_by_type` and `history.jsonl`.
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Heartbeat => "HEARTBEAT",
            Msg::NewTkt { .. } => "NEWTKT",
            Msg::Ack { .. } => "ACK",
            Msg::Nack { .. } => "NACK",
            Msg::AbData(_) => "AB-DATA",
            Msg::Estimate { .. } => "C-ESTIMATE",
            Msg::Propose { .. } => "C-PROPOSE",
            Msg::CAck { .. } => "C-ACK",
            Msg::CNack { .. } => "C-NACK",
            Msg::Decide { .. } => "C-DECIDE",
            Msg::OptData { .. } => "OPT-DATA",
            Msg::OptOrder { .. } => "OPT-ORDER",
            Msg::OptStop { .. } => "OPT-STOP",
            Msg::GbData(_) => "GB-DATA",
            Msg::GbAck { .. } => "GB-ACK",
            Msg::GbChk { .. } => "GB-CHK",
            Msg::QlTry { .. } => "QL-TRY",
            Msg::QlFree { .. } => "QL-FREE",
            Msg::QlLocked { .. } => "QL-LOCKED",
            Msg::QlGet { .. } => "QL-GET",
            Msg::QlState { .. } => "QL-STATE",
            Msg::QlPropose { .. } => "QL-PROPOSE",
            Msg::QlProposed { .. } => "QL-PROPOSED",
            Msg::QlCommit { .. } => "QL-COMMIT",
            Msg::QlCommitted { .. } => "QL-COMMITTED",
            Msg::QlRankEx { .. } => "QL-RANKEX",
            Msg::OarSubmit(_) => "OAR-SUBMIT",
            Msg::OarOrder { .. } => "OAR-ORDER",
            Msg::OarVote { .. } => "OAR-VOTE",
            Msg::OarPhase2 { .. } => "OAR-PHASEII",
            Msg::OarState { .. } => "OAR-STATE",
            Msg::FlRequest { req, .. } => req.kind(),
            Msg::FlReply { rep, .. } => rep.kind(),
        }
    }

    /// A Chandra–Toueg consensus message (every broadcast hands these to `Consensus`).
    pub fn is_consensus(&self) -> bool {
        consensus::instance_of(self).is_some()
    }

    /// The ticket a message is about, when it is about exactly one.
    pub fn ticket(&self) -> Option<&Ticket> {
        fn single(v: &[AppMsg]) -> Option<&Ticket> {
            match v {
                [m] => Some(m.body.ticket()),
                _ => None,
            }
        }
        match self {
            Msg::Heartbeat | Msg::CAck { .. } | Msg::CNack { .. } | Msg::OptStop { .. } => None,
            Msg::NewTkt { ticket } | Msg::Ack { ticket, .. } | Msg::Nack { ticket, .. } => {
                Some(ticket)
            }
            Msg::AbData(m)
            | Msg::OptData { m, .. }
            | Msg::OptOrder { m, .. }
            | Msg::GbData(m)
            | Msg::GbAck { m, .. } => Some(m.body.ticket()),
            Msg::Estimate { value, .. }
            | Msg::Propose { value, .. }
            | Msg::Decide { value, .. }
            | Msg::GbChk { pending: value, .. } => single(value),
            Msg::QlTry { ticket, .. }
            | Msg::QlFree { ticket, .. }
            | Msg::QlLocked { ticket, .. }
            | Msg::QlGet { ticket, .. }
            | Msg::QlState { ticket, .. }
            | Msg::QlPropose { ticket, .. }
            | Msg::QlProposed { ticket, .. }
            | Msg::QlCommit { ticket, .. }
            | Msg::QlCommitted { ticket, .. }
            | Msg::QlRankEx { ticket, .. } => Some(ticket),
            Msg::OarSubmit(m) => Some(m.body.ticket()),
            Msg::OarOrder { msgs, .. } => single(msgs),
            Msg::OarVote { ticket, .. } => Some(ticket),
            Msg::OarPhase2 { .. } | Msg::OarState { .. } => None,
            Msg::FlRequest { ticket, .. } | Msg::FlReply { ticket, .. } => Some(ticket),
        }
    }
}

/// Timer ids. Setting a timer replaces the pending one with the same id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// The failure detector's period: send heartbeats, check timeouts.
    FdTick,
    /// A protocol's own timer, numbered by the protocol (e.g. one per backoff in progress).
    Protocol(u64),
}

/// Commands from the lab's fault injector (not from the protocol's model).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub enum Control {
    /// Force the failure detector to suspect `server` until `until` (a false suspicion).
    Suspect { server: ServerId, until: Time },
}

/// Internal events a protocol reports for the summary (fast paths, fallbacks, consensus).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Note {
    /// A consensus instance decided at this server.
    ConsensusDecided,
    /// This server moved past round 1 of a consensus instance.
    ConsensusExtraRound,
    /// The failure detector started suspecting a server (counted by the runtimes from
    /// [`Effect::Detector`]).
    Suspected,
    /// The failure detector stopped suspecting a server (a false suspicion ended).
    Unsuspected,
    /// A broadcast was delivered on a fast path (no consensus).
    FastDelivery,
    /// A broadcast stage ended in consensus (OPT/GB fallback).
    Fallback,
    /// A lock protocol queried its quorum for a ticket (one try of a contend).
    Try,
    /// A lock protocol's try failed and it backed off before the next one.
    Backoff,
    /// Time spent backing off, µs (counted with [`Out::note_by`]).
    BackoffUs,
    /// alo-2pe: an EXCLUDE(s_x) this server A-broadcast.
    Exclude,
    /// alo-2pe: a DONE(τ) this server A-broadcast (a contended ticket it accepted).
    Done,
}

/// What a protocol asks its runtime to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Send {
        to: ServerId,
        msg: Msg,
    },
    SetTimer {
        timer: Timer,
        after: Time,
    },
    CancelTimer {
        timer: Timer,
    },
    Decide {
        ticket: Ticket,
        outcome: Outcome,
        phase: Option<u8>,
        /// What the server knew when it decided, as the protocol sees it (2PE's Replies, Srvs
        /// and the Phase-2 message its walk stopped at; SE's first delivered message …), for
        /// the history and the explanations; None where the protocol says nothing.
        why: Option<String>,
    },
    /// The failure detector began (`suspects`) or stopped suspecting `server`. The runtimes
    /// count it as [`Note::Suspected`] / [`Note::Unsuspected`] and record it in the history.
    Detector {
        server: ServerId,
        suspects: bool,
    },
    /// Count an internal event (`by` = 1) or add `by` to a total (e.g. µs of backoff).
    Note {
        note: Note,
        by: u64,
    },
    /// This server stops for good, as if it had crashed (an at-least-once protocol excluding
    /// itself: the runtime records a `crash`). Nothing after it in the same step happens.
    Halt,
}

/// The effect sink handed to every protocol call.
#[derive(Debug)]
pub struct Out {
    me: ServerId,
    n: u16,
    pub effects: Vec<Effect>,
}

impl Out {
    pub fn new(me: ServerId, n: u16) -> Self {
        Out {
            me,
            n,
            effects: Vec::new(),
        }
    }

    pub fn me(&self) -> ServerId {
        self.me
    }

    pub fn n(&self) -> u16 {
        self.n
    }

    /// Send to one other server.
    pub fn send(&mut self, to: ServerId, msg: Msg) {
        debug_assert!(
            to != self.me,
            "protocols handle messages to themselves locally"
        );
        // An id that names no server (made up by a Byzantine server, echoed by a correct
        // one): the message goes nowhere.
        if (1..=self.n).contains(&to) {
            self.effects.push(Effect::Send { to, msg });
        }
    }

    /// "Send to all" minus oneself: n−1 messages.
    pub fn send_others(&mut self, msg: &Msg) {
        for to in 1..=self.n {
            if to != self.me {
                self.effects.push(Effect::Send {
                    to,
                    msg: msg.clone(),
                });
            }
        }
    }

    pub fn set_timer(&mut self, timer: Timer, after: Time) {
        self.effects.push(Effect::SetTimer { timer, after });
    }

    pub fn decide(&mut self, ticket: Ticket, outcome: Outcome, phase: Option<u8>) {
        self.effects.push(Effect::Decide {
            ticket,
            outcome,
            phase,
            why: None,
        });
    }

    /// Decide, saying why (see [`Effect::Decide`]'s `why`).
    pub fn decide_why(&mut self, ticket: Ticket, outcome: Outcome, phase: Option<u8>, why: String) {
        self.effects.push(Effect::Decide {
            ticket,
            outcome,
            phase,
            why: Some(why),
        });
    }

    /// The failure detector's view of `server` changed (see [`Effect::Detector`]).
    pub fn detector(&mut self, server: ServerId, suspects: bool) {
        self.effects.push(Effect::Detector { server, suspects });
    }

    pub fn note(&mut self, note: Note) {
        self.note_by(note, 1);
    }

    /// Add `by` to the total of `note` (a count, or an amount such as µs).
    pub fn note_by(&mut self, note: Note, by: u64) {
        self.effects.push(Effect::Note { note, by });
    }

    /// Stop this server for good (see [`Effect::Halt`]).
    pub fn halt(&mut self) {
        self.effects.push(Effect::Halt);
    }

    /// Take the effects collected so far.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Effect> {
        self.effects.drain(..)
    }
}

/// "{s1, s3}": a set of servers as the explanations print it.
pub fn servers_text<'a>(ids: impl IntoIterator<Item = &'a ServerId>) -> String {
    let names: Vec<String> = ids.into_iter().map(|s| format!("s{s}")).collect();
    format!("{{{}}}", names.join(", "))
}

/// Static configuration of one server's protocol instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeConfig {
    pub me: ServerId,
    pub n: u16,
    /// Failure-detector heartbeat period.
    pub heartbeat: Time,
    /// Initial failure-detector timeout (doubled per peer after each false suspicion).
    pub suspect_after: Time,
    /// The run's seed: protocols that draw (backoff) derive their draws from it and `me`, so a run
    /// is a pure function of its inputs.
    pub seed: u64,
    /// δ, the known bound on message delay (µs), for protocols that time on it (a lock's lease).
    pub delta: Time,
    /// b, the Byzantine servers this instance must expect: what the run declares
    /// (`cluster.byzantine_max`), at most the protocol's bound for one that sizes quorums by it
    /// (bqlock-amo); 0 in a crash-only run. Crash-tolerant protocols only use it to know their
    /// internal invariants may not hold.
    #[serde(default)]
    pub byzantine: u16,
}

/// A server-side protocol: the interface both runtimes drive.
pub trait Protocol: Send {
    /// Called once, at time 0, before any other input.
    fn on_start(&mut self, now: Time, out: &mut Out);
    /// A user submitted `ticket` to this server.
    fn on_ticket(&mut self, now: Time, ticket: Ticket, out: &mut Out);
    /// A server→server message arrived.
    fn on_message(&mut self, now: Time, from: ServerId, msg: Msg, out: &mut Out);
    /// A timer set earlier fired.
    fn on_timer(&mut self, now: Time, timer: Timer, out: &mut Out);
    /// A fault-injection command.
    fn on_control(&mut self, now: Time, ctl: Control, out: &mut Out);
    /// Feed the whole protocol state into `h` (for `check`'s state fingerprints): two instances
    /// that feed the same bytes must behave the same on every future input `check` can give
    /// (the heartbeat tick never fires there, so the failure detector leaves out what only the
    /// tick reads: last-heard times and timeouts). Implemented by
    /// `#[derive(Hash)]` on the state; it changes nothing.
    fn state_hash(&self, h: &mut dyn Hasher);
}

/// An atomic broadcast as a component inside a protocol (paper §2.1: validity, uniform agreement,
/// uniform integrity, total order). SE and 2PE's Phase 2 are written against this trait, so CT-,
/// OPT- and Generic Broadcast plug in without changing them. Generic Broadcast (`gb.rs`) only
/// orders conflicting messages — those about the same ticket — which is all SE and Phase 2 use:
/// both only look at the delivered messages about one ticket.
///
/// Every call appends the messages it delivered, in delivery order, to `delivered`.
pub trait AtomicBroadcast: Send {
    fn start(&mut self, now: Time, out: &mut Out);
    /// A-broadcast `body`; the local copy is delivered later, through `delivered`, like any other.
    fn broadcast(&mut self, now: Time, body: Body, out: &mut Out, delivered: &mut Vec<AppMsg>);
    /// Any incoming message, also those of the protocol above (they prove the sender alive).
    /// Returns the message back when it does not belong to the broadcast layer.
    fn on_message(
        &mut self,
        now: Time,
        from: ServerId,
        msg: Msg,
        out: &mut Out,
        delivered: &mut Vec<AppMsg>,
    ) -> Option<Msg>;
    fn on_timer(&mut self, now: Time, timer: Timer, out: &mut Out, delivered: &mut Vec<AppMsg>);
    fn on_control(&mut self, now: Time, ctl: Control, out: &mut Out, delivered: &mut Vec<AppMsg>);
    /// Whether this server's failure detector suspects `p` now (alo-2pe excludes on suspicion).
    /// A broadcast that exposes no detector answers `false`.
    fn suspects(&self, _p: ServerId) -> bool {
        false
    }
}
