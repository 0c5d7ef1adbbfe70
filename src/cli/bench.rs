//! `ticketlab bench` (hidden; `make bench`): the real-process runtime's throughput and latency,
//! measured — never a test. Every protocol of Table 1 runs on a fresh local cluster (the built-in
//! Table 1 scenario, n = 5) at every point of a grid of scenario keys — by default δ (0 ms)
//! × tickets in flight (1, 16, 64, 256; a closed loop, think 0) — one after the other on this
//! machine, in one invocation. Per point it prints and writes (`bench.csv`, `bench.json` with the
//! machine it ran on, under `--out`, default `results/bench/`):
//! - **throughput**: tickets decided per second of the measured interval — from the first
//!   submission to the last decision in the history (setup, the issuer's signing before the
//!   epoch and the end-of-run quiescence are outside it);
//! - **latency** p50 and p99 in ms: the users' (`client_latency_ms` of the summary) when the
//!   summary has it, else the servers' (`latency_ms`, submission to decision at the server),
//!   and which one in `latency_source`;
//! - messages per ticket (theory beside it) and violations, so a fast run is also a right one.
//!
//! The grid is a list of [`Axis`] (a scenario key and its values, `--set` syntax); another axis
//! (an offered load, say) is one more entry in [`axes`].

use super::{runtime_for, show_progress, EXIT_INTERRUPTED, EXIT_VIOLATION};
use crate::history::Event;
use crate::lab::{RunOutput, Stop};
use crate::protocol::ProtocolKind;
use crate::report::{self, RunSummary};
use crate::scenario::{self, Mode, Scenario};
use anyhow::Context;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub(super) struct BenchArgs {
    /// Tickets in flight (the users' closed-loop concurrency), one point each.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 16, 64, 256, 1024])]
    in_flight: Vec<u32>,
    /// δ values, in ms, one point each.
    #[arg(long, value_delimiter = ',', default_values_t = vec![0.0])]
    delta_ms: Vec<f64>,
    /// Tickets per run.
    #[arg(long, default_value_t = 20_000)]
    tickets: u64,
    /// Offered loads (tickets/s, open loop, Poisson arrivals) of the saturation sweep, run after
    /// the closed-loop grid at the first δ: offered load → throughput and client latency, with
    /// `sweep.csv` and `throughput.svg` under `OUT/saturation/`.
    #[arg(long, value_delimiter = ',', default_values_t = vec![2_000, 5_000, 10_000, 20_000, 40_000])]
    rates: Vec<u32>,
    /// Skip the saturation sweep.
    #[arg(long)]
    no_saturation: bool,
    /// Skip the etcd comparison (run when the `etcd` binary is installed: the same workload at
    /// the largest in-flight count against a real etcd cluster of n members).
    #[arg(long)]
    no_etcd: bool,
    /// Protocols to measure (default: Table 1's).
    #[arg(long, value_delimiter = ',')]
    protocols: Vec<String>,
    /// Extra scenario overrides (applied to the built-in Table 1 scenario, before the grid's).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Output folder: `bench.csv` and `bench.json` go there.
    #[arg(long, value_name = "DIR", default_value = "results/bench")]
    out: PathBuf,
    /// Name for this bench's server processes (`ticketlab server --run-id ID-<protocol>`).
    #[arg(long, hide = true)]
    run_id: Option<String>,
}

/// One axis of the grid: a scenario key (as `--set` takes it) and its values, in order.
#[derive(Clone, Debug, Serialize)]
pub(super) struct Axis {
    /// The scenario key.
    key: &'static str,
    /// The column's name in the table and the CSV.
    column: &'static str,
    /// Values as `--set` takes them.
    values: Vec<String>,
}

/// The grid's axes, slowest first.
fn axes(args: &BenchArgs) -> Vec<Axis> {
    vec![
        Axis {
            key: "cluster.delta_ms",
            column: "delta_ms",
            values: args.delta_ms.iter().map(|d| d.to_string()).collect(),
        },
        Axis {
            key: "workload.concurrency",
            column: "in_flight",
            values: args.in_flight.iter().map(|c| c.to_string()).collect(),
        },
    ]
}

