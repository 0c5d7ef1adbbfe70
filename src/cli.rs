//! The command line: `ticketlab run [SCENARIO] [--sim] [--seed N] [--set key=value]... [--out DIR]
//! [--format table|json]`. Thin edge: raw arguments → validated scenario → runs → outputs, with one
//! error printed with its causes and a fixed exit code (0 ok, 1 a property was violated, 2 bad
//! input or setup failure).

use crate::history;
use crate::protocol::ProtocolKind;
use crate::report::{self, RunSummary, Summary};
use crate::resilience;
use crate::scenario::{self, Mode, Scenario};
use crate::sim::{self, RunOutput};
use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "ticketlab",
    version,
    about = "A cluster lab for e-ticket validation protocols (Pedone's 2PE vs SE, Table 1 and beyond)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a scenario (the built-in Table 1 scenario when none is given).
    Run(RunArgs),
    /// Fault campaign: random scenarios within each protocol's fault model, checked for E-1/E-2.
    Explore(ExploreArgs),
}

#[derive(clap::Args, Debug)]
struct ExploreArgs {
    /// Seeds per protocol.
    #[arg(long, default_value_t = 1000)]
    seeds: u64,
    /// First seed (seeds run from here on).
    #[arg(long, default_value_t = 0)]
    start_seed: u64,
    /// Protocols to hammer, comma-separated (default: every Table 1 protocol).
    #[arg(long, value_delimiter = ',')]
    protocols: Vec<String>,
    /// Cluster sizes to draw from, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = vec![3u16, 4, 5, 7])]
    servers: Vec<u16>,
    /// Output folder for the reproducing scenarios and the report (default results/explore/).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Scenario file (TOML). Without it, the built-in Table 1 scenario (scenarios/table1.toml).
    scenario: Option<PathBuf>,
    /// Run in the deterministic simulator, whatever the scenario's cluster.mode says.
    #[arg(long)]
    sim: bool,
    /// Seed for every random choice (overrides the scenario's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Override a scenario key, e.g. --set cluster.servers=7 or --set 'cluster.protocols=["2pe"]'.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Output folder (default: results/<scenario name>/).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also fail (exit 1) when a ticket is undecided at the deadline although no server that
    /// received it crashed (E-2 as a finite run can check it).
    #[arg(long)]
    strict: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// Exit codes (documented in the README).
pub const EXIT_VIOLATION: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Run(args) => run(args),
        Cmd::Explore(args) => explore(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ticketlab: error: {e:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn load_scenario(args: &RunArgs) -> anyhow::Result<Scenario> {
    let (file, text) = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read scenario file {}", path.display()))?;
            (path.display().to_string(), text)
        }
        None => (
            "scenarios/table1.toml (built-in)".to_string(),
            scenario::BUILTIN_TABLE1.to_string(),
        ),
    };
    let mut scenario = scenario::load(&file, &text, &args.set)?;
    if args.sim {
        scenario.cluster.mode = Mode::Sim;
    }
    Ok(scenario)
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let scenario = load_scenario(&args)?;
    let seed = args.seed.or(scenario.seed).unwrap_or_else(rand::random);
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("results").join(&scenario.name));
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create output folder {}", out_dir.display()))?;
    let mode = scenario.cluster.mode;
    eprintln!(
        "ticketlab: scenario {}, n = {}, mode {}, seed {}, protocols [{}], out {}",
        scenario.name,
        scenario.cluster.servers,
        match mode {
            Mode::Sim => "sim",
            Mode::Processes => "processes",
        },
        seed,
        scenario
            .cluster
            .protocols
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", "),
        out_dir.display()
    );
    if mode == Mode::Processes {
        anyhow::bail!(
            "cluster.mode = \"processes\" is not available in this build yet; use --sim or mode = \"sim\""
        );
    }
    let mut summary = Summary {
        scenario: scenario.name.clone(),
        seed,
        mode,
        servers: scenario.cluster.servers,
        delta_ms: scenario.cluster.delta as f64 / 1000.0,
        complete: true,
        runs: Vec::new(),
    };
    for &protocol in &scenario.cluster.protocols {
        let run = run_protocol(&scenario, protocol, seed, &out_dir)?;
        summary.runs.push(run);
    }
    let summary_path = out_dir.join("summary.json");
    let json = serde_json::to_string_pretty(&summary)?;
    std::fs::write(&summary_path, format!("{json}\n"))
        .with_context(|| format!("cannot write {}", summary_path.display()))?;
    match args.format {
        Format::Json => println!("{json}"),
        Format::Table => println!("{}", report::render_table(&summary)),
    }
    let mut violated = false;
    for r in &summary.runs {
        for v in &r.violations {
            violated = true;
            eprintln!("ticketlab: {}: {v}", r.protocol);
        }
        if args.strict {
            for t in &r.stalled {
                violated = true;
                eprintln!(
                    "ticketlab: {}: E-2 (strict): ticket {t} undecided at the deadline although no server that received it crashed",
                    r.protocol
                );
            }
        }
        if r.undecided > 0 {
            eprintln!(
                "ticketlab: {}: {} ticket(s) undecided at the deadline: {}",
                r.protocol,
                r.undecided,
                r.pending
                    .iter()
                    .take(10)
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    eprintln!(
        "ticketlab: wrote {} and <protocol>/history.jsonl",
        summary_path.display()
    );
    Ok(if violated {
        ExitCode::from(EXIT_VIOLATION)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_protocol(
    scenario: &Scenario,
    protocol: ProtocolKind,
    seed: u64,
    out_dir: &Path,
) -> anyhow::Result<RunSummary> {
    let dir = out_dir.join(protocol.name());
    let write = |sub: Option<u16>, output: &RunOutput| -> anyhow::Result<()> {
        let dir = match sub {
            Some(f) => dir.join(format!("f{f}")),
            None => dir.clone(),
        };
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("history.jsonl");
        history::write_jsonl(&path, &output.history)
            .with_context(|| format!("cannot write {}", path.display()))
    };
    let Some(res) = &scenario.resilience else {
        let output = sim::run(scenario, protocol, seed);
        write(None, &output)?;
        return Ok(report::summarize(scenario, protocol, &output));
    };
    // Resilience sweep: f = 0 is the row's ordinary run (history in <protocol>/), the others
    // go to <protocol>/f<k>/.
    let (output, measured) =
        resilience::sweep(scenario, protocol, res.max_f, res.crash, "sim", |s, f| {
            let output = sim::run(s, protocol, seed);
            write((f > 0).then_some(f), &output)?;
            Ok(output)
        })?;
    let mut row = report::summarize(scenario, protocol, &output);
    row.resilience_measured = measured.measured;
    row.resilience = Some(measured);
    Ok(row)
}

fn explore(args: ExploreArgs) -> anyhow::Result<ExitCode> {
    let protocols: Vec<ProtocolKind> = if args.protocols.is_empty() {
        ProtocolKind::TABLE1.to_vec()
    } else {
        args.protocols
            .iter()
            .map(|name| {
                ProtocolKind::from_name(name).ok_or_else(|| {
                    let known: Vec<&str> = ProtocolKind::ALL.iter().map(|p| p.name()).collect();
                    anyhow::anyhow!(
                        "--protocols: unknown protocol {name:?}, expected one of {}",
                        known.join(", ")
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?
    };
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
    eprintln!(
        "ticketlab explore: seeds {}..{}, protocols [{}], sizes {:?}, simulator, out {}",
        args.start_seed,
        args.start_seed + args.seeds,
        protocols
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", "),
        args.servers,
        out_dir.display()
    );
    let report = crate::explore::campaign(
        &protocols,
        args.start_seed..args.start_seed + args.seeds,
        &args.servers,
        &out_dir,
        args.format == Format::Table,
    )?;
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(out_dir.join("explore.json"), format!("{json}\n"))
        .with_context(|| format!("cannot write {}", out_dir.join("explore.json").display()))?;
    match args.format {
        Format::Json => println!("{json}"),
        Format::Table => println!("{}", crate::explore::render(&report)),
    }
    Ok(if report.violations > 0 {
        ExitCode::from(EXIT_VIOLATION)
    } else {
        ExitCode::SUCCESS
    })
}
