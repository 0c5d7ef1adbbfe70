//! Targeted fault schedules for `ticketlab explore --nemesis`: instead of faults at random
//! times, faults aimed at the moments where consensus and two-phase bugs live. Random faults
//! rarely change a consensus round at the right instant (and almost never several times in a
//! row), so a broken locking rule can survive thousands of random runs; these schedules make
//! round changes, late acknowledgements and half-sent broadcasts the common case.
//!
//! Every schedule stays inside the protocol's fault model, like the random one: at most
//! `max_faults(n)` crashes, every delay burst ends, suspicions are false ones that end; for a
//! protocol where a false suspicion costs the suspected server (`halts_on_suspicion`), only
//! `max_faults(n)` servers are ever suspected or slowed.
//!
//! - **churn** — each server, right after it sends a consensus proposal (`after = { event =
//!   "send", msg = "C-PROPOSE" }`), is suspected by every other server for a while: the round
//!   moves on, again and again, and rotates through every coordinator, so the same server
//!   coordinates a later round while messages of its earlier one are still on the wire.
//! - **slow-acks** — every link *into* one server (a coordinator's acknowledgements) is slowed
//!   to several δ for a window, during coordinator churn: acknowledgements of an old round arrive
//!   after the round changed.
//! - **split-send** — a server crashes between the sends of one multi-send step (after its
//!   k-th message of a type, 1 ≤ k < n−1): some servers got the proposal, NEWTKT or decision,
//!   the others never will.
//! - **bursts** — random links get short delay bursts (several δ), reordering messages across
//!   links while each link stays FIFO.
//! - **stale-ack** — at n = 5, docs/PROTOCOLS.md §11's schedule with its times drawn from the
//!   seed: one ticket raced by s2 and s3; the link s2 → s1 holds s2's round-1 C-ACK while the
//!   suspicions, forced in rotation right after each coordinator's C-PROPOSE, walk the instance
//!   through rounds 1, 3 and 6 (s1 again) and 7; slow links keep each proposal from all but the
//!   servers the schedule needs. It aims at a coordinator that counts an old round's C-ACK
//!   (`ct-stale-ack`); at other sizes it is churn.

use crate::protocol::{ProtocolKind, ServerId};
use crate::scenario::{
    ms_to_us, After, EventKind, Fault, FaultAction, Scenario, ScriptedTicket, Submission,
};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::fmt;

/// Which fault schedules a campaign draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Nemesis {
    /// Faults at random times (the default campaign).
    Random,
    Churn,
    SlowAcks,
    SplitSend,
    Bursts,
    StaleAck,
}

impl Nemesis {
    /// The targeted schedules, in the order `--nemesis targeted` cycles through them.
    pub const TARGETED: &'static [Nemesis] = &[
        Nemesis::Churn,
        Nemesis::SlowAcks,
        Nemesis::SplitSend,
        Nemesis::Bursts,
        Nemesis::StaleAck,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Nemesis::Random => "random",
            Nemesis::Churn => "churn",
            Nemesis::SlowAcks => "slow-acks",
            Nemesis::SplitSend => "split-send",
            Nemesis::Bursts => "bursts",
            Nemesis::StaleAck => "stale-ack",
        }
    }
}

