//! The users: a deterministic client state machine shared by both runtimes.
//!
//! It issues the scenario's generated tickets in a closed loop (`concurrency` in flight, `think`
//! between a ticket's resolution and the slot's next submission) or, with `workload.rate`, in an
//! open loop (one ticket per arrival of an [`ArrivalClock`], whatever the cluster answers), lets
//! a malicious user submit a fraction of them to a second server `duplicate_gap` later, and
//! replays the scripted `[[ticket]]` submissions at their times. Like the protocols it does no
//! I/O: the runtime tells it what happened (`submitted`, `answered`, `crashed`, `wake`,
//! `arrive`) and it answers with [`ClientOut`]s.
//!
//! A submission is *resolved* when its server decides the ticket, when that server crashes, or when
//! the deadline passes (`deadline` after the ticket's last submission). A generated ticket frees its
//! slot when all its submissions are resolved. Every random choice (target server, duplicates) is
//! drawn per ticket from the run seed, so every protocol of a scenario sees the same workload.
//! Users do not submit to a server they know crashed (their connection is refused): a generated
//! ticket aimed at a crashed server goes to the next live one.
//!
//! Every submission remembers its *intended* time — when its user meant to hand it over (the
//! arrival, the slot's turn, the scripted instant), not when the runtime got round to it — and a
//! server's answer reports it back ([`Answer`]): client latency counts from there, so a stalled
//! cluster or a late runtime cannot hide its queue (no coordinated omission).

use crate::protocol::{ServerId, Ticket, Time};
use crate::scenario::{generated_ticket_id, Arrivals, OpenLoop, Scenario, SubmitTo};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};

/// What the client asks the runtime to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientOut {
    /// Hand `ticket` to `server` at time `at` (≥ now).
    Submit {
        at: Time,
        ticket: Ticket,
        server: ServerId,
    },
    /// Call [`Client::wake`] at `at` (a deadline to check).
    WakeAt(Time),
    /// Call [`Client::arrive`] at `at` (the open loop's next arrival).
    ArriveAt(Time),
}

/// A server's answer to one submission, as its user saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// When the user meant to submit (µs): client latency counts from here.
    pub intended: Time,
    /// The ticket's first answer (a ticket submitted twice can get two).
    pub first: bool,
}

/// The latest time an arrival may be given, µs (`MAX_MS`): keeps sums of times far from
/// `Time::MAX` whatever the rate.
const LATEST_US: f64 = crate::scenario::MAX_MS * 1000.0;

/// The open loop's arrival instants, from `start`: `uniform` every 1/rate s exactly (the k-th at
/// start + round(k / rate)), `poisson` with exponential gaps of mean 1/rate drawn from the run
/// seed (its own stream: the same seed gives the same arrivals, whatever else is drawn). The
/// first arrival is at `start`.
#[derive(Clone, Debug)]
pub struct ArrivalClock {
    rng: ChaCha8Rng,
    open: OpenLoop,
    start: Time,
    /// Arrivals handed out so far.
    k: u64,
    /// The next arrival, µs after `start`, unrounded.
    offset: f64,
}

impl ArrivalClock {
    pub fn new(open: OpenLoop, seed: u64, start: Time) -> Self {
        ArrivalClock {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0xA221_7A15_0000_0002),
            open,
            start,
            k: 0,
            offset: 0.0,
        }
    }
}

impl Iterator for ArrivalClock {
    type Item = Time;

    /// The next arrival instant, µs.
    fn next(&mut self) -> Option<Time> {
        let at = (self.start as f64 + self.offset.round()).min(LATEST_US) as Time;
        self.k += 1;
        let mean_us = 1e6 / self.open.rate;
        self.offset = match self.open.arrivals {
            Arrivals::Uniform => self.k as f64 * mean_us,
            // Inverse transform: 1 − u is in (0, 1], so the logarithm is finite.
            Arrivals::Poisson => self.offset - (1.0 - self.rng.gen::<f64>()).ln() * mean_us,
        };
        Some(at)
    }
}

/// The open loop's progress: the clock, the next arrival's intended time, and what the offered
/// rate is measured on (the arrivals after the first 10% of the generated tickets).
#[derive(Debug)]
struct OpenState {
    clock: ArrivalClock,
    next_at: Time,
    arrived: u64,
    /// Arrivals that are the warm-up: the first 10% of the generated tickets.
    warmup: u64,
    /// The intended time of the warm-up's last arrival (the first without a warm-up), and of
    /// the latest.
    measured_from: Option<Time>,
    last: Time,
}

