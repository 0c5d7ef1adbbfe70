//! The deterministic discrete-event simulator: drives any [`Protocol`] and the [`Client`](crate::workload::Client) with
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
//!   detector as a [`Control`](crate::protocol::Control) input.

use crate::history::{detector_event, Event};
use crate::lab::byzantine;
use crate::lab::driver::{Action, Command, Driver};
use crate::lab::netmodel::LinkModel;
use crate::lab::record::Recorder;
use crate::lab::tickets::{Issuer, Verifier};
use crate::lab::triggers::{Seen, Trigger, Triggers};
use crate::lab::{RunOutput, RunResult, Runtime, SimWork, Stop};
use crate::protocol::{Effect, Msg, NodeConfig, Out, Protocol, ProtocolKind};
use crate::protocol::{ServerId, Ticket, Time, Timer};
use crate::scenario::{Mode, Scenario};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

/// The simulator as a [`Runtime`]: runs are pure functions of (scenario, protocol, seed), so any
/// number may run at once, one per core.
#[derive(Clone, Copy, Debug, Default)]
pub struct Simulator;

impl Runtime for Simulator {
    fn mode(&self) -> Mode {
        Mode::Sim
    }

    fn parallelism(&self) -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    fn run(&self, scenario: &Scenario, protocol: ProtocolKind, seed: u64) -> RunResult {
        RunResult {
            output: run(scenario, protocol, seed),
            stop: None,
        }
    }

    /// Streams: a simulated run can be millions of events long.
    fn run_to(
        &self,
        scenario: &Scenario,
        protocol: ProtocolKind,
        seed: u64,
        history: &std::path::Path,
    ) -> RunResult {
        match Recorder::stream(history, scenario) {
            Ok(recorder) => RunResult {
                output: run_with(scenario, protocol, seed, recorder),
                stop: None,
            },
            Err(e) => RunResult {
                output: RunOutput::default(),
                stop: Some(Stop::Failed(anyhow::anyhow!(
                    "cannot write {}: {e}",
                    history.display()
                ))),
            },
        }
    }
}

#[derive(Debug)]
enum Ev {
    /// Something the users or the fault injector do (see [`Driver::fire`]).
    Action(Action),
    /// A server takes a ticket in (at once, or when it resumes).
    Receive {
        ticket: Ticket,
        server: ServerId,
        /// The ticket as the user holds it: verified before the protocol sees `ticket`.
        signed: String,
    },
    Deliver {
        from: ServerId,
        to: ServerId,
        msg: Msg,
        /// The sender's number for it (the history's `seq`).
        seq: u64,
    },
    Timer {
        node: ServerId,
        timer: Timer,
        generation: u64,
    },
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
    timer_gen: BTreeMap<(ServerId, Timer), u64>,
    links: LinkModel,
    link_last: BTreeMap<(ServerId, ServerId), Time>,
    /// Messages waiting on a cut link, per link, in send order, with their `seq`.
    held: BTreeMap<(ServerId, ServerId), Vec<(Msg, u64)>>,
    /// Each server's next message number (index 0 unused).
    sent: Vec<u64>,
    /// Inputs of paused servers, in arrival order.
    paused: BTreeMap<ServerId, Vec<Ev>>,
    triggers: Triggers,
    rng: ChaCha8Rng,
    driver: Driver<'a>,
    /// Events handled so far.
    events: u64,
    /// The issuer's public key every server verifies tickets with.
    verifier: Verifier,
    in_flight: u64,
    out: RunOutput,
}

/// Run one protocol of `scenario` in the simulator, its history kept in memory.
pub fn run(scenario: &Scenario, protocol: ProtocolKind, seed: u64) -> RunOutput {
    run_with(scenario, protocol, seed, Recorder::default())
}