/// One point of the grid: (column, key, value) per axis.
type Point = Vec<(&'static str, &'static str, String)>;

/// Every combination of the axes' values (the first axis slowest), as (column, key, value).
fn grid(axes: &[Axis]) -> Vec<Vec<(&'static str, &'static str, String)>> {
    axes.iter().fold(vec![Vec::new()], |points, axis| {
        points
            .iter()
            .flat_map(|p| {
                axis.values.iter().map(move |v| {
                    let mut p = p.clone();
                    p.push((axis.column, axis.key, v.clone()));
                    p
                })
            })
            .collect()
    })
}

/// The machine the bench ran on.
#[derive(Clone, Debug, Serialize)]
struct Machine {
    cpu: String,
    cores: usize,
    memory_gib: Option<f64>,
    kernel: String,
    /// The 1-minute load average when the bench started (other work on the machine skews
    /// every figure).
    load_at_start: Option<f64>,
    ticketlab: String,
}

fn first_line_with(path: &str, prefix: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find(|l| l.starts_with(prefix))
        .map(|l| l.split_once(':').map_or(l, |(_, v)| v).trim().to_string())
}

impl Machine {
    fn here() -> Self {
        let field = |path: &str| std::fs::read_to_string(path).ok();
        Machine {
            cpu: first_line_with("/proc/cpuinfo", "model name").unwrap_or_else(|| "?".into()),
            cores: std::thread::available_parallelism().map_or(1, |c| c.get()),
            memory_gib: first_line_with("/proc/meminfo", "MemTotal").and_then(|v| {
                let kib: f64 = v.split_whitespace().next()?.parse().ok()?;
                Some((kib / 1024.0 / 1024.0 * 10.0).round() / 10.0)
            }),
            kernel: field("/proc/sys/kernel/osrelease")
                .map_or_else(|| std::env::consts::OS.to_string(), |s| s.trim().into()),
            load_at_start: field("/proc/loadavg")
                .and_then(|s| s.split_whitespace().next()?.parse().ok()),
            ticketlab: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    fn line(&self) -> String {
        let mem = self.memory_gib.map_or("?".into(), |m| format!("{m} GiB"));
        let load = self.load_at_start.map_or("?".into(), |l| format!("{l:.2}"));
        format!(
            "{} × {} cores, {mem}, kernel {}, load {load} at start, ticketlab {}",
            self.cpu, self.cores, self.kernel, self.ticketlab
        )
    }
}

/// One measured point.
#[derive(Clone, Debug, Serialize)]
pub(super) struct Row {
    protocol: String,
    /// The grid's values at this point, by column.
    point: Vec<(String, String)>,
    tickets: u64,
    decided: u64,
    /// First submission to last decision, ms.
    interval_ms: f64,
    tickets_per_s: f64,
    /// The summary's `throughput_per_s`: decided per second after the warm-up (the figure the
    /// etcd comparison uses for both sides).
    throughput_per_s: Option<f64>,
    /// "client" (the users' latency) or "servers" (submission to decision at the server).
    latency_source: &'static str,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    messages_per_ticket: f64,
    theory_messages_per_ticket: u64,
    violations: usize,
}

/// First submission to last decision of a run's history, µs.
fn measured_interval(history: &[Event]) -> Option<u64> {
    let first = history
        .iter()
        .filter(|e| matches!(e, Event::Submit { .. }))
        .map(Event::time)
        .min()?;
    let last = history
        .iter()
        .filter(|e| matches!(e, Event::Decide { .. }))
        .map(Event::time)
        .max()?;
    Some(last.saturating_sub(first).max(1))
}

/// The users' latency percentiles if the summary has them, else the servers'.
fn latency(summary: &RunSummary) -> (&'static str, Option<f64>, Option<f64>) {
    let json = serde_json::to_value(summary).unwrap_or_default();
    let pick = |key: &str| {
        let stats = json.get(key)?;
        let p = |q: &str| stats.get(q).and_then(serde_json::Value::as_f64);
        stats.is_object().then(|| (p("p50"), p("p99")))
    };
    match pick("client_latency_ms") {
        Some((p50, p99)) if p50.is_some() => ("client", p50, p99),
        _ => ("servers", summary.latency_ms.p50, summary.latency_ms.p99),
    }
}

fn row(
    protocol: ProtocolKind,
    point: &[(&'static str, &'static str, String)],
    scenario: &Scenario,
    output: &RunOutput,
) -> Row {
    let summary = report::summarize(scenario, protocol, output);
    let decided = summary.tickets.saturating_sub(summary.undecided);
    let interval = measured_interval(&output.history);
    let (latency_source, p50_ms, p99_ms) = latency(&summary);
    Row {
        protocol: protocol.name().to_string(),
        point: point
            .iter()
            .map(|(c, _, v)| (c.to_string(), v.clone()))
            .collect(),
        tickets: summary.tickets,
        decided,
        interval_ms: interval.map_or(0.0, |i| i as f64 / 1000.0),
        tickets_per_s: interval.map_or(0.0, |i| decided as f64 * 1e6 / i as f64),
        throughput_per_s: summary.throughput_per_s,
        latency_source,
        p50_ms,
        p99_ms,
        messages_per_ticket: summary.messages_per_ticket,
        theory_messages_per_ticket: summary.theory.messages_per_ticket,
        violations: summary.violations.len(),
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.3}"))
}

/// The rows as a terminal table (80 columns, no word broken); when every latency has the same
/// source, the line under it says which instead of a column.
fn table(axes: &[Axis], rows: &[Row]) -> String {
    let source = rows.first().map(|r| r.latency_source);
    let one_source = rows.iter().all(|r| Some(r.latency_source) == source);
    let mut t = grid_table(axes, rows, !one_source);
    crate::text::fit_words(&mut t, 80);
    match source {
        Some(s) if one_source => {
            let whose = if s == "client" {
                "the users' latency (submission → answer)"
            } else {
                "the servers' latency"
            };
            format!(
                "{t}
p50/p99: {whose}"
            )
        }
        _ => t.to_string(),
    }
}

fn grid_table(axes: &[Axis], rows: &[Row], with_source: bool) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    let mut header = vec!["protocol".to_string()];
    header.extend(axes.iter().map(|a| match a.column {
        "delta_ms" => "δ ms".to_string(),
        "in_flight" => "in flight".to_string(),
        other => other.to_string(),
    }));
    header.extend(
        [
            "tickets/s",
            "p50 ms",
            "p99 ms",
            "of",
            "msgs (theory)",
            "viol.",
        ]
        .into_iter()
        .filter(|h| with_source || *h != "of")
        .map(String::from),
    );
    t.set_header(header);
    for r in rows {
        let mut cells = vec![r.protocol.clone()];
        cells.extend(r.point.iter().map(|(_, v)| v.clone()));
        cells.extend([
            format!("{:.0}", r.tickets_per_s),
            ms(r.p50_ms),
            ms(r.p99_ms),
        ]);
        if with_source {
            cells.push(r.latency_source.to_string());
        }
        cells.extend([
            format!(
                "{:.2} ({})",
                r.messages_per_ticket, r.theory_messages_per_ticket
            ),
            r.violations.to_string(),
        ]);
        t.add_row(cells);
    }
    t
}

/// The rows as CSV (one header line, one line per point).
pub(super) fn csv(axes: &[Axis], rows: &[Row]) -> String {
    let mut s = String::from("protocol");
    for a in axes {
        let _ = write!(s, ",{}", a.column);
    }
    s.push_str(
        ",tickets,decided,interval_ms,tickets_per_s,latency_source,p50_ms,p99_ms,\
         messages_per_ticket,theory_messages_per_ticket,violations\n",
    );
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    for r in rows {
        s.push_str(&r.protocol);
        for (_, v) in &r.point {
            let _ = write!(s, ",{v}");
        }
        let _ = writeln!(
            s,
            ",{},{},{},{:.1},{},{},{},{},{},{}",
            r.tickets,
            r.decided,
            r.interval_ms,
            r.tickets_per_s,
            r.latency_source,
            opt(r.p50_ms),
            opt(r.p99_ms),
            r.messages_per_ticket,
            r.theory_messages_per_ticket,
            r.violations
        );
    }
    s
}

#[derive(Serialize)]
struct Report<'a> {
    machine: &'a Machine,
    command: Vec<String>,
    tickets: u64,
    axes: &'a [Axis],
    complete: bool,
    rows: &'a [Row],
}