#[derive(Debug)]
struct Plan {
    primary: ServerId,
    duplicate: Option<ServerId>,
}

/// A submission not resolved yet.
#[derive(Debug)]
struct Open {
    server: ServerId,
    /// Its deadline, once submitted.
    deadline: Option<Time>,
    /// When its user meant to submit (a retry at another server keeps the first intent).
    intended: Time,
}

#[derive(Debug)]
struct InFlight {
    /// Submissions not resolved yet. A server may appear twice (a scripted resubmission to the
    /// same server).
    open: Vec<Open>,
    /// Whether this ticket holds a closed-loop slot (or is an open-loop arrival).
    generated: bool,
    /// Whether some server's answer reached a user already.
    answered: bool,
}

#[derive(Debug)]
pub struct Client {
    n: u16,
    think: Time,
    deadline: Time,
    duplicate_gap: Time,
    plans: Vec<Plan>,
    next: usize,
    crashed: BTreeSet<ServerId>,
    flights: BTreeMap<Ticket, InFlight>,
    scripted: Vec<(Time, Ticket, ServerId)>,
    stop_at_first_timeout: bool,
    /// The open loop, when `workload.rate` is set (arrivals start with [`Client::start`]).
    open_loop: Option<OpenLoop>,
    seed: u64,
    arrivals: Option<OpenState>,
}

