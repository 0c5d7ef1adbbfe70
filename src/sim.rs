//! The deterministic discrete-event simulator: drives any [`Protocol`] and the [`Client`] with
//! exact δ arithmetic.
//!
//! - Time is integer microseconds; a server→server message takes exactly δ, plus a uniform draw in
//!   [0, jitter] when the scenario asks for jitter, or a per-link override from a `delay` fault.
//! - Links are FIFO: a message never arrives before an earlier one on the same link.
//! - Events are ordered by (time, sequence number): ties go to the event scheduled first. Every
//!   random draw comes from one ChaCha8 stream seeded by the run seed, so the same seed gives a
//!   byte-identical history.
//! - A crash is crash-stop: the server handles nothing more, and its messages still on the wire are
//!   lost (as in the process runtime, where a server holds outgoing messages for δ before they
//!   reach the socket, and kill -9 takes them with it).
//! - The run ends when the client has resolved every submission, no protocol message is in flight
//!   and no fault is still scheduled; heartbeats alone do not keep it alive.

use crate::history::Event;
use crate::protocol::{Control, Effect, Msg, NodeConfig, Note, Out, Protocol, ProtocolKind};
use crate::protocol::{ServerId, Ticket, Time, Timer};
use crate::scenario::{FaultAction, Scenario};
use crate::workload::{Client, ClientOut};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

/// What a simulated run produced.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub history: Vec<Event>,
    /// Heartbeats sent (not in the history, not in messages per ticket).
    pub heartbeats: u64,
    /// Internal protocol events (fast paths, fallbacks, consensus instances, suspicions).
    pub notes: BTreeMap<Note, u64>,
    /// Simulated time at the end of the run, µs.
    pub end: Time,
}

#[derive(Debug)]
enum Ev {
    Submit {
        ticket: Ticket,
        server: ServerId,
    },
    Deliver {
        from: ServerId,
        to: ServerId,
        msg: Msg,
    },
    Timer {
        node: ServerId,
        timer: Timer,
        generation: u64,
    },
    Fault(usize),
    Wake,
}

#[derive(Debug)]
struct Queued {
    at: Time,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    /// Reversed, so that `BinaryHeap` pops the earliest (time, seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct Sim<'a> {
    scenario: &'a Scenario,
    n: u16,
    now: Time,
    seq: u64,
    queue: BinaryHeap<Queued>,
    nodes: Vec<Option<Box<dyn Protocol>>>,
    crashed_at: Vec<Option<Time>>,
    timer_gen: BTreeMap<(ServerId, Timer), u64>,
    link_delay: BTreeMap<(ServerId, ServerId), Time>,
    link_last: BTreeMap<(ServerId, ServerId), Time>,
    rng: ChaCha8Rng,
    client: Client,
    in_flight: u64,
    faults_left: usize,
    out: RunOutput,
}

/// Run one protocol of `scenario` in the simulator.
pub fn run(scenario: &Scenario, protocol: ProtocolKind, seed: u64) -> RunOutput {
    let n = scenario.cluster.servers;
    let mut nodes: Vec<Option<Box<dyn Protocol>>> = vec![None];
    for me in 1..=n {
        let cfg = NodeConfig {
            me,
            n,
            heartbeat: scenario.cluster.heartbeat,
            suspect_after: scenario.cluster.suspect_after,
        };
        nodes.push(Some(protocol.build(&cfg)));
    }
    let mut sim = Sim {
        scenario,
        n,
        now: 0,
        seq: 0,
        queue: BinaryHeap::new(),
        nodes,
        crashed_at: vec![None; usize::from(n) + 1],
        timer_gen: BTreeMap::new(),
        link_delay: BTreeMap::new(),
        link_last: BTreeMap::new(),
        rng: ChaCha8Rng::seed_from_u64(seed),
        client: Client::new(scenario, seed),
        in_flight: 0,
        faults_left: scenario.faults.len(),
        out: RunOutput {
            history: Vec::new(),
            heartbeats: 0,
            notes: BTreeMap::new(),
            end: 0,
        },
    };
    sim.run();
    sim.out
}

