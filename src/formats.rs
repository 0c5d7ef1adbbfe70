//! The run table in the formats reports are written in: CSV (`--format csv`, one row per
//! protocol run, every numeric field, theory beside measured) and Markdown (`--format markdown`,
//! the terminal table's columns as a pipe table to paste into a report).

use crate::report::baseline::BaselineSummary;
use crate::report::{RunSummary, Stats, Summary};

/// CSV's column names, in order (a contract like summary.json's: add, never rename).
pub const CSV_COLUMNS: &[&str] = &[
    "scenario",
    "mode",
    "n",
    "delta_ms",
    "seed",
    "protocol",
    "behaviour",
    "tickets",
    "accepted",
    "rejected",
    "undecided",
    "violations",
    "latency_delta_p50",
    "latency_delta_p90",
    "latency_delta_p99",
    "latency_delta_p999",
    "latency_delta_max",
    "latency_ms_p50",
    "latency_ms_p90",
    "latency_ms_p99",
    "latency_ms_p999",
    "latency_ms_max",
    "messages_per_ticket",
    "messages",
    "decisions",
    "duration_ms",
    "retransmissions",
    "theory_resilience",
    "theory_latency_delta",
    "theory_messages_per_ticket",
    "client_latency_ms_p50",
    "client_latency_ms_p90",
    "client_latency_ms_p99",
    "client_latency_ms_p999",
    "client_latency_ms_max",
    "throughput_per_s",
    "offered_per_s",
];

/// One CSV field: quoted when it holds a comma, a quote or a line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn stats(s: &Stats) -> [String; 5] {
    [opt(s.p50), opt(s.p90), opt(s.p99), opt(s.p999), opt(s.max)]
}

/// The fields every CSV line starts with: the run's scenario, mode, n, δ and seed.
fn run_fields(summary: &Summary) -> Vec<String> {
    vec![
        summary.scenario.clone(),
        summary.mode.to_string(),
        summary.servers.to_string(),
        summary.delta_ms.to_string(),
        summary.seed.to_string(),
    ]
}

/// `r`'s CSV fields, in [`CSV_COLUMNS`] order.
pub fn csv_fields(summary: &Summary, r: &RunSummary) -> Vec<String> {
    let mut f = run_fields(summary);
    f.extend([
        r.protocol.name().to_string(),
        r.behaviour
            .map(|b| b.name().to_string())
            .unwrap_or_default(),
        r.tickets.to_string(),
        r.accepted.to_string(),
        r.rejected.to_string(),
        r.undecided.to_string(),
        r.violations.len().to_string(),
    ]);
    f.extend(stats(&r.latency_delta));
    f.extend(stats(&r.latency_ms));
    f.extend([
        r.messages_per_ticket.to_string(),
        r.messages.to_string(),
        r.decisions.to_string(),
        r.duration_ms.to_string(),
        r.retransmissions.to_string(),
        r.theory.resilience.clone(),
        r.theory.latency_delta.to_string(),
        r.theory.messages_per_ticket.to_string(),
    ]);
    f.extend(stats(&r.client_latency_ms));
    f.extend([opt(r.throughput_per_s), opt(r.offered_per_s)]);
    f
}

/// A baseline row's CSV fields: no δ, no messages, no theory (empty fields).
pub fn baseline_csv_fields(summary: &Summary, b: &BaselineSummary) -> Vec<String> {
    let mut f = run_fields(summary);
    f.extend([
        b.protocol.name().to_string(),
        String::new(),
        b.tickets.to_string(),
        b.accepted.to_string(),
        b.rejected.to_string(),
        b.undecided.to_string(),
        b.violations.len().to_string(),
    ]);
    f.extend(std::iter::repeat_n(String::new(), 5));
    f.extend(stats(&b.latency_ms));
    f.extend([
        String::new(),
        String::new(),
        b.decisions.to_string(),
        b.duration_ms.to_string(),
        "0".to_string(),
        String::new(),
        String::new(),
        String::new(),
    ]);
    f.extend(stats(&b.client_latency_ms));
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    f.extend([opt(b.throughput_per_s), opt(b.offered_per_s)]);
    f
}

