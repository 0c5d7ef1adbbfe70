//! Shrinking a failing scenario (`ticketlab explore`): delta debugging over the scenario, so that
//! a failure found among dozens of tickets and faults is written a second time as a small one.
//!
//! A change is kept only while the *same property* still fails (the first the original fails,
//! safety first: [`Checked::failed_properties`](crate::checker::Checked::failed_properties))
//! when the changed scenario is re-run in the simulator with the same seed. The passes, in
//! order, repeated until a round changes nothing or the budget is spent:
//! 1. simplify: jitter, think time and the duplicate gap to 0;
//! 2. fewer generated tickets (`workload.tickets`, the smallest prefix that still fails);
//! 3. generated tickets as scripted `[[ticket]]`s, at the servers and instants the last failing
//!    run submitted them (so that any of them, not only a suffix, can go), then fewer scripted
//!    tickets, and fewer submissions per ticket;
//! 4. a smaller `workload.concurrency`;
//! 5. fewer faults — a fault that ends another one (a heal, a resume, a delay back to normal)
//!    only goes with it, so every partition still heals and every pause still resumes;
//! 6. fewer servers, never below [`MIN_SERVERS`]: the servers as they are when every server a
//!    fault or ticket names still exists, else the named ones renumbered 1, 2, … in order; the
//!    faults must still fit the protocol's fault model at the smaller size (crashes — and for a
//!    protocol that halts a suspected server, every server that may look crashed — at most
//!    `max_faults(n)`, Byzantine servers within its bound).
//!
//! Every candidate goes through [`to_toml`](crate::scenario::to_toml) and
//! [`load`](crate::scenario::load) before it runs, so an invalid one is skipped for free and the
//! written file is exactly what was re-run. Deterministic: the simulator is, and so is every
//! pass (no randomness, fixed orders). Bounded: at most [`BUDGET`] re-runs per failure.

use crate::checker;
use crate::history::Event;
use crate::lab::{Runtime, Stop};
use crate::protocol::{Property, ProtocolKind, ServerId};
use crate::scenario::{self, Fault, FaultAction, Mode, Scenario, ScriptedTicket, Submission};
use std::collections::{BTreeMap, BTreeSet};

/// Simulator re-runs one shrink may spend, the check of the original included. Measured, the
/// first 20 failures of `explore --protocols 2pe-minority` take 4 to 81 (a round of passes over
/// a few dozen tickets and faults is ~50 runs, of a scenario that gets smaller); one simulator
/// run of an explore scenario takes about a millisecond in a release build, so a shrink stays
/// well under a second even when it spends the whole budget.
pub const BUDGET: u32 = 200;

/// Clusters are not shrunk below this size: from 3 servers on a majority is not "all", so the
/// protocols' quorums still mean what they mean at larger sizes.
pub const MIN_SERVERS: u16 = 3;

/// Why a shrink stopped before a round of passes changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Halt {
    /// [`BUDGET`] re-runs spent.
    Budget,
    /// SIGINT/SIGTERM (or the runtime stopped a run).
    Interrupted,
}

/// The size of a scenario, as shrinking counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    /// Generated plus scripted tickets.
    pub tickets: u64,
    pub faults: usize,
    pub servers: u16,
}

impl Size {
    pub fn of(s: &Scenario) -> Size {
        Size {
            tickets: s.workload.tickets + s.tickets.len() as u64,
            faults: s.faults.len(),
            servers: s.cluster.servers,
        }
    }
}

/// A shrunk failure.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smallest scenario found (in simulator mode); it fails [`Self::property`].
    pub scenario: Scenario,
    /// The property the original fails first and the shrunk scenario still fails.
    pub property: Property,
    /// The shrunk run's claimed violations and undecided tickets, one line each.
    pub details: Vec<String>,
    /// Simulator re-runs spent (≤ [`BUDGET`]).
    pub runs: u32,
    /// Set when the shrink stopped early: the scenario is the smallest found so far.
    pub halted: Option<Halt>,
}