fn protocols(args: &BenchArgs) -> anyhow::Result<Vec<ProtocolKind>> {
    if args.protocols.is_empty() {
        return Ok(ProtocolKind::TABLE1.to_vec());
    }
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
        .collect()
}

/// `ticketlab bench`.
pub(super) fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let protocols = protocols(&args)?;
    if args.in_flight.contains(&0) {
        anyhow::bail!("--in-flight 0: tickets in flight must be at least 1");
    }
    let axes = axes(&args);
    // Every point is loaded and validated before anything runs.
    let mut points = Vec::new();
    for point in grid(&axes) {
        let mut set = args.set.clone();
        set.push("cluster.mode=processes".into());
        set.push(format!("workload.tickets={}", args.tickets));
        set.push("workload.think_ms=0".into());
        set.push("workload.deadline_ms=60000".into());
        set.extend(point.iter().map(|(_, k, v)| format!("{k}={v}")));
        let scenario = scenario::load(
            "scenarios/table1.toml (built-in)",
            scenario::BUILTIN_TABLE1,
            &set,
        )?;
        super::baseline::refuse(&scenario, "ticketlab bench")?;
        points.push((point, scenario));
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create output folder {}", args.out.display()))?;
    let machine = Machine::here();
    eprintln!(
        "ticketlab bench: {} protocols × {} points, {} tickets each, n = 5, out {}",
        protocols.len(),
        points.len(),
        args.tickets,
        args.out.display()
    );
    let mut procs = None;
    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(|| format!("tlbench{}", std::process::id()));
    let runtime = runtime_for(Mode::Processes, &mut procs, run_id, show_progress())?;
    let mut rows = Vec::new();
    let mut stop = None;
    'grid: for (point, scenario) in &points {
        for &protocol in &protocols {
            if let Some(sig) = runtime.interrupted() {
                stop = Some(Stop::Interrupted(sig));
                break 'grid;
            }
            let seed = scenario.seed.unwrap_or(42);
            let run = runtime.run(scenario, protocol, seed);
            if run.stop.is_none() {
                rows.push(row(protocol, point, scenario, &run.output));
            }
            if run.stop.is_some() {
                stop = run.stop;
                break 'grid;
            }
        }
    }
    let report = Report {
        machine: &machine,
        command: std::env::args().collect(),
        tickets: args.tickets,
        axes: &axes,
        complete: stop.is_none(),
        rows: &rows,
    };
    let json = serde_json::to_string_pretty(&report)?;
    let (csv_path, json_path) = (args.out.join("bench.csv"), args.out.join("bench.json"));
    std::fs::write(&json_path, format!("{json}\n"))
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    std::fs::write(&csv_path, csv(&axes, &rows))
        .with_context(|| format!("cannot write {}", csv_path.display()))?;
    println!(
        "{}",
        crate::text::wrap(&format!("machine: {}", machine.line()), " ", 80, 2).trim_start()
    );
    println!("{}", table(&axes, &rows));
    eprintln!(
        "ticketlab bench: wrote {} and {}",
        csv_path.display(),
        json_path.display()
    );
    match stop {
        Some(Stop::Interrupted(sig)) => {
            eprintln!("ticketlab bench: interrupted by {sig}");
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
        Some(Stop::Failed(e)) => return Err(e),
        None => {}
    }
    let closed = if rows.iter().any(|r| r.violations > 0) {
        ExitCode::from(EXIT_VIOLATION)
    } else {
        ExitCode::SUCCESS
    };
    drop(procs);
    if !args.no_etcd {
        etcd_comparison(&args, &points, &rows)?;
    }
    if args.no_saturation || args.rates.is_empty() {
        return Ok(closed);
    }
    let open = saturation(&args, &protocols)?;
    Ok(if open == ExitCode::SUCCESS {
        closed
    } else {
        open
    })
}

