//! The campaign's driver: every (seed, protocol) run on a [`Runtime`] on its parallelism's
//! threads until a signal, the first failures of each protocol shrunk ([`crate::shrink`]), every
//! failure written as a scenario file (and its shrunk form beside it), the report's totals.

use super::{first_message, generate, reduce, Done, ProtocolTotals, Report};
use crate::lab::{Runtime, Stop};
use crate::nemesis::{self, Nemesis, Schedules};
use crate::protocol::ProtocolKind;
use crate::scenario::{FaultAction, Mode, Scenario};
use crate::shrink::{self, Shrunk};
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::Path;

/// Failures shrunk per protocol and campaign: the first ones by seed (the rest are written as
/// found, usually the same bug again). With [`shrink::BUDGET`] re-runs each, a campaign spends at
/// most `SHRINK_PER_PROTOCOL × BUDGET` extra simulator runs per protocol.
pub const SHRINK_PER_PROTOCOL: usize = 20;

/// A campaign: for every seed and protocol, a generated scenario run on `runtime` and judged.
pub struct Campaign<'a> {
    pub protocols: &'a [ProtocolKind],
    pub seeds: std::ops::Range<u64>,
    pub sizes: &'a [u16],
    /// Failures go to `<out>/failures/`.
    pub out: &'a Path,
    pub progress: bool,
    pub schedules: Schedules,
    pub runtime: &'a dyn Runtime,
    /// The simulator failures are shrunk with (`None`: written as found only). A signal it
    /// reports (`interrupted`) stops the campaign too.
    pub shrink_with: Option<&'a dyn Runtime>,
}

/// Run the campaign over `seeds` for each protocol on `runtime`; every failed run is written to
/// `<out>/failures/<protocol>-seed<k>.toml`, and shrunk (when `runtime` is the simulator) to
/// `<protocol>-seed<k>.shrunk.toml` beside it. See [`Campaign::run`].
pub fn campaign(
    protocols: &[ProtocolKind],
    seeds: std::ops::Range<u64>,
    sizes: &[u16],
    out: &Path,
    progress: bool,
    schedules: Schedules,
    runtime: &dyn Runtime,
) -> anyhow::Result<Report> {
    Campaign {
        protocols,
        seeds,
        sizes,
        out,
        progress,
        schedules,
        runtime,
        shrink_with: (runtime.mode() == Mode::Sim).then_some(runtime),
    }
    .run()
}

