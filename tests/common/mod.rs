//! Shared helpers for the integration tests: load a TOML scenario, run it in the simulator.
#![allow(dead_code)]

use ticketlab::history::Event;
use ticketlab::lab::RunOutput;
use ticketlab::protocol::{Outcome, ProtocolKind, ServerId};
use ticketlab::report::{self, RunSummary};
use ticketlab::scenario::{self, Scenario};
use ticketlab::sim;

pub fn load(text: &str, sets: &[&str]) -> Scenario {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    scenario::load("test.toml", text, &sets).unwrap_or_else(|e| panic!("{e}"))
}

pub fn table1(sets: &[&str]) -> Scenario {
    load(scenario::BUILTIN_TABLE1, sets)
}

pub fn run(s: &Scenario, p: ProtocolKind) -> (RunSummary, RunOutput) {
    let out = sim::run(s, p, s.seed.unwrap_or(1));
    (report::summarize(s, p, &out), out)
}

pub fn run_seed(s: &Scenario, p: ProtocolKind, seed: u64) -> (RunSummary, RunOutput) {
    let out = sim::run(s, p, seed);
    (report::summarize(s, p, &out), out)
}

/// Every decision about `ticket`: (server, outcome, phase).
pub fn decisions(h: &[Event], ticket: &str) -> Vec<(ServerId, Outcome, Option<u8>)> {
    h.iter()
        .filter_map(|e| match e {
            Event::Decide {
                ticket: t,
                server,
                outcome,
                phase,
                ..
            } if t.0 == ticket => Some((*server, *outcome, *phase)),
            _ => None,
        })
        .collect()
}

pub fn p(name: &str) -> ProtocolKind {
    ProtocolKind::from_name(name).unwrap()
}
