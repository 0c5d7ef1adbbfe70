//! `ticketlab check`: a systematic, breadth-first search over every interleaving of a small
//! configuration — every delivery order (per FIFO link), protocol timer firing, crash point and
//! bounded false suspicion — over the unchanged sans-I/O protocol code.
//!
//! - **Model** ([`model`]): untimed. Each server has a logical clock (+1 µs per input; a timer
//!   fires no earlier than its deadline), so a server's state is a function of its inputs and a
//!   global state is identified by a 128-bit fingerprint of the servers' protocol states
//!   (`Protocol::state_hash`), clocks and decisions, the links' contents, pending timers and
//!   budgets: states reached twice — also through different input orders — are explored once.
//! - **Faults, planned up front**: one initial state per plan — a set of at most `crashes`
//!   servers that will crash and a multiset of at most `suspicions` false suspicions (by,
//!   server). A planned fault is a transition enabled until it happens (at any point); runs
//!   without it belong to a smaller plan. The heartbeat detector's `FdTick` never fires (its
//!   timers and heartbeats are dropped): after a crash every live server owes one suspicion of
//!   the crashed server (`Control::Suspect` until forever: completeness), and a false suspicion
//!   is `Control::Suspect` until the suspecting server next hears from the suspected one (◇S
//!   accuracy). A crashed server's messages in flight are lost, as in the simulator (crashing
//!   mid-broadcast = some of its messages delivered, then the crash).
//! - **Partial-order reduction**: persistent sets of servers ([`model::Engine::persistent`]);
//!   the state graph is acyclic, so every terminal state (nothing enabled) is still reached —
//!   `tests/check.rs` compares the terminal states with and without the reduction.
//! - **Properties**: at every state, the protocol's claimed properties
//!   (`ProtocolKind::properties`) on the history so far (`checker::check` + `Checked::claimed`);
//!   a violation there is one of the run that continues without further faults. At every
//!   terminal state (nothing in flight, no timer, every planned fault done, every crash
//!   suspected), liveness: a ticket undecided there is a failure of E-2 / E-2′
//!   (`Checked::stalled_for`) — when the crashes are within the protocol's fault model
//!   (`max_faults(n)`); beyond it only safety is checked (a protocol may block there by design).
//! - **Counterexample**: the first violation BFS meets, hence a shortest one (in steps) among
//!   the interleavings the reduction keeps. It is written as a scenario for the simulator
//!   ([`replay`]) and replayed at once to confirm it.
//! - **Cost**: servers are identified by their input sequences (the `Protocol` trait offers no
//!   state hash), so different input orders that lead to the same protocol state are not merged.
//!   Measured (release, n = 3): one ticket contended by s1 and s2 is exhausted by every shipped
//!   protocol failure-free (2pe 86 k states, se-ct 3.6 k, se-gb 0.8 M, se-opt 10 M) and by 2pe
//!   and se-ct with a crash (5.1 M, 0.23 M); two tickets are not exhaustible this way. About
//!   1 KB of memory per state.

pub mod model;
pub mod replay;

use crate::checker::{self, Violation};
use crate::lab::Runtime;
use crate::protocol::{NodeConfig, Property, ProtocolKind, ServerId, Ticket};
use model::{Engine, Fp, Model, State, Step};
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The largest cluster `check` accepts: the state space grows exponentially with n.
pub const MAX_SERVERS: u16 = 5;
/// The largest number of tickets `check` accepts.
pub const MAX_TICKETS: usize = 3;
/// The largest false-suspicion bound `check` accepts.
pub const MAX_SUSPICIONS: u8 = 3;

/// What to check (validated by [`Config::validate`]).
#[derive(Clone, Debug)]
pub struct Config {
    pub protocol: ProtocolKind,
    pub servers: u16,
    /// Servers each ticket is submitted to; ticket k is named "t{k}".
    pub submit: Vec<Vec<ServerId>>,
    pub crashes: u8,
    pub suspicions: u8,
    /// Steps from the initial state beyond which nothing is expanded.
    pub depth: u32,
    /// Distinct states beyond which the search stops.
    pub max_states: u64,
    /// The seed handed to the protocols (and written into the replay scenario).
    pub seed: u64,
    /// Print a line per BFS layer on stderr (at most one every two seconds).
    pub progress: bool,
    /// Partial-order reduction (persistent sets); off only to cross-check it.
    pub reduce: bool,
}

/// The default workload: ticket k (1-based) goes to s_k and s_{k+1} (wrapping), so that
/// consecutive tickets contend at a shared server: n = 3, 2 tickets → t1 to {s1, s2}, t2 to
/// {s2, s3}.
pub fn default_submit(servers: u16, tickets: usize) -> Vec<Vec<ServerId>> {
    (0..tickets)
        .map(|k| {
            let a = (k as u16 % servers) + 1;
            let b = ((k as u16 + 1) % servers) + 1;
            if a == b {
                vec![a]
            } else {
                vec![a, b]
            }
        })
        .collect()
}

