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
//! - **Timers**: protocol timers fire at any point, at most `timers` times per server along a
//!   path; a state where only spent timers are left is a cut (no liveness judged there), so a
//!   protocol that retries forever (qlock-backoff's backoff) still has a finite space.
//! - **Timed liveness**: alo-2pe's and qlock-backoff's liveness rests on timing
//!   (`ProtocolKind::liveness_is_timed`), which an untimed search cannot judge: safety only.
//! - **Counterexample replay**: a path the simulator cannot replay exactly (two messages sent
//!   together on one link, delivered apart) is passed over for the next violation BFS meets,
//!   up to [`REPLAY_TRIES`]; then the first is reported with the replay's warning.
//! - **Cost**: the failure detector's hash leaves out the per-peer "last heard" times and
//!   timeouts, which only the heartbeat tick reads (it never fires here), so states that differ
//!   only in the order messages arrived merge. Measured (release, n = 3, t1 to s1 and s2, t2 to
//!   s3, ≤ 1 crash): 2pe 1.4 M states in 5 s, se-ct 0.6 M, se-gb 4.2 M, se-oar 0.3 M, alo-2pe
//!   8.7 M in 33 s, se-opt 27.4 M in ~150 s; about 250 bytes per state (qlock-backoff ~1 KB). The search
//!   stops at `max_states` or `max_memory_mb`.

pub mod model;
pub mod replay;

use crate::checker::{self, Violation};
use crate::lab::Runtime;
use crate::protocol::{NodeConfig, Property, ProtocolKind, ServerId, Ticket};
use crate::report::wrap;
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
/// Counterexamples tried before the first one is reported although the simulator could not
/// replay it exactly.
pub const REPLAY_TRIES: u32 = 20;
/// The largest timer bound `check` accepts.
pub const MAX_TIMERS: u8 = 5;

/// What to check (validated by [`Config::validate`]).
#[derive(Clone, Debug)]
pub struct Config {
    pub protocol: ProtocolKind,
    pub servers: u16,
    /// Servers each ticket is submitted to; ticket k is named "t{k}".
    pub submit: Vec<Vec<ServerId>>,
    pub crashes: u8,
    pub suspicions: u8,
    /// Protocol timer firings per server along a path ([`model::Model::timers`]).
    pub timers: u8,
    /// Steps from the initial state beyond which nothing is expanded.
    pub depth: u32,
    /// Distinct states beyond which the search stops.
    pub max_states: u64,
    /// Resident memory (MiB) beyond which the search stops (Linux; checked every 65,536 new
    /// states). `None`: no bound.
    pub max_memory_mb: Option<u64>,
    /// The seed handed to the protocols (and written into the replay scenario).
    pub seed: u64,
    /// Print a line per BFS layer on stderr (at most one every two seconds).
    pub progress: bool,
    /// Partial-order reduction (persistent sets); off only to cross-check it.
    pub reduce: bool,
}

