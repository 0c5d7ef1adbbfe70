//! The complete history: every delivery matches a send, and arrives when the links say; every
//! injected fault and failure-detector change is recorded; decisions say why. Recounted here
//! from the scenario and the sends, independently of the runtime's bookkeeping.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use ticketlab::history::Event;
use ticketlab::protocol::ProtocolKind;

fn scenario(faults: &str, jitter: f64) -> ticketlab::scenario::Scenario {
    let text = format!(
        "name = \"h\"\nseed = 3\n[cluster]\nservers = 4\nprotocols = [\"2pe\", \"se-ct\"]\n\
         mode = \"sim\"\ndelta_ms = 10.0\njitter_ms = {jitter}\n[workload]\ntickets = 12\n\
         concurrency = 2\nduplicates = 0.5\n{faults}"
    );
    load(&text, &[])
}

type Key = (u16, u64);

/// Sends and deliveries by (sender, seq); panics on a duplicate.
fn by_message(h: &[Event]) -> (BTreeMap<Key, &Event>, BTreeMap<Key, &Event>) {
    let (mut sends, mut delivers) = (BTreeMap::new(), BTreeMap::new());
    for e in h {
        match e {
            Event::Send { from, seq, .. } => {
                assert!(sends.insert((*from, *seq), e).is_none(), "two sends {e:?}");
            }
            Event::Deliver { from, seq, .. } => {
                assert!(
                    delivers.insert((*from, *seq), e).is_none(),
                    "two deliveries {e:?}"
                );
            }
            _ => {}
        }
    }
    (sends, delivers)
}

#[test]
fn every_delivery_matches_its_send_and_every_send_to_a_live_server_is_delivered() {
    let faults = "[[fault]]\nat_ms = 30.0\ndelay = { from = 1, to = [2, 3], ms = 37.0 }\n\
                  [[fault]]\nat_ms = 200.0\npartition = [[1, 2], [3, 4]]\n\
                  [[fault]]\nat_ms = 260.0\nheal = true\n";
    for jitter in [0.0, 4.0] {
        let s = scenario(faults, jitter);
        for p in [ProtocolKind::TwoPe, ProtocolKind::SeCt] {
            let (_, out) = run(&s, p);
            let h = &out.history;
            let (sends, delivers) = by_message(h);
            assert!(!delivers.is_empty());
            // No crash here: every message sent is delivered, once, to its receiver, not before
            // it was sent; links are FIFO.
            assert_eq!(sends.len(), delivers.len(), "{p}, jitter {jitter}");
            let mut last: BTreeMap<(u16, u16), u64> = BTreeMap::new();
            for (k, send) in &sends {
                let (
                    Event::Send {
                        t_us: ts, to, msg, ..
                    },
                    Some(Event::Deliver {
                        t_us: td,
                        to: to2,
                        msg: msg2,
                        ..
                    }),
                ) = (send, delivers.get(k))
                else {
                    panic!("{p}: {send:?} never delivered");
                };
                assert_eq!((to, msg), (to2, msg2));
                assert!(td >= ts);
                // Under the delay fault, s1 → s2, s3 takes exactly 37 ms (FIFO may hold a
                // message behind an earlier one, never less); outside a cut, jitter-free
                // links take δ.
                if k.0 == 1 && [2, 3].contains(to) && *ts >= 30_000 && *ts < 200_000 {
                    assert!(*td >= ts + 37_000, "{send:?} at {td}");
                    if jitter == 0.0 {
                        assert_eq!(*td, ts + 37_000, "{send:?}");
                    }
                }
                if jitter == 0.0 && *ts < 30_000 {
                    assert_eq!(*td, ts + 10_000, "{send:?}");
                }
                // Across the partition: held until the heal.
                let across = (k.0 <= 2) != (*to <= 2);
                if across && (200_000..260_000).contains(ts) {
                    assert!(*td >= 260_000, "{send:?} crossed the partition at {td}");
                }
                let prev = last.insert((k.0, *to), *td).unwrap_or(0);
                assert!(*td >= prev, "link s{} → s{to} reordered", k.0);
            }
            // The faults, in order, with what they named.
            let faults: Vec<(u64, &str, &[u16])> = h
                .iter()
                .filter_map(|e| match e {
                    Event::Fault {
                        t_us,
                        fault,
                        servers,
                        ..
                    } => Some((*t_us, fault.as_str(), servers.as_slice())),
                    _ => None,
                })
                .collect();
            let want: [(u64, &str, &[u16]); 3] = [
                (30_000, "delay", &[1, 2, 3]),
                (200_000, "partition", &[1, 2, 3, 4]),
                (260_000, "heal", &[]),
            ];
            assert_eq!(faults, want, "{p}");
        }
    }
}

