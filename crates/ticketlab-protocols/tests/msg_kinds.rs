//! `MSG_KINDS` is exactly the set of names `Msg::kind` returns (HEARTBEAT aside): the counters,
//! `messages_by_type` and the history rely on the list being complete.

use ticketlab_protocols::fleet::{Entry, Reply, Request, Val};
use ticketlab_protocols::qlock::{QState, Rank, Report};
use ticketlab_protocols::{AppMsg, Body, Msg, MsgId, MSG_KINDS};

/// One message of every variant (bft-fleet's: of every request and reply). `variant` below has
/// no wildcard, so a new variant does not compile until it has an index there, and the test
/// fails until it has an example here.
fn one_of_each() -> Vec<Msg> {
    let m = AppMsg {
        id: MsgId { origin: 1, seq: 0 },
        body: Body::Validate { ticket: "t".into() },
    };
    let t = || "t".into();
    let mut msgs = vec![
        Msg::Heartbeat,
        Msg::NewTkt { ticket: t() },
        Msg::Ack {
            owner: 1,
            ticket: t(),
        },
        Msg::Nack {
            owner: 1,
            ticket: t(),
        },
        Msg::AbData(m.clone()),
        Msg::Estimate {
            k: 0,
            r: 2,
            value: vec![m.clone()],
            ts: 0,
        },
        Msg::Propose {
            k: 0,
            r: 1,
            value: vec![m.clone()],
        },
        Msg::CAck { k: 0, r: 1 },
        Msg::CNack { k: 0, r: 1 },
        Msg::Decide {
            k: 0,
            value: vec![m.clone()],
        },
        Msg::OptData { k: 0, m: m.clone() },
        Msg::OptOrder {
            k: 0,
            pos: 0,
            m: m.clone(),
        },
        Msg::OptStop { k: 0 },
        Msg::GbData(m.clone()),
        Msg::GbAck { k: 0, m: m.clone() },
        Msg::GbChk {
            k: 0,
            pending: vec![m.clone()],
        },
        Msg::OarSubmit(m.clone()),
        Msg::OarOrder {
            k: 0,
            seq: 0,
            msgs: vec![m.clone()],
        },
        Msg::OarVote {
            k: 0,
            id: m.id,
            ticket: t(),
            first: true,
            weight: vec![1, 2],
        },
        Msg::OarPhase2 { k: 0 },
        Msg::OarState {
            k: 0,
            dlv: vec![m.clone()],
            notdlv: vec![m],
        },
        Msg::QlTry {
            ticket: t(),
            attempt: 1,
        },
        Msg::QlFree {
            ticket: t(),
            attempt: 1,
        },
        Msg::QlLocked {
            ticket: t(),
            attempt: 1,
        },
        Msg::QlGet {
            ticket: t(),
            rank: Rank::default(),
        },
        Msg::QlState {
            ticket: t(),
            rank: Rank::default(),
            report: Report::default(),
        },
        Msg::QlPropose {
            ticket: t(),
            rank: Rank::default(),
            state: QState::default(),
        },
        Msg::QlProposed {
            ticket: t(),
            rank: Rank::default(),
        },
        Msg::QlCommit {
            ticket: t(),
            rank: Rank::default(),
            state: QState::default(),
        },
        Msg::QlCommitted {
            ticket: t(),
            rank: Rank::default(),
        },
        Msg::QlRankEx {
            ticket: t(),
            rank: Rank::default(),
            max: Rank::default(),
        },
    ];
    // bft-fleet: one Msg variant each for requests and replies, a type name per inner variant.
    let entry = || Entry {
        round: 0,
        val: Val::Id(1),
        ts: vec![0, 0, 0],
    };
    let requests = [
        Request::Init {
            index: 1,
            ts: vec![0, 0, 0],
            certs: vec![],
        },
        Request::Write {
            index: 1,
            entry: entry(),
            gathers: vec![],
        },
        Request::Commit {
            index: 1,
            entry: entry(),
            echoes: vec![],
        },
        Request::Scan,
        Request::Flip { round: 1 },
    ];
    let replies = [
        Reply::Gather {
            d: vec![0, 0, 0],
            sig: vec![],
        },
        Reply::Echo { sig: vec![] },
        Reply::Done { sig: vec![] },
        Reply::Arrays { arrays: vec![] },
        Reply::Share { sig: vec![] },
    ];
    msgs.extend(requests.into_iter().map(|req| Msg::FlRequest {
        ticket: t(),
        rpc: 1,
        req,
    }));
    msgs.extend(replies.into_iter().map(|rep| Msg::FlReply {
        ticket: t(),
        rpc: 1,
        rep,
    }));
    msgs
}

