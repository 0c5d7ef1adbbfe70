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
//!   lost (as in the process runtime, where a receiver holds each message until its release
//!   instant and drops what it holds from a server whose connection a kill -9 closed).
//! - The run ends when the client has resolved every submission, no protocol message is in flight
//!   and no timed fault is still scheduled; heartbeats alone do not keep it alive.
//! - Faults: links are shaped by [`LinkModel`] (delay overrides, partitions and blocks whose
//!   messages wait for the heal, loss with retransmission); a paused server's inputs (messages,
//!   timers, submissions) wait, in order, until it resumes; a crash can fire right after a
//!   protocol event at a server (`after = {..}`), in which case the rest of that server's effects
//!   from the same step are lost with it; a forced suspicion goes to the server's failure
//!   detector as a [`Control`] input.

use crate::history::Event;
use crate::netmodel::LinkModel;
use crate::protocol::Outcome;
use crate::protocol::{Control, Effect, Msg, NodeConfig, Note, Out, Protocol, ProtocolKind};
use crate::protocol::{ServerId, Ticket, Time, Timer};
use crate::scenario::{EventKind, FaultAction, Scenario};
use crate::workload::{Client, ClientOut};
use rand::SeedableRng;
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
    /// Transmissions lost on lossy links and retransmitted (not in messages per ticket).
    pub retransmissions: u64,
}

#[derive(Debug)]
enum Ev {
    /// A user hands a ticket to a server.
    Submit {
        ticket: Ticket,
        server: ServerId,
    },
    /// The server takes it in (at once, or when it resumes).
    Receive {
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
    links: LinkModel,
    link_last: BTreeMap<(ServerId, ServerId), Time>,
    /// Messages waiting on a cut link, per link, in send order.
    held: BTreeMap<(ServerId, ServerId), Vec<Msg>>,
    /// Inputs of paused servers, in arrival order.
    paused: BTreeMap<ServerId, Vec<Ev>>,
    /// Event-triggered faults not fired yet: (fault index, events seen so far).
    triggers: Vec<(usize, u32)>,
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
        links: LinkModel::new(scenario.cluster.delta, scenario.cluster.jitter),
        link_last: BTreeMap::new(),
        held: BTreeMap::new(),
        paused: BTreeMap::new(),
        triggers: (0..scenario.faults.len())
            .filter(|&i| scenario.faults[i].after.is_some())
            .map(|i| (i, 0))
            .collect(),
        rng: ChaCha8Rng::seed_from_u64(seed),
        client: Client::new(scenario, seed),
        in_flight: 0,
        faults_left: scenario.faults.iter().filter(|f| f.after.is_none()).count(),
        out: RunOutput {
            history: Vec::new(),
            heartbeats: 0,
            notes: BTreeMap::new(),
            end: 0,
            retransmissions: 0,
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
            if f.after.is_none() {
                self.push(f.at, Ev::Fault(i));
            }
        }
        for id in 1..=self.n {
            self.with_node(id, |p, now, out| p.on_start(now, out));
        }
        let outs = self.client.start(0, self.scenario.workload.concurrency);
        self.client_outs(outs);
        // Once the users are done and no timed fault is left, protocol stragglers get at most one
        // deadline to drain (messages held on a link that never heals, or sent to a server that
        // never resumes, would otherwise keep the run alive forever).
        let mut drain_until: Option<Time> = None;
        while let Some(q) = self.queue.pop() {
            if self.client.done() && self.faults_left == 0 {
                if self.in_flight == 0 {
                    break;
                }
                let limit = *drain_until.get_or_insert(self.now + self.scenario.workload.deadline);
                if q.at > limit {
                    break;
                }
            }
            self.now = q.at;
            self.handle(q.ev);
        }
        self.out.end = self.now;
    }

    fn alive(&self, id: ServerId) -> bool {
        self.crashed_at[usize::from(id)].is_none()
    }

    /// The server an event is an input of, if any.
    fn input_of(ev: &Ev) -> Option<ServerId> {
        match ev {
            Ev::Receive { server, .. } => Some(*server),
            Ev::Deliver { to, .. } => Some(*to),
            Ev::Timer { node, .. } => Some(*node),
            Ev::Submit { .. } | Ev::Fault(_) | Ev::Wake => None,
        }
    }

    fn handle(&mut self, ev: Ev) {
        let now = self.now;
        if let Some(node) = Self::input_of(&ev) {
            if self.alive(node) {
                if let Some(waiting) = self.paused.get_mut(&node) {
                    waiting.push(ev);
                    return;
                }
            }
        }
        match ev {
            Ev::Submit { ticket, server } => {
                // The user hands the ticket over now (its deadline runs from here); the server
                // receives it now, or when it resumes if it is paused.
                let alive = self.alive(server);
                if !alive {
                    self.out.history.push(Event::Refused {
                        t_us: now,
                        ticket: ticket.clone(),
                        server,
                    });
                }
                let outs = self.client.submitted(now, &ticket, server, alive);
                self.client_outs(outs);
                if alive {
                    self.handle(Ev::Receive { ticket, server });
                }
            }
            Ev::Receive { ticket, server } => {
                self.out.history.push(Event::Submit {
                    t_us: now,
                    ticket: ticket.clone(),
                    server,
                });
                self.with_node(server, |p, now, out| p.on_ticket(now, ticket, out));
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
                self.fault(i);
            }
            Ev::Wake => {
                let outs = self.client.wake(now);
                self.client_outs(outs);
            }
        }
    }

