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
