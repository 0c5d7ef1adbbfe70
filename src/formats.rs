//! The run table in the formats reports are written in: CSV (`--format csv`, one row per
//! protocol run, every numeric field, theory beside measured) and Markdown (`--format markdown`,
//! the terminal table's columns as a pipe table to paste into a report).

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

/// `r`'s CSV fields, in [`CSV_COLUMNS`] order.
pub fn csv_fields(summary: &Summary, r: &RunSummary) -> Vec<String> {
    let mut f = vec![
        summary.scenario.clone(),
        summary.mode.to_string(),
        summary.servers.to_string(),
        summary.delta_ms.to_string(),
        summary.seed.to_string(),
        r.protocol.name().to_string(),
        r.behaviour
            .map(|b| b.name().to_string())
            .unwrap_or_default(),
        r.tickets.to_string(),
        r.accepted.to_string(),
        r.rejected.to_string(),
        r.undecided.to_string(),
        r.violations.len().to_string(),
    ];
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

/// The whole summary as CSV: a header line, then one line per run.
pub fn csv(summary: &Summary) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for r in &summary.runs {
        let line: Vec<String> = csv_fields(summary, r)
            .iter()
            .map(|s| csv_field(s))
            .collect();
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
    out.push_str("\nMeasured figures; the paper's theory (Table 1) in parentheses");
    out.push_str(if summary.theory_applies {
        ".\n"
    } else {
        " — for fault-free, uncontended runs; this run has scripted tickets, faults or bad tickets.\n"
    });
    out
}

#[cfg(test)]
mod tests {
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