/// Run one protocol of `scenario` in the simulator, its history recorded by `recorder`.
pub fn run_with(
    scenario: &Scenario,
    protocol: ProtocolKind,
    seed: u64,
    recorder: Recorder,
) -> RunOutput {
    let started = std::time::Instant::now();
    let n = scenario.cluster.servers;
    let mut nodes: Vec<Option<Box<dyn Protocol>>> = vec![None];
    for me in 1..=n {
        let cfg = NodeConfig {
            me,
            n,
            heartbeat: scenario.cluster.heartbeat,
            suspect_after: scenario.cluster.suspect_after,
            seed,
            delta: scenario.cluster.delta,
            byzantine: scenario.cluster.byzantine_for(protocol),
        };
        let role = byzantine::role(scenario, me);
        nodes.push(Some(byzantine::build(protocol, &cfg, role)));
    }
    let mut sim = Sim {
        scenario,
        n,
        now: 0,
        seq: 0,
        queue: BinaryHeap::new(),
        nodes,
        timer_gen: BTreeMap::new(),
        links: LinkModel::new(scenario.cluster.delta, scenario.cluster.jitter),
        link_last: BTreeMap::new(),
        held: BTreeMap::new(),
        sent: vec![0; usize::from(n) + 1],
        paused: BTreeMap::new(),
        triggers: Triggers::new(Trigger::of(&scenario.faults, None)),
        rng: ChaCha8Rng::seed_from_u64(seed),
        driver: Driver::new(scenario, seed),
        events: 0,
        verifier: Issuer::derive(seed).verifier(),
        in_flight: 0,
        out: RunOutput::default(),
    };
    sim.driver.record_with(recorder);
    sim.run();
    let Sim {
        driver,
        mut out,
        events,
        ..
    } = sim;
    out.load = driver.load();
    (out.history, out.streamed) = driver.into_recorder().finish();
    out.sim = Some(SimWork {
        wall_us: started.elapsed().as_micros() as u64,
        events,
    });
    out
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
        let faults = self.driver.faults();
        self.exec(faults);
        for id in 1..=self.n {
            self.with_node(id, |p, now, out| p.on_start(now, out));
        }
        let users = self.driver.start(0);
        self.exec(users);
        // Once the users are done and no timed fault is left, protocol stragglers get at most one
        // deadline to drain (messages held on a link that never heals, or sent to a server that
        // never resumes, would otherwise keep the run alive forever).
        let mut drain_until: Option<Time> = None;
        while let Some(q) = self.queue.pop() {
            if self.driver.done() {
                if self.in_flight == 0 {
                    break;
                }
                let limit = *drain_until.get_or_insert(self.now + self.scenario.workload.deadline);
                if q.at > limit {
                    break;
                }
            }
            self.now = q.at;
            self.events += 1;
            self.handle(q.ev);
        }
        self.out.end = self.now;
    }

    fn alive(&self, id: ServerId) -> bool {
        !self.driver.is_crashed(id)
    }

    /// The server an event is an input of, if any.
    fn input_of(ev: &Ev) -> Option<ServerId> {
        match ev {
            Ev::Receive { server, .. } => Some(*server),
            Ev::Deliver { to, .. } => Some(*to),
            Ev::Timer { node, .. } => Some(*node),
            Ev::Action(_) => None,
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
            Ev::Action(action) => {
                let cmds = self.driver.fire(now, action);
                self.exec(cmds);
            }
            Ev::Receive {
                ticket,
                server,
                signed,
            } => {
                // Verification is instantaneous here: simulated time is δ-only.
                match self.verifier.check(&signed, now) {
                    Ok(_) => {
                        self.driver.record(Event::Submit {
                            t_us: now,
                            ticket: ticket.clone(),
                            server,
                        });
                        self.with_node(server, |p, now, out| p.on_ticket(now, ticket, out));
                    }
                    Err((_, reason)) => {
                        self.driver.record(Event::Refused {
                            t_us: now,
                            ticket: ticket.clone(),
                            server,
                            reason: Some(reason),
                        });
                        let cmds = self.driver.rejected(now, &ticket, server);
                        self.exec(cmds);
                    }
                }
            }
            Ev::Deliver { from, to, msg, seq } => {
                let counted = !matches!(msg, Msg::Heartbeat);
                if counted {
                    self.in_flight -= 1;
                }
                if self.alive(to) && self.alive(from) {
                    if counted {
                        self.driver.record(Event::Deliver {
                            t_us: now,
                            from,
                            to,
                            msg: msg.kind().to_string(),
                            seq,
                        });
                    }
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
        }
    }

    /// Carry out the driver's commands, in order.
    fn exec(&mut self, cmds: Vec<Command>) {
        for cmd in cmds {
            match cmd {
                Command::Schedule { at, action } => self.push(at, Ev::Action(action)),
                // The server receives it now, or when it resumes if it is paused.
                Command::Deliver {
                    ticket,
                    server,
                    signed,
                } => self.handle(Ev::Receive {
                    ticket,
                    server,
                    signed,
                }),
                Command::Crash(s) => {
                    self.nodes[usize::from(s)] = None;
                    self.paused.remove(&s);
                }
                Command::Pause(s) => {
                    self.paused.entry(s).or_default();
                }
                Command::Resume(s) => {
                    // Its waiting inputs go first, in order, before anything newer.
                    for ev in self.paused.remove(&s).unwrap_or_default() {
                        self.push(self.now, ev);
                    }
                }
                Command::Control { server, control } => {
                    self.with_node(server, |p, now, out| p.on_control(now, control, out));
                }
                Command::Link(action) => {
                    if self.links.apply(&action) {
                        self.release_held();
                    }
                }
            }
        }
    }

    /// After a heal: every message that waited on a now open link leaves, in send order.
    fn release_held(&mut self) {
        let held = std::mem::take(&mut self.held);
        for ((from, to), msgs) in held {
            for (msg, seq) in msgs {
                self.transmit(from, to, msg, seq);
            }
        }
    }

    /// Count an executed event toward event-triggered faults; carry out those that fire.
    fn observe(&mut self, server: ServerId, seen: Seen) {
        for fault in self.triggers.observe(server, seen) {
            let cmds = self
                .driver
                .triggered(fault as usize, server, self.now, self.now);
            self.exec(cmds);
        }
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
                let kind = msg.kind();
                let mut seq = 0;
                if matches!(msg, Msg::Heartbeat) {
                    self.out.heartbeats += 1;
                } else {
                    self.in_flight += 1;
                    let next = &mut self.sent[usize::from(id)];
                    seq = *next;
                    *next += 1;
                    self.driver.record(Event::Send {
                        t_us: now,
                        from: id,
                        to,
                        msg: kind.to_string(),
                        ticket: msg.ticket().cloned(),
                        seq,
                    });
                }
                self.transmit(id, to, msg, seq);
                if !self.triggers.is_empty() {
                    self.observe(id, Seen::Send(kind));
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
                why,
            } => {
                self.driver.record(Event::Decide {
                    t_us: now,
                    ticket: ticket.clone(),
                    server: id,
                    outcome,
                    phase,
                    why,
                });
                let cmds = self.driver.decided(now, &ticket, id);
                self.exec(cmds);
                if !self.triggers.is_empty() {
                    self.observe(id, Seen::Decide(outcome));
                }
            }
            Effect::Note { note, by } => *self.out.notes.entry(note).or_insert(0) += by,
            Effect::Detector { server, suspects } => {
                let (note, event) = detector_event(now, id, server, suspects);
                *self.out.notes.entry(note).or_insert(0) += 1;
                self.driver.record(event);
            }
            Effect::Halt => {
                let cmds = self.driver.halted(id, now);
                self.exec(cmds);
            }
        }
    }

    /// Put a message on the wire, or hold it while its link is cut. FIFO per link either way.
    fn transmit(&mut self, from: ServerId, to: ServerId, msg: Msg, seq: u64) {
        if self.links.is_cut(from, to) {
            self.held.entry((from, to)).or_default().push((msg, seq));
            return;
        }
        let transit = self.links.transit(from, to, &mut self.rng);
        self.out.retransmissions += u64::from(transit.retransmissions);
        let last = self.link_last.entry((from, to)).or_insert(0);
        let at = (self.now + transit.time).max(*last);
        *last = at;
        self.push(at, Ev::Deliver { from, to, msg, seq });
    }
}
