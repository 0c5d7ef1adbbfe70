//! The command line: `ticketlab run [SCENARIO] [--sim] [--seed N] [--set key=value]... [--out DIR]
//! [--format table|json]`. Thin edge: raw arguments → validated scenario → runs → outputs, with one
//! error printed with its causes and a fixed exit code (0 ok, 1 a property was violated, 2 bad
//! input or setup failure, 130 interrupted by SIGINT/SIGTERM — partial results are written).
//!
//! Hidden subcommands: `ticketlab server` (one server process of a processes-mode run, started
//! by the orchestrator) and `ticketlab bench` (Table 1 in processes mode at δ = 10 ms and 1 ms,
//! measured latency / theory per protocol).

use crate::history;
use crate::process::{self, Interrupt, RunOptions, Stop};
use crate::protocol::ProtocolKind;
use crate::report::{self, RunSummary, Summary};
use crate::scenario::{self, Mode, Scenario};
use crate::sim::{self, RunOutput};
use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
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
    /// One server of a processes-mode run (started by `ticketlab run`, not by hand).
    #[command(hide = true)]
    Server(process::server::ServerArgs),
    /// Table 1 in processes mode at several δ: measured latency / theory per protocol.
    #[command(hide = true)]
    Bench(BenchArgs),
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
    /// Name for this run's server processes (`ticketlab server --run-id ID-<protocol>`).
    #[arg(long, hide = true)]
    run_id: Option<String>,
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// δ values to measure, in ms.
    #[arg(long, value_delimiter = ',', default_values_t = vec![10.0, 1.0])]
    delta_ms: Vec<f64>,
    /// Extra scenario overrides (applied to the built-in Table 1 scenario).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Output folder; each δ gets `delta-<δ>ms/` inside.
    #[arg(long, value_name = "DIR", default_value = "results/bench")]
    out: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// Exit codes (documented in the README).
