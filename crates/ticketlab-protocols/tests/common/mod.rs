//! Helpers shared by the protocol crate's single-node effect tests.
#![allow(dead_code)]

pub mod qlock;

use ticketlab_protocols::{AppMsg, Body, Effect, Msg, MsgId, ServerId};

/// Broadcast message `seq` of `origin`, validating `ticket`.
pub fn m(origin: ServerId, seq: u64, ticket: &str) -> AppMsg {
    AppMsg {
        id: MsgId { origin, seq },
        body: Body::Validate {
            ticket: ticket.into(),
        },
    }
}

pub fn send(to: ServerId, msg: Msg) -> Effect {
    Effect::Send { to, msg }
}

/// `msg` to each of `to`, in that order (what `Out::send_others` produces for the others).
pub fn sends(to: &[ServerId], msg: Msg) -> Vec<Effect> {
    to.iter().map(|&t| send(t, msg.clone())).collect()
}

/// Run `f` on a thread of its own and fail if it has not finished within 15 s (the runs that use
/// it take about a second in a debug build): a handler that loops forever, which no bound on
/// deliveries can stop, then fails the test instead of hanging it.
pub fn bounded(f: impl FnOnce() + Send + 'static) {
    let (done, wait) = std::sync::mpsc::channel();
    let run = std::thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        wait.recv_timeout(std::time::Duration::from_secs(15))
    {
        panic!("still running after 15 s: a handler loops forever");
    }
    if let Err(p) = run.join() {
        std::panic::resume_unwind(p);
    }
}

/// The first bft-fleet answer among a server's effects.
pub fn fleet_reply(effects: Vec<Effect>) -> Option<ticketlab_protocols::fleet::Reply> {
    effects.into_iter().find_map(|e| match e {
        Effect::Send {
            msg: Msg::FlReply { rep, .. },
            ..
        } => Some(rep),
        _ => None,
    })
}

/// How many bft-fleet requests of this kind ("FL-WRITE", "FL-COMMIT", …) are among `effects`.
pub fn fleet_requests(effects: &[Effect], kind: &str) -> usize {
    effects
        .iter()
        .filter(|e| {
            matches!(e, Effect::Send { msg: Msg::FlRequest { req, .. }, .. } if req.kind() == kind)
        })
        .count()
}
