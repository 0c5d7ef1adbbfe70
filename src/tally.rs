//! A run's figures gathered one event at a time, so that a run need not keep its history to be
//! summarised. [`Tally::observe`] takes each event as it is recorded (a streamed run's
//! [`crate::lab::record::Recorder`] calls it while it writes the event to `history.jsonl`);
//! [`Tally::finish`] gives the [`Tallied`] figures that `report::summarize` reads. A history kept
//! in memory is tallied the same way afterwards ([`Tallied::of`]), so both give the same numbers.
//!
//! What it keeps is what the figures need and no more: the checker's per-ticket state (σ(τ) with
//! submission times, every decision: a few words per ticket), message counts by type, decisions,
//! credential rejections, and the events of the scripted tickets (`explain`'s stories) — never
//! sends or deliveries.

use crate::checker::{Checked, Checker};
use crate::history::{Event, Rejection};
use crate::protocol::Ticket;
use crate::scenario::Scenario;
use std::collections::{BTreeMap, BTreeSet};

/// The figures of a history being recorded.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    checker: Checker,
    by_type: BTreeMap<String, u64>,
    decisions: u64,
    rejections: BTreeMap<Rejection, u64>,
    credential_only: BTreeMap<Ticket, bool>,
    scripted: BTreeSet<Ticket>,
    story: Vec<Event>,
    events: u64,
}

/// A whole history's figures.
#[derive(Clone, Debug, Default)]
pub struct Tallied {
    /// The checker's verdict (and its per-ticket facts).
    pub checked: Checked,
    /// Server→server messages by type (`send` events).
    pub by_type: BTreeMap<String, u64>,
    /// `decide` events.
    pub decisions: u64,
    /// Submissions refused for their credential, by reason.
    pub rejections: BTreeMap<Rejection, u64>,
    /// Tickets some server refused: whether every refusal was for the ticket's credential (none
    /// by a crashed server).
    pub credential_only: BTreeMap<Ticket, bool>,
    /// The scripted tickets' `submit` and `decide` events and every `crash`, in history order:
    /// what `explain::stories` reads.
    pub story: Vec<Event>,
    /// Events in the history.
    pub events: u64,
}

impl Tally {
    /// Events observed so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// An empty tally for a run of `scenario`.
    pub fn new(scenario: &Scenario) -> Self {
        Tally {
            scripted: scenario
                .tickets
                .iter()
                .map(|t| Ticket(t.id.clone()))
                .collect(),
            ..Tally::default()
        }
    }

    /// The next event of the history.
    pub fn observe(&mut self, e: &Event) {
        self.events += 1;
        self.checker.observe(e);
        match e {
            Event::Send { msg, .. } => match self.by_type.get_mut(msg.as_str()) {
                Some(n) => *n += 1,
                None => {
                    self.by_type.insert(msg.clone(), 1);
                }
            },
            Event::Decide { ticket, .. } => {
                self.decisions += 1;
                if self.scripted.contains(ticket) {
                    self.story.push(e.clone());
                }
            }
            Event::Submit { ticket, .. } if self.scripted.contains(ticket) => {
                self.story.push(e.clone());
            }
            Event::Refused { ticket, reason, .. } => {
                if let Some(r) = reason {
                    *self.rejections.entry(*r).or_insert(0) += 1;
                }
                match self.credential_only.get_mut(ticket) {
                    Some(only) => *only &= reason.is_some(),
                    None => {
                        self.credential_only
                            .insert(ticket.clone(), reason.is_some());
                    }
                }
            }
            Event::Crash { .. } => self.story.push(e.clone()),
            _ => {}
        }
    }

    /// The figures of everything observed.
    pub fn finish(self) -> Tallied {
        Tallied {
            checked: self.checker.finish(),
            by_type: self.by_type,
            decisions: self.decisions,
            rejections: self.rejections,
            credential_only: self.credential_only,
            story: self.story,
            events: self.events,
        }
    }
}

impl Tallied {
    /// The figures of a history held in memory.
    pub fn of(scenario: &Scenario, history: &[Event]) -> Self {
        let mut t = Tally::new(scenario);
        for e in history {
            t.observe(e);
        }
        t.finish()
    }
}
