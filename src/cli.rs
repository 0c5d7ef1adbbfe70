//! The command line: `ticketlab run [SCENARIO] [--sim] [--seed N] [--set key=value]... [--out DIR]
//! [--format table|json]`. Thin edge: raw arguments → validated scenario → runs → outputs, with one
//! error printed with its causes and a fixed exit code (0 ok, 1 a property was violated, 2 bad
//! input or setup failure, 130 interrupted by SIGINT/SIGTERM — partial results are written).
//!
//! Hidden subcommands: `ticketlab server` (one server process of a processes-mode run, started
//! by the orchestrator) and `ticketlab bench` (`cli/bench.rs`: throughput and latency of Table 1's
//! protocols with real processes, per tickets in flight).

mod baseline;
mod bench;
mod explore;
mod scale;
mod sweep;

use crate::history;
use crate::lab::byzantine::Behaviour;
use crate::lab::{RunOutput, Runtime, Stop};
use crate::nemesis::{Nemesis, Schedules};
use crate::outputs;
use crate::process::{self, Processes};
use crate::protocol::ProtocolKind;
use crate::report::{self, RunSummary, Summary};
use crate::resilience;
use crate::scenario::{self, Mode, Scenario};
use crate::sim::Simulator;
use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use scale::{heartbeat_advice, MAX_HEARTBEATS_PER_S};
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
    /// Fault campaign: random scenarios within each protocol's fault model, checked for E-1/E-2.
    Explore(ExploreArgs),
    /// Systematic search: every interleaving of a small configuration (deliveries, crashes,
    /// suspicions), the protocol's claimed properties checked at every state.
    Check(CheckArgs),
    /// Two runs side by side (run folders or summary.json files), with ratios B / A.
    Compare(CompareArgs),
    /// Draw a run's space-time diagram from its history: one line per server, time downwards,
    /// messages as arrows, decisions and faults marked (terminal; --svg FILE for SVG).
    Diagram(crate::diagram::DiagramArgs),
    /// One server of a processes-mode run (started by `ticketlab run`, not by hand).
    #[command(hide = true)]
    Server(process::server::ServerArgs),
    /// Throughput and latency of Table 1's protocols with real processes, per tickets in flight
    /// (`src/cli/bench.rs`; `make bench`).
    #[command(hide = true)]
    Bench(bench::BenchArgs),
}