impl Client {
    pub fn new(scenario: &Scenario, seed: u64) -> Self {
        let n = scenario.cluster.servers;
        let w = &scenario.workload;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_C11E_0000_0001);
        let plans = (0..w.tickets)
            .map(|i| {
                let primary = match &w.submit_to {
                    SubmitTo::Random => rng.gen_range(1..=n),
                    SubmitTo::RoundRobin => (i % u64::from(n)) as ServerId + 1,
                    SubmitTo::Servers(list) => list[rng.gen_range(0..list.len())],
                };
                let dup = n > 1 && rng.gen_bool(w.duplicates.clamp(0.0, 1.0));
                let duplicate = dup.then(|| {
                    let other = rng.gen_range(1..n);
                    if other >= primary {
                        other + 1
                    } else {
                        other
                    }
                });
                Plan { primary, duplicate }
            })
            .collect();
        let mut scripted: Vec<(Time, Ticket, ServerId)> = scenario
            .tickets
            .iter()
            .flat_map(|t| {
                t.submit
                    .iter()
                    .map(|s| (s.at, Ticket(t.id.clone()), s.server))
            })
            .collect();
        scripted.sort_by_key(|s| s.0);
        Client {
            n,
            think: w.think,
            deadline: w.deadline,
            duplicate_gap: w.duplicate_gap,
            plans,
            next: 0,
            crashed: BTreeSet::new(),
            flights: BTreeMap::new(),
            scripted,
            stop_at_first_timeout: w.stop_at_first_timeout,
            open_loop: w.open,
            seed,
            arrivals: None,
        }
    }

    /// The initial submissions: every scripted one and the first `concurrency` generated tickets
    /// (closed loop), or the first arrival (open loop: `concurrency` is not used).
    pub fn start(&mut self, now: Time, concurrency: u32) -> Vec<ClientOut> {
        let mut out = Vec::new();
        for (at, ticket, server) in self.scripted.clone() {
            let f = self.flights.entry(ticket.clone()).or_insert(InFlight {
                open: Vec::new(),
                generated: false,
                answered: false,
            });
            f.open.push(Open {
                server,
                deadline: None,
                intended: now + at,
            });
            out.push(ClientOut::Submit {
                at: now + at,
                ticket,
                server,
            });
        }
        if let Some(open) = self.open_loop {
            let mut clock = ArrivalClock::new(open, self.seed, now);
            let first = clock.next().unwrap_or(now);
            self.arrivals = Some(OpenState {
                clock,
                next_at: first,
                arrived: 0,
                warmup: self.plans.len() as u64 / 10,
                measured_from: None,
                last: first,
            });
            if !self.plans.is_empty() {
                out.push(ClientOut::ArriveAt(first));
            }
            return out;
        }
        for _ in 0..concurrency {
            self.issue(now, now, &mut out);
        }
        out
    }

    /// The open loop's arrival came due (at `now`, its intended time or later): the next
    /// generated ticket is submitted, and the next arrival scheduled.
    pub fn arrive(&mut self, now: Time) -> Vec<ClientOut> {
        let mut out = Vec::new();
        let Some(a) = self.arrivals.as_mut() else {
            return out;
        };
        if self.next >= self.plans.len() {
            return out;
        }
        let intended = a.next_at;
        a.arrived += 1;
        // The warm-up's last arrival (the first one without a warm-up) starts the interval.
        if a.arrived == a.warmup.max(1) {
            a.measured_from = Some(intended);
        }
        a.last = intended;
        a.next_at = a.clock.next().unwrap_or(intended);
        let next_at = a.next_at;
        self.issue(intended, now, &mut out);
        if self.next < self.plans.len() {
            out.push(ClientOut::ArriveAt(next_at.max(now)));
        }
        out
    }

    /// The open loop's offered load: arrivals per second after the warm-up (the first 10% of
    /// the generated tickets: from the warm-up's last arrival to the last one, as throughput
    /// counts from the warm-up's last answer), measured on their intended times — the realized rate of the
    /// arrivals (`workload.rate` is the configured one). `None` in the closed loop, or with
    /// fewer than two arrivals after the warm-up.
    pub fn offered_per_s(&self) -> Option<f64> {
        let a = self.arrivals.as_ref()?;
        let from = a.measured_from?;
        let gaps = a.arrived.checked_sub(a.warmup.max(1)).filter(|&g| g > 0)?;
        (a.last > from).then(|| gaps as f64 * 1e6 / (a.last - from) as f64)
    }

    fn live_from(&self, s: ServerId) -> Option<ServerId> {
        (0..self.n)
            .map(|d| (s - 1 + d) % self.n + 1)
            .find(|c| !self.crashed.contains(c))
    }

    /// The next generated ticket, meant for `intended` (submitted then, or now if later).
    fn issue(&mut self, intended: Time, now: Time, out: &mut Vec<ClientOut>) {
        let Some(plan) = self.plans.get(self.next) else {
            return;
        };
        self.next += 1;
        let ticket = Ticket(generated_ticket_id(self.next as u64));
        let Some(primary) = self.live_from(plan.primary) else {
            return;
        };
        let at = intended.max(now);
        let mut open = vec![Open {
            server: primary,
            deadline: None,
            intended,
        }];
        out.push(ClientOut::Submit {
            at,
            ticket: ticket.clone(),
            server: primary,
        });
        if let Some(d) = plan.duplicate.and_then(|d| self.live_from(d)) {
            if d != primary {
                open.push(Open {
                    server: d,
                    deadline: None,
                    intended: intended + self.duplicate_gap,
                });
                out.push(ClientOut::Submit {
                    at: at + self.duplicate_gap,
                    ticket: ticket.clone(),
                    server: d,
                });
            }
        }
        self.flights.insert(
            ticket,
            InFlight {
                open,
                generated: true,
                answered: false,
            },
        );
    }

    /// The runtime handed `ticket` to `server` at `now` (or found it crashed: `accepted = false`).
    pub fn submitted(
        &mut self,
        now: Time,
        ticket: &Ticket,
        server: ServerId,
        accepted: bool,
    ) -> Vec<ClientOut> {
        let mut out = Vec::new();
        let deadline = now + self.deadline;
        if let Some(f) = self.flights.get_mut(ticket) {
            let slot = f
                .open
                .iter()
                .position(|o| o.server == server && o.deadline.is_none());
            match (slot, accepted) {
                (Some(i), true) => {
                    f.open[i].deadline = Some(deadline);
                    // The deadline counts from the ticket's last submission.
                    for o in f.open.iter_mut() {
                        if let Some(d) = &mut o.deadline {
                            *d = (*d).max(deadline);
                        }
                    }
                    out.push(ClientOut::WakeAt(deadline));
                }
                (Some(i), false) => {
                    let refused = f.open.remove(i);
                    // A user whose connection is refused tries the next live server (generated
                    // tickets only: scripted submissions are exactly what the scenario says).
                    if f.generated {
                        let others: Vec<ServerId> = f.open.iter().map(|o| o.server).collect();
                        let next = (1..self.n)
                            .map(|d| (server - 1 + d) % self.n + 1)
                            .find(|c| !self.crashed.contains(c) && !others.contains(c));
                        if let Some(next) = next {
                            f.open.push(Open {
                                server: next,
                                deadline: None,
                                intended: refused.intended,
                            });
                            out.push(ClientOut::Submit {
                                at: now,
                                ticket: ticket.clone(),
                                server: next,
                            });
                        }
                    }
                }
                (None, _) => {}
            }
        }
        self.settle(now, ticket, &mut out);
        out
    }

    /// `server` decided `ticket`.
    pub fn decided(&mut self, now: Time, ticket: &Ticket, server: ServerId) -> Vec<ClientOut> {
        self.answered(now, ticket, server).0
    }

    /// `server` decided `ticket` (or rejected its credential), and its user was told: the
    /// follow-ups, and the answer to one of the user's submissions, if one was waiting for it.
    pub fn answered(
        &mut self,
        now: Time,
        ticket: &Ticket,
        server: ServerId,
    ) -> (Vec<ClientOut>, Option<Answer>) {
        let mut out = Vec::new();
        let mut answer = None;
        if let Some(f) = self.flights.get_mut(ticket) {
            if let Some(i) = f
                .open
                .iter()
                .position(|o| o.server == server && o.deadline.is_some())
            {
                let o = f.open.remove(i);
                answer = Some(Answer {
                    intended: o.intended,
                    first: !f.answered,
                });
                f.answered = true;
            }
        }
        self.settle(now, ticket, &mut out);
        (out, answer)
    }

    /// `server` crashed: its open submissions are resolved.
    pub fn crashed(&mut self, now: Time, server: ServerId) -> Vec<ClientOut> {
        self.crashed.insert(server);
        let tickets: Vec<Ticket> = self
            .flights
            .iter()
            .filter(|(_, f)| {
                f.open
                    .iter()
                    .any(|o| o.server == server && o.deadline.is_some())
            })
            .map(|(t, _)| t.clone())
            .collect();
        let mut out = Vec::new();
        for t in tickets {
            if let Some(f) = self.flights.get_mut(&t) {
                f.open
                    .retain(|o| !(o.server == server && o.deadline.is_some()));
            }
            self.settle(now, &t, &mut out);
        }
        out
    }

    /// Deadlines up to `now` expire.
    pub fn wake(&mut self, now: Time) -> Vec<ClientOut> {
        let expired: Vec<Ticket> = self
            .flights
            .iter()
            .filter(|(_, f)| f.open.iter().any(|o| o.deadline.is_some_and(|d| d <= now)))
            .map(|(t, _)| t.clone())
            .collect();
        let mut out = Vec::new();
        if self.stop_at_first_timeout && !expired.is_empty() {
            // The cluster is blocked: issue nothing more.
            self.next = self.plans.len();
        }
        for t in expired {
            if let Some(f) = self.flights.get_mut(&t) {
                f.open.retain(|o| o.deadline.is_none_or(|d| d > now));
            }
            self.settle(now, &t, &mut out);
        }
        out
    }

    fn settle(&mut self, now: Time, ticket: &Ticket, out: &mut Vec<ClientOut>) {
        let Some(f) = self.flights.get(ticket) else {
            return;
        };
        if !f.open.is_empty() {
            return;
        }
        let generated = f.generated;
        self.flights.remove(ticket);
        // A closed-loop slot is free: its next ticket. Open-loop arrivals do not wait.
        if generated && self.arrivals.is_none() {
            self.issue(now + self.think, now, out);
        }
    }

    /// Whether some submission of `ticket` is not resolved yet.
    pub fn in_flight(&self, ticket: &Ticket) -> bool {
        self.flights.contains_key(ticket)
    }

    /// Every ticket has been issued and every submission resolved.
    pub fn done(&self) -> bool {
        self.next >= self.plans.len() && self.flights.is_empty()
    }

    /// Generated plus scripted tickets.
    pub fn total_tickets(&self) -> u64 {
        let scripted: BTreeSet<&Ticket> = self.scripted.iter().map(|s| &s.1).collect();
        self.plans.len() as u64 + scripted.len() as u64
    }
}