/// Shrink `original`, a scenario of `protocol` that failed with `seed`, by re-running candidates
/// on `sim` (a simulator runtime) with that seed. `stop` is asked before every re-run (a
/// signal). `None` when the original does not fail any claimed property in the simulator (a
/// failure found with real processes whose timing the simulator does not reproduce), or when
/// `stop` held before its first run.
pub fn shrink(
    original: &Scenario,
    protocol: ProtocolKind,
    seed: u64,
    sim: &dyn Runtime,
    stop: &dyn Fn() -> bool,
) -> Option<Shrunk> {
    let mut start = original.clone();
    start.cluster.mode = Mode::Sim;
    start.cluster.protocols = vec![protocol];
    start.seed = Some(seed);
    let start = reload(&start)?;
    if stop() {
        return None;
    }
    let first = sim.run(&start, protocol, seed);
    if first.stop.is_some() {
        return None;
    }
    let history = first.output.history;
    let property = *checker::check(&history)
        .failed_properties(protocol.properties())
        .first()?;
    let mut t = Tester {
        protocol,
        seed,
        sim,
        stop,
        property,
        runs: 1,
        halted: None,
        best: start,
        history,
    };
    loop {
        let before = t.best.clone();
        simplify(&mut t);
        fewer_generated(&mut t);
        script_generated(&mut t);
        fewer_scripted(&mut t);
        fewer_submissions(&mut t);
        less_concurrency(&mut t);
        fewer_faults(&mut t);
        fewer_servers(&mut t);
        if t.halted.is_some() || t.best == before {
            break;
        }
    }
    let details = details(&t.history, protocol);
    Some(Shrunk {
        scenario: t.best,
        property,
        details,
        runs: t.runs,
        halted: t.halted,
    })
}

/// The scenario as its file would load it back (`None`: it does not validate).
fn reload(s: &Scenario) -> Option<Scenario> {
    scenario::load("shrink candidate", &scenario::to_toml(s, ""), &[]).ok()
}

/// The claimed violations and undecided tickets of a run, one line each (for file headers).
fn details(history: &[Event], protocol: ProtocolKind) -> Vec<String> {
    let c = checker::check(history);
    let claims = protocol.properties();
    let mut lines: Vec<String> = c.claimed(claims).iter().map(|v| v.to_string()).collect();
    for t in c.stalled_for(claims) {
        lines.push(format!("ticket {t}: undecided at the deadline (liveness)"));
    }
    lines
}

/// The best scenario so far and the re-runs that judge candidates against it.
struct Tester<'a> {
    protocol: ProtocolKind,
    seed: u64,
    sim: &'a dyn Runtime,
    stop: &'a dyn Fn() -> bool,
    property: Property,
    runs: u32,
    halted: Option<Halt>,
    best: Scenario,
    /// The history of the best scenario's run.
    history: Vec<Event>,
}

impl Tester<'_> {
    /// Whether `candidate` still fails the property; if so it becomes the best. False without a
    /// run when it does not validate, is the best already, or the shrink has halted.
    fn attempt(&mut self, candidate: &Scenario) -> bool {
        if self.halted.is_some() {
            return false;
        }
        let Some(candidate) = reload(candidate) else {
            return false;
        };
        if candidate == self.best {
            return false;
        }
        if self.runs >= BUDGET {
            self.halted = Some(Halt::Budget);
            return false;
        }
        if (self.stop)() {
            self.halted = Some(Halt::Interrupted);
            return false;
        }
        self.runs += 1;
        let run = self.sim.run(&candidate, self.protocol, self.seed);
        if let Some(stop) = run.stop {
            // The simulator never stops a run; another runtime may, on a signal.
            if let Stop::Failed(e) = stop {
                tracing::warn!("shrink: a re-run failed: {e:#}");
            }
            self.halted = Some(Halt::Interrupted);
            return false;
        }
        let failed =
            checker::check(&run.output.history).failed_properties(self.protocol.properties());
        if failed.contains(&self.property) {
            self.best = candidate;
            self.history = run.output.history;
            true
        } else {
            false
        }
    }

    /// Try `change` applied to the best scenario.
    fn try_with(&mut self, change: impl FnOnce(&mut Scenario)) -> bool {
        let mut c = self.best.clone();
        change(&mut c);
        self.attempt(&c)
    }
}