/// The same users against a real etcd cluster (the `etcd` baseline row) at the grid's last
/// point (the largest in-flight count), and each protocol's throughput as a multiple of etcd's —
/// both the summaries' `throughput_per_s` (after the warm-up), measured in this one invocation.
/// Written to `OUT/etcd.json`. Without the `etcd` binary it says so and skips.
fn etcd_comparison(
    args: &BenchArgs,
    points: &[(Point, Scenario)],
    rows: &[Row],
) -> anyhow::Result<()> {
    let Some((point, scenario)) = points.last() else {
        return Ok(());
    };
    let etcd = match crate::etcd::Etcd::new(
        format!("tlbenchetcd{}", std::process::id()),
        show_progress(),
    ) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("ticketlab bench: no etcd comparison: {e:#}");
            return Ok(());
        }
    };
    let label: Vec<String> = point.iter().map(|(c, _, v)| format!("{c} {v}")).collect();
    eprintln!(
        "ticketlab bench: etcd baseline at {} (n = {}, {} tickets)",
        label.join(", "),
        scenario.cluster.servers,
        args.tickets
    );
    let seed = scenario.seed.unwrap_or(42);
    let r = etcd.run(scenario, seed);
    if let Some(stop) = r.stop {
        return match stop {
            Stop::Interrupted(sig) => anyhow::bail!("interrupted by {sig}"),
            Stop::Failed(e) => Err(e.context("the etcd baseline")),
        };
    }
    let facts = report::baseline::StoreFacts {
        store: r.extra.version.replace(" Version:", ""),
        transactions: r.extra.transactions,
        retries: r.extra.retries,
        failed: r.extra.failed,
    };
    let b =
        report::baseline::summarize(scenario, crate::scenario::Baseline::Etcd, &r.output, &facts);
    let here: Vec<(String, String)> = point
        .iter()
        .map(|(c, _, v)| (c.to_string(), v.clone()))
        .collect();
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "row",
        "decided/s",
        "p50 ms",
        "p99 ms",
        "× etcd",
        "viol.",
    ]);
    let mut ratios = Vec::new();
    for r in rows.iter().filter(|r| r.point == here) {
        let ratio = match (r.throughput_per_s, b.throughput_per_s) {
            (Some(p), Some(e)) if e > 0.0 => Some(p / e),
            _ => None,
        };
        ratios.push((r.protocol.clone(), ratio));
        t.add_row(vec![
            r.protocol.clone(),
            r.throughput_per_s.map_or("—".into(), |v| format!("{v:.0}")),
            ms(r.p50_ms),
            ms(r.p99_ms),
            ratio.map_or("—".into(), |v| format!("{v:.1}")),
            r.violations.to_string(),
        ]);
    }
    t.add_row(vec![
        format!("etcd ({})", facts.store),
        b.throughput_per_s.map_or("—".into(), |v| format!("{v:.0}")),
        ms(b.client_latency_ms.p50),
        ms(b.client_latency_ms.p99),
        "1.0".into(),
        b.violations.len().to_string(),
    ]);
    let title = format!(
        "etcd baseline at {}: decided/s after the warm-up, the users' latency",
        label.join(", ")
    );
    println!("{}", crate::text::wrap(&title, " ", 80, 2).trim_start());
    crate::text::fit_words(&mut t, 80);
    println!("{t}");
    let path = args.out.join("etcd.json");
    let json = serde_json::json!({ "point": here, "etcd": b, "ratios": ratios });
    std::fs::write(&path, format!("{}\n", serde_json::to_string_pretty(&json)?))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The saturation sweep: `ticketlab run` swept over `workload.rate` (open loop) on the built-in