impl Config {
    /// Refuse bounds the search cannot exhaust, saying what is feasible.
    pub fn validate(&self) -> anyhow::Result<()> {
        let n = self.servers;
        if !(2..=MAX_SERVERS).contains(&n) {
            anyhow::bail!(
                "--servers {n}: an exhaustive search is feasible for 2 to {MAX_SERVERS} servers \
                 (3 is the usual bound; the number of states grows exponentially with n)"
            );
        }
        if self.submit.is_empty() || self.submit.len() > MAX_TICKETS {
            anyhow::bail!(
                "{} ticket(s): an exhaustive search is feasible for 1 to {MAX_TICKETS} tickets \
                 (2 with contention at a shared server is the usual bound)",
                self.submit.len()
            );
        }
        for (k, servers) in self.submit.iter().enumerate() {
            if servers.is_empty() {
                anyhow::bail!("ticket t{}: submitted to no server", k + 1);
            }
            if let Some(bad) = servers.iter().find(|&&s| s == 0 || s > n) {
                anyhow::bail!(
                    "ticket t{}: server {bad} does not exist (servers are 1 to {n})",
                    k + 1
                );
            }
            let mut sorted = servers.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != servers.len() {
                anyhow::bail!("ticket t{}: a server appears twice in {servers:?}", k + 1);
            }
        }
        if u16::from(self.crashes) >= n {
            anyhow::bail!(
                "--crashes {}: at most {} (n − 1) crashes with n = {n}; {} is {}'s fault model",
                self.crashes,
                n - 1,
                self.protocol.max_faults(n),
                self.protocol
            );
        }
        if self.suspicions > MAX_SUSPICIONS {
            anyhow::bail!(
                "--suspicions {}: an exhaustive search is feasible for 0 to {MAX_SUSPICIONS} \
                 false suspicions",
                self.suspicions
            );
        }
        Ok(())
    }

    fn model(&self) -> Model {
        Model {
            protocol: self.protocol,
            n: self.servers,
            tickets: self
                .submit
                .iter()
                .enumerate()
                .map(|(k, s)| (Ticket(format!("t{}", k + 1)), s.clone()))
                .collect(),
            crashes: self.crashes,
            suspicions: self.suspicions,
            cfg: NodeConfig {
                me: 1,
                n: self.servers,
                heartbeat: replay::HEARTBEAT_US,
                suspect_after: replay::SUSPECT_AFTER_US,
                seed: self.seed,
                delta: replay::DELTA_US,
            },
        }
    }
}

/// A violation the search found.
#[derive(Clone, Debug, Serialize)]
pub struct Found {
    /// "safety" (a claimed property fails at a state) or "liveness" (undecided at quiescence).
    pub kind: &'static str,
    /// The properties refuted, e.g. ["E-1"].
    pub properties: Vec<String>,
    /// One line per problem, with the replay's times.
    pub details: Vec<String>,
    /// The steps from the initial state, in order, one line each.
    pub trace: Vec<String>,
    pub steps: usize,
    /// The replayable scenario.
    pub file: Option<String>,
    /// Whether running that scenario in the simulator reproduced the violation.
    pub replay_reproduced: bool,
    /// What the replay encoding could not make exact, if anything.
    pub replay_notes: Vec<String>,
}

/// The search's result (`--format json` prints it).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub protocol: ProtocolKind,
    pub servers: u16,
    pub submit: Vec<Vec<ServerId>>,
    pub crashes: u8,
    pub suspicions: u8,
    pub claims: Vec<String>,
    /// Whether liveness was checked at quiescent states (crashes within the fault model).
    pub liveness_checked: bool,
    pub max_faults: u16,
    pub depth_bound: u32,
    pub max_states: u64,
    /// Distinct states reached.
    pub states: u64,
    /// Transitions computed (including those into states seen before).
    pub transitions: u64,
    /// Terminal states reached (nothing enabled: where liveness is judged).
    pub terminal: u64,
    /// Whether partial-order reduction was on.
    pub reduced: bool,
    /// Remarks on the search.
    pub notes: Vec<String>,
    /// The deepest state reached, in steps.
    pub max_depth: u32,
    /// Every reachable state was explored (no depth or state budget cut the search short).
    pub exhausted: bool,
    pub seconds: f64,
    pub protocol_calls: u64,
    pub violation: Option<Found>,
}

