//! The history checker: the properties of paper §2.2 (docs/PROTOCOLS.md §12), computed from the
//! history only, never from protocol internals. Every property is checked on every history; a
//! protocol is held to the ones it claims ([`Checked::claimed`], from `ProtocolKind::properties`),
//! and the failures of the others are counted, not reported as violations ([`Checked::unclaimed`]).
//!
//! - E-1 (at-most-once): no ticket is accepted by two servers, nor twice by one server.
//! - E-2: let σ(τ) be the servers that received τ from users; if none of them crashed, some server
//!   in σ(τ) accepted τ. A finite run can only refute E-2 when every server of σ(τ) has decided and
//!   none accepted; a ticket some live server of σ(τ) had not decided by the deadline is reported as
//!   *pending* (the table's "undecided"), not as a violation.
//! - E-1′: "if a server accepts τ and does not crash, no other server accepts τ, and no server
//!   accepts τ twice" (paper §2.2). The paper's Fig. 2 — s_1 accepts and crashes, then s_2 accepts
//!   and survives — "does not violate E-1′", so the checker reads it as: at most one acceptor of τ
//!   survives the run, and no server accepts τ twice.
//! - E-2′ (at-least-once): if not every server of σ(τ) crashed, some server of σ(τ) accepted τ —
//!   refuted when every live server of σ(τ) has decided and none of σ(τ) accepted; pending
//!   otherwise.

mod facts;

pub use facts::{Decision, Sigma, TicketFacts};

use crate::history::Event;
use crate::history::Rejection;
use crate::protocol::{Outcome, Property, ServerId, Ticket, Time};
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
    /// E-1′: `accepts` lists every (server, time) that accepted the ticket; `survivors` those
    /// acceptors that never crashed — two or more, or one server accepted twice.
    #[serde(rename = "E-1'")]
    E1Prime {
        ticket: Ticket,
        accepts: Vec<(ServerId, Time)>,
        survivors: Vec<ServerId>,
    },
    /// E-2′: some server of σ(τ) did not crash, every live one decided, none of σ(τ) accepted.
    #[serde(rename = "E-2'")]
    E2Prime {
        ticket: Ticket,
        sigma: Vec<ServerId>,
        rejects: Vec<(ServerId, Time)>,
    },
    /// E-1_B: two correct (non-Byzantine) servers accepted, or one accepted twice.
    #[serde(rename = "E-1_B")]
    E1B {
        ticket: Ticket,
        accepts: Vec<(ServerId, Time)>,
    },
    /// E-2_B: the one correct server that claimed τ decided and did not accept.
    #[serde(rename = "E-2_B")]
    E2B {
        ticket: Ticket,
        server: ServerId,
        rejects: Vec<(ServerId, Time)>,
    },
}

impl Violation {
    /// The ticket this is about.
    pub fn ticket(&self) -> &Ticket {
        match self {
            Violation::E1 { ticket, .. }
            | Violation::E2 { ticket, .. }
            | Violation::E1Prime { ticket, .. }
            | Violation::E2Prime { ticket, .. }
            | Violation::E1B { ticket, .. }
            | Violation::E2B { ticket, .. } => ticket,
        }
    }

