//! The history checker: E-1 and E-2 (paper §2.2; docs/PROTOCOLS.md §12), computed from the
//! history only, never from protocol internals.
//!
//! - E-1 (at-most-once): no ticket is accepted by two servers, nor twice by one server.
//! - E-2: let σ(τ) be the servers that received τ from users; if none of them crashed, some server
//!   in σ(τ) accepted τ. A finite run can only refute E-2 when every server of σ(τ) has decided and
//!   none accepted; a ticket some live server of σ(τ) had not decided by the deadline is reported as
//!   *pending* (the table's "undecided"), not as a violation.

use crate::history::Event;
use crate::protocol::{Outcome, ServerId, Ticket, Time};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "property")]
pub enum Violation {
    /// E-1: `accepts` lists every (server, time) that accepted the ticket.
    #[serde(rename = "E-1")]
    E1 {
        ticket: Ticket,
        accepts: Vec<(ServerId, Time)>,
    },
    /// E-2: no server of σ(τ) crashed, all of them decided, none accepted.
    #[serde(rename = "E-2")]
    E2 {
        ticket: Ticket,
        sigma: Vec<ServerId>,
        rejects: Vec<(ServerId, Time)>,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[(ServerId, Time)]| {
            v.iter()
                .map(|(s, t)| format!("s{s} at {t} µs"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Violation::E1 { ticket, accepts } => {
                write!(
                    f,
                    "E-1 violated: ticket {ticket} accepted {} times: {}",
                    accepts.len(),
                    list(accepts)
                )
            }
            Violation::E2 {
                ticket,
                sigma,
                rejects,
            } => {
                let s = sigma
                    .iter()
                    .map(|s| format!("s{s}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                write!(f, "E-2 violated: ticket {ticket} was received by {{{s}}}, none crashed, all rejected: {}", list(rejects))
            }
        }
    }
}

/// One server's decision about a ticket, as the history recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub server: ServerId,
    /// When the server decided, µs since the run's start.
    pub t_us: Time,
    pub outcome: Outcome,
    /// The protocol's phase (2PE: 1 or 2), `None` for protocols without phases.
    pub phase: Option<u8>,
}

/// Per-ticket facts gathered from a history.
#[derive(Clone, Debug, Default)]
pub struct TicketFacts {
    /// σ(τ): servers that received τ from a user, with the time of every submission at each
    /// (a resubmission to the same server adds a time).
    pub sigma: BTreeMap<ServerId, Vec<Time>>,
    /// Every decision about τ, in history order.
    pub decisions: Vec<Decision>,
}

impl TicketFacts {
    /// Validation latencies (µs) of this ticket: each decision at a server answers that
    /// server's oldest unanswered submission (a resubmission is decided at once, so decisions
    /// at one server come in submission order).
    pub fn latencies(&self) -> impl Iterator<Item = Time> + '_ {
        self.sigma.iter().flat_map(move |(server, submitted)| {
            self.decisions
                .iter()
                .filter(move |d| d.server == *server)
                .zip(submitted)
                .map(|(d, t)| d.t_us - t)
        })
    }
}

/// What the checker found.
#[derive(Clone, Debug, Default)]
pub struct Checked {
    pub tickets: BTreeMap<Ticket, TicketFacts>,
    pub crashed: BTreeMap<ServerId, Time>,
    pub violations: Vec<Violation>,
    /// Tickets with no accept that some live server of σ(τ) had not decided.
    pub pending: Vec<Ticket>,
    /// The pending tickets no server of whose σ(τ) crashed: E-2 is in danger for them (a
    /// violation if the run's faults all healed and the deadline was generous).
    pub stalled: Vec<Ticket>,
}

pub fn check(history: &[Event]) -> Checked {
    let mut c = Checked::default();
    for e in history {
        match e {
            Event::Submit {
                t_us,
                ticket,
                server,
            } => {
                c.tickets
                    .entry(ticket.clone())
                    .or_default()
                    .sigma
                    .entry(*server)
                    .or_default()
                    .push(*t_us);
            }
            Event::Refused { ticket, .. } => {
                c.tickets.entry(ticket.clone()).or_default();
            }
            Event::Decide {
                t_us,
                ticket,
                server,
                outcome,
                phase,
            } => {
                c.tickets
                    .entry(ticket.clone())
                    .or_default()
                    .decisions
                    .push(Decision {
                        server: *server,
                        t_us: *t_us,
                        outcome: *outcome,
                        phase: *phase,
                    });
            }
            Event::Crash { t_us, server } => {
                c.crashed.entry(*server).or_insert(*t_us);
            }
            Event::Send { .. } => {}
        }
    }
    for (ticket, facts) in &c.tickets {
        let accepts: Vec<(ServerId, Time)> = facts
            .decisions
            .iter()
            .filter(|d| d.outcome == Outcome::Accept)
            .map(|d| (d.server, d.t_us))
            .collect();
        if accepts.len() > 1 {
            c.violations.push(Violation::E1 {
                ticket: ticket.clone(),
                accepts: accepts.clone(),
            });
        }
        if !accepts.is_empty() || facts.sigma.is_empty() {
            continue;
        }
        let decided: BTreeSet<ServerId> = facts.decisions.iter().map(|d| d.server).collect();
        let any_crashed = facts.sigma.keys().any(|s| c.crashed.contains_key(s));
        let undecided_live = facts
            .sigma
            .keys()
            .any(|s| !decided.contains(s) && !c.crashed.contains_key(s));
        if undecided_live {
            c.pending.push(ticket.clone());
            if !any_crashed {
                c.stalled.push(ticket.clone());
            }
        } else if !any_crashed {
            c.violations.push(Violation::E2 {
                ticket: ticket.clone(),
                sigma: facts.sigma.keys().copied().collect(),
                rejects: facts.decisions.iter().map(|d| (d.server, d.t_us)).collect(),
            });
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit(t: Time, ticket: &str, server: ServerId) -> Event {
        Event::Submit {
            t_us: t,
            ticket: ticket.into(),
            server,
        }
    }
    fn decide(t: Time, ticket: &str, server: ServerId, outcome: Outcome) -> Event {
        Event::Decide {
            t_us: t,
            ticket: ticket.into(),
            server,
            outcome,
            phase: Some(1),
        }
    }

    #[test]
    fn two_accepts_violate_e1() {
        let h = vec![
            submit(0, "a", 1),
            submit(0, "a", 2),
            decide(5, "a", 1, Outcome::Accept),
            decide(6, "a", 2, Outcome::Accept),
        ];
        let c = check(&h);
        assert_eq!(
            c.violations,
            vec![Violation::E1 {
                ticket: "a".into(),
                accepts: vec![(1, 5), (2, 6)]
            }]
        );
    }

    #[test]
    fn the_same_server_accepting_twice_violates_e1() {
        let h = vec![
            submit(0, "a", 1),
            decide(5, "a", 1, Outcome::Accept),
            decide(9, "a", 1, Outcome::Accept),
        ];
        assert!(matches!(check(&h).violations[..], [Violation::E1 { .. }]));
    }

    #[test]
    fn all_reject_without_crash_violates_e2_but_not_with_a_crash() {
        let h = vec![
            submit(0, "a", 1),
            submit(0, "a", 2),
            decide(5, "a", 1, Outcome::Reject),
            decide(6, "a", 2, Outcome::Reject),
        ];
        assert!(matches!(check(&h).violations[..], [Violation::E2 { .. }]));
        let mut h2 = h.clone();
        h2.push(Event::Crash { t_us: 7, server: 2 });
        assert!(check(&h2).violations.is_empty());
    }

    #[test]
    fn an_undecided_live_server_makes_the_ticket_pending() {
        let h = vec![
            submit(0, "a", 1),
            submit(0, "a", 2),
            decide(5, "a", 1, Outcome::Reject),
        ];
        let c = check(&h);
        assert!(c.violations.is_empty());
        assert_eq!(c.pending, vec![Ticket::from("a")]);
    }

    #[test]
    fn one_accept_is_fine() {
        let h = vec![
            submit(0, "a", 1),
            submit(3, "a", 2),
            decide(5, "a", 1, Outcome::Accept),
            decide(8, "a", 2, Outcome::Reject),
        ];
        let c = check(&h);
        assert!(c.violations.is_empty() && c.pending.is_empty());
    }
}