#[derive(clap::Args, Debug)]
struct ExploreArgs {
    /// Seeds per protocol.
    #[arg(long, default_value_t = 1000)]
    seeds: u64,
    /// First seed (seeds run from here on).
    #[arg(long, default_value_t = 0)]
    start_seed: u64,
    /// Protocols to hammer, comma-separated, or groups: table1 (the default), seeds (the other
    /// seed papers' protocols), zoo (the deliberately broken ones), all.
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
    /// Run the campaign with real server processes (real kill -9, SIGSTOP, sockets) instead of
    /// the simulator: one cluster at a time, in real time, so use fewer seeds.
    #[arg(long)]
    processes: bool,
    /// Fault schedules: random times (default), the targeted ones in turn (`targeted`: churn,
    /// slow-acks, split-send, bursts, stale-ack — aimed at round changes and half-sent steps), or
    /// one of them.
    #[arg(long, value_enum, default_value_t = NemesisArg::Random)]
    nemesis: NemesisArg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum NemesisArg {
    Random,
    Targeted,
    Churn,
    SlowAcks,
    SplitSend,
    Bursts,
    StaleAck,
}

impl NemesisArg {
    fn schedules(self) -> Schedules {
        match self {
            NemesisArg::Random => Schedules::One(Nemesis::Random),
            NemesisArg::Targeted => Schedules::Targeted,
            NemesisArg::Churn => Schedules::One(Nemesis::Churn),
            NemesisArg::SlowAcks => Schedules::One(Nemesis::SlowAcks),
            NemesisArg::SplitSend => Schedules::One(Nemesis::SplitSend),
            NemesisArg::Bursts => Schedules::One(Nemesis::Bursts),
            NemesisArg::StaleAck => Schedules::One(Nemesis::StaleAck),
        }
    }
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// The protocol to check (e.g. 2pe, se-ct, se-opt, se-gb, 2pe-minority).
    #[arg(long)]
    protocol: String,
    /// n, the number of servers (2 to 5; 3 is the usual exhaustive bound).
    #[arg(long, default_value_t = 3)]
    servers: u16,
    /// Tickets (1 to 3): t1 is submitted twice, to s1 and s2 (the double submission); every
    /// other ticket once, t_k to s_(k+1), wrapping (n = 3: t2 → s3, t3 → s1).
    #[arg(long, default_value_t = 2)]
    tickets: usize,
    /// The servers of one ticket, comma-separated, once per ticket (replaces --tickets):
    /// --submit 1,2 --submit 2,3.
    #[arg(long, value_name = "SERVERS")]
    submit: Vec<String>,
    /// Crashes, at any point (at most n − 1; liveness is checked within the protocol's fault model).
    #[arg(long, default_value_t = 0)]
    crashes: u8,
    /// False suspicions of a live server, at any point (0 to 3).
    #[arg(long, default_value_t = 0)]
    suspicions: u8,
    /// Protocol timer firings per server along a path (bounds protocols that retry on timers,
    /// like qlock-backoff; 0 to 5).
    #[arg(long, default_value_t = 2)]
    timers: u8,
    /// Steps from the initial state beyond which nothing is expanded.
    #[arg(long, default_value_t = 1000)]
    depth: u32,
    /// Distinct states beyond which the search stops (not exhausted). Memory is about 250 bytes
    /// per state.
    #[arg(long, default_value_t = 40_000_000)]
    max_states: u64,
    /// Resident memory in MiB beyond which the search stops (not exhausted); default: half of
    /// the machine's memory.
    #[arg(long, value_name = "MIB")]
    max_memory: Option<u64>,
    /// Seed handed to the protocols (and written into the counterexample).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Explore every interleaving, without partial-order reduction (to cross-check it; the
    /// state space is far larger).
    #[arg(long)]
    no_reduction: bool,
    /// Output folder for the counterexample scenario (default results/check/).
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
    /// Sweep a scenario key over values, e.g. --sweep cluster.servers=3,5,7 (repeatable: the
    /// full grid; replaces or extends the scenario's [sweep]). Each point's outputs go to
    /// DIR/points/<key=value,…>/; DIR/sweep.csv, sweep.json and SVG plots at the top.
    #[arg(long = "sweep", value_name = "KEY=V1,V2,…")]
    sweep: Vec<String>,
    /// Output folder (default: results/<scenario name>/).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = RunFormat::Table)]
    format: RunFormat,
    /// Also fail (exit 1) when a ticket is undecided at the deadline although no server that
    /// received it crashed (E-2 as a finite run can check it).
    #[arg(long)]
    strict: bool,
    /// Also draw each history as `<protocol>/diagram.svg` (runs of at most 2,000 messages).
    #[arg(long)]
    diagram: bool,
    /// Name for this run's server processes (`ticketlab server --run-id ID-<protocol>`).
    #[arg(long, hide = true)]
    run_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// What `run` prints on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum RunFormat {
    /// The terminal table (80 columns).
    Table,
    /// summary.json.
    Json,
    /// One CSV line per protocol run: every numeric figure, theory beside measured.
    Csv,
    /// The table as Markdown, to paste into a report.
    Markdown,
}

#[derive(clap::Args, Debug)]
struct CompareArgs {
    /// The first run: a run folder (results/<name>/) or its summary.json.
    a: PathBuf,
    /// The second run.
    b: PathBuf,
}

/// Exit codes (documented in the README).
pub const EXIT_VIOLATION: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
/// Stopped by SIGINT (Ctrl-C) or SIGTERM; partial results were written (`"complete": false`).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The top-level help's epilogue: every protocol name, the groups, where the rest is.
fn protocols_help() -> String {
    let names = |ps: &[ProtocolKind]| ps.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ");
    format!(
        "Protocols (cluster.protocols in a scenario, --protocols for explore, --protocol for check):\n  \
         Table 1:  {}\n  seeds:    {}\n  bug zoo:  {}\n\
         Groups for explore: table1, seeds, zoo, all.\n\
         Each protocol, its messages and choices: docs/PROTOCOLS.md and docs/seeds/ (README).",
        names(ProtocolKind::TABLE1),
        names(ProtocolKind::SEEDS),
        names(ProtocolKind::ZOO)
    )
}

pub fn main() -> ExitCode {
    let matches = Cli::command().after_help(protocols_help()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_tracing();
    let result = match cli.cmd {
        Cmd::Run(args) => run(args),
        Cmd::Explore(args) => explore::explore(args),
        Cmd::Check(args) => check(args),
        Cmd::Compare(args) => compare(args),
        Cmd::Diagram(args) => crate::diagram::command(args),
        Cmd::Server(args) => return process::server::main(args),
        Cmd::Bench(args) => bench::bench(args),
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

/// The scenario's text and its name as shown in errors (the built-in Table 1 scenario without
/// a file).
fn scenario_text(args: &RunArgs) -> anyhow::Result<(String, String)> {
    Ok(match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read scenario file {}", path.display()))?;
            (path.display().to_string(), text)
        }
        None => (
            "scenarios/table1.toml (built-in)".to_string(),
            scenario::BUILTIN_TABLE1.to_string(),
        ),
    })
}

/// The scenario with `--set`, then `extra` overrides (a sweep point's keys), and `--sim`.
fn load_scenario(
    args: &RunArgs,
    file: &str,
    text: &str,
    extra: &[String],
) -> Result<Scenario, scenario::ScenarioError> {
    let mut sets: Vec<String> = args.set.iter().chain(extra).cloned().collect();
    // `--sim` before validation: the simulator's bounds apply (more servers than processes).
    if args.sim {
        sets.push("cluster.mode=\"sim\"".to_string());
    }
    scenario::load(file, text, &sets)
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let (file, text) = scenario_text(&args)?;
    let axes = sweep::axes(&args, &file, &text)?;
    if !axes.is_empty() {
        return sweep::sweep(&args, &file, &text, axes);
    }
    let scenario = load_scenario(&args, &file, &text, &[])?;
    let seed = args.seed.or(scenario.seed).unwrap_or_else(rand::random);
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("results").join(&scenario.name));
    let mode = scenario.cluster.mode;
    let config = outputs::Config {
        scenario_toml: report::effective_toml(&scenario),
        seed,
        mode: mode.to_string(),
    };
    if let Some(kept) = outputs::prepare(&out_dir, args.out.is_none(), &config)? {
        eprintln!(
            "ticketlab: {} held a run of another configuration; kept it as {}",
            out_dir.display(),
            kept.display()
        );
    }
    eprintln!(
        "ticketlab: scenario {}, n = {}, mode {mode}, seed {}, protocols [{}], out {}",
        scenario.name,
        scenario.cluster.servers,
        seed,
        scenario
            .cluster
            .protocols
            .iter()
            .map(|p| p.name())
            .chain(scenario.cluster.baselines.iter().map(|b| b.name()))
            .collect::<Vec<_>>()
            .join(", "),
        out_dir.display()
    );
    if mode == Mode::Processes {
        warn_if_overloaded(&scenario);
    }
    let progress = args.format == RunFormat::Table && show_progress();
    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(|| format!("tl{}", std::process::id()));
    let etcd = baseline::prepare(&args, &scenario, &run_id, progress)?;
    let mut procs = None;
    let runtime = runtime_for(mode, &mut procs, run_id, progress)?;
    let (mut summary, mut stop) = execute(runtime, &scenario, seed, &out_dir)?;
    if let Some(etcd) = &etcd {
        baseline::run(etcd, &scenario, seed, &out_dir, &mut summary, &mut stop)?;
    }
    let summary_path = out_dir.join("summary.json");
    let json = serde_json::to_string_pretty(&summary)?;
    std::fs::write(&summary_path, format!("{json}\n"))
        .with_context(|| format!("cannot write {}", summary_path.display()))?;
    match args.format {
        RunFormat::Json => println!("{json}"),
        RunFormat::Table => println!("{}", report::render_table(&summary)),
        RunFormat::Csv => print!("{}", crate::formats::csv(&summary)),
        RunFormat::Markdown => print!("{}", crate::formats::markdown(&summary)),
    }
    for r in &summary.runs {
        if let Some(speed) = &r.sim_speed {
            eprintln!("ticketlab: {}: {}", r.label(), speed.text(r.tickets));
        }
    }
    let violated = report_rows(&summary, args.strict, "");
    eprintln!(
        "ticketlab: wrote {} and <protocol>/history.jsonl",
        summary_path.display()
    );
    if args.diagram {
        crate::diagram::draw_run(&out_dir, &summary);
    }
    exit_code(stop, violated)
}

/// A run's exit: 130 when a signal stopped it (partial results written), its error when it
/// failed, else 1 when a property was violated, 0 otherwise.
fn exit_code(stop: Option<Stop>, violated: bool) -> anyhow::Result<ExitCode> {
    match stop {
        Some(Stop::Interrupted(sig)) => {
            eprintln!("ticketlab: interrupted by {sig}: cluster stopped, partial results written");
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
        Some(Stop::Failed(e)) => return Err(e),
        None => {}
    }
    Ok(if violated {
        ExitCode::from(EXIT_VIOLATION)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints each row's violations, strict E-2 failures and undecided tickets on stderr, each line
/// after `ticketlab: {prefix}`; whether the run failed (a violation, or a stalled ticket when
/// `strict`).
fn report_rows(summary: &Summary, strict: bool, prefix: &str) -> bool {
    let mut violated = baseline::report_rows(summary, strict, prefix);
    // The first few violations of each row; summary.json has them all.
    const SHOWN: usize = 5;
    for r in &summary.runs {
        violated |= !r.violations.is_empty() || !r.bad_admitted.is_empty();
        for b in r.bad_admitted.iter().take(SHOWN) {
            eprintln!(
                "ticketlab: {prefix}{}: s{} took in {} ticket {} at {} µs (verification failed)",
                r.label(),
                b.server,
                b.reason.name(),
                b.ticket,
                b.t_us
            );
        }
        for v in r.violations.iter().take(SHOWN) {
            eprintln!("ticketlab: {prefix}{}: {v}", r.label());
        }
        if r.violations.len() > SHOWN {
            eprintln!(
                "ticketlab: {prefix}{}: … and {} more violation(s) (all in summary.json)",
                r.label(),
                r.violations.len() - SHOWN
            );
        }
        if strict {
            for t in &r.stalled {
                violated = true;
                eprintln!(
                    "ticketlab: {prefix}{}: E-2 (strict): ticket {t} undecided at the deadline although no server that received it crashed",
                    r.label()
                );
            }
        }
        if r.undecided > 0 {
            eprintln!(
                "ticketlab: {prefix}{}: {} ticket(s) undecided {}: {}",
                r.label(),
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
    violated
}

/// Progress bars are for a person watching: never in CI (and `progress::bar` shows them only
/// on a terminal).
fn show_progress() -> bool {
    std::env::var_os("CI").is_none()
}

/// Real processes share this machine's cores: past a point the heartbeats alone queue for the
/// CPU and every latency figure measures that queue. Say so before the run, not after; whether
/// it did. When the heartbeats are the cause, say which timing would do (`heartbeat_advice`).
fn warn_if_overloaded(scenario: &Scenario) -> bool {
    let n = u64::from(scenario.cluster.servers);
    let per_sec = n * (n - 1) * 1_000_000 / scenario.cluster.heartbeat.max(1);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let overloaded = n > 4 * cores as u64 || per_sec > MAX_HEARTBEATS_PER_S;
    if overloaded {
        eprintln!(
            "ticketlab: warning: {n} server processes on {cores} core(s), {per_sec} heartbeats/s: \
             latency will include CPU queueing (a larger heartbeat_ms, fewer servers or --sim \
             measure the protocol, not the machine)"
        );
    }
    if let Some(advice) = heartbeat_advice(scenario) {
        eprintln!("ticketlab: warning: {advice}");
    }
    overloaded
}

/// The runtime for `mode`. Real processes need one tokio runtime and signal watch per
/// invocation, made on first use on this (the main) thread and kept in `procs`.
fn runtime_for(
    mode: Mode,
    procs: &mut Option<Processes>,
    run_id: String,
    progress: bool,
) -> anyhow::Result<&dyn Runtime> {
    Ok(match mode {
        Mode::Sim => &Simulator,
        Mode::Processes => {
            if procs.is_none() {
                *procs = Some(Processes::new(run_id, progress)?);
            }
            procs.as_ref().expect("just made")
        }
    })
}

/// Run every protocol of `scenario` with `runtime`, writing each history as it completes. A run
/// can stop early (signal, failure): the summary then covers what was recorded, is marked
/// incomplete, and the reason is returned.
fn execute(
    runtime: &dyn Runtime,
    scenario: &Scenario,
    seed: u64,
    out_dir: &Path,
) -> anyhow::Result<(Summary, Option<Stop>)> {
    let mut summary = Summary::new(scenario, seed, runtime.mode());
    summary.command = std::env::args().collect();
    let mut stop = None;
    for &protocol in &scenario.cluster.protocols {
        if let Some(sig) = runtime.interrupted() {
            stop = Some(Stop::Interrupted(sig));
            break;
        }
        // A [byzantine] sweep: one run per behaviour, history in <protocol>/<behaviour>/.
        let runs: Vec<(Scenario, Option<Behaviour>)> = match &scenario.byzantine {
            None => vec![(scenario.clone(), None)],
            Some(sweep) => sweep
                .behaviours
                .iter()
                .map(|&b| (sweep.apply(scenario, b), Some(b)))
                .collect(),
        };
        for (s, behaviour) in runs {
            if let Some(sig) = runtime.interrupted() {
                stop = Some(Stop::Interrupted(sig));
                break;
            }
            let dir = match behaviour {
                Some(b) => out_dir.join(protocol.name()).join(b.name()),
                None => out_dir.join(protocol.name()),
            };
            let (mut row, stopped) = run_protocol(runtime, &s, protocol, seed, &dir)?;
            row.behaviour = behaviour;
            summary.runs.push(row);
            if stopped.is_some() {
                stop = stopped;
                break;
            }
        }
        if stop.is_some() {
            break;
        }
    }
    summary.complete = stop.is_none();
    Ok((summary, stop))
}

/// One protocol's row: one run, or a resilience sweep (f = 0 is the row's ordinary run, history
/// in `dir`, the protocol's folder; the others go to `dir/f<k>/`).
fn run_protocol(
    runtime: &dyn Runtime,
    scenario: &Scenario,
    protocol: ProtocolKind,
    seed: u64,
    out_dir: &Path,
) -> anyhow::Result<(RunSummary, Option<Stop>)> {
    let dir = out_dir.to_path_buf();
    let write = |sub: Option<u16>, output: &RunOutput| -> anyhow::Result<()> {
        let dir = match sub {
            Some(f) => dir.join(format!("f{f}")),
            None => dir.clone(),
        };
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("history.jsonl");
        match &output.streamed {
            // Written as the run went.
            Some(s) => {
                if let Some(e) = &s.error {
                    anyhow::bail!("cannot write {}: {e}", s.path.display());
                }
            }
            None => history::write_jsonl(&path, &output.history)
                .with_context(|| format!("cannot write {}", path.display()))?,
        }
        let lat = report::run_latencies(output);
        let path = dir.join("latency.hgrm");
        std::fs::write(&path, lat.hgrm(1000.0))
            .with_context(|| format!("cannot write {}", path.display()))?;
        let path = dir.join("latency-cdf.svg");
        let title = format!("{} · {}", scenario.name, protocol.name());
        let delta_ms = scenario.cluster.delta as f64 / 1000.0;
        let theory = protocol.theory(scenario.cluster.servers).latency_delta;
        let svg = crate::cdf::svg(&lat, &title, delta_ms, theory)?;
        std::fs::write(&path, svg).with_context(|| format!("cannot write {}", path.display()))
    };
    let Some(res) = &scenario.resilience else {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let run = runtime.run_to(scenario, protocol, seed, &dir.join("history.jsonl"));
        write(None, &run.output)?;
        return Ok((report::summarize(scenario, protocol, &run.output), run.stop));
    };
    let swept = resilience::sweep(runtime, scenario, protocol, seed, res, |f, output| {
        write((f > 0).then_some(f), output)
    })?;
    // Stopped early: the row shows what the interrupted run had recorded.
    let mut row = report::summarize(scenario, protocol, &swept.base);
    if let Some(measured) = swept.measured {
        row.resilience_measured = measured.measured;
        row.resilience = Some(measured);
    }
    Ok((row, swept.stop))
}

fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let a = crate::compare::load(&args.a)?;
    let b = crate::compare::load(&args.b)?;
    println!("{}", crate::compare::render(&a, &b));
    Ok(ExitCode::SUCCESS)
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let protocol = ProtocolKind::from_name(&args.protocol).ok_or_else(|| {
        let known: Vec<&str> = ProtocolKind::ALL.iter().map(|p| p.name()).collect();
        anyhow::anyhow!(
            "--protocol: unknown protocol {:?}, expected one of {}",
            args.protocol,
            known.join(", ")
        )
    })?;
    let submit = if args.submit.is_empty() {
        if args.tickets == 0 || args.tickets > crate::check::MAX_TICKETS {
            anyhow::bail!(
                "--tickets {}: an exhaustive search is feasible for 1 to {} tickets",
                args.tickets,
                crate::check::MAX_TICKETS
            );
        }
        crate::check::default_submit(args.servers.max(1), args.tickets)
    } else {
        args.submit
            .iter()
            .map(|list| {
                list.split(',')
                    .map(|s| {
                        s.trim().parse::<u16>().map_err(|_| {
                            anyhow::anyhow!("--submit {list:?}: expected server ids like 1,2")
                        })
                    })
                    .collect::<anyhow::Result<Vec<u16>>>()
            })
            .collect::<anyhow::Result<_>>()?
    };
    let cfg = crate::check::Config {
        protocol,
        servers: args.servers,
        submit,
        crashes: args.crashes,
        suspicions: args.suspicions,
        timers: args.timers,
        depth: args.depth,
        max_states: args.max_states,
        max_memory_mb: args.max_memory.or_else(crate::check::default_max_memory_mb),
        seed: args.seed,
        progress: args.format == Format::Table && show_progress(),
        reduce: !args.no_reduction,
    };
    cfg.validate()?;
    let out_dir = args.out.clone().unwrap_or_else(crate::check::default_out);
    eprintln!(
        "ticketlab check: {protocol}, n = {}, tickets {:?}, ≤ {} crash(es), ≤ {} false suspicion(s)",
        cfg.servers, cfg.submit, cfg.crashes, cfg.suspicions
    );
    let report = crate::check::run(&cfg, &out_dir, &Simulator)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Table => println!("{}", crate::check::render(&report)),
    }
    Ok(if report.violation.is_some() {
        ExitCode::from(EXIT_VIOLATION)
    } else {
        ExitCode::SUCCESS
    })
}