/// Table 1 scenario at the first δ, into `OUT/saturation/` (the sweep's `sweep.csv`, with
/// offered load, throughput and client latency per point, and its `throughput.svg`).
fn saturation(args: &BenchArgs, protocols: &[ProtocolKind]) -> anyhow::Result<ExitCode> {
    if args.rates.contains(&0) {
        anyhow::bail!("--rates 0: an offered load must be at least 1 ticket/s");
    }
    let names: Vec<String> = protocols
        .iter()
        .map(|p| format!("{:?}", p.name()))
        .collect();
    let delta = args.delta_ms.first().copied().unwrap_or(0.0);
    let mut set = args.set.clone();
    set.extend([
        "cluster.mode=processes".to_string(),
        format!("cluster.protocols=[{}]", names.join(",")),
        format!("cluster.delta_ms={delta}"),
        format!("workload.tickets={}", args.tickets),
        "workload.deadline_ms=60000".to_string(),
    ]);
    let rates: Vec<String> = args.rates.iter().map(u32::to_string).collect();
    let run = super::RunArgs {
        scenario: None,
        sim: false,
        seed: None,
        set,
        sweep: vec![format!("workload.rate={}", rates.join(","))],
        out: Some(args.out.join("saturation")),
        format: super::RunFormat::Table,
        strict: false,
        diagram: false,
        run_id: args.run_id.clone(),
    };
    eprintln!(
        "ticketlab bench: saturation sweep, offered {} tickets/s, δ = {delta} ms",
        rates.join(", ")
    );
    let (file, text) = super::scenario_text(&run)?;
    let axes = super::sweep::axes(&run, &file, &text)?;
    let code = super::sweep::sweep(&run, &file, &text, axes)?;
    let csv_path = args.out.join("saturation").join("sweep.csv");
    if let Ok(csv) = std::fs::read_to_string(&csv_path) {
        println!("saturation (open loop): offered load → throughput and the users' latency");
        let mut t = saturation_table(&csv);
        crate::text::fit_words(&mut t, 80);
        println!("{t}");
    }
    Ok(code)
}

