//! `ticketlab run` with a sweep (`[sweep]` in the scenario, `--sweep key=v1,v2,…`): every point
//! of the grid validated first (a bad key or value is an error naming the key, exit 2, before
//! anything runs), then run as `run` runs a scenario, its outputs in `DIR/points/<key=value,…>/`;
//! then `DIR/sweep.csv`, `DIR/sweep.json` and the SVG figures, and the sweep's table.

use super::{
    execute, exit_code, load_scenario, report_rows, runtime_for, show_progress, warn_if_overloaded,
    RunArgs, RunFormat,
};
use crate::plot;
use crate::scenario::{self, Scenario, ScenarioError, SweepAxis};
use crate::sweep::{self, Point, PointRun, SweepReport};
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;

/// The most points a sweep may have.
const MAX_POINTS: usize = 10_000;

/// The sweep's axes: the scenario's `[sweep]`, replaced or extended by `--sweep`. Empty: no sweep.
pub(super) fn axes(args: &RunArgs, file: &str, text: &str) -> anyhow::Result<Vec<SweepAxis>> {
    let from_file = scenario::sweep_table(file, text)?;
    let flags = args
        .sweep
        .iter()
        .map(|a| sweep::parse_flag(a).map_err(|e| anyhow::anyhow!("--sweep {a}: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(sweep::merge(from_file, flags))
}

/// Whether the error's `key` lies on the swept `axis` (or is above it: an unknown table).
fn on_axis(key: &str, axis: &str) -> bool {
    let under = |a: &str, b: &str| {
        a == b || a.starts_with(&format!("{b}.")) || a.starts_with(&format!("{b}["))
    };
    under(key, axis) || under(axis, key)
}

/// A point's validation error, told as an error of the swept value that caused it when it is
/// about a swept key (`--sweep cluster.servers=3,0: cluster.servers = 0: expected …`), else
/// as the scenario's error at that point.
fn point_error(axes: &[SweepAxis], point: &Point, e: ScenarioError) -> anyhow::Error {
    let axis = |key: &str| axes.iter().find(|a| on_axis(key, &a.key));
    let told = match &e {
        ScenarioError::Invalid {
            key,
            value,
            expected,
            ..
        } => axis(key).map(|a| format!("{}: {key} = {value}: {expected}", a.source)),
        ScenarioError::Schema { key, message, .. } => {
            axis(key).map(|a| format!("{}: {key}: {message}", a.source))
        }
        ScenarioError::BadOverride { arg, reason, .. } => axes
            .iter()
            .find(|a| arg.starts_with(&format!("{}=", a.key)))
            .map(|a| format!("{}: {reason}", a.source)),
        ScenarioError::Syntax { .. } => None,
    };
    match told {
        Some(message) => anyhow::anyhow!(message),
        None => anyhow::Error::new(e).context(format!("at sweep point {}", point.label())),
    }
}

/// Runs every point of the grid of `axes` over the scenario `text`.
pub(super) fn sweep(
    args: &RunArgs,
    file: &str,
    text: &str,
    axes: Vec<SweepAxis>,
) -> anyhow::Result<ExitCode> {
    let size = axes
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
        .filter(|&n| n <= MAX_POINTS);
    if size.is_none() {
        anyhow::bail!(
            "the sweep over {} has more than {MAX_POINTS} points; expected a smaller grid",
            axes.iter()
                .map(|a| a.key.as_str())
                .collect::<Vec<_>>()
                .join(" × ")
        );
    }
    let points = sweep::grid(&axes);
    // Every point is validated before anything runs.
    let scenarios: Vec<Scenario> = points
        .iter()
        .map(|p| load_scenario(args, file, text, &p.sets()).map_err(|e| point_error(&axes, p, e)))
        .collect::<anyhow::Result<_>>()?;
    for s in &scenarios {
        super::baseline::refuse(s, "sweeps")?;
    }
    for a in &axes {
        if args
            .set
            .iter()
            .any(|s| s.split_once('=').is_some_and(|(k, _)| k.trim() == a.key))
        {
            eprintln!(
                "ticketlab: warning: --set {} is overridden by the sweep ({})",
                a.key, a.source
            );
        }
    }
    let seed_swept = axes.iter().any(|a| a.key == "seed");
    let fallback = args.seed.or(scenarios[0].seed).unwrap_or_else(rand::random);
    let seed_of = |s: &Scenario| match (seed_swept, args.seed) {
        (false, Some(seed)) => seed,
        _ => s.seed.unwrap_or(fallback),
    };
    let name = scenarios[0].name.clone();
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("results").join(&name));
    let keys: Vec<String> = axes.iter().map(|a| a.key.clone()).collect();
    // A sweep's configuration: its grid and every point's effective scenario.
    let config = crate::outputs::Config {
        scenario_toml: scenarios
            .iter()
            .map(crate::report::effective_toml)
            .collect::<Vec<_>>()
            .join("\n"),
        seed: fallback,
        mode: "sweep".to_string(),
    };
    if let Some(kept) = crate::outputs::prepare(&out_dir, args.out.is_none(), &config)? {
        eprintln!(
            "ticketlab: {} held a run of another configuration; kept it as {}",
            out_dir.display(),
            kept.display()
        );
    }
    eprintln!(
        "ticketlab: scenario {name}, sweep over {} ({} points), seed {}, out {}",
        keys.join(" × "),
        points.len(),
        if seed_swept {
            "swept".to_string()
        } else {
            seed_of(&scenarios[0]).to_string()
        },
        out_dir.display()
    );
    for s in &scenarios {
        if s.cluster.mode == scenario::Mode::Processes && warn_if_overloaded(s) {
            break;
        }
    }
    let progress = args.format == RunFormat::Table && show_progress();
    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(|| format!("tl{}", std::process::id()));
    let mut procs = None;
    let mut runs: Vec<PointRun> = Vec::new();
    let mut used: Vec<String> = Vec::new();
    let mut violated = false;
    let mut stop = None;
    for (i, (point, s)) in points.iter().zip(&scenarios).enumerate() {
        let mut dir_name = point.dir_name();
        let mut k = 1;
        while used.contains(&dir_name) {
            k += 1;
            dir_name = format!("{}-{k}", point.dir_name());
        }
        used.push(dir_name.clone());
        let rel = format!("points/{dir_name}");
        let dir = out_dir.join(&rel);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create output folder {}", dir.display()))?;
        eprintln!(
            "ticketlab: point {}/{}: {} (n = {}, mode {})",
            i + 1,
            points.len(),
            point.label(),
            s.cluster.servers,
            s.cluster.mode
        );
        let runtime = runtime_for(s.cluster.mode, &mut procs, run_id.clone(), progress)?;
        let (summary, stopped) = execute(runtime, s, seed_of(s), &dir)?;
        let path = dir.join("summary.json");
        let json = serde_json::to_string_pretty(&summary)?;
        std::fs::write(&path, format!("{json}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
        violated |= report_rows(&summary, args.strict, &format!("{}: ", point.label()));
        runs.push(PointRun {
            point: point.clone(),
            dir: rel,
            summary,
        });
        if stopped.is_some() {
            stop = stopped;
            break;
        }
    }
    let report = SweepReport {
        scenario: name,
        keys,
        grid: points.len(),
        complete: stop.is_none() && runs.len() == points.len(),
        points: runs,
    };
    let csv_path = out_dir.join("sweep.csv");
    std::fs::write(&csv_path, sweep::csv(&report))
        .with_context(|| format!("cannot write {}", csv_path.display()))?;
    let json = serde_json::to_string_pretty(&report)?;
    let json_path = out_dir.join("sweep.json");
    std::fs::write(&json_path, format!("{json}\n"))
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    let figures = plot::write_all(&out_dir, &report)?;
    match args.format {
        RunFormat::Json => println!("{json}"),
        RunFormat::Table => println!("{}", sweep::render_table(&report)),
        RunFormat::Csv => print!("{}", sweep::csv(&report)),
        RunFormat::Markdown => {
            for r in &report.points {
                println!(
                    "### {}\n\n{}",
                    r.point.label(),
                    crate::formats::markdown(&r.summary)
                );
            }
        }
    }
    let names: Vec<String> = ["sweep.csv", "sweep.json"]
        .iter()
        .map(|s| s.to_string())
        .chain(
            figures
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())),
        )
        .collect();
    eprintln!(
        "ticketlab: wrote {} in {}, and each point's summary.json and <protocol>/history.jsonl \
         in {}",
        names.join(", "),
        out_dir.display(),
        out_dir.join("points").display()
    );
    exit_code(stop, violated)
}

#[cfg(test)]
mod tests {
    use super::on_axis;

    #[test]
    fn errors_on_a_swept_key_or_above_it_belong_to_its_axis() {
        assert!(on_axis("cluster.servers", "cluster.servers"));
        assert!(on_axis("workload.submit_to[1]", "workload.submit_to"));
        assert!(on_axis("clusterx", "clusterx.servers"));
        assert!(!on_axis("cluster.server", "cluster.servers"));
        assert!(!on_axis("fault[0].crash", "cluster.servers"));
    }
}
