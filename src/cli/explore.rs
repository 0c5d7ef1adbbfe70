//! `ticketlab explore`: the campaign's arguments checked, its runtime picked (with a signal
//! watch), the report written and printed, the exit code (130 when a signal stopped it).

use super::{runtime_for, show_progress, ExploreArgs, Format, EXIT_INTERRUPTED, EXIT_VIOLATION};
use crate::lab::{RunResult, Runtime};
use crate::process;
use crate::protocol::ProtocolKind;
use crate::scenario::{Mode, Scenario};
use crate::sim::Simulator;
use anyhow::Context;
use clap::ValueEnum;
use std::path::Path;
use std::process::ExitCode;

pub(super) fn explore(args: ExploreArgs) -> anyhow::Result<ExitCode> {
    let mut protocols: Vec<ProtocolKind> = Vec::new();
    let names: Vec<&str> = if args.protocols.is_empty() {
        vec!["table1"]
    } else {
        args.protocols.iter().map(String::as_str).collect()
    };
    for name in names {
        let group: &[ProtocolKind] = match name {
            "table1" => ProtocolKind::TABLE1,
            "seeds" => ProtocolKind::SEEDS,
            "zoo" => ProtocolKind::ZOO,
            "all" => ProtocolKind::ALL,
            _ => match ProtocolKind::ALL.iter().find(|p| p.name() == name) {
                Some(p) => std::slice::from_ref(p),
                None => {
                    let known: Vec<&str> = ProtocolKind::ALL.iter().map(|p| p.name()).collect();
                    anyhow::bail!(
                        "--protocols: unknown protocol {name:?}, expected one of {} \
                         (or a group: table1, seeds, zoo, all)",
                        known.join(", ")
                    )
                }
            },
        };
        for &p in group {
            if !protocols.contains(&p) {
                protocols.push(p);
            }
        }
    }
    if let Some(&bad) = args.servers.iter().find(|&&n| !(2..=64).contains(&n)) {
        anyhow::bail!("--servers: {bad} is not a cluster size from 2 to 64");
    }
    if args.servers.is_empty() {
        anyhow::bail!("--servers: expected at least one cluster size");
    }
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("results").join("explore"));
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create output folder {}", out_dir.display()))?;
    let progress = args.format == Format::Table && show_progress();
    let seeds = args.start_seed..args.start_seed + args.seeds;
    let mode = if args.processes {
        Mode::Processes
    } else {
        Mode::Sim
    };
    let mut procs = None;
    // One bar for the campaign; none per run.
    let run_id = format!("tl{}-explore", std::process::id());
    // The simulator runs the campaign or shrinks what real processes found; its watch sees a
    // signal at any time (the process runtime's own watch, only while it runs a cluster).
    let simulator = WatchedSimulator::new()?;
    let runtime: &dyn Runtime = match mode {
        Mode::Processes => runtime_for(mode, &mut procs, run_id, false)?,
        Mode::Sim => &simulator,
    };
    // The banner says the campaign is under way: from here on a signal stops it cleanly.
    eprintln!(
        "ticketlab explore: seeds {}..{}, protocols [{}], sizes {:?}, {} faults, {}, out {}",
        args.start_seed,
        args.start_seed + args.seeds,
        protocols
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", "),
        args.servers,
        args.nemesis
            .to_possible_value()
            .map_or(String::new(), |v| v.get_name().to_string()),
        if args.processes {
            "real processes"
        } else {
            "simulator"
        },
        out_dir.display()
    );
    let report = crate::explore::Campaign {
        protocols: &protocols,
        seeds,
        sizes: &args.servers,
        out: &out_dir,
        progress,
        schedules: args.nemesis.schedules(),
        runtime,
        // Failures are shrunk in the simulator, whichever runtime found them.
        shrink_with: Some(&simulator),
    }
    .run()?;
    let json = serde_json::to_string_pretty(&report)?;
    let report_path = out_dir.join("explore.json");
    std::fs::write(&report_path, format!("{json}\n"))
        .with_context(|| format!("cannot write {}", report_path.display()))?;
    match args.format {
        Format::Json => println!("{json}"),
        Format::Table => println!("{}", crate::explore::render(&report)),
    }
    if !report.complete {
        eprintln!(
            "ticketlab explore: interrupted by {}: stopped after {} run(s); wrote {} and {} failure file(s)",
            report.interrupted.unwrap_or("a signal"),
            report.runs,
            report_path.display(),
            report.failures.len()
        );
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    Ok(if report.violations > 0 {
        ExitCode::from(EXIT_VIOLATION)
    } else {
        ExitCode::SUCCESS
    })
}

/// The simulator, with a SIGINT/SIGTERM watch ([`process::Interrupt`] on a one-worker tokio
/// runtime, which keeps it current while the simulator's threads run) so that `explore` can
/// stop at a run boundary: the signals no longer kill the process once it is made.
struct WatchedSimulator {
    interrupt: process::Interrupt,
    _signals: tokio::runtime::Runtime,
}

impl WatchedSimulator {
    fn new() -> anyhow::Result<Self> {
        let signals = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ticketlab-signals")
            .enable_all()
            .build()
            .context("cannot start the tokio runtime")?;
        let interrupt = signals
            .block_on(async { process::Interrupt::install() })
            .context("cannot install the SIGINT/SIGTERM handlers")?;
        Ok(WatchedSimulator {
            interrupt,
            _signals: signals,
        })
    }
}

impl Runtime for WatchedSimulator {
    fn mode(&self) -> Mode {
        Simulator.mode()
    }

    fn parallelism(&self) -> usize {
        Simulator.parallelism()
    }

    fn run(&self, scenario: &Scenario, protocol: ProtocolKind, seed: u64) -> RunResult {
        Simulator.run(scenario, protocol, seed)
    }

    fn interrupted(&self) -> Option<&'static str> {
        self.interrupt.fired()
    }
}