/// The whole summary as CSV: a header line, then one line per run (baselines last).
pub fn csv(summary: &Summary) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    let rows = summary.runs.iter().map(|r| csv_fields(summary, r)).chain(
        summary
            .baselines
            .iter()
            .map(|b| baseline_csv_fields(summary, b)),
    );
    for fields in rows {
        let line: Vec<String> = fields.iter().map(|s| csv_field(s)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

fn num(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if (v - v.round()).abs() < 1e-9 => format!("{v:.0}"),
        Some(v) => format!("{v:.3}"),
    }
}

/// The table as Markdown: measured figures with the theory in parentheses, as in the terminal.
pub fn markdown(summary: &Summary) -> String {
    let mut out = format!(
        "**{}**: n = {}, δ = {} ms, seed {}, {}{}\n\n",
        summary.scenario,
        summary.servers,
        summary.delta_ms,
        summary.seed,
        match summary.mode {
            crate::scenario::Mode::Sim => "simulator",
            crate::scenario::Mode::Processes => "real processes",
        },
        if summary.complete {
            ""
        } else {
            " — incomplete run"
        }
    );
    // δ = 0: no δ unit; latencies in ms, theory still in δ.
    let zero = summary.delta_ms <= 0.0;
    let u = if zero { "ms" } else { "δ" };
    out.push_str(&format!(
        "| protocol | tolerates (theory) | {u} max (theory) | {u} p50 | {u} p99 | msgs/ticket \
         (theory) | accepted / rejected / undecided | violations |\n"
    ));
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for r in &summary.runs {
        let (lat, theory) = if zero {
            (
                &r.latency_ms,
                format!("{}δ", num(Some(r.theory.latency_delta))),
            )
        } else {
            (&r.latency_delta, num(Some(r.theory.latency_delta)))
        };
        out.push_str(&format!(
            "| {} | {} | {} ({}) | {} | {} | {} ({}) | {} / {} / {} | {} |\n",
            r.label().replace('|', "\\|"),
            r.theory.resilience.replace('|', "\\|"),
            num(lat.max),
            theory,
            num(lat.p50),
            num(lat.p99),
            num(Some(r.messages_per_ticket)),
            r.theory.messages_per_ticket,
            r.accepted,
            r.rejected,
            r.undecided,
            r.violations.len()
        ));
    }
    for b in &summary.baselines {
        out.push_str(&format!(
            "| {} (baseline) |  | n/a | n/a | n/a | n/a | {} / {} / {} | {} |\n",
            b.protocol,
            b.accepted,
            b.rejected,
            b.undecided,
            b.violations.len()
        ));
    }
    out.push_str("\nMeasured figures; the paper's theory (Table 1) in parentheses");
    out.push_str(if summary.theory_applies {
        ".\n"
    } else {
        " — for fault-free, uncontended runs; this run has scripted tickets, faults or bad tickets.\n"
    });
    if !summary.baselines.is_empty() {
        out.push_str(
            "\nn/a: a baseline is a real store (docs/BASELINE.md): its links are not delayed by δ \
             and its messages are not counted; no theory. Latency (client-observed) and throughput:\n\n\
             | row | p50 ms | p99 ms | max ms | tickets/s |\n|---|---:|---:|---:|---:|\n",
        );
        let tput = |t: Option<f64>| t.map_or("—".to_string(), |t| format!("{t:.0}"));
        for r in &summary.runs {
            let t = crate::report::baseline::throughput(r.tickets, r.undecided, r.duration_ms);
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                r.label().replace('|', "\\|"),
                num(r.latency_ms.p50),
                num(r.latency_ms.p99),
                num(r.latency_ms.max),
                tput(t)
            ));
        }
        for b in &summary.baselines {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                b.protocol,
                num(b.latency_ms.p50),
                num(b.latency_ms.p99),
                num(b.latency_ms.max),
                tput(b.throughput_per_s)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_baseline_row_has_empty_delta_messages_and_theory_in_csv_and_n_a_in_markdown() {
        let summary = crate::report::baseline::tests::sample_summary();
        // CSV: the etcd line, δ, messages and theory empty, as many fields as the header.
        let csv = super::csv(&summary);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2, "{csv}");
        let fields: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(fields.len(), super::CSV_COLUMNS.len(), "{csv}");
        let col = |name: &str| {
            let i = super::CSV_COLUMNS.iter().position(|c| *c == name);
            fields[i.unwrap()]
        };
        assert_eq!(col("protocol"), "etcd");
        assert_eq!(col("latency_ms_max"), "6");
        for empty in [
            "latency_delta_max",
            "messages_per_ticket",
            "theory_latency_delta",
        ] {
            assert_eq!(col(empty), "", "{empty}: {csv}");
        }
        let md = super::markdown(&summary);
        assert!(
            md.contains("| etcd (baseline) |  | n/a | n/a | n/a | n/a | 2 / 0 / 0 | 0 |"),
            "{md}"
        );
        assert!(md.contains("| etcd | 5 | 6 | 6 | 200 |"), "{md}");
    }

    #[test]
    fn fields_with_commas_or_quotes_are_quoted() {
        assert_eq!(super::csv_field("f < n/2"), "f < n/2");
        assert_eq!(
            super::csv_field("f < n/2; E-2, once"),
            "\"f < n/2; E-2, once\""
        );
        assert_eq!(super::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::csv_field("[1, 2]"), "\"[1, 2]\"");
    }
}