impl Campaign<'_> {
    /// Run every (seed, protocol), shrink the first [`SHRINK_PER_PROTOCOL`] failures of each
    /// protocol, write every failure. A signal (`runtime.interrupted()`) stops the campaign at
    /// the next run boundary (then nothing is shrunk) or the shrinks at their next re-run (a
    /// shrink keeps the smallest failing scenario found so far): the report then covers what
    /// finished and says it is not complete.
    pub fn run(&self) -> anyhow::Result<Report> {
        let runtime = self.runtime;
        let jobs: Vec<(u64, ProtocolKind)> = self
            .seeds
            .clone()
            .flat_map(|s| self.protocols.iter().map(move |&p| (s, p)))
            .collect();
        let bar = crate::progress::bar(jobs.len() as u64, "explore", self.progress);
        let mode = runtime.mode();
        // A signal, as the campaign's runtime or the shrinking simulator saw it.
        let interrupted = || {
            runtime
                .interrupted()
                .or_else(|| self.shrink_with.and_then(|s| s.interrupted()))
        };
        let stop = || interrupted().is_some();
        // One job: a pure function of its seed in the simulator, so the result does not depend on
        // which worker runs it.
        let job = |i: usize| -> anyhow::Result<Option<Done>> {
            let (seed, p) = jobs[i];
            let nemesis = self.schedules.pick(seed);
            let mut scenario = generate(seed, p, self.sizes);
            if nemesis != Nemesis::Random {
                scenario = nemesis::aim(scenario, nemesis, p, first_message(p), seed);
            }
            scenario.cluster.mode = mode;
            let result = runtime.run(&scenario, p, seed);
            let run = match result.stop {
                None => result.output,
                // Stopped by a signal mid-run: not a finished run, not counted.
                Some(Stop::Interrupted(_)) => return Ok(None),
                Some(Stop::Failed(e)) => {
                    return Err(e.context(format!("seed {seed}, {p}: the run failed")))
                }
            };
            bar.inc(1);
            Ok(Some(reduce(seed, nemesis, p, scenario, &run)))
        };
        let results: Vec<Done> = par_map(jobs.len(), runtime.parallelism(), &stop, &job)?;
        bar.finish_and_clear();

        // Shrink the first failures of each protocol (not after a signal: stop now).
        let mut per_protocol: BTreeMap<ProtocolKind, usize> = BTreeMap::new();
        let to_shrink: Vec<usize> = (0..results.len())
            .filter(|&i| {
                let f = &results[i].finding;
                if !f.failed() {
                    return false;
                }
                let count = per_protocol.entry(f.protocol).or_insert(0);
                *count += 1;
                *count <= SHRINK_PER_PROTOCOL
            })
            .collect();
        let shrunk: BTreeMap<usize, Shrunk> = match self.shrink_with {
            Some(sim) if !stop() && !to_shrink.is_empty() => {
                let bar = crate::progress::bar(to_shrink.len() as u64, "shrink", self.progress);
                let one = |k: usize| -> anyhow::Result<Option<(usize, Shrunk)>> {
                    let d = &results[to_shrink[k]];
                    let (p, seed) = (d.finding.protocol, d.finding.seed);
                    let s = shrink::shrink(&d.scenario, p, seed, sim, &stop);
                    bar.inc(1);
                    Ok(s.map(|s| (to_shrink[k], s)))
                };
                let all = par_map(to_shrink.len(), sim.parallelism(), &stop, &one)?;
                bar.finish_and_clear();
                all.into_iter().collect()
            }
            _ => BTreeMap::new(),
        };
        // A signal during the runs or the shrinks.
        let interrupted = interrupted();
        let mut report = Report {
            seeds: self.seeds.end - self.seeds.start,
            runs: results.len() as u64,
            violations: 0,
            failures: Vec::new(),
            shrunk: Vec::new(),
            protocols: self
                .protocols
                .iter()
                .map(|&p| ProtocolTotals::new(p))
                .collect(),
            mode,
            complete: interrupted.is_none(),
            interrupted,
            shrink_notes: Vec::new(),
        };
        for (i, done) in results.iter().enumerate() {
            let tried = to_shrink.contains(&i);
            self.record(&mut report, done, shrunk.get(&i), tried)?;
        }
        report.violations = report.failures.len() as u64;
        Ok(report)
    }

    /// Count one run into the report; write it (and its shrunk form) when it failed.
    fn record(
        &self,
        report: &mut Report,
        done: &Done,
        shrunk: Option<&Shrunk>,
        tried: bool,
    ) -> anyhow::Result<()> {
        let Done {
            scenario,
            finding,
            tickets,
            accepted,
            ..
        } = done;
        let t = report
            .protocols
            .iter_mut()
            .find(|t| t.protocol == finding.protocol)
            .expect("known protocol");
        t.runs += 1;
        t.e1 += finding.e1 as u64;
        t.e2 += finding.e2 as u64;
        t.e2_undecided += finding.e2_undecided as u64;
        t.unclaimed += finding.unclaimed as u64;
        for f in &scenario.faults {
            match &f.action {
                FaultAction::Crash(v) if f.after.is_some() => t.crashes_on_event += v.len() as u64,
                FaultAction::Crash(v) => t.crashes += v.len() as u64,
                FaultAction::Partition(_) => t.partitions += 1,
                FaultAction::Pause(_) => t.pauses += 1,
                FaultAction::Suspect { .. } => t.suspicions += 1,
                FaultAction::Loss { .. } => t.lossy_runs += 1,
                FaultAction::Byzantine { servers, .. } => t.byzantine += servers.len() as u64,
                _ => {}
            }
        }
        t.tickets += tickets;
        t.accepted += accepted;
        if !finding.failed() {
            return Ok(());
        }
        t.failures += 1;
        *t.found_by.entry(finding.nemesis).or_insert(0) += 1;
        let fail_dir = self.out.join("failures");
        std::fs::create_dir_all(&fail_dir)
            .with_context(|| format!("cannot create {}", fail_dir.display()))?;
        let stem = format!("{}-seed{}", finding.protocol, finding.seed);
        let path = fail_dir.join(format!("{stem}.toml"));
        let shrunk_path = fail_dir.join(format!("{stem}.shrunk.toml"));
        let mode = report.mode;
        let replay = if mode == Mode::Sim {
            format!("Reproduce: ticketlab run {} --sim --strict", path.display())
        } else {
            format!(
                "Found with real processes (timing is not reproducible there). Replay: \
                 ticketlab run {} --strict, or deterministically with --sim",
                path.display()
            )
        };
        let mut header = format!(
            "Found by `ticketlab explore` (seed {}, protocol {}, {} faults, {mode}).\n{}\n{replay}",
            finding.seed,
            finding.protocol,
            finding.nemesis,
            finding
                .details
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n"),
        );
        let mut notes = Vec::new();
        match shrunk {
            Some(s) => {
                let draw_dir = self.out.join("replays").join(&stem);
                let text = shrunk_text(s, scenario, &path, &shrunk_path, &draw_dir);
                header.push_str(&format!("\nShrunk: {}", shrunk_path.display()));
                write(
                    &shrunk_path,
                    &crate::scenario::to_toml(&s.scenario, &text.header),
                )?;
                notes = text.notes;
            }
            None => {
                // No stale shrunk file of an earlier campaign beside this failure.
                let _ = std::fs::remove_file(&shrunk_path);
                if tried && report.complete {
                    notes.push(format!(
                        "not shrunk: the simulator does not reproduce it with seed {}",
                        finding.seed
                    ));
                }
            }
        }
        write(&path, &crate::scenario::to_toml(scenario, &header))?;
        report.failures.push(path.display().to_string());
        report
            .shrunk
            .push(shrunk.map(|_| shrunk_path.display().to_string()));
        report.shrink_notes.push(notes);
        Ok(())
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// A shrunk failure's file header and the lines the campaign table prints under the failure.
struct ShrunkText {
    header: String,
    notes: Vec<String>,
}

fn shrunk_text(
    s: &Shrunk,
    original: &Scenario,
    path: &Path,
    shrunk_path: &Path,
    draw_dir: &Path,
) -> ShrunkText {
    let (from, to) = (shrink::Size::of(original), shrink::Size::of(&s.scenario));
    let sizes = format!(
        "tickets {} → {}, faults {} → {}, servers {} → {}",
        from.tickets, to.tickets, from.faults, to.faults, from.servers, to.servers
    );
    let halted = match s.halted {
        None => "",
        Some(shrink::Halt::Budget) => ", budget spent",
        Some(shrink::Halt::Interrupted) => ", interrupted",
    };
    let runs = format!("{} simulator re-runs of {}{halted}", s.runs, shrink::BUDGET);
    let replay = format!("ticketlab run {} --sim --strict", shrunk_path.display());
    // `run` exits 1 on the violation it replays: `;`, not `&&`, so that the diagram is drawn.
    let draw = format!(
        "ticketlab run {} --sim --out {dir}; ticketlab diagram {dir}",
        shrunk_path.display(),
        dir = draw_dir.display()
    );
    let mut details: Vec<String> = s.details.iter().take(5).cloned().collect();
    if s.details.len() > 5 {
        details.push(format!("… and {} more", s.details.len() - 5));
    }
    let header = format!(
        "Shrunk by `ticketlab explore` from {}: {} still fails when re-run in the simulator \
         with the same seed.\n{sizes} ({runs}).\n{}\nReplay: {replay}\nDraw: {draw}",
        path.display(),
        s.property.name(),
        details.join("\n"),
    );
    let notes = vec![
        format!(
            "shrunk ({} still fails; {sizes}; {runs}): {}",
            s.property.name(),
            shrunk_path.display()
        ),
        format!("  replay: {replay}"),
        format!("  draw:   {draw}"),
    ];
    ShrunkText { header, notes }
}

/// `job(i)` for every `i` in `0..n`, on up to `workers` threads (on the calling thread when
/// one: real processes need the thread that spawns servers to outlive them), until `stop`
/// holds between two jobs. Results in index order; a job's `None` (stopped mid-way) is left
/// out; the first error stops every worker and is returned.
fn par_map<R: Send>(
    n: usize,
    workers: usize,
    stop: &(dyn Fn() -> bool + Sync),
    job: &(dyn Fn(usize) -> anyhow::Result<Option<R>> + Sync),
) -> anyhow::Result<Vec<R>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let workers = workers.min(n).max(1);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let work = || -> anyhow::Result<Vec<(usize, R)>> {
        let mut mine = Vec::new();
        while !failed.load(Ordering::Relaxed) && !stop() {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                break;
            }
            match job(i) {
                Ok(Some(r)) => mine.push((i, r)),
                Ok(None) => {}
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(mine)
    };
    let per_worker: Vec<anyhow::Result<Vec<(usize, R)>>> = if workers == 1 {
        vec![work()]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("explore worker"))
                .collect()
        })
    };
    let mut all = Vec::new();
    for r in per_worker {
        all.extend(r?);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, r)| r).collect())
}