    fn fault(&mut self, i: usize) {
        let action = &self.scenario.faults[i].action;
        match action {
            FaultAction::Crash(servers) => {
                for &s in servers {
                    self.crash(s);
                }
            }
            FaultAction::Pause(servers) => {
                for &s in servers {
                    if self.alive(s) {
                        self.paused.entry(s).or_default();
                    }
                }
            }
            FaultAction::Resume(servers) => {
                for &s in servers {
                    // Its waiting inputs go first, in order, before anything newer.
                    for ev in self.paused.remove(&s).unwrap_or_default() {
                        self.push(self.now, ev);
                    }
                }
            }
            FaultAction::Suspect {
                by,
                server,
                duration,
            } => {
                let ctl = Control::Suspect {
                    server: *server,
                    until: self.now + duration,
                };
                self.with_node(*by, |p, now, out| p.on_control(now, ctl, out));
            }
            FaultAction::Delay { .. }
            | FaultAction::Loss { .. }
            | FaultAction::Block { .. }
            | FaultAction::Partition(_)
            | FaultAction::Heal => {
                if self.links.apply(action) {
                    self.release_held();
                }
            }
        }
    }

    /// After a heal: every message that waited on a now open link leaves, in send order.
    fn release_held(&mut self) {
        let held = std::mem::take(&mut self.held);
        for ((from, to), msgs) in held {
            for msg in msgs {
                self.transmit(from, to, msg);
            }
        }
    }

    /// Count the event toward event-triggered faults; fire those whose count is reached.
    fn observe(&mut self, server: ServerId, effect: &Effect) {
        let mut fire = Vec::new();
        for (i, seen) in self.triggers.iter_mut() {
            let after = self.scenario.faults[*i]
                .after
                .as_ref()
                .expect("event-triggered");
            if after.server != server {
                continue;
            }
            let hit = match (&after.event, effect) {
                (
                    EventKind::Accept,
                    Effect::Decide {
                        outcome: Outcome::Accept,
                        ..
                    },
                ) => true,
                (
                    EventKind::Reject,
                    Effect::Decide {
                        outcome: Outcome::Reject,
                        ..
                    },
                ) => true,
                (EventKind::Decide, Effect::Decide { .. }) => true,
                (EventKind::Send(kind), Effect::Send { msg, .. }) => msg.kind() == kind,
                _ => false,
            };
            if hit {
                *seen += 1;
                if *seen == after.count {
                    fire.push(*i);
                }
            }
        }
        self.triggers.retain(|(i, _)| !fire.contains(i));
        for i in fire {
            self.fault(i);
        }
    }

    fn crash(&mut self, s: ServerId) {
        if !self.alive(s) {
            return;
        }
        self.crashed_at[usize::from(s)] = Some(self.now);
        self.nodes[usize::from(s)] = None;
        self.paused.remove(&s);
        self.out.history.push(Event::Crash {
            t_us: self.now,
            server: s,
        });
        let outs = self.client.crashed(self.now, s);
        self.client_outs(outs);
    }

    fn with_node(&mut self, id: ServerId, f: impl FnOnce(&mut dyn Protocol, Time, &mut Out)) {
        let Some(node) = self.nodes[usize::from(id)].as_deref_mut() else {
            return;
        };
        let mut out = Out::new(id, self.n);
        f(node, self.now, &mut out);
        for e in out.effects {
            if !self.alive(id) {
                break; // crashed right after an earlier effect of this step
            }
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
                let trigger = !self.triggers.is_empty();
                let observed = trigger.then(|| Effect::Send {
                    to,
                    msg: msg.clone(),
                });
                self.transmit(id, to, msg);
                if let Some(e) = observed {
                    self.observe(id, &e);
                }
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
                if !self.triggers.is_empty() {
                    self.observe(
                        id,
                        &Effect::Decide {
                            ticket,
                            outcome,
                            phase,
                        },
                    );
                }
            }
            Effect::Note(note) => *self.out.notes.entry(note).or_insert(0) += 1,
        }
    }

    /// Put a message on the wire, or hold it while its link is cut. FIFO per link either way.
    fn transmit(&mut self, from: ServerId, to: ServerId, msg: Msg) {
        if self.links.is_cut(from, to) {
            self.held.entry((from, to)).or_default().push(msg);
            return;
        }
        let transit = self.links.transit(from, to, &mut self.rng);
        self.out.retransmissions += u64::from(transit.retransmissions);
        let last = self.link_last.entry((from, to)).or_insert(0);
        let at = (self.now + transit.time).max(*last);
        *last = at;
        self.push(at, Ev::Deliver { from, to, msg });
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