/// Delta debugging (Zeller's ddmin, on the removal side): a subset of `0..n`, as small as found,
/// for which `fails` holds (it holds for `0..n`). Removes chunks of the kept indices, all of
/// them at first, then halves, quarters… down to single ones: about 2n calls at most.
fn ddmin(n: usize, fails: &mut dyn FnMut(&[usize]) -> bool) -> Vec<usize> {
    let mut kept: Vec<usize> = (0..n).collect();
    let mut chunk = n;
    while chunk > 0 && !kept.is_empty() {
        let mut start = 0;
        while start < kept.len() {
            let end = (start + chunk).min(kept.len());
            let candidate: Vec<usize> = kept[..start].iter().chain(&kept[end..]).copied().collect();
            if fails(&candidate) {
                kept = candidate;
            } else {
                start = end;
            }
        }
        if chunk == 1 {
            break;
        }
        chunk = chunk.div_ceil(2).min(kept.len());
    }
    kept
}

/// The smallest value in `lo..cur` for which `set(value)` still fails, by bisection (`lo` first).
fn minimize(t: &mut Tester, lo: u64, cur: u64, set: impl Fn(&mut Scenario, u64)) {
    if cur <= lo || t.try_with(|s| set(s, lo)) {
        return;
    }
    let (mut passes, mut fails) = (lo, cur);
    while fails - passes > 1 {
        let mid = passes + (fails - passes) / 2;
        if t.try_with(|s| set(s, mid)) {
            fails = mid;
        } else {
            passes = mid;
        }
    }
}

fn simplify(t: &mut Tester) {
    if t.best.cluster.jitter > 0 {
        t.try_with(|s| s.cluster.jitter = 0);
    }
    if t.best.workload.think > 0 {
        t.try_with(|s| s.workload.think = 0);
    }
    if t.best.workload.duplicate_gap > 0 {
        t.try_with(|s| s.workload.duplicate_gap = 0);
    }
}

fn fewer_generated(t: &mut Tester) {
    // No ticket at all cannot fail: at least one, unless scripted tickets remain.
    let lo = u64::from(t.best.tickets.is_empty());
    let cur = t.best.workload.tickets;
    minimize(t, lo, cur, |s, v| s.workload.tickets = v);
}

/// Generated tickets become scripted ones, submitted where and when the last failing run
/// submitted them (refused submissions included: they are refused again).
fn script_generated(t: &mut Tester) {
    let generated = t.best.workload.tickets;
    if generated == 0 || Size::of(&t.best).tickets <= 1 {
        return;
    }
    let ids: BTreeMap<String, u64> = (1..=generated)
        .map(|k| (scenario::generated_ticket_id(k), k))
        .collect();
    let mut subs: BTreeMap<u64, Vec<Submission>> = BTreeMap::new();
    for e in &t.history {
        if let Event::Submit {
            t_us,
            ticket,
            server,
        }
        | Event::Refused {
            t_us,
            ticket,
            server,
            ..
        } = e
        {
            if let Some(&k) = ids.get(&ticket.0) {
                subs.entry(k).or_default().push(Submission {
                    server: *server,
                    at: *t_us,
                });
            }
        }
    }
    let scripted: Vec<ScriptedTicket> = subs
        .into_iter()
        .map(|(k, submit)| ScriptedTicket {
            id: scenario::generated_ticket_id(k),
            submit,
        })
        .collect();
    t.try_with(|s| {
        let w = &mut s.workload;
        w.tickets = 0;
        w.concurrency = 1;
        w.open = None;
        w.think = 0;
        w.duplicates = 0.0;
        w.duplicate_gap = 0;
        w.submit_to = scenario::SubmitTo::Random;
        let mut all = scripted;
        all.append(&mut s.tickets);
        s.tickets = all;
    });
}

fn fewer_scripted(t: &mut Tester) {
    let base = t.best.clone();
    ddmin(base.tickets.len(), &mut |kept| {
        let mut c = base.clone();
        c.tickets = kept.iter().map(|&i| base.tickets[i].clone()).collect();
        t.attempt(&c)
    });
}

fn fewer_submissions(t: &mut Tester) {
    for i in 0..t.best.tickets.len() {
        let base = t.best.clone();
        let subs = &base.tickets[i].submit;
        if subs.len() < 2 {
            continue;
        }
        ddmin(subs.len(), &mut |kept| {
            if kept.is_empty() {
                return false;
            }
            let mut c = base.clone();
            c.tickets[i].submit = kept.iter().map(|&j| subs[j].clone()).collect();
            t.attempt(&c)
        });
    }
}