pub const EXIT_VIOLATION: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
/// Stopped by SIGINT (Ctrl-C) or SIGTERM; partial results were written (`"complete": false`).
pub const EXIT_INTERRUPTED: u8 = 130;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.cmd {
        Cmd::Run(args) => run(args),
        Cmd::Server(args) => return process::server::main(args),
        Cmd::Bench(args) => bench(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ticketlab: error: {e:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// `RUST_LOG` controls logging (to stderr); warnings only by default.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
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
    let progress = args.format == Format::Table && show_progress();
    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(|| format!("tl{}", std::process::id()));
    let mut procs = None;
    let (summary, stop) = execute(&scenario, seed, &out_dir, progress, &run_id, &mut procs)?;
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
        if r.undecided > 0 {
            eprintln!(
                "ticketlab: {}: {} ticket(s) undecided {}: {}",
                r.protocol,
                r.undecided,
                if summary.complete {
                    "at the deadline"
                } else {
                    "when the run stopped"
                },
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
    match stop {
        Some(Stop::Interrupted(sig)) => {
            eprintln!("ticketlab: interrupted by {sig}: cluster stopped, partial results written");
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
        Some(Stop::Failed(e)) => {
            return Err(anyhow::Error::new(e).context("the processes run stopped early"));
        }
        None => {}
    }
    Ok(if violated {
        ExitCode::from(EXIT_VIOLATION)
    } else {
        ExitCode::SUCCESS
    })
}

/// A progress bar only for a person watching: stderr is a terminal and this is not CI.
fn show_progress() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}

/// The runtime of processes-mode runs: one current-thread tokio runtime on the main thread (the
/// thread that spawns the servers must outlive them, see `process::orchestrator`) and the
/// SIGINT/SIGTERM watch, both made once per `ticketlab` invocation.
struct Procs {
    rt: tokio::runtime::Runtime,
    interrupt: Interrupt,
}

impl Procs {
    fn new() -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the tokio runtime")?;
        let interrupt = rt
            .block_on(async { Interrupt::install() })
            .context("cannot install the SIGINT/SIGTERM handlers")?;
        Ok(Procs { rt, interrupt })
    }
}

/// Run every protocol of `scenario` in its mode, writing each history as it completes. In
/// processes mode a run can stop early (signal, failure): the summary then covers what was
/// recorded, is marked incomplete, and the reason is returned.
fn execute(
    scenario: &Scenario,
    seed: u64,
    out_dir: &Path,
    progress: bool,
    run_id: &str,
    procs: &mut Option<Procs>,
) -> anyhow::Result<(Summary, Option<Stop>)> {
    let mut summary = Summary {
        scenario: scenario.name.clone(),
        seed,
        mode: scenario.cluster.mode,
        servers: scenario.cluster.servers,
        delta_ms: scenario.cluster.delta as f64 / 1000.0,
        complete: true,
        runs: Vec::new(),
    };
    let mut stop = None;
    match scenario.cluster.mode {
        Mode::Sim => {
            for &protocol in &scenario.cluster.protocols {
                let output = sim::run(scenario, protocol, seed);
                summary
                    .runs
                    .push(record(scenario, protocol, &output, out_dir)?);
            }
        }
        Mode::Processes => {
            if procs.is_none() {
                *procs = Some(Procs::new()?);
            }
            let procs = procs.as_ref().expect("just made");
            let opts = RunOptions {
                run_id: run_id.to_string(),
                progress,
                interrupt: procs.interrupt.clone(),
            };
            for &protocol in &scenario.cluster.protocols {
                if let Some(sig) = opts.interrupt.fired() {
                    stop = Some(Stop::Interrupted(sig));
                    break;
                }
                let r = procs
                    .rt
                    .block_on(process::run_protocol(scenario, protocol, seed, &opts));
                summary
                    .runs
                    .push(record(scenario, protocol, &r.output, out_dir)?);
                if r.stop.is_some() {
                    stop = r.stop;
                    break;
                }
            }
        }
    }
    summary.complete = stop.is_none();
    Ok((summary, stop))
}

/// Write one protocol's history and summarize it.
fn record(
    scenario: &Scenario,
    protocol: ProtocolKind,
    output: &RunOutput,
    out_dir: &Path,
) -> anyhow::Result<RunSummary> {
    let dir = out_dir.join(protocol.name());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("history.jsonl");
    history::write_jsonl(&path, &output.history)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(report::summarize(scenario, protocol, output))
}

/// `ticketlab bench`: Table 1 in processes mode at each δ; prints measured latency / theory.
fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let mut rows = comfy_table::Table::new();
    rows.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    rows.set_header(vec![
        "δ ms",
        "protocol",
        "latency max ms",
        "theory ms",
        "max / theory",
        "p50 / theory",
        "msgs/ticket (theory)",
        "violations",
    ]);
    let mut procs = None;
    let mut violated = false;
    for &d in &args.delta_ms {
        let mut set = args.set.clone();
        set.push("cluster.mode=processes".into());
        set.push(format!("cluster.delta_ms={d}"));
        let scenario = scenario::load(
            "scenarios/table1.toml (built-in)",
            scenario::BUILTIN_TABLE1,
            &set,
        )?;
        let seed = scenario.seed.unwrap_or(42);
        let out_dir = args.out.join(format!("delta-{d}ms"));
        std::fs::create_dir_all(&out_dir)
            .with_context(|| format!("cannot create output folder {}", out_dir.display()))?;
        eprintln!(
            "ticketlab bench: δ = {d} ms, n = {}, {} tickets, out {}",
            scenario.cluster.servers,
            scenario.workload.tickets,
            out_dir.display()
        );
        let run_id = format!("tlbench{}", std::process::id());
        let (summary, stop) = execute(
            &scenario,
            seed,
            &out_dir,
            show_progress(),
            &run_id,
            &mut procs,
        )?;
        let json = serde_json::to_string_pretty(&summary)?;
        std::fs::write(out_dir.join("summary.json"), format!("{json}\n"))?;
        for r in &summary.runs {
            let theory_ms = r.theory.latency_delta * d;
            let ratio =
                |v: Option<f64>| v.map_or("—".into(), |v| format!("{:.4}", v / theory_ms));
            violated |= !r.violations.is_empty();
            rows.add_row(vec![
                format!("{d}"),
                r.protocol.clone(),
                r.latency_ms.max.map_or("—".into(), |v| format!("{v:.3}")),
                format!("{theory_ms}"),
                ratio(r.latency_ms.max),
                ratio(r.latency_ms.p50),
                format!(
                    "{:.2} ({})",
                    r.messages_per_ticket, r.theory.messages_per_ticket
                ),
                r.violations.len().to_string(),
            ]);
        }
        match stop {
            Some(Stop::Interrupted(sig)) => {
                println!("{rows}");
                eprintln!("ticketlab bench: interrupted by {sig}");
                return Ok(ExitCode::from(EXIT_INTERRUPTED));
            }
            Some(Stop::Failed(e)) => {
                println!("{rows}");
                return Err(anyhow::Error::new(e).context("the processes run stopped early"));
            }
            None => {}
        }
    }
    println!("{rows}");
    Ok(if violated {
        ExitCode::from(EXIT_VIOLATION)
    } else {
        ExitCode::SUCCESS
    })
}