/// The variant's index; exhaustive on purpose (no `_` arm).
fn variant(msg: &Msg) -> usize {
    match msg {
        Msg::Heartbeat => 0,
        Msg::NewTkt { .. } => 1,
        Msg::Ack { .. } => 2,
        Msg::Nack { .. } => 3,
        Msg::AbData(_) => 4,
        Msg::Estimate { .. } => 5,
        Msg::Propose { .. } => 6,
        Msg::CAck { .. } => 7,
        Msg::CNack { .. } => 8,
        Msg::Decide { .. } => 9,
        Msg::OptData { .. } => 10,
        Msg::OptOrder { .. } => 11,
        Msg::OptStop { .. } => 12,
        Msg::GbData(_) => 13,
        Msg::GbAck { .. } => 14,
        Msg::GbChk { .. } => 15,
        Msg::OarSubmit(_) => 16,
        Msg::OarOrder { .. } => 17,
        Msg::OarVote { .. } => 18,
        Msg::OarPhase2 { .. } => 19,
        Msg::OarState { .. } => 20,
        Msg::QlTry { .. } => 21,
        Msg::QlFree { .. } => 22,
        Msg::QlLocked { .. } => 23,
        Msg::QlGet { .. } => 24,
        Msg::QlState { .. } => 25,
        Msg::QlPropose { .. } => 26,
        Msg::QlProposed { .. } => 27,
        Msg::QlCommit { .. } => 28,
        Msg::QlCommitted { .. } => 29,
        Msg::QlRankEx { .. } => 30,
        Msg::FlRequest { req, .. } => match req {
            Request::Init { .. } => 31,
            Request::Write { .. } => 32,
            Request::Commit { .. } => 33,
            Request::Scan => 34,
            Request::Flip { .. } => 35,
        },
        Msg::FlReply { rep, .. } => match rep {
            Reply::Gather { .. } => 36,
            Reply::Echo { .. } => 37,
            Reply::Done { .. } => 38,
            Reply::Arrays { .. } => 39,
            Reply::Share { .. } => 40,
        },
    }
}
const VARIANTS: usize = 41;

#[test]
fn the_examples_cover_every_variant_once() {
    let seen: Vec<usize> = one_of_each().iter().map(variant).collect();
    assert_eq!(seen, (0..VARIANTS).collect::<Vec<_>>());
}

#[test]
fn msg_kinds_is_exactly_what_kind_returns_except_heartbeat() {
    let kinds: Vec<&str> = one_of_each().iter().map(Msg::kind).collect();
    for (msg, kind) in one_of_each().iter().zip(&kinds) {
        if matches!(msg, Msg::Heartbeat) {
            assert_eq!(*kind, "HEARTBEAT");
            assert!(!MSG_KINDS.contains(kind), "HEARTBEAT is counted apart");
        } else {
            assert!(
                MSG_KINDS.contains(kind),
                "{kind} ({msg:?}) missing from MSG_KINDS"
            );
        }
    }
    for k in MSG_KINDS {
        assert!(
            kinds.contains(k),
            "MSG_KINDS has {k}, which no Msg produces"
        );
    }
    let mut unique = kinds.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), kinds.len(), "two variants share a name");
    assert_eq!(MSG_KINDS.len(), kinds.len() - 1);
}

#[test]
fn consensus_messages_are_those_with_an_instance() {
    for msg in one_of_each() {
        let consensus = matches!(variant(&msg), 5..=9);
        assert_eq!(msg.is_consensus(), consensus, "{msg:?}");
    }
}
