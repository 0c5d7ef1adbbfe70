//! The users: a deterministic client state machine shared by both runtimes.
//!
//! It issues the scenario's generated tickets in a closed loop (`concurrency` in flight, `think`
//! between a ticket's resolution and the slot's next submission), lets a malicious user submit a
//! fraction of them to a second server `duplicate_gap` later, and replays the scripted `[[ticket]]`
//! submissions at their times. Like the protocols it does no I/O: the runtime tells it what
//! happened (`submitted`, `decided`, `crashed`, `wake`) and it answers with [`ClientOut`]s.
//!
//! A submission is *resolved* when its server decides the ticket, when that server crashes, or when
//! the deadline passes (`deadline` after the ticket's last submission). A generated ticket frees its
//! slot when all its submissions are resolved. Every random choice (target server, duplicates) is
//! drawn per ticket from the run seed, so every protocol of a scenario sees the same workload.
//! Users do not submit to a server they know crashed (their connection is refused): a generated
//! ticket aimed at a crashed server goes to the next live one.

use crate::protocol::{ServerId, Ticket, Time};
use crate::scenario::{generated_ticket_id, Scenario, SubmitTo};
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
}

#[derive(Debug)]
struct Plan {
    primary: ServerId,
    duplicate: Option<ServerId>,
}

#[derive(Debug)]
struct InFlight {
    /// Submissions not resolved yet: (server, deadline once submitted). A server may appear twice
    /// (a scripted resubmission to the same server).
    open: Vec<(ServerId, Option<Time>)>,
    /// Whether this ticket holds a closed-loop slot.
    generated: bool,
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
        }
    }

    /// The initial submissions: every scripted one and the first `concurrency` generated tickets.
    pub fn start(&mut self, now: Time, concurrency: u32) -> Vec<ClientOut> {
        let mut out = Vec::new();
        for (at, ticket, server) in self.scripted.clone() {
            let f = self.flights.entry(ticket.clone()).or_insert(InFlight {
                open: Vec::new(),
                generated: false,
            });
            f.open.push((server, None));
            out.push(ClientOut::Submit {
                at: now + at,
                ticket,
                server,
            });
        }
        for _ in 0..concurrency {
            self.issue(now, &mut out);
        }
        out
    }

    fn live_from(&self, s: ServerId) -> Option<ServerId> {
        (0..self.n)
            .map(|d| (s - 1 + d) % self.n + 1)
            .find(|c| !self.crashed.contains(c))
    }

    fn issue(&mut self, at: Time, out: &mut Vec<ClientOut>) {
        let Some(plan) = self.plans.get(self.next) else {
            return;
        };
        self.next += 1;
        let ticket = Ticket(generated_ticket_id(self.next as u64));
        let Some(primary) = self.live_from(plan.primary) else {
            return;
        };
        let mut open = vec![(primary, None)];
        out.push(ClientOut::Submit {
            at,
            ticket: ticket.clone(),
            server: primary,
        });
        if let Some(d) = plan.duplicate.and_then(|d| self.live_from(d)) {
            if d != primary {
                open.push((d, None));
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
            let slot = f.open.iter().position(|(s, d)| *s == server && d.is_none());
            match (slot, accepted) {
                (Some(i), true) => {
                    f.open[i].1 = Some(deadline);
                    // The deadline counts from the ticket's last submission.
                    for (_, d) in f.open.iter_mut() {
                        if let Some(d) = d {
                            *d = (*d).max(deadline);
                        }
                    }
                    out.push(ClientOut::WakeAt(deadline));
                }
                (Some(i), false) => {
                    f.open.remove(i);
                    // A user whose connection is refused tries the next live server (generated
                    // tickets only: scripted submissions are exactly what the scenario says).
                    if f.generated {
                        let others: Vec<ServerId> = f.open.iter().map(|o| o.0).collect();
                        let next = (1..self.n)
                            .map(|d| (server - 1 + d) % self.n + 1)
                            .find(|c| !self.crashed.contains(c) && !others.contains(c));
                        if let Some(next) = next {
                            f.open.push((next, None));
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
        let mut out = Vec::new();
        if let Some(f) = self.flights.get_mut(ticket) {
            if let Some(i) = f.open.iter().position(|(s, d)| *s == server && d.is_some()) {
                f.open.remove(i);
            }
        }
        self.settle(now, ticket, &mut out);
        out
    }

    /// `server` crashed: its open submissions are resolved.
    pub fn crashed(&mut self, now: Time, server: ServerId) -> Vec<ClientOut> {
        self.crashed.insert(server);
        let tickets: Vec<Ticket> = self
            .flights
            .iter()
            .filter(|(_, f)| f.open.iter().any(|(s, d)| *s == server && d.is_some()))
            .map(|(t, _)| t.clone())
            .collect();
        let mut out = Vec::new();
        for t in tickets {
            if let Some(f) = self.flights.get_mut(&t) {
                f.open.retain(|(s, d)| !(*s == server && d.is_some()));
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
            .filter(|(_, f)| f.open.iter().any(|(_, d)| d.is_some_and(|d| d <= now)))
            .map(|(t, _)| t.clone())
            .collect();
        let mut out = Vec::new();
        if self.stop_at_first_timeout && !expired.is_empty() {
            // The cluster is blocked: issue nothing more.
            self.next = self.plans.len();
        }
        for t in expired {
            if let Some(f) = self.flights.get_mut(&t) {
                f.open.retain(|(_, d)| !d.is_some_and(|d| d <= now));
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
        if generated {
            self.issue(now + self.think, out);
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