impl fmt::Display for Nemesis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The consensus proposal type, or the protocol's first message when it runs no consensus on
/// the failure-free path.
fn proposal_message(protocol: ProtocolKind, first: &'static str) -> &'static str {
    match protocol {
        ProtocolKind::TwoPe | ProtocolKind::TwoPeMinority | ProtocolKind::TwoPeOwnPhase2 => first,
        _ => "C-PROPOSE",
    }
}

/// Replace `base`'s faults with the schedule of `nemesis` (not `Random`), drawn from `seed`.
/// `first` is the protocol's first message type for a ticket (a crash point).
pub fn aim(
    mut base: Scenario,
    nemesis: Nemesis,
    protocol: ProtocolKind,
    first: &'static str,
    seed: u64,
) -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7A46_E7ED);
    let n = base.cluster.servers;
    let delta = base.cluster.delta;
    let ms = |v: f64| ms_to_us(v.round());
    let mut faults = Vec::new();
    // Who may look crashed: everyone, unless a false suspicion costs the suspected server its
    // life (alo-2pe), in which case only as many servers as the fault model may lose.
    let halts = protocol.halts_on_suspicion();
    let mut at_risk: Vec<ServerId> = (1..=n).collect();
    if halts {
        at_risk.shuffle(&mut rng);
        at_risk.truncate(usize::from(protocol.max_faults(n)));
        at_risk.sort_unstable();
    }
    // Contention makes every schedule bite: most tickets go to two servers at once, and a few
    // race at three or more (a Phase-2 walk with several contenders, where covered messages
    // matter).
    base.workload.duplicates = [0.5, 1.0][rng.gen_range(0..2)];
    base.workload.duplicate_gap = 0;
    if n >= 3 {
        for i in 0..rng.gen_range(1..=4) {
            let mut racers: Vec<ServerId> = (1..=n).collect();
            racers.shuffle(&mut rng);
            racers.truncate(rng.gen_range(3..=usize::from(n)));
            let at = ms(rng.gen_range(0.0..400.0));
            base.tickets.push(ScriptedTicket {
                id: format!("race{i}"),
                submit: racers
                    .into_iter()
                    .map(|server| Submission {
                        server,
                        at: at + ms(rng.gen_range(0.0..3.0)),
                    })
                    .collect(),
            });
        }
    }
    match nemesis {
        Nemesis::Random => return base,
        Nemesis::StaleAck if n == 5 => {
            stale_ack(&mut base, &mut rng, &mut faults);
        }
        Nemesis::StaleAck => return aim(base, Nemesis::Churn, protocol, first, seed),
        Nemesis::Churn | Nemesis::SlowAcks => {
            let proposal = proposal_message(protocol, first);
            for &c in &at_risk {
                // Every other server suspects c right after c's count-th proposal.
                let count = rng.gen_range(1..=3);
                for by in (1..=n).filter(|&b| b != c) {
                    if rng.gen_bool(0.8) {
                        faults.push(Fault {
                            at: 0,
                            after: Some(After {
                                server: c,
                                event: EventKind::Send(proposal.into()),
                                count,
                            }),
                            action: FaultAction::Suspect {
                                by,
                                server: c,
                                duration: ms(rng.gen_range(20.0..150.0)),
                            },
                        });
                    }
                }
            }
            // Slow links into a server make it suspect every peer: not for a protocol where that
            // costs the peers.
            if nemesis == Nemesis::SlowAcks && !halts {
                let to: ServerId = rng.gen_range(1..=n);
                let from: Vec<ServerId> = (1..=n).filter(|&s| s != to).collect();
                let start = ms(rng.gen_range(0.0..100.0));
                let slow = delta * rng.gen_range(3..=12);
                faults.push(Fault {
                    at: start,
                    after: None,
                    action: FaultAction::Delay {
                        from: from.clone(),
                        to: vec![to],
                        delay: slow,
                    },
                });
                faults.push(Fault {
                    at: start + ms(rng.gen_range(100.0..600.0)),
                    after: None,
                    action: FaultAction::Delay {
                        from,
                        to: vec![to],
                        delay: delta,
                    },
                });
            }
        }
        Nemesis::SplitSend if protocol.max_faults(n) == 0 => {
            // No crash is in this protocol's fault model at this size (GB at n = 3).
            return aim(base, Nemesis::Bursts, protocol, first, seed);
        }
        Nemesis::SplitSend => {
            let mut servers: Vec<ServerId> = (1..=n).collect();
            servers.shuffle(&mut rng);
            let crashes = usize::from(protocol.max_faults(n));
            let kinds = [
                first,
                proposal_message(protocol, first),
                "C-DECIDE",
                "C-ACK",
            ];
            for &s in servers.iter().take(rng.gen_range(1..=crashes)) {
                // Between two sends of one step: after the k-th of n−1 copies, k < n−1.
                let k = rng.gen_range(1..u32::from(n.max(3) - 1));
                let kind = kinds[rng.gen_range(0..kinds.len())];
                faults.push(Fault {
                    at: 0,
                    after: Some(After {
                        server: s,
                        event: EventKind::Send(kind.into()),
                        count: k + (n as u32 - 1) * rng.gen_range(0..3),
                    }),
                    action: FaultAction::Crash(vec![s]),
                });
            }
        }
        Nemesis::Bursts => {
            for _ in 0..rng.gen_range(2..=6) {
                // The receiver of a slow link may suspect its sender.
                let Some(&from) = at_risk.choose(&mut rng) else {
                    break;
                };
                let to = loop {
                    let t = rng.gen_range(1..=n);
                    if t != from {
                        break t;
                    }
                };
                let start = ms(rng.gen_range(0.0..400.0));
                faults.push(Fault {
                    at: start,
                    after: None,
                    action: FaultAction::Delay {
                        from: vec![from],
                        to: vec![to],
                        delay: delta * rng.gen_range(2..=8),
                    },
                });
                faults.push(Fault {
                    at: start + ms(rng.gen_range(20.0..200.0)),
                    after: None,
                    action: FaultAction::Delay {
                        from: vec![from],
                        to: vec![to],
                        delay: delta,
                    },
                });
            }
        }
    }
    base.faults = faults;
    // The schedule replaced every fault, Byzantine ones too: no quorum sized for them.
    base.cluster.byzantine_max = 0;
    base.name = format!("{}-{}", base.name, nemesis.name());
    base
}