/// Run the search; on a violation write the counterexample into `out` and replay it with
/// `runtime` (the simulator).
pub fn run(cfg: &Config, out: &Path, runtime: &dyn Runtime) -> anyhow::Result<Report> {
    cfg.validate()?;
    let started = Instant::now();
    let mut engine = Engine::new(cfg.model());
    let mut report = empty_report(cfg);
    let mut found = search(cfg, &mut engine, &mut report, cfg.reduce, None);
    if cfg.reduce && engine.work.halts > 0 {
        // A protocol that halts itself breaks the reduction's independence: search it all.
        report.reduced = false;
        report.notes.push(format!(
            "{} halts servers (Effect::Halt): partial-order reduction is off",
            cfg.protocol
        ));
        report.exhausted = true;
        (
            report.states,
            report.transitions,
            report.terminal,
            report.max_depth,
        ) = (0, 0, 0, 0);
        found = search(cfg, &mut engine, &mut report, false, None);
    }
    report.protocol_calls = engine.work.protocol_calls;
    if let Some((root, path, kind)) = found {
        let v = replay::counterexample(&mut engine, &root, &path, kind, out, runtime)?;
        report.violation = Some(v);
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The fingerprints of every terminal state the search reaches (no violation expected), and
/// the report: to cross-check the partial-order reduction, which must reach the same ones.
pub fn terminal_states(cfg: &Config) -> anyhow::Result<(HashSet<Fp>, Report)> {
    cfg.validate()?;
    let mut engine = Engine::new(cfg.model());
    let mut report = empty_report(cfg);
    let mut terminals = HashSet::new();
    if search(
        cfg,
        &mut engine,
        &mut report,
        cfg.reduce,
        Some(&mut terminals),
    )
    .is_some()
    {
        anyhow::bail!("a violation was found");
    }
    Ok((terminals, report))
}

fn empty_report(cfg: &Config) -> Report {
    let max_faults = cfg.protocol.max_faults(cfg.servers);
    let claims = cfg.protocol.properties();
    Report {
        protocol: cfg.protocol,
        servers: cfg.servers,
        submit: cfg.submit.clone(),
        crashes: cfg.crashes,
        suspicions: cfg.suspicions,
        claims: claims.iter().map(|p| p.name().to_string()).collect(),
        liveness_checked: u16::from(cfg.crashes) <= max_faults,
        max_faults,
        depth_bound: cfg.depth,
        max_states: cfg.max_states,
        states: 0,
        transitions: 0,
        terminal: 0,
        reduced: cfg.reduce,
        notes: Vec::new(),
        max_depth: 0,
        exhausted: true,
        seconds: 0.0,
        protocol_calls: 0,
        violation: None,
    }
}

/// Which kind of violation ends a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Safety,
    Liveness,
}

/// Claimed violations of the history so far.
fn safety(facts: &[crate::history::Event], claims: &[Property]) -> Vec<Violation> {
    checker::check(facts).claimed(claims)
}

/// Whether a quiescent state leaves a ticket undecided that its liveness claim covers.
fn stalled(facts: &[crate::history::Event], claims: &[Property]) -> bool {
    !checker::check(facts).stalled_for(claims).is_empty()
}

/// Breadth-first search; returns the path to the first violation (and the initial state it
/// starts from).
fn search(
    cfg: &Config,
    engine: &mut Engine,
    report: &mut Report,
    por: bool,
    mut terminals: Option<&mut HashSet<Fp>>,
) -> Option<(State, Vec<Step>, Kind)> {
    let claims = cfg.protocol.properties();
    let max_faults = cfg.protocol.max_faults(cfg.servers);
    let roots = engine.initials();
    let mut seen: HashSet<Fp> = HashSet::new();
    // parents[id] = (parent id, step into it); the first ids are the roots (no step).
    let mut parents: Vec<(u32, Option<Step>)> = Vec::new();
    let path_to = |parents: &[(u32, Option<Step>)], mut id: u32| -> (u32, Vec<Step>) {
        let mut steps = Vec::new();
        while let (p, Some(s)) = parents[id as usize] {
            steps.push(s);
            id = p;
        }
        steps.reverse();
        (id, steps)
    };
    let mut frontier: Vec<(u32, State)> = Vec::new();
    for root in roots.iter() {
        if seen.insert(root.fingerprint()) {
            let id = parents.len() as u32;
            parents.push((id, None));
            frontier.push((id, root.clone()));
        }
    }
    report.states = frontier.len() as u64;
    if !safety(&roots[0].facts, claims).is_empty() {
        return Some((roots[0].clone(), Vec::new(), Kind::Safety));
    }
    let found = |parents: &[(u32, Option<Step>)], id: u32, kind: Kind| {
        let (root, steps) = path_to(parents, id);
        Some((roots[root as usize].clone(), steps, kind))
    };
    let started = Instant::now();
    let mut last_print = Instant::now();
    while !frontier.is_empty() {
        if cfg.progress && last_print.elapsed().as_secs_f64() >= 2.0 {
            last_print = Instant::now();
            eprintln!(
                "check: depth {}, {} states to expand, {} states, {} transitions, {:.0} s",
                frontier[0].1.depth,
                frontier.len(),
                report.states,
                report.transitions,
                started.elapsed().as_secs_f64()
            );
        }
        let mut next: Vec<(u32, State)> = Vec::new();
        for (id, st) in frontier {
            let enabled = engine.enabled(&st);
            if enabled.is_empty() {
                report.terminal += 1;
                if let Some(t) = terminals.as_deref_mut() {
                    t.insert(st.fingerprint());
                }
                let within = u16::from(st.crashed_injected) <= max_faults;
                if within && stalled(&st.facts, claims) {
                    return found(&parents, id, Kind::Liveness);
                }
                continue;
            }
            if st.depth >= cfg.depth {
                report.exhausted = false;
                continue;
            }
            let steps = if por {
                engine.persistent(&st, &enabled)
            } else {
                enabled
            };
            for step in steps {
                report.transitions += 1;
                let (child, changed) = engine.apply(&st, step);
                if por && engine.work.halts > 0 {
                    return None; // the caller starts again without the reduction
                }
                if !seen.insert(child.fingerprint()) {
                    continue;
                }
                let cid = parents.len() as u32;
                parents.push((id, Some(step)));
                report.states += 1;
                report.max_depth = report.max_depth.max(child.depth);
                if changed && !safety(&child.facts, claims).is_empty() {
                    return found(&parents, cid, Kind::Safety);
                }
                if report.states >= cfg.max_states {
                    report.exhausted = false;
                    return None;
                }
                next.push((cid, child));
            }
        }
        frontier = next;
    }
    None
}

/// The human summary.
pub fn render(r: &Report) -> String {
    use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "protocol",
        "n",
        "tickets → servers",
        "crashes",
        "false\nsuspicions",
        "claims",
        "states",
        "transitions",
        "max depth",
        "exhausted",
        "time s",
        "result",
    ]);
    let tickets = r
        .submit
        .iter()
        .enumerate()
        .map(|(k, s)| {
            format!(
                "t{}→{{{}}}",
                k + 1,
                s.iter()
                    .map(|x| format!("s{x}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let claims = if r.liveness_checked {
        r.claims.join(", ")
    } else {
        let safety: Vec<&str> = r
            .claims
            .iter()
            .map(String::as_str)
            .filter(|c| c.starts_with("E-1"))
            .collect();
        format!("{} (liveness not checked)", safety.join(", "))
    };
    t.add_row(vec![
        r.protocol.to_string(),
        r.servers.to_string(),
        tickets,
        format!("≤ {}", r.crashes),
        format!("≤ {}", r.suspicions),
        claims,
        r.states.to_string(),
        r.transitions.to_string(),
        r.max_depth.to_string(),
        if r.exhausted { "yes" } else { "no" }.into(),
        format!("{:.2}", r.seconds),
        match &r.violation {
            None => "no violation".into(),
            Some(v) => format!("{} ({})", v.properties.join(", "), v.kind),
        },
    ]);
    let mut text = format!("check: every interleaving of {} (BFS)\n{t}", r.protocol);
    if !r.liveness_checked {
        text.push_str(&format!(
            "\nnote: {} crash(es) exceed {}'s fault model (max_faults({}) = {}): safety only, \
             liveness is not a claim there",
            r.crashes, r.protocol, r.servers, r.max_faults
        ));
    }
    if !r.exhausted && r.violation.is_none() {
        text.push_str(&format!(
            "\nnot exhausted: the bounds cut the search (depth {}, {} states); no violation \
             within them",
            r.depth_bound, r.max_states
        ));
    }
    if let Some(v) = &r.violation {
        text.push_str(&format!(
            "\ncounterexample ({} steps, shortest found):",
            v.steps
        ));
        for (i, s) in v.trace.iter().enumerate() {
            text.push_str(&format!("\n  {:>3}. {s}", i + 1));
        }
        for d in &v.details {
            text.push_str(&format!("\n{d}"));
        }
        for note in &v.replay_notes {
            text.push_str(&format!("\nreplay note: {note}"));
        }
        if let Some(f) = &v.file {
            text.push_str(&format!(
                "\nwritten to {f}; replay: ticketlab run {f} --sim --strict ({})",
                if v.replay_reproduced {
                    "checked: the simulator reproduces the violation"
                } else {
                    "WARNING: the simulator did not reproduce it"
                }
            ));
        }
    }
    text
}

/// Where counterexamples go by default.
pub fn default_out() -> PathBuf {
    Path::new("results").join("check")
}