/// The default workload: t1 is the double submission, to s1 and s2; every other ticket is an
/// honest one, submitted once: t_k to s_(k+1), wrapping. n = 3, 2 tickets → t1 to {s1, s2}, t2
/// to {s3}: a contended ticket and a concurrent one sharing the broadcast. (Two contended
/// tickets, `--submit 1,2 --submit 2,3`, multiply the space: 2pe has 13 M states failure-free.)
pub fn default_submit(servers: u16, tickets: usize) -> Vec<Vec<ServerId>> {
    (0..tickets)
        .map(|k| {
            if k == 0 && servers > 1 {
                vec![1, 2]
            } else {
                vec![((k as u16 + 1) % servers) + 1]
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
        if self.timers > MAX_TIMERS {
            anyhow::bail!(
                "--timers {}: an exhaustive search is feasible for 0 to {MAX_TIMERS} timer \
                 firings per server",
                self.timers
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
            timers: self.timers,
            cfg: NodeConfig {
                me: 1,
                n: self.servers,
                heartbeat: replay::HEARTBEAT_US,
                suspect_after: replay::SUSPECT_AFTER_US,
                seed: self.seed,
                delta: replay::DELTA_US,
                byzantine: 0,
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
    /// The timer bound: protocol timer firings per server along a path.
    pub timers: u8,
    /// States where only timers were left, their budget spent (no liveness judged there).
    pub timer_cuts: u64,
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
///
/// For a protocol whose tickets are independent objects
/// ([`ProtocolKind::tickets_independent`]) every run is an interleaving of per-ticket runs (a
/// crash, a suspicion or a timer firing of the whole run is one of each ticket's runs too), so
/// each ticket's space is searched alone and the figures are summed: the product of the spaces
/// is never built. Other protocols are searched whole.
pub fn run(cfg: &Config, out: &Path, runtime: &dyn Runtime) -> anyhow::Result<Report> {
    cfg.validate()?;
    let started = Instant::now();
    let whole = cfg.model();
    let parts: Vec<Model> = if cfg.protocol.tickets_independent() && whole.tickets.len() > 1 {
        whole
            .tickets
            .iter()
            .map(|t| Model {
                tickets: vec![t.clone()],
                ..whole.clone()
            })
            .collect()
    } else {
        vec![whole]
    };
    let mut report = empty_report(cfg);
    let split = parts.len() > 1;
    let mut sizes = Vec::new();
    for model in parts {
        let name = model.tickets[0].0.clone();
        let part = search_model(cfg, model, out, runtime)?;
        sizes.push(format!("{name}: {} states", part.states));
        report.states += part.states;
        report.transitions += part.transitions;
        report.terminal += part.terminal;
        report.timer_cuts += part.timer_cuts;
        report.max_depth = report.max_depth.max(part.max_depth);
        report.exhausted &= part.exhausted;
        report.reduced &= part.reduced;
        report.protocol_calls += part.protocol_calls;
        for note in part.notes {
            if !report.notes.contains(&note) {
                report.notes.push(note);
            }
        }
        if part.violation.is_some() {
            report.violation = part.violation;
            break;
        }
        if !part.exhausted {
            break;
        }
    }
    if split {
        report.notes.insert(
            0,
            format!(
                "{}'s tickets are independent objects: each ticket's space was searched alone \
                 ({})",
                cfg.protocol,
                sizes.join(", ")
            ),
        );
    }
    if !report.exhausted && report.violation.is_none() {
        if let Some(why) = unbounded_note(cfg) {
            report.notes.push(why);
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Why a protocol's space may not be exhausted at all, whatever the bounds: said next to "not
/// exhausted" so that it does not read as a verdict in the making.
fn unbounded_note(cfg: &Config) -> Option<String> {
    let racing = cfg.submit.iter().any(|s| s.len() > 1);
    (cfg.protocol == ProtocolKind::BftFleet && racing).then(|| {
        "bft-fleet: claimants racing for one ticket make a space that grows ~1.5× per step \
         (each Q-RPC completes on whichever quorum answers first, and Fleet's rounds have no \
         bound: while claimants disagree a coin decides whether another follows); a lone claim \
         (`--submit 1`) is exhausted in ~13 k states"
            .to_string()
    })
}

/// One search over `model`'s tickets (the whole workload, or one independent ticket).
fn search_model(
    cfg: &Config,
    model: Model,
    out: &Path,
    runtime: &dyn Runtime,
) -> anyhow::Result<Report> {
    let mut engine = Engine::new(model.clone());
    let mut report = empty_report(cfg);
    // A counterexample the simulator cannot replay exactly (two messages sent together on one
    // link, delivered apart) is passed over for the next one BFS meets, a few times.
    let mut replayed: Option<anyhow::Result<Found>> = None;
    let mut tries = 0;
    let mut accept = |root: &State, path: &[Step], kind: Kind| {
        tries += 1;
        let mut fresh = Engine::new(model.clone());
        let v = replay::counterexample(&mut fresh, root, path, kind, out, runtime);
        // Keep the first (shortest) unless a later one replays exactly.
        let exact = v.as_ref().map_or(true, |f| f.replay_reproduced);
        if exact || replayed.is_none() {
            replayed = Some(v);
        }
        exact || tries >= REPLAY_TRIES
    };
    let mut found = search(cfg, &mut engine, &mut report, cfg.reduce, None, &mut accept);
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
        found = search(cfg, &mut engine, &mut report, false, None, &mut accept);
    }
    report.protocol_calls = engine.work.protocol_calls;
    if found || replayed.is_some() {
        let v = replayed.expect("a counterexample was replayed")?;
        report.violation = Some(v);
    }
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
        &mut |_: &State, _: &[Step], _: Kind| true,
    ) {
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
        liveness_checked: u16::from(cfg.crashes) <= max_faults && !cfg.protocol.liveness_is_timed(),
        max_faults,
        depth_bound: cfg.depth,
        max_states: cfg.max_states,
        states: 0,
        transitions: 0,
        terminal: 0,
        timers: cfg.timers,
        timer_cuts: 0,
        reduced: cfg.reduce,
        notes: Vec::new(),
        max_depth: 0,
        exhausted: true,
        seconds: 0.0,
        protocol_calls: 0,
        violation: None,
    }
}

/// This process's resident memory in MiB (Linux's /proc/self/statm; `None` elsewhere).
fn resident_mb() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096 / (1 << 20))
}

/// Half of the machine's memory in MiB (Linux's /proc/meminfo; `None` elsewhere): the default
/// memory bound of a search.
pub fn default_max_memory_mb() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024 / 2)
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

/// Breadth-first search. Every violation met is handed to `accept` (its initial state, the
/// path, the kind); the search stops at the first one accepted and returns true.
fn search(
    cfg: &Config,
    engine: &mut Engine,
    report: &mut Report,
    por: bool,
    mut terminals: Option<&mut HashSet<Fp>>,
    accept: &mut dyn FnMut(&State, &[Step], Kind) -> bool,
) -> bool {
    let claims = cfg.protocol.properties();
    let max_faults = cfg.protocol.max_faults(cfg.servers);
    let untimed = !cfg.protocol.liveness_is_timed();
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
    if !safety(&roots[0].facts, claims).is_empty() && accept(&roots[0], &[], Kind::Safety) {
        return true;
    }
    let mut found = |parents: &[(u32, Option<Step>)], id: u32, kind: Kind| {
        let (root, steps) = path_to(parents, id);
        accept(&roots[root as usize], &steps, kind)
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
            if enabled.is_empty() && !st.timers.is_empty() {
                // Timers left, their budget spent: a cut, not quiescence (no liveness here).
                report.timer_cuts += 1;
                continue;
            }
            if enabled.is_empty() {
                report.terminal += 1;
                if let Some(t) = terminals.as_deref_mut() {
                    t.insert(st.fingerprint());
                }
                let within = u16::from(st.crashed_injected) <= max_faults;
                if within
                    && untimed
                    && stalled(&st.facts, claims)
                    && found(&parents, id, Kind::Liveness)
                {
                    return true;
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
                    return false; // the caller starts again without the reduction
                }
                if !seen.insert(child.fingerprint()) {
                    continue;
                }
                let cid = parents.len() as u32;
                parents.push((id, Some(step)));
                report.states += 1;
                report.max_depth = report.max_depth.max(child.depth);
                if changed && !safety(&child.facts, claims).is_empty() {
                    if found(&parents, cid, Kind::Safety) {
                        return true;
                    }
                    continue; // a violating state is not expanded
                }
                if report.states >= cfg.max_states {
                    report.exhausted = false;
                    return false;
                }
                if report.states.is_multiple_of(65_536) {
                    if let (Some(limit), Some(rss)) = (cfg.max_memory_mb, resident_mb()) {
                        if rss >= limit {
                            report.exhausted = false;
                            report.notes.push(format!(
                                "stopped at {rss} MiB of memory (--max-memory {limit} MiB)"
                            ));
                            return false;
                        }
                    }
                }
                next.push((cid, child));
            }
        }
        frontier = next;
    }
    false
}

/// The human summary.
pub fn render(r: &Report) -> String {
    use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
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
    let rows: Vec<(&str, String)> = vec![
        ("protocol", r.protocol.to_string()),
        ("servers", r.servers.to_string()),
        ("tickets → servers", tickets),
        (
            "faults",
            format!(
                "crashes ≤ {}, false suspicions ≤ {}, timer firings ≤ {} per server",
                r.crashes, r.suspicions, r.timers
            ),
        ),
        ("claims", claims),
        (
            "explored",
            format!(
                "{} states, {} transitions, max depth {}{}",
                r.states,
                r.transitions,
                r.max_depth,
                if r.reduced { "" } else { " (no reduction)" }
            ),
        ),
        (
            "exhausted",
            if r.exhausted { "yes" } else { "no" }.to_string(),
        ),
        ("time", format!("{:.2} s", r.seconds)),
        (
            "result",
            match &r.violation {
                None => "no violation".into(),
                Some(v) => format!("{} violated ({})", v.properties.join(", "), v.kind),
            },
        ),
    ];
    for (k, v) in rows {
        t.add_row(vec![k.to_string(), v]);
    }
    t.set_width(80);
    t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    let mut text = format!("check: every interleaving of {} (BFS)\n{t}", r.protocol);
    let mut notes: Vec<String> = Vec::new();
    if r.protocol.liveness_is_timed() {
        notes.push(format!(
            "note: {}'s liveness rests on timing (a suspicion held for a heartbeat period, \
             or backoff in synchronous runs), which an untimed search cannot judge: safety \
             only; `explore` and the simulator check its liveness",
            r.protocol
        ));
    } else if !r.liveness_checked {
        notes.push(format!(
            "note: {} crash(es) exceed {}'s fault model (max_faults({}) = {}): safety only, \
             liveness is not a claim there",
            r.crashes, r.protocol, r.servers, r.max_faults
        ));
    }
    if r.timer_cuts > 0 {
        notes.push(format!(
            "note: {} states had only timers left with their bound spent (--timers {} per \
             server): exhausted within that bound, liveness not judged there",
            r.timer_cuts, r.timers
        ));
    }
    if !r.exhausted && r.violation.is_none() {
        notes.push(format!(
            "not exhausted: a bound cut the search (depth {}, {} states, or memory); no \
             violation within them",
            r.depth_bound, r.max_states
        ));
    }
    notes.extend(r.notes.iter().map(|n| format!("note: {n}")));
    for note in &notes {
        text.push_str(&wrap(note, " ", 80, 2));
    }
    if let Some(v) = &r.violation {
        text.push_str(&format!(
            "\ncounterexample ({} steps, shortest found):",
            v.steps
        ));
        for (i, s) in v.trace.iter().enumerate() {
            text.push_str(&wrap(&format!("  {:>3}. {s}", i + 1), "; ", 80, 20));
        }
        for d in &v.details {
            text.push_str(&wrap(d, " ", 80, 2));
        }
        for note in &v.replay_notes {
            text.push_str(&wrap(&format!("replay note: {note}"), " ", 80, 2));
        }
        if let Some(f) = &v.file {
            let line = format!(
                "written to {f}; replay: ticketlab run {f} --sim --strict ({})",
                if v.replay_reproduced {
                    "checked: the simulator reproduces the violation"
                } else {
                    "WARNING: the simulator did not reproduce it"
                }
            );
            text.push_str(&wrap(&line, " ", 80, 2));
        }
    }
    text
}

/// Where counterexamples go by default.
pub fn default_out() -> PathBuf {
    Path::new("results").join("check")
}