/// The saturation sweep's `sweep.csv` as a short table: offered load, throughput, the users'
/// latency p50/p99, messages per ticket, violations.
fn saturation_table(csv: &str) -> comfy_table::Table {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "protocol",
        "rate",
        "offered/s",
        "decided/s",
        "p50 ms",
        "p99 ms",
        "msgs per ticket",
        "viol.",
    ]);
    let columns = [
        "protocol",
        "workload.rate",
        "offered_per_s",
        "throughput_per_s",
        "client_latency_ms_p50",
        "client_latency_ms_p99",
        "messages_per_ticket",
        "violations",
    ];
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let cell = |name: &str| {
            let v = col(name).and_then(|i| fields.get(i)).copied().unwrap_or("");
            match v.parse::<f64>() {
                Ok(x) if name.ends_with("_per_s") => format!("{x:.0}"),
                Ok(x) if name.contains("latency") || name.starts_with("messages") => {
                    format!("{x:.2}")
                }
                _ => v.to_string(),
            }
        };
        t.add_row(columns.map(cell).to_vec());
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_every_combination_first_axis_slowest() {
        let axes = vec![
            Axis {
                key: "cluster.delta_ms",
                column: "delta_ms",
                values: vec!["1".into(), "2".into()],
            },
            Axis {
                key: "workload.concurrency",
                column: "in_flight",
                values: vec!["1".into(), "16".into(), "64".into()],
            },
        ];
        let g = grid(&axes);
        assert_eq!(g.len(), 6);
        let values: Vec<(String, String)> =
            g.iter().map(|p| (p[0].2.clone(), p[1].2.clone())).collect();
        assert_eq!(values[0], ("1".into(), "1".into()));
        assert_eq!(values[2], ("1".into(), "64".into()));
        assert_eq!(values[3], ("2".into(), "1".into()));
        assert!(g.iter().all(|p| p[1].1 == "workload.concurrency"));
    }
}