#[test]
fn a_crashed_server_receives_nothing_and_a_forced_suspicion_is_recorded_with_its_end() {
    let faults = "[[fault]]\nat_ms = 5.0\nsuspect = { by = 2, server = 1, for_ms = 40.0 }\n\
                  [[fault]]\nat_ms = 90.0\ncrash = [4]\n\
                  [[fault]]\nat_ms = 100.0\npause = [3]\n\
                  [[fault]]\nat_ms = 150.0\nresume = [3]\n";
    let s = scenario(faults, 0.0);
    let (_, out) = run(&s, ProtocolKind::SeCt);
    let h = &out.history;
    let (sends, delivers) = by_message(h);
    for (k, d) in &delivers {
        let Event::Deliver { t_us, to, .. } = d else {
            unreachable!()
        };
        assert!(sends.contains_key(k));
        assert!(
            !(*to == 4 && *t_us >= 90_000),
            "a crashed server received {d:?}"
        );
        assert!(
            !(*to == 3 && (100_000..150_000).contains(t_us)),
            "a paused server handled {d:?}"
        );
    }
    // s2 suspects s1 when forced and trusts it again once the force is over and s1 is heard.
    let fd: Vec<(&str, u16, u16, u64)> = h
        .iter()
        .filter_map(|e| match e {
            Event::Suspect { t_us, by, server } => Some(("suspect", *by, *server, *t_us)),
            Event::Trust { t_us, by, server } => Some(("trust", *by, *server, *t_us)),
            _ => None,
        })
        .collect();
    assert_eq!(fd.first(), Some(&("suspect", 2, 1, 5_000)), "{fd:?}");
    assert!(
        fd.iter()
            .any(|&(k, by, s, t)| k == "trust" && by == 2 && s == 1 && t >= 45_000),
        "{fd:?}"
    );
    // The crash of s4 is suspected by everyone left.
    let suspecting_4: BTreeSet<u16> = fd
        .iter()
        .filter(|&&(k, _, s, _)| k == "suspect" && s == 4)
        .map(|&(_, by, _, _)| by)
        .collect();
    assert_eq!(suspecting_4, BTreeSet::from([1, 2, 3]));
    // Counted as before: the summary's notes are the history's changes.
    let suspects = fd.iter().filter(|f| f.0 == "suspect").count() as u64;
    assert_eq!(
        out.notes
            .get(&ticketlab::protocol::Note::Suspected)
            .copied(),
        Some(suspects)
    );
    let kinds: Vec<&str> = h
        .iter()
        .filter_map(|e| match e {
            Event::Fault { fault, .. } => Some(fault.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["suspect", "pause", "resume"]);
}

#[test]
fn decisions_say_what_the_server_knew() {
    let s = load(include_str!("../scenarios/figure6.toml"), &[]);
    let (_, out) = run(&s, ProtocolKind::TwoPe);
    let whys: Vec<(u16, Option<u8>, String)> = out
        .history
        .iter()
        .filter_map(|e| match e {
            Event::Decide {
                server, phase, why, ..
            } => Some((*server, *phase, why.clone().expect("2PE says why"))),
            _ => None,
        })
        .collect();
    assert!(!whys.is_empty());
    for (server, phase, why) in &whys {
        match phase {
            Some(1) => assert!(why.starts_with("Phase 1: Replies = "), "s{server}: {why}"),
            Some(2) => {
                assert!(why.starts_with("Phase 2: the walk stopped at (s"), "{why}");
                assert!(why.contains("Srvs = {"), "{why}");
            }
            _ => panic!("2PE decides in a phase: {why}"),
        }
    }
    let (_, out) = run(&s, ProtocolKind::SeCt);
    assert!(out.history.iter().any(|e| matches!(
        e,
        Event::Decide { why: Some(w), .. } if w.starts_with("the first delivered message about it is s")
    )));
}
