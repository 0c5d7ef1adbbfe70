//! Shared helpers for the integration tests: load a TOML scenario, run it in the simulator.
#![allow(dead_code)]

pub mod bin;
pub mod procs;

use ticketlab::history::Event;
use ticketlab::lab::RunOutput;
use ticketlab::protocol::{Outcome, ProtocolKind, ServerId};
use ticketlab::report::{self, RunSummary};
use ticketlab::scenario::{self, Scenario};
use ticketlab::scenario::{Cluster, Mode, SubmitTo, Workload};
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

/// A simulator scenario built in code: n servers, δ = 10 ms, no jitter, heartbeat 20 ms, suspicion
/// after 100 ms, `tickets` generated tickets one at a time round-robin, a 5 s deadline, no faults.
/// Tests change the fields they are about.
pub fn sim_scenario(name: &str, n: u16, protocols: &[ProtocolKind], tickets: u64) -> Scenario {
    Scenario {
        name: name.into(),
        seed: Some(1),
        cluster: Cluster {
            servers: n,
            protocols: protocols.to_vec(),
            baselines: Vec::new(),
            mode: Mode::Sim,
            delta: 10_000,
            jitter: 0,
            heartbeat: 20_000,
            suspect_after: 100_000,
            byzantine_max: 0,
            allow_unsafe: false,
            remote: Default::default(),
        },
        workload: Workload {
            tickets,
            concurrency: 1,
            open: None,
            think: 0,
            submit_to: SubmitTo::RoundRobin,
            duplicates: 0.0,
            duplicate_gap: 0,
            deadline: 5_000_000,
            forged: 0.0,
            tampered: 0.0,
            stop_at_first_timeout: false,
        },
        tickets: vec![],
        faults: vec![],
        resilience: None,
        byzantine: None,
    }
}