impl Sim<'_> {
    fn push(&mut self, at: Time, ev: Ev) {
        self.seq += 1;
        self.queue.push(Queued {
            at,
            seq: self.seq,
            ev,
        });
    }

    fn run(&mut self) {
        for (i, f) in self.scenario.faults.iter().enumerate() {
            self.push(f.at, Ev::Fault(i));
        }
        for id in 1..=self.n {
            self.with_node(id, |p, now, out| p.on_start(now, out));
        }
        let outs = self.client.start(0, self.scenario.workload.concurrency);
        self.client_outs(outs);
        while let Some(q) = self.queue.pop() {
            if self.client.done() && self.in_flight == 0 && self.faults_left == 0 {
                break;
            }
            self.now = q.at;
            self.handle(q.ev);
        }
        self.out.end = self.now;
    }

    fn alive(&self, id: ServerId) -> bool {
        self.crashed_at[usize::from(id)].is_none()
    }

    fn handle(&mut self, ev: Ev) {
        let now = self.now;
        match ev {
            Ev::Submit { ticket, server } => {
                let alive = self.alive(server);
                if alive {
                    self.out.history.push(Event::Submit {
                        t_us: now,
                        ticket: ticket.clone(),
                        server,
                    });
                } else {
                    self.out.history.push(Event::Refused {
                        t_us: now,
                        ticket: ticket.clone(),
                        server,
                    });
                }
                let outs = self.client.submitted(now, &ticket, server, alive);
                self.client_outs(outs);
                if alive {
                    self.with_node(server, |p, now, out| p.on_ticket(now, ticket, out));
                }
            }
            Ev::Deliver { from, to, msg } => {
                if !matches!(msg, Msg::Heartbeat) {
                    self.in_flight -= 1;
                }
                if self.alive(to) && self.alive(from) {
                    self.with_node(to, |p, now, out| p.on_message(now, from, msg, out));
                }
            }
            Ev::Timer {
                node,
                timer,
                generation,
            } => {
                if self.timer_gen.get(&(node, timer)) == Some(&generation) {
                    self.with_node(node, |p, now, out| p.on_timer(now, timer, out));
                }
            }
            Ev::Fault(i) => {
                self.faults_left -= 1;
                match &self.scenario.faults[i].action {
                    FaultAction::Crash(servers) => {
                        for &s in servers {
                            self.crash(s);
                        }
                    }
                    FaultAction::Delay { from, to, delay } => {
                        for &f in from {
                            for &t in to {
                                if f != t {
                                    self.link_delay.insert((f, t), *delay);
                                }
                            }
                        }
                    }
                }
            }
            Ev::Wake => {
                let outs = self.client.wake(now);
                self.client_outs(outs);
            }
        }
    }

    fn crash(&mut self, s: ServerId) {
        if !self.alive(s) {
            return;
        }
        self.crashed_at[usize::from(s)] = Some(self.now);
        self.nodes[usize::from(s)] = None;
        self.out.history.push(Event::Crash {
            t_us: self.now,
            server: s,
        });
        let outs = self.client.crashed(self.now, s);
        self.client_outs(outs);
    }

    /// Forward a control command (fault injection) to a live server.
    #[allow(dead_code)]
    fn control(&mut self, s: ServerId, ctl: Control) {
        self.with_node(s, |p, now, out| p.on_control(now, ctl, out));
    }

    fn with_node(&mut self, id: ServerId, f: impl FnOnce(&mut dyn Protocol, Time, &mut Out)) {
        let Some(node) = self.nodes[usize::from(id)].as_deref_mut() else {
            return;
        };
        let mut out = Out::new(id, self.n);
        f(node, self.now, &mut out);
        for e in out.effects {
            self.effect(id, e);
        }
    }

    fn effect(&mut self, id: ServerId, e: Effect) {
        let now = self.now;
        match e {
            Effect::Send { to, msg } => {
                if matches!(msg, Msg::Heartbeat) {
                    self.out.heartbeats += 1;
                } else {
                    self.in_flight += 1;
                    self.out.history.push(Event::Send {
                        t_us: now,
                        from: id,
                        to,
                        msg: msg.kind().to_string(),
                        ticket: msg.ticket().cloned(),
                    });
                }
                let delay = match self.link_delay.get(&(id, to)) {
                    Some(d) => *d,
                    None => {
                        let jitter = self.scenario.cluster.jitter;
                        self.scenario.cluster.delta
                            + if jitter > 0 {
                                self.rng.gen_range(0..=jitter)
                            } else {
                                0
                            }
                    }
                };
                let last = self.link_last.entry((id, to)).or_insert(0);
                let at = (now + delay).max(*last);
                *last = at;
                self.push(at, Ev::Deliver { from: id, to, msg });
            }
            Effect::SetTimer { timer, after } => {
                let g = self.timer_gen.entry((id, timer)).or_insert(0);
                *g += 1;
                let generation = *g;
                self.push(
                    now + after,
                    Ev::Timer {
                        node: id,
                        timer,
                        generation,
                    },
                );
            }
            Effect::CancelTimer { timer } => {
                *self.timer_gen.entry((id, timer)).or_insert(0) += 1;
            }
            Effect::Decide {
                ticket,
                outcome,
                phase,
            } => {
                self.out.history.push(Event::Decide {
                    t_us: now,
                    ticket: ticket.clone(),
                    server: id,
                    outcome,
                    phase,
                });
                let outs = self.client.decided(now, &ticket, id);
                self.client_outs(outs);
            }
            Effect::Note(note) => *self.out.notes.entry(note).or_insert(0) += 1,
        }
    }

    fn client_outs(&mut self, outs: Vec<ClientOut>) {
        for o in outs {
            match o {
                ClientOut::Submit { at, ticket, server } => {
                    self.push(at, Ev::Submit { ticket, server })
                }
                ClientOut::WakeAt(at) => self.push(at, Ev::Wake),
            }
        }
    }
}
