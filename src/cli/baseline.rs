//! `run`'s baseline rows (`"etcd"` in `cluster.protocols`): after the protocols' rows, each
//! baseline runs the same workload on its own runtime ([`crate::etcd`]), its history goes to
//! `<out>/etcd/history.jsonl`, its row to `summary.json`'s `baselines`.

use super::RunArgs;
use crate::etcd::Etcd;
use crate::history;
use crate::lab::Stop;
use crate::report::{self, baseline::StoreFacts, Summary};
use crate::scenario::{Baseline, Scenario};
use anyhow::Context;
use std::path::Path;

/// The baselines' runner, made before any row runs: a missing `etcd` binary (or `--sim`) is an
/// error (exit 2) before the protocols' runs, not after them.
pub(super) fn prepare(
    args: &RunArgs,
    scenario: &Scenario,
    run_id: &str,
    progress: bool,
) -> anyhow::Result<Option<Etcd>> {
    if scenario.cluster.baselines.is_empty() {
        return Ok(None);
    }
    if args.sim {
        anyhow::bail!(
            "--sim: the etcd baseline (\"etcd\" in cluster.protocols) runs a real etcd cluster, \
             which has no simulated form; drop --sim, or drop \"etcd\" from cluster.protocols"
        );
    }
    Ok(Some(Etcd::new(run_id.to_string(), progress)?))
}

/// A sweep or a bench has no baseline rows (their tables and CSV are the protocols').
pub(super) fn refuse(scenario: &Scenario, what: &str) -> anyhow::Result<()> {
    if let Some(b) = scenario.cluster.baselines.first() {
        anyhow::bail!(
            "the {b} baseline runs in single runs (`ticketlab run`), not in {what}: drop {:?} \
             from cluster.protocols, or run each point on its own with --set",
            b.name()
        );
    }
    Ok(())
}

/// Run every baseline of `scenario` unless the run has stopped, adding their rows to `summary`.
pub(super) fn run(
    etcd: &Etcd,
    scenario: &Scenario,
    seed: u64,
    out_dir: &Path,
    summary: &mut Summary,
    stop: &mut Option<Stop>,
) -> anyhow::Result<()> {
    for &b in &scenario.cluster.baselines {
        if stop.is_some() {
            break;
        }
        if let Some(sig) = etcd.interrupted() {
            *stop = Some(Stop::Interrupted(sig));
            break;
        }
        let Baseline::Etcd = b;
        let r = etcd.run(scenario, seed);
        let dir = out_dir.join(b.name());
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("history.jsonl");
        history::write_jsonl(&path, &r.output.history)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let path = dir.join("latency.hgrm");
        std::fs::write(&path, report::latencies(&r.output.history).hgrm(1000.0))
            .with_context(|| format!("cannot write {}", path.display()))?;
        let facts = StoreFacts {
            store: r.extra.version.replace(" Version:", ""),
            transactions: r.extra.transactions,
            retries: r.extra.retries,
            failed: r.extra.failed,
        };
        summary
            .baselines
            .push(report::baseline::summarize(scenario, b, &r.output, &facts));
        *stop = r.stop;
    }
    summary.complete = stop.is_none();
    Ok(())
}

/// Each baseline row's violations and undecided tickets on stderr, as `run` prints the
/// protocols'; whether one failed (a violation; a stalled ticket when `strict`).
pub(super) fn report_rows(summary: &Summary, strict: bool, prefix: &str) -> bool {
    let mut violated = false;
    for b in &summary.baselines {
        violated |= !b.violations.is_empty() || !b.bad_admitted.is_empty();
        for v in b.violations.iter().take(5) {
            eprintln!("ticketlab: {prefix}{}: {v}", b.protocol);
        }
        if strict && !b.stalled.is_empty() {
            violated = true;
        }
        if b.undecided > 0 {
            eprintln!(
                "ticketlab: {prefix}{}: {} ticket(s) undecided ({} transaction(s) failed)",
                b.protocol, b.undecided, b.failed_transactions
            );
        }
    }
    violated
}
