//! Single-node effect tests of SE (`se.rs`) over CT-broadcast: a server accepts a ticket when
//! its own message about it is the first delivered, rejects when another server's is, and
//! rejects at once a ticket it was handed twice or whose first message was delivered already.

use ticketlab_protocols::ct::CtBroadcast;
use ticketlab_protocols::se::Se;
use ticketlab_protocols::{
    AppMsg, Effect, Msg, MsgId, NodeConfig, Out, Outcome, Protocol, ServerId, Ticket,
};

mod common;
use common::m;

fn se(me: ServerId) -> Se<CtBroadcast> {
    let cfg = NodeConfig {
        me,
        n: 3,
        heartbeat: 1_000,
        suspect_after: 100_000,
        seed: 1,
        delta: 1_000,
        byzantine: 0,
    };
    Se::new(&cfg, CtBroadcast::new(&cfg))
}

/// The decisions among `effects`: (ticket, outcome, why).
fn decisions(effects: &[Effect]) -> Vec<(String, Outcome, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Decide {
                ticket,
                outcome,
                why,
                ..
            } => Some((ticket.0.clone(), *outcome, why.clone().unwrap_or_default())),
            _ => None,
        })
        .collect()
}

fn ticket(p: &mut Se<CtBroadcast>, me: ServerId, t: &str) -> Vec<Effect> {
    let mut out = Out::new(me, 3);
    p.on_ticket(0, Ticket::from(t), &mut out);
    out.effects
}

fn msg(p: &mut Se<CtBroadcast>, me: ServerId, from: ServerId, msg: Msg) -> Vec<Effect> {
    let mut out = Out::new(me, 3);
    p.on_message(0, from, msg, &mut out);
    out.effects
}

fn decide(value: &[AppMsg]) -> Msg {
    Msg::Decide {
        k: 0,
        value: value.to_vec(),
    }
}

#[test]
fn a_server_accepts_when_its_own_message_is_delivered_first() {
    // s1 coordinates round 1: its broadcast is proposed at once, decided on one ack.
    let mut s1 = se(1);
    let e = ticket(&mut s1, 1, "t");
    assert!(decisions(&e).is_empty(), "undecided until delivered");
    let e = msg(&mut s1, 1, 2, Msg::CAck { k: 0, r: 1 });
    assert_eq!(
        decisions(&e),
        vec![(
            "t".to_string(),
            Outcome::Accept,
            "the first delivered message about it is s1's (#0 of s1)".to_string()
        )]
    );
}

#[test]
fn a_server_rejects_when_another_servers_message_comes_first() {
    let mut s2 = se(2);
    ticket(&mut s2, 2, "t");
    // s1's message about t is ordered before s2's.
    let e = msg(&mut s2, 2, 1, decide(&[m(1, 0, "t")]));
    assert_eq!(
        decisions(&e),
        vec![(
            "t".to_string(),
            Outcome::Reject,
            "the first delivered message about it is s1's (#0 of s1)".to_string()
        )]
    );
    // Its own message delivered later decides nothing more.
    let own = AppMsg {
        id: MsgId { origin: 2, seq: 0 },
        body: m(2, 0, "t").body,
    };
    let e = msg(
        &mut s2,
        2,
        1,
        Msg::Decide {
            k: 1,
            value: vec![own],
        },
    );
    assert!(decisions(&e).is_empty());
}

#[test]
fn a_ticket_handed_twice_or_already_ordered_is_rejected_at_once() {
    let mut s2 = se(2);
    assert!(decisions(&ticket(&mut s2, 2, "t")).is_empty());
    assert_eq!(
        decisions(&ticket(&mut s2, 2, "t")),
        vec![(
            "t".to_string(),
            Outcome::Reject,
            "received twice by this server".to_string()
        )]
    );
    // u was ordered first by s1's message before anyone handed it to s2.
    let mut s3 = se(3);
    assert!(decisions(&msg(&mut s3, 3, 1, decide(&[m(1, 0, "u")]))).is_empty());
    let e = ticket(&mut s3, 3, "u");
    assert_eq!(
        decisions(&e),
        vec![(
            "u".to_string(),
            Outcome::Reject,
            "s1's message about it was delivered first, already".to_string()
        )]
    );
    assert!(
        !e.iter().any(|x| matches!(x, Effect::Send { .. })),
        "rejected locally, nothing broadcast"
    );
}
