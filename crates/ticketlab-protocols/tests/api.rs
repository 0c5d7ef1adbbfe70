//! The crate's small shared API, pinned down: ticket formatting (it reaches history files and
//! messages), `Msg::ticket` (what the history records per message), `Out`'s accessors and sends,
//! and the default `AtomicBroadcast::suspects`.

use ticketlab_protocols::ct::CtBroadcast;
use ticketlab_protocols::{AppMsg, AtomicBroadcast, Body, Effect, Msg, NodeConfig, Out, Ticket};

mod common;
use common::m;

#[test]
fn tickets_print_as_their_id() {
    let t = Ticket::from("τ-1");
    assert_eq!(t.to_string(), "τ-1");
    assert_eq!(format!("{t:?}"), "\"τ-1\"");
}

#[test]
fn a_message_names_its_ticket_only_when_it_is_about_exactly_one() {
    let t = Ticket::from("a");
    let a = m(2, 0, "a");
    let b = m(3, 0, "b");
    assert_eq!(Msg::NewTkt { ticket: t.clone() }.ticket(), Some(&t));
    assert_eq!(Msg::AbData(a.clone()).ticket(), Some(&t));
    let one = Msg::Propose {
        k: 0,
        r: 1,
        value: vec![a.clone()],
    };
    assert_eq!(one.ticket(), Some(&t), "a consensus value of one message");
    let two = Msg::Propose {
        k: 0,
        r: 1,
        value: vec![a, b],
    };
    assert_eq!(two.ticket(), None, "a batch is about no single ticket");
    assert_eq!(Msg::CAck { k: 0, r: 1 }.ticket(), None);
    assert_eq!(Msg::Heartbeat.ticket(), None);
}

#[test]
fn out_knows_its_server_and_sends_to_all_others() {
    let mut out = Out::new(2, 4);
    assert_eq!((out.me(), out.n()), (2, 4));
    out.send_others(&Msg::Heartbeat);
    let to: Vec<u16> = out
        .effects
        .iter()
        .map(|e| match e {
            Effect::Send { to, .. } => *to,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(to, vec![1, 3, 4]);
}

#[test]
fn ct_broadcast_suspects_through_its_detector_and_the_default_never_does() {
    struct Plain;
    impl AtomicBroadcast for Plain {
        fn start(&mut self, _: u64, _: &mut Out) {}
        fn broadcast(&mut self, _: u64, _: Body, _: &mut Out, _: &mut Vec<AppMsg>) {}
        fn on_message(
            &mut self,
            _: u64,
            _: u16,
            msg: Msg,
            _: &mut Out,
            _: &mut Vec<AppMsg>,
        ) -> Option<Msg> {
            Some(msg)
        }
        fn on_timer(
            &mut self,
            _: u64,
            _: ticketlab_protocols::Timer,
            _: &mut Out,
            _: &mut Vec<AppMsg>,
        ) {
        }
        fn on_control(
            &mut self,
            _: u64,
            _: ticketlab_protocols::Control,
            _: &mut Out,
            _: &mut Vec<AppMsg>,
        ) {
        }
    }
    assert!(!Plain.suspects(1));
    let cfg = NodeConfig {
        me: 1,
        n: 3,
        heartbeat: 1_000,
        suspect_after: 10_000,
        seed: 1,
        delta: 1_000,
        byzantine: 0,
    };
    let mut ct = CtBroadcast::new(&cfg);
    let mut out = Out::new(1, 3);
    let mut d = Vec::new();
    assert!(!ct.suspects(2));
    ct.on_control(
        0,
        ticketlab_protocols::Control::Suspect {
            server: 2,
            until: 1_000_000,
        },
        &mut out,
        &mut d,
    );
    assert!(ct.suspects(2) && !ct.suspects(3));
}

#[test]
fn the_backoff_stream_is_splitmix64() {
    use ticketlab_protocols::qlock::SplitMix64;
    // Known answers of splitmix64 from state 0 (server 0 mixes nothing into the seed).
    let mut r = SplitMix64::new(0, 0);
    assert_eq!(
        [r.next_u64(), r.next_u64(), r.next_u64()],
        [0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f]
    );
    // Draws stay in their range, both ends reachable.
    let mut r = SplitMix64::new(42, 3);
    let draws: Vec<u64> = (0..200).map(|_| r.uniform(5, 7)).collect();
    assert!(draws.iter().all(|d| (5..=7).contains(d)));
    assert!(draws.contains(&5) && draws.contains(&7));
}

/// A send to an id that names no server (a Byzantine server's made-up origin, echoed by a
/// correct protocol) goes nowhere.
#[test]
fn a_send_to_no_server_goes_nowhere() {
    let mut out = ticketlab_protocols::Out::new(1, 3);
    for to in [0, 4, 200] {
        out.send(to, ticketlab_protocols::Msg::Heartbeat);
    }
    assert!(out.effects.is_empty());
    out.send(2, ticketlab_protocols::Msg::Heartbeat);
    assert_eq!(out.effects.len(), 1);
}

#[test]
fn explanations_name_server_sets_in_braces() {
    use ticketlab_protocols::servers_text;
    assert_eq!(servers_text(&[1, 3]), "{s1, s3}");
    assert_eq!(servers_text(&[]), "{}");
    assert_eq!(servers_text(&std::collections::BTreeSet::from([5])), "{s5}");
}

#[test]
fn a_tickets_draws_are_the_run_streams_moved_by_the_fnv1a_hash_of_its_id() {
    use ticketlab_protocols::draw::SplitMix64;
    // FNV-1a, 64 bits (the documented, build-stable construction).
    let fnv = |s: &str| {
        s.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
        })
    };
    assert_eq!(fnv(""), 0xCBF2_9CE4_8422_2325);
    assert_eq!(
        fnv("a"),
        0xAF63_DC4C_8601_EC8C,
        "FNV-1a's published value for \"a\""
    );
    for (seed, me, t) in [(1, 2, "t1"), (42, 5, "τ-7"), (0, 1, "")] {
        let mut want = SplitMix64::new(seed ^ fnv(t), me);
        want.next_u64();
        let mut got = SplitMix64::for_ticket(seed, me, t);
        let (a, b): (Vec<u64>, Vec<u64>) =
            (0..4).map(|_| (got.next_u64(), want.next_u64())).unzip();
        assert_eq!(a, b, "{t}");
    }
    let first = |t: &str| SplitMix64::for_ticket(7, 1, t).next_u64();
    assert_ne!(first("ab"), first("ba"), "order of the id's bytes matters");
}