fn less_concurrency(t: &mut Tester) {
    let cur = u64::from(t.best.workload.concurrency);
    minimize(t, 1, cur, |s, v| {
        s.workload.concurrency = u32::try_from(v).unwrap_or(u32::MAX)
    });
}

fn fewer_faults(t: &mut Tester) {
    let base = t.best.clone();
    let units = fault_units(&base.faults);
    ddmin(units.len(), &mut |kept| {
        let mut keep: Vec<usize> = kept.iter().flat_map(|&u| units[u].clone()).collect();
        keep.sort_unstable();
        let mut c = base.clone();
        c.faults = keep.iter().map(|&i| base.faults[i].clone()).collect();
        t.attempt(&c)
    });
}

/// The faults that go together: a partition or block with the heal that ends it, a pause with
/// its resume, a delay with the next delay on one of its links (which ends or changes it).
/// Each unit lists fault indices in order; units are ordered by their first fault.
fn fault_units(faults: &[Fault]) -> Vec<Vec<usize>> {
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let overlap = |a: &[ServerId], b: &[ServerId]| a.iter().any(|x| b.contains(x));
    let mut parent: Vec<usize> = (0..faults.len()).collect();
    for (i, f) in faults.iter().enumerate() {
        // The first later fault (by time, then position) that ends or overrides f.
        let ends = |g: &Fault| match (&f.action, &g.action) {
            (FaultAction::Partition(_) | FaultAction::Block { .. }, FaultAction::Heal) => true,
            (FaultAction::Pause(a), FaultAction::Resume(b)) => overlap(a, b),
            (
                FaultAction::Delay { from, to, .. },
                FaultAction::Delay {
                    from: from2,
                    to: to2,
                    ..
                },
            ) => overlap(from, from2) && overlap(to, to2),
            _ => false,
        };
        let end = faults
            .iter()
            .enumerate()
            .filter(|&(j, g)| (g.at, j) > (f.at, i) && ends(g))
            .min_by_key(|&(j, g)| (g.at, j));
        if let Some((j, _)) = end {
            let (a, b) = (root(&mut parent, i), root(&mut parent, j));
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut units: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..faults.len() {
        let r = root(&mut parent, i);
        units.entry(r).or_default().push(i);
    }
    units.into_values().collect()
}

/// A smaller cluster: the servers as they are when every server named still exists, else the
/// named servers renumbered 1, 2, … in their order (roles such as a round's coordinator change
/// with ids: the re-run says whether the failure survives it).
fn fewer_servers(t: &mut Tester) {
    let n = t.best.cluster.servers;
    let named = named_servers(&t.best);
    for smaller in MIN_SERVERS..n {
        let mut c = t.best.clone();
        if named.last().is_some_and(|&s| s > smaller) {
            if named.len() > usize::from(smaller) {
                continue;
            }
            let map: BTreeMap<ServerId, ServerId> = named.iter().copied().zip(1..).collect();
            renumber(&mut c, &mut |s| map.get(&s).copied().unwrap_or(s));
        }
        c.cluster.servers = smaller;
        if within_fault_model(&c, t.protocol) && t.attempt(&c) {
            return;
        }
    }
}

/// Every server a fault, a scripted ticket or `workload.submit_to` names, in order.
fn named_servers(s: &Scenario) -> Vec<ServerId> {
    let mut named = BTreeSet::new();
    renumber(&mut s.clone(), &mut |id| {
        named.insert(id);
        id
    });
    named.into_iter().collect()
}

/// Apply `map` to every server id the scenario's faults, scripted tickets and `submit_to` name.
fn renumber(s: &mut Scenario, map: &mut dyn FnMut(ServerId) -> ServerId) {
    fn ids(v: &mut [ServerId], map: &mut dyn FnMut(ServerId) -> ServerId) {
        v.iter_mut().for_each(|id| *id = map(*id));
    }
    for f in &mut s.faults {
        if let Some(a) = &mut f.after {
            a.server = map(a.server);
        }
        match &mut f.action {
            FaultAction::Crash(v) | FaultAction::Pause(v) | FaultAction::Resume(v) => ids(v, map),
            FaultAction::Delay { from, to, .. }
            | FaultAction::Block { from, to }
            | FaultAction::Loss { from, to, .. } => {
                ids(from, map);
                ids(to, map);
            }
            FaultAction::Partition(groups) => groups.iter_mut().for_each(|g| ids(g, map)),
            FaultAction::Heal => {}
            FaultAction::Suspect { by, server, .. } => {
                *by = map(*by);
                *server = map(*server);
            }
            FaultAction::Byzantine { servers, .. } => ids(servers, map),
        }
    }
    for t in &mut s.tickets {
        t.submit.iter_mut().for_each(|x| x.server = map(x.server));
    }
    if let scenario::SubmitTo::Servers(list) = &mut s.workload.submit_to {
        ids(list, map);
    }
    if let Some(b) = &mut s.byzantine {
        ids(&mut b.servers, map);
    }
}

/// Whether the faults fit the protocol's fault model at the scenario's size, as `explore`
/// generates them: at most `max_faults(n)` servers crash — or, for a protocol that halts a
/// server its peers suspect, may look crashed (suspected, paused, sending on a slow or lossy
/// link) — and Byzantine servers stay within the protocol's bound.
fn within_fault_model(s: &Scenario, protocol: ProtocolKind) -> bool {
    let n = s.cluster.servers;
    let halts = protocol.halts_on_suspicion();
    let mut lost: BTreeSet<ServerId> = BTreeSet::new();
    let mut byzantine: BTreeSet<ServerId> = BTreeSet::new();
    for f in &s.faults {
        match &f.action {
            FaultAction::Crash(v) => lost.extend(v),
            FaultAction::Suspect { server, .. } if halts => {
                lost.insert(*server);
            }
            FaultAction::Pause(v) if halts => lost.extend(v),
            FaultAction::Loss { from, .. } | FaultAction::Delay { from, .. } if halts => {
                lost.extend(from)
            }
            FaultAction::Byzantine { servers, .. } => byzantine.extend(servers),
            _ => {}
        }
    }
    let bound = protocol.byzantine_bound(n);
    lost.len() <= usize::from(protocol.max_faults(n))
        && byzantine.len() <= usize::from(bound)
        && (!protocol.masks_byzantine() || s.cluster.byzantine_max <= bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::After;

    fn fault(at: u64, action: FaultAction) -> Fault {
        Fault {
            at,
            after: None,
            action,
        }
    }

    #[test]
    fn ddmin_finds_the_two_needed_indices_among_many() {
        let mut calls = 0;
        let kept = ddmin(20, &mut |k| {
            calls += 1;
            k.contains(&3) && k.contains(&17)
        });
        assert_eq!(kept, vec![3, 17]);
        assert!(calls <= 45, "{calls} calls");
        assert_eq!(ddmin(5, &mut |_| true), Vec::<usize>::new());
        assert_eq!(ddmin(4, &mut |k| k.len() == 4), vec![0, 1, 2, 3]);
    }

    #[test]
    fn fault_units_keep_every_ending_with_what_it_ends() {
        use FaultAction::*;
        let faults = vec![
            fault(100, Partition(vec![vec![1], vec![2, 3]])),
            fault(50, Crash(vec![2])),
            fault(300, Heal),
            fault(10, Pause(vec![3])),
            fault(20, Pause(vec![1])),
            fault(90, Resume(vec![3])),
            fault(
                0,
                Delay {
                    from: vec![1],
                    to: vec![2],
                    delay: 50_000,
                },
            ),
            fault(
                70,
                Delay {
                    from: vec![1],
                    to: vec![2],
                    delay: 10_000,
                },
            ),
            Fault {
                at: 0,
                after: Some(After {
                    server: 1,
                    event: crate::scenario::EventKind::Decide,
                    count: 1,
                }),
                action: Crash(vec![1]),
            },
        ];
        assert_eq!(
            fault_units(&faults),
            vec![
                vec![0, 2],
                vec![1],
                vec![3, 5],
                vec![4],
                vec![6, 7],
                vec![8]
            ]
        );
    }
}