/// The stale-ack schedule at n = 5 (docs/PROTOCOLS.md §11; `scenarios/zoo-ct-stale-ack.toml` is
/// one instance of it): times in ms at δ = 10 ms, each drawn from a window that keeps the
/// schedule's order. No spontaneous suspicion and no jitter: the forced ones make the rounds.
/// Replaces the races drawn above by one early race on instance 0 (they move 500 ms later).
fn stale_ack(base: &mut Scenario, rng: &mut ChaCha8Rng, faults: &mut Vec<Fault>) {
    let ms = |v: f64| ms_to_us((v * 10.0).round() / 10.0);
    base.cluster.jitter = 0;
    base.cluster.suspect_after = ms_to_us(100_000.0);
    base.workload.tickets = 0;
    for t in &mut base.tickets {
        for s in &mut t.submit {
            s.at += ms(500.0);
        }
    }
    // t1: m2 reaches s1 first (v = [m2]); s3's pending starts with its own m3 (w = [m3, m2]).
    base.tickets.insert(
        0,
        ScriptedTicket {
            id: "t1".into(),
            submit: vec![
                Submission { server: 2, at: 0 },
                Submission {
                    server: 3,
                    at: ms(rng.gen_range(1.0..6.0)),
                },
            ],
        },
    );
    let delay = |at: f64, from: Vec<ServerId>, to: Vec<ServerId>, d: f64| Fault {
        at: ms(at),
        after: None,
        action: FaultAction::Delay {
            from,
            to,
            delay: ms(d),
        },
    };
    // Right after s`c`'s `count`-th C-PROPOSE copy, `by` suspects `server`.
    let suspect = |c: ServerId, count: u32, by: ServerId, server: ServerId, d: f64| Fault {
        at: 0,
        after: Some(After {
            server: c,
            event: EventKind::Send("C-PROPOSE".into()),
            count,
        }),
        action: FaultAction::Suspect {
            by,
            server,
            duration: ms(d),
        },
    };
    // s2's round-1 C-ACK (sent at 20 ms) arrives after s1's round-6 proposal (≈ 55 ms).
    faults.push(delay(
        rng.gen_range(2.0..15.0),
        vec![2],
        vec![1],
        rng.gen_range(38.0..50.0),
    ));
    // Round 1 → 3 at s3, s4, s5 as soon as s1 proposed v (10 ms): only s2 locks v.
    for by in 3..=5 {
        faults.push(suspect(1, 4, by, 2, rng.gen_range(3.0..8.0)));
        faults.push(suspect(1, 4, by, 1, rng.gen_range(3.0..8.0)));
    }
    // s3's C-PROPOSE(3) (≈ 22 ms) reaches s4 and s5 stale: only s3 locks w.
    faults.push(delay(
        rng.gen_range(14.0..20.0),
        vec![3],
        vec![4, 5],
        rng.gen_range(80.0..150.0),
    ));
    // Rounds 3, 4, 5 → 6 at s1 and s2 right after s3 proposed w.
    for by in 1..=2 {
        for server in 3..=5 {
            faults.push(suspect(3, 4, by, server, rng.gen_range(15.0..30.0)));
        }
    }
    // s4's and s5's round-6 estimates (≈ 35 ms) reach s1 after s3's (≈ 45 ms); their later
    // messages only after s1 decided.
    faults.push(delay(
        rng.gen_range(27.0..33.0),
        vec![4, 5],
        vec![1],
        rng.gen_range(18.0..24.0),
    ));
    faults.push(delay(
        rng.gen_range(40.0..50.0),
        vec![4, 5],
        vec![1],
        rng.gen_range(80.0..150.0),
    ));
    // s1's round-6 C-PROPOSE and its DECIDE reach s2, s4, s5 stale.
    faults.push(delay(
        rng.gen_range(45.0..52.0),
        vec![1],
        vec![2, 4, 5],
        rng.gen_range(80.0..150.0),
    ));
    // Round 6 → 7 at s2, s4, s5 right after s1 proposed w (its 8th C-PROPOSE copy).
    for by in [2, 4, 5] {
        faults.push(suspect(1, 8, by, 1, rng.gen_range(3.0..8.0)));
    }
}

/// What `explore --nemesis` asked for: one schedule for every run, or the targeted ones in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedules {
    One(Nemesis),
    /// Seed k runs `TARGETED[k mod 5]`.
    Targeted,
}

impl Schedules {
    /// The schedule of the run with this seed.
    pub fn pick(self, seed: u64) -> Nemesis {
        match self {
            Schedules::One(n) => n,
            Schedules::Targeted => {
                Nemesis::TARGETED[(seed % Nemesis::TARGETED.len() as u64) as usize]
            }
        }
    }
}
