//! Helpers of the lock protocols' tests (`qlock.rs`, `qlock_amo.rs`): one ticket τ, its TRY
//! round's messages, one input at a time.

use ticketlab_protocols::qlock::{QState, Rank};
use ticketlab_protocols::{
    Effect, Msg, NodeConfig, Note, Out, Outcome, Protocol, ServerId, Ticket, Time,
};

pub const N: u16 = 5;
/// δ = 1 ms: Δ = 6 ms, a FREE window of Δ+2δ = 8 ms, a backoff unit of Δ+4δ = 10 ms.
pub const D: Time = 1_000;

pub fn cfg(me: ServerId, n: u16, seed: u64) -> NodeConfig {
    NodeConfig {
        me,
        n,
        heartbeat: 20_000,
        suspect_after: 100_000,
        seed,
        delta: D,
        byzantine: 0,
    }
}

pub fn t() -> Ticket {
    Ticket::from("tau")
}

pub fn others(me: ServerId) -> Vec<ServerId> {
    (1..=N).filter(|&s| s != me).collect()
}

pub fn try_(attempt: u32) -> Msg {
    Msg::QlTry {
        ticket: t(),
        attempt,
    }
}
pub fn free(attempt: u32) -> Msg {
    Msg::QlFree {
        ticket: t(),
        attempt,
    }
}
pub fn locked(attempt: u32) -> Msg {
    Msg::QlLocked {
        ticket: t(),
        attempt,
    }
}
pub fn rank(counter: u32, id: ServerId) -> Rank {
    Rank { counter, id }
}
pub fn st(version: u64, holder: Option<ServerId>) -> QState {
    QState { version, holder }
}
pub fn decide(outcome: Outcome) -> Effect {
    Effect::Decide {
        ticket: t(),
        outcome,
        phase: None,
        why: None,
    }
}
pub fn note(note: Note, by: u64) -> Effect {
    Effect::Note { note, by }
}

/// Run one input, return its effects.
pub fn step<P: Protocol>(p: &mut P, me: ServerId, f: impl FnOnce(&mut P, &mut Out)) -> Vec<Effect> {
    let mut out = Out::new(me, N);
    f(p, &mut out);
    out.effects
}