    /// The property this refutes.
    pub fn property(&self) -> Property {
        match self {
            Violation::E1 { .. } => Property::E1,
            Violation::E2 { .. } => Property::E2,
            Violation::E1Prime { .. } => Property::E1Prime,
            Violation::E2Prime { .. } => Property::E2Prime,
            Violation::E1B { .. } => Property::E1B,
            Violation::E2B { .. } => Property::E2B,
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[(ServerId, Time)]| {
            v.iter()
                .map(|(s, t)| format!("s{s} at {t} µs"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let servers = |v: &[ServerId]| {
            v.iter()
                .map(|s| format!("s{s}"))
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
                let s = servers(sigma);
                write!(f, "E-2 violated: ticket {ticket} was received by {{{s}}}, none crashed, all rejected: {}", list(rejects))
            }
            Violation::E1Prime {
                ticket,
                accepts,
                survivors,
            } => {
                let s = servers(survivors);
                write!(
                    f,
                    "E-1' violated: ticket {ticket} accepted {} times ({}); acceptors that never crashed: {s}",
                    accepts.len(),
                    list(accepts)
                )
            }
            Violation::E2Prime {
                ticket,
                sigma,
                rejects,
            } => {
                let s = servers(sigma);
                write!(f, "E-2' violated: ticket {ticket} was received by {{{s}}}, not all crashed, no accept, every live one rejected: {}", list(rejects))
            }
            Violation::E1B { ticket, accepts } => write!(
                f,
                "E-1_B violated: ticket {ticket} accepted {} times by correct servers: {}",
                accepts.len(),
                list(accepts)
            ),
            Violation::E2B {
                ticket,
                server,
                rejects,
            } => write!(
                f,
                "E-2_B violated: ticket {ticket} was claimed by s{server} alone, a correct server, which rejected it: {}",
                list(rejects)
            ),
        }
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
    /// Undecided tickets with no accept, some server of whose σ(τ) survived: E-2′ is in danger.
    pub stalled_prime: Vec<Ticket>,
    /// Undecided tickets claimed by exactly one server, a correct one: E-2_B is in danger.
    pub stalled_b: Vec<Ticket>,
    /// Servers that turned Byzantine (`byzantine` faults).
    pub byzantine: BTreeSet<ServerId>,
    /// Accepts by Byzantine servers: (ticket, server, time), reported apart, never counted.
    pub byzantine_accepts: Vec<(Ticket, ServerId, Time)>,
    /// Tickets some server rejected as forged or tampered, with the reason: a ticket's credential
    /// is the same at every submission, so the ticket is bad everywhere.
    pub bad: BTreeMap<Ticket, Rejection>,
    /// A violation of ticket verification: a bad ticket (see `bad`) that a server took in anyway
    /// (a `submit`, so its protocol saw it): (ticket, server, time, reason).
    pub bad_admitted: Vec<(Ticket, ServerId, Time, Rejection)>,
}

impl Checked {
    /// The violations of the properties in `claims`.
    pub fn claimed(&self, claims: &[Property]) -> Vec<Violation> {
        let claimed = self
            .violations
            .iter()
            .filter(|v| claims.contains(&v.property()));
        claimed.cloned().collect()
    }

    /// Tickets refuting each property neither claimed nor implied by a claim (a protocol's
    /// designed failures, e.g. qlock-amo's rejected-everywhere tickets under contention), by
    /// property name.
    ///
    /// Per ticket only the weakest property given up counts: a ticket that fails E-2 fails the
    /// stronger E-2′ too, and saying so twice would say nothing more.
    pub fn unclaimed(&self, claims: &[Property]) -> BTreeMap<String, u64> {
        // E-1_B / E-2_B speak of Byzantine servers: only for a protocol that claims one of them.
        let byzantine_aware = claims.iter().any(|c| c.byzantine());
        let counted = |p: Property| byzantine_aware || !p.byzantine();
        // A failure of a property implied by a claimed one is already a claimed violation.
        let given_up: Vec<(&Ticket, Property)> = self
            .violations
            .iter()
            .map(|v| (v.ticket(), v.property()))
            .filter(|&(_, p)| counted(p) && !claims.iter().any(|c| c.implies(p)))
            .collect();
        let mut counts = BTreeMap::new();
        for &(ticket, p) in &given_up {
            // Any weaker failure of the ticket, claimed or not (E-1 beside a claimed E-1_B).
            let weaker_failed = self.violations.iter().any(|v| {
                let q = v.property();
                v.ticket() == ticket && q != p && counted(q) && p.implies(q)
            });
            if !weaker_failed {
                *counts.entry(p.name().to_string()).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Undecided tickets whose liveness property (E-2 or E-2′, whichever `claims` has) was in
    /// danger: with every fault healed and a generous deadline, a failure.
    pub fn stalled_for(&self, claims: &[Property]) -> Vec<Ticket> {
        let mut t = Vec::new();
        if claims.contains(&Property::E2) {
            t.extend(self.stalled.iter().cloned());
        }
        if claims.contains(&Property::E2Prime) {
            t.extend(self.stalled_prime.iter().cloned());
        }
        if claims.contains(&Property::E2B) {
            t.extend(self.stalled_b.iter().cloned());
        }
        t.sort();
        t.dedup();
        t
    }

    /// The claimed properties this history fails — refuted, or in danger for an undecided ticket
    /// ([`Self::stalled_for`]'s reading) — safety first: E-1, E-1′, E-1_B, then E-2, E-2′,
    /// E-2_B. What `explore` counts as a failed run, by property.
    pub fn failed_properties(&self, claims: &[Property]) -> Vec<Property> {
        use Property::*;
        let refuted: BTreeSet<Property> = self
            .claimed(claims)
            .iter()
            .map(Violation::property)
            .collect();
        let stalled = |p: Property, t: &[Ticket]| claims.contains(&p) && !t.is_empty();
        [E1, E1Prime, E1B, E2, E2Prime, E2B]
            .into_iter()
            .filter(|&p| {
                refuted.contains(&p)
                    || match p {
                        E2 => stalled(E2, &self.stalled),
                        E2Prime => stalled(E2Prime, &self.stalled_prime),
                        E2B => stalled(E2B, &self.stalled_b),
                        _ => false,
                    }
            })
            .collect()
    }
}

/// The checker fed one event at a time — a streamed run's tally keeps it while the history goes
/// to disk — then [`Checker::finish`]ed. [`check`] is the same over a history in memory.
#[derive(Clone, Debug, Default)]
pub struct Checker {
    c: Checked,
}

impl Checker {
    /// Take the next event of the history into account.
    pub fn observe(&mut self, e: &Event) {
        match e {
            Event::Submit {
                t_us,
                ticket,
                server,
            } => {
                self.facts(ticket).sigma.add(*server, *t_us);
            }
            Event::Refused { ticket, reason, .. } => {
                self.facts(ticket);
                if let Some(r @ (Rejection::Forged | Rejection::Tampered)) = reason {
                    self.c.bad.entry(ticket.clone()).or_insert(*r);
                }
            }
            Event::Decide {
                t_us,
                ticket,
                server,
                outcome,
                phase,
                ..
            } => {
                self.facts(ticket).decisions.push(Decision {
                    server: *server,
                    t_us: *t_us,
                    outcome: *outcome,
                    phase: *phase,
                });
            }
            Event::Crash { t_us, server } => {
                self.c.crashed.entry(*server).or_insert(*t_us);
            }
            Event::Byzantine { server, .. } => {
                self.c.byzantine.insert(*server);
            }
            Event::Send { .. }
            | Event::Deliver { .. }
            | Event::Fault { .. }
            | Event::Suspect { .. }
            | Event::Trust { .. } => {}
        }
    }

    /// τ's facts so far (the ticket's id is copied once, at its first event).
    fn facts(&mut self, ticket: &Ticket) -> &mut TicketFacts {
        if !self.c.tickets.contains_key(ticket) {
            self.c
                .tickets
                .insert(ticket.clone(), TicketFacts::default());
        }
        self.c.tickets.get_mut(ticket).expect("inserted")
    }

    /// The verdict on everything observed.
    pub fn finish(self) -> Checked {
        let mut c = self.c;
        for (ticket, &reason) in &c.bad {
            for (server, t) in c.tickets[ticket].sigma.iter() {
                c.bad_admitted.push((ticket.clone(), server, t, reason));
            }
        }
        for (ticket, facts) in &c.tickets {
            // A Byzantine server's accepts are its own: reported apart, never counted.
            let (byzantine, accepts): (Vec<_>, Vec<_>) = facts
                .decisions
                .iter()
                .filter(|d| d.outcome == Outcome::Accept)
                .map(|d| (d.server, d.t_us))
                .partition(|(s, _)| c.byzantine.contains(s));
            let byzantine_accepted = !byzantine.is_empty();
            for (server, t_us) in byzantine {
                c.byzantine_accepts.push((ticket.clone(), server, t_us));
            }
            if accepts.len() > 1 {
                c.violations.push(Violation::E1 {
                    ticket: ticket.clone(),
                    accepts: accepts.clone(),
                });
                c.violations.push(Violation::E1B {
                    ticket: ticket.clone(),
                    accepts: accepts.clone(),
                });
                let acceptors: BTreeSet<ServerId> = accepts.iter().map(|a| a.0).collect();
                let survivors: Vec<ServerId> = acceptors
                    .iter()
                    .copied()
                    .filter(|s| !c.crashed.contains_key(s))
                    .collect();
                let twice = acceptors.len() < accepts.len();
                if twice || survivors.len() > 1 {
                    c.violations.push(Violation::E1Prime {
                        ticket: ticket.clone(),
                        accepts: accepts.clone(),
                        survivors,
                    });
                }
            }
            // Some server of σ(τ) accepted (a Byzantine one counts here: liveness held for τ).
            if !accepts.is_empty() || byzantine_accepted || facts.sigma.is_empty() {
                continue;
            }
            let decided: BTreeSet<ServerId> = facts.decisions.iter().map(|d| d.server).collect();
            // Faulty: crashed or Byzantine.
            let faulty = |s: &ServerId| c.crashed.contains_key(s) || c.byzantine.contains(s);
            let any_crashed = facts.sigma.keys().any(faulty);
            let all_crashed = facts.sigma.keys().all(faulty);
            let undecided_live = facts
                .sigma
                .keys()
                .any(|s| !decided.contains(s) && !faulty(s));
            // E-2_B covers a ticket exactly one server claims, when that server is correct.
            let sole_correct = facts.sigma.len() == 1 && !any_crashed;
            let rejects = || facts.decisions.iter().map(|d| (d.server, d.t_us)).collect();
            if undecided_live {
                c.pending.push(ticket.clone());
                if !any_crashed {
                    c.stalled.push(ticket.clone());
                }
                if sole_correct {
                    c.stalled_b.push(ticket.clone());
                }
                c.stalled_prime.push(ticket.clone());
            } else {
                if sole_correct {
                    c.violations.push(Violation::E2B {
                        ticket: ticket.clone(),
                        server: *facts.sigma.keys().next().expect("one server"),
                        rejects: rejects(),
                    });
                }
                if !any_crashed {
                    c.violations.push(Violation::E2 {
                        ticket: ticket.clone(),
                        sigma: facts.sigma.keys().copied().collect(),
                        rejects: rejects(),
                    });
                }
                if !all_crashed {
                    c.violations.push(Violation::E2Prime {
                        ticket: ticket.clone(),
                        sigma: facts.sigma.keys().copied().collect(),
                        rejects: rejects(),
                    });
                }
            }
        }
        c
    }
}

pub fn check(history: &[Event]) -> Checked {
    let mut checker = Checker::default();
    for e in history {
        checker.observe(e);
    }
    checker.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXACTLY_ONCE: &[Property] = &[Property::E1, Property::E2];
    const AT_LEAST_ONCE: &[Property] = &[Property::E1Prime, Property::E2Prime];

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
            why: None,
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
            c.claimed(EXACTLY_ONCE),
            vec![Violation::E1 {
                ticket: "a".into(),
                accepts: vec![(1, 5), (2, 6)]
            }]
        );
        // Both acceptors survive: at-least-once's E-1′ fails too.
        assert!(matches!(
            c.claimed(AT_LEAST_ONCE)[..],
            [Violation::E1Prime { ref survivors, .. }] if survivors == &[1, 2]
        ));
        assert!(
            c.unclaimed(EXACTLY_ONCE).is_empty(),
            "E-1′ is implied by E-1"
        );
    }

    #[test]
    fn two_accepts_keep_e1_prime_when_all_but_one_acceptor_crashed() {
        let h = vec![
            submit(0, "a", 1),
            submit(0, "a", 2),
            decide(5, "a", 1, Outcome::Accept),
            Event::Crash { t_us: 6, server: 1 },
            decide(9, "a", 2, Outcome::Accept),
        ];
        let c = check(&h);
        assert!(c.claimed(AT_LEAST_ONCE).is_empty());
        assert_eq!(
            c.unclaimed(AT_LEAST_ONCE),
            BTreeMap::from([("E-1".to_string(), 1)]),
            "what at-least-once gives up"
        );
        assert!(matches!(
            c.claimed(EXACTLY_ONCE)[..],
            [Violation::E1 { .. }]
        ));
    }

    #[test]
    fn the_same_server_accepting_twice_violates_e1() {
        let h = vec![
            submit(0, "a", 1),
            decide(5, "a", 1, Outcome::Accept),
            decide(9, "a", 1, Outcome::Accept),
        ];
        let c = check(&h);
        assert!(matches!(
            c.claimed(EXACTLY_ONCE)[..],
            [Violation::E1 { .. }]
        ));
        assert!(
            matches!(c.claimed(AT_LEAST_ONCE)[..], [Violation::E1Prime { ref survivors, .. }] if survivors == &[1]),
            "accepting twice breaks E-1′ as well"
        );
        let mut crashed = h.clone();
        crashed.push(Event::Crash {
            t_us: 10,
            server: 1,
        });
        assert!(
            !check(&crashed).claimed(AT_LEAST_ONCE).is_empty(),
            "even by a server that crashed later"
        );
    }

    #[test]
    fn all_reject_without_crash_violates_e2_but_not_with_a_crash() {
        let h = vec![
            submit(0, "a", 1),
            submit(0, "a", 2),
            decide(5, "a", 1, Outcome::Reject),
            decide(6, "a", 2, Outcome::Reject),
        ];
        assert!(matches!(
            check(&h).claimed(EXACTLY_ONCE)[..],
            [Violation::E2 { .. }]
        ));
        let mut h2 = h.clone();
        h2.push(Event::Crash { t_us: 7, server: 2 });
        let c2 = check(&h2);
        assert!(c2.claimed(EXACTLY_ONCE).is_empty());
        // s1 survived and rejected: at-least-once's E-2′ is refuted, and 2PE gives it up.
        assert!(matches!(
            c2.claimed(AT_LEAST_ONCE)[..],
            [Violation::E2Prime { .. }]
        ));
        assert_eq!(
            c2.unclaimed(EXACTLY_ONCE),
            BTreeMap::from([("E-2'".to_string(), 1)])
        );
        let mut h3 = h2.clone();
        h3.push(Event::Crash { t_us: 8, server: 1 });
        assert!(
            check(&h3).claimed(AT_LEAST_ONCE).is_empty(),
            "all of σ(τ) crashed"
        );
    }

    #[test]
    fn a_ticket_rejected_everywhere_gives_up_only_the_weakest_liveness_property() {
        let h = vec![
            submit(0, "a", 1),
            submit(0, "a", 2),
            decide(5, "a", 1, Outcome::Reject),
            decide(6, "a", 2, Outcome::Reject),
        ];
        let c = check(&h);
        // Both E-2 and E-2′ fail; E-2′ failing follows from E-2 failing.
        assert_eq!(
            c.unclaimed(&[Property::E1]),
            BTreeMap::from([("E-2".to_string(), 1)])
        );
    }

    #[test]
    fn a_pending_ticket_endangers_e2_prime_while_a_server_of_sigma_survives() {
        let h = vec![
            submit(0, "a", 1),
            submit(0, "a", 2),
            Event::Crash { t_us: 1, server: 1 },
        ];
        let c = check(&h);
        assert_eq!(c.pending, vec![Ticket::from("a")]);
        assert!(
            c.stalled_for(EXACTLY_ONCE).is_empty(),
            "a server of σ(τ) crashed"
        );
        assert_eq!(c.stalled_for(AT_LEAST_ONCE), vec![Ticket::from("a")]);
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

    fn byzantine(server: ServerId) -> Event {
        Event::Byzantine {
            t_us: 0,
            server,
            behaviour: "accept-all".into(),
        }
    }

    const MASKING: &[Property] = &[Property::E1B, Property::E2B];

    #[test]
    fn byzantine_accepts_are_apart_and_correct_double_accepts_break_e1_b() {
        // s3 is Byzantine: its accept beside s1's is no violation, only reported.
        let h = vec![
            byzantine(3),
            submit(0, "a", 1),
            submit(0, "a", 3),
            decide(5, "a", 1, Outcome::Accept),
            decide(6, "a", 3, Outcome::Accept),
        ];
        let c = check(&h);
        assert!(c.violations.is_empty(), "{:?}", c.violations);
        assert_eq!(c.byzantine_accepts, vec![("a".into(), 3, 6)]);
        // Two correct servers accepting is E-1_B (and E-1) — E-1 is not also "given up".
        let h = vec![
            byzantine(3),
            submit(0, "a", 1),
            submit(0, "a", 2),
            decide(5, "a", 1, Outcome::Accept),
            decide(6, "a", 2, Outcome::Accept),
        ];
        let c = check(&h);
        assert_eq!(
            c.claimed(MASKING),
            vec![Violation::E1B {
                ticket: "a".into(),
                accepts: vec![(1, 5), (2, 6)]
            }]
        );
        assert!(!c.unclaimed(MASKING).contains_key("E-1"));
    }

    #[test]
    fn e2_b_holds_a_sole_correct_claimant_to_accept() {
        let sole = |outcome| check(&[byzantine(3), submit(0, "a", 1), decide(5, "a", 1, outcome)]);
        assert_eq!(
            sole(Outcome::Reject).claimed(MASKING),
            vec![Violation::E2B {
                ticket: "a".into(),
                server: 1,
                rejects: vec![(1, 5)]
            }]
        );
        assert!(sole(Outcome::Accept).claimed(MASKING).is_empty());
        // Claimed by a Byzantine server, or by two: no E-2_B claim.
        let c = check(&[
            byzantine(3),
            submit(0, "a", 3),
            decide(5, "a", 3, Outcome::Reject),
        ]);
        assert!(c.claimed(MASKING).is_empty());
        let c = check(&[
            submit(0, "a", 1),
            submit(0, "a", 2),
            decide(5, "a", 1, Outcome::Reject),
            decide(5, "a", 2, Outcome::Reject),
        ]);
        assert!(c.claimed(MASKING).is_empty());
        // Undecided sole correct claimant: E-2_B in danger.
        let c = check(&[submit(0, "a", 1)]);
        assert_eq!(
            c.stalled_for(MASKING),
            vec![crate::protocol::Ticket::from("a")]
        );
    }

    #[test]
    fn a_bad_ticket_taken_in_anyway_is_a_violation_of_verification() {
        let refused = |server, reason| Event::Refused {
            t_us: 0,
            ticket: "t1".into(),
            server,
            reason: Some(reason),
        };
        let c = check(&[refused(1, Rejection::Forged), refused(2, Rejection::Forged)]);
        assert!(c.bad_admitted.is_empty() && c.violations.is_empty());
        assert!(
            c.pending.is_empty(),
            "no server took it in: nothing to decide"
        );
        let c = check(&[refused(1, Rejection::Tampered), submit(5, "t1", 2)]);
        assert_eq!(
            c.bad_admitted,
            vec![("t1".into(), 2, 5, Rejection::Tampered)]
        );
        let c = check(&[refused(1, Rejection::Expired), submit(5, "t1", 2)]);
        assert!(
            c.bad_admitted.is_empty(),
            "expired at one time, valid before"
        );
    }
}
