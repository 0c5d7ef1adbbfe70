//! The terminal table: one row per protocol, measured figures with the paper's (theory) in
//! parentheses, 80 columns, no word broken; the per-protocol lines under it (resilience, claims,
//! load) and the measured cells a sweep's table shares.

use super::*;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, ColumnConstraint};
use comfy_table::{ContentArrangement, Table, Width};

/// "f ≤ 2 (blocks at 3)" plus the fast path where the protocol has one.
fn measured_text(m: &Measured) -> String {
    let mut s = match (m.measured, m.blocks_at) {
        (Some(f), Some(b)) => format!("f ≤ {f} (blocks at {b})"),
        (Some(f), None) => format!("f ≤ {f} (all decided)"),
        (None, _) => "blocks at f = 0".to_string(),
    };
    if let Some(fp) = m.fast_path_max_f {
        s.push_str(&format!(", fast path f ≤ {fp}"));
    }
    s
}

pub(crate) fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if (v - v.round()).abs() < 1e-9 => format!("{v:.0}"),
        // Two decimals (summary.json has every digit), kept even when zero: a measured 2.004
        // shows as "2.00", never as the exact "2" of the simulator.
        Some(v) => format!("{v:.2}"),
    }
}

/// "E-1 ✓  E-2 ✓" for the claims (✗n when violated n times), then what the run gave up:
/// "gives up E-2' (1 ticket)".
fn properties_text(r: &RunSummary) -> String {
    let claims: Vec<String> = r
        .properties
        .iter()
        .map(|p| {
            let n = r.violations.iter().filter(|v| v.property() == *p).count();
            if n == 0 {
                format!("{p} ✓")
            } else {
                format!("{p} ✗ violated {n}×")
            }
        })
        .collect();
    let mut text = format!("claims {}", claims.join("  "));
    if !r.unclaimed.is_empty() {
        let given: Vec<String> = r
            .unclaimed
            .iter()
            .map(|(p, n)| format!("{p} ({n} ticket{})", if *n == 1 { "" } else { "s" }))
            .collect();
        text.push_str(&format!("; gives up {}", given.join(", ")));
    }
    if !r.byzantine.is_empty() {
        let who: Vec<String> = r.byzantine.iter().map(|s| format!("s{s}")).collect();
        let n = r.byzantine_accepts.len();
        text.push_str(&format!(
            "; Byzantine {}: {n} accept{} apart",
            who.join(", "),
            if n == 1 { "" } else { "s" }
        ));
    }
    text
}

/// The terminal table: one row per protocol, measured figures with the paper's (theory) in
/// parentheses, narrow enough for 80 columns; then, per protocol, one line for what does not fit
/// a narrow column (the measured resilience, the properties kept and given up).
pub fn render_table(summary: &Summary) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(80);
    let theory = "(theory)";
    // δ = 0: no unit δ; the latency columns show µs (each cell says so).
    let unit = if summary.delta_ms > 0.0 { "δ " } else { "" };
    let header = vec![
        "protocol".to_string(),
        format!("tolerates\n{theory}"),
        format!("{unit}max\n{theory}"),
        format!("{unit}p50"),
        format!("msgs per\nticket\n{theory}"),
        "accepted\nrejected\nundecided".to_string(),
        "violated".to_string(),
    ];
    let mut longest: Vec<usize> = header.iter().map(|h| longest_word(h)).collect();
    t.set_header(header);
    let mut rows: Vec<[String; 7]> = Vec::new();
    for r in &summary.runs {
        let [max, p50, msgs, decided, violated] = measured_cells(r);
        let cells = [
            r.label().replace(" / ", "\n"),
            r.theory.resilience.clone(),
            max,
            p50,
            msgs,
            decided,
            violated,
        ];
        rows.push(cells);
    }
    rows.extend(summary.baselines.iter().map(baseline::cells));
    // Words are never broken: each column is at least as wide as its longest word. When that
    // is wider than 80 columns, protocol names break after a hyphen ("qlock-" / "backoff").
    let need = |rows: &[[String; 7]], longest: &mut Vec<usize>| {
        for cells in rows {
            for (l, c) in longest.iter_mut().zip(cells) {
                *l = (*l).max(longest_word(c));
            }
        }
        longest.iter().sum::<usize>() + 3 * longest.len() + 1
    };
    if need(&rows, &mut longest.clone()) > 80 {
        for cells in &mut rows {
            cells[0] = cells[0]
                .lines()
                .map(|l| l.replacen('-', "-\n", 1))
                .collect::<Vec<_>>()
                .join("\n");
        }
    }
    need(&rows, &mut longest);
    for cells in rows {
        t.add_row(cells.into_iter().enumerate().map(|(i, c)| {
            let align = if i < 2 {
                CellAlignment::Left
            } else {
                CellAlignment::Right
            };
            Cell::new(c).set_alignment(align)
        }));
    }
    for (i, w) in longest.iter().enumerate() {
        if let Some(c) = t.column_mut(i) {
            c.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(*w as u16 + 2)));
        }
    }
    let mode = match summary.mode {
        Mode::Sim => "simulator",
        Mode::Processes => "real processes",
    };
    let mut text = format!(
        "{}: n = {}, δ = {} ms, seed {}, {mode}{}\n{t}",
        summary.scenario,
        summary.servers,
        summary.delta_ms,
        summary.seed,
        if summary.complete {
            ""
        } else {
            " — INCOMPLETE run"
        },
    );
    let width = summary
        .runs
        .iter()
        .map(|r| r.label().chars().count())
        .max()
        .unwrap_or(0);
    text.push_str("\nmeasured figures; the paper's theory in parentheses.");
    if summary.runs.iter().any(at_delta_zero) {
        text.push_str(
            "\nδ = 0 (no injected delay): latency in µs, the machine's own; theory in δ.",
        );
    }
    if summary.rate_per_s.is_some() || summary.concurrency.is_some_and(|c| c > 1) {
        text.push_str(&load_lines(summary, width));
    }
    if !summary.theory_applies {
        text.push_str(
            "\nTheory is for fault-free, uncontended runs (Table 1); this run has scripted\n\
             tickets, faults or bad tickets, so measured figures may differ from it.",
        );
    }
    if let Some(m) = summary.runs.iter().find_map(|r| r.resilience.as_ref()) {
        let who = match m.crash {
            CrashPick::First => "s1..sf crashed at the start (s1: the consensus coordinator)",
            CrashPick::Last => "the f highest-numbered servers crashed at the start",
        };
        let max = m.sweep.last().map_or(0, |p| p.f);
        text.push_str(&format!(
            "\nresilience measured {}, one run per f = 0..{max} with\n{who};\n\
             measured = the largest f with every ticket decided (other columns: f = 0):",
            if m.mode == Mode::Sim {
                "in the simulator"
            } else {
                "with real processes"
            },
        ));
        for r in &summary.runs {
            if let Some(m) = &r.resilience {
                text.push_str(&format!(
                    "\n  {:width$}  {}; designed for f ≤ {}",
                    r.protocol.name(),
                    measured_text(m),
                    m.claim_max_f
                ));
            }
        }
    }
    // The properties each protocol keeps and gives up, whenever a row is not plain exactly-once
    // (E-1, E-2) or gave something up.
    let exactly_once = [Property::E1, Property::E2];
    if summary
        .runs
        .iter()
        .any(|r| r.properties != exactly_once || !r.unclaimed.is_empty() || !r.byzantine.is_empty())
    {
        text.push_str(
            "\nproperties (✓ kept; given up: tickets that failed a property not claimed):",
        );
        for r in &summary.runs {
            // Wrapped at 80 columns, after a "; ", under the first line's text.
            let line = format!("  {:width$}  {}", r.label(), properties_text(r));
            text.push_str(&wrap(&line, "; ", 80, width + 4));
        }
    }
    text.push_str(&baseline::notes(summary));
    if summary.runs.iter().any(|r| !r.scripted_tickets.is_empty()) {
        text.push_str("\nscripted tickets (who received and decided them, when, and why):");
        for r in &summary.runs {
            text.push_str(&explain::render(&r.label(), &r.scripted_tickets));
        }
    }
    text
}

/// Whether `r` ran at δ = 0: latencies in ms but none in units of δ.
fn at_delta_zero(r: &RunSummary) -> bool {
    r.latency_delta.max.is_none() && r.latency_ms.max.is_some()
}

/// A latency in ms as µs, "83µs" (δ = 0 cells).
fn us_cell(ms: Option<f64>) -> String {
    ms.map_or("—".into(), |v| format!("{:.0}µs", v * 1000.0))
}

/// A latency in ms for a sentence: "20 ms", "1.25 ms", "83 µs" below a millisecond.
fn ms_text(ms: Option<f64>) -> String {
    match ms {
        None => "—".into(),
        Some(v) if v < 1.0 => format!("{:.0} µs", v * 1000.0),
        Some(v) => format!("{} ms", fmt_num(Some(v))),
    }
}

/// "4,987/s"-style rates, rounded (summary.json has every digit).
fn rate_text(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.0}/s"))
}

/// Under a table of a run under load (an open loop, or more than one ticket in flight): per
/// row, the offered load, the throughput after the warm-up and the client latency.
fn load_lines(summary: &Summary, width: usize) -> String {
    let shape = match (summary.rate_per_s, summary.arrivals) {
        (Some(rate), Some(a)) => format!("open loop, {} arrivals at {rate}/s", a.name()),
        _ => format!(
            "closed loop, {} tickets in flight",
            summary.concurrency.unwrap_or(1)
        ),
    };
    let mut text = wrap(
        &format!(
            "load ({shape}); throughput: tickets decided per second after the warm-up (the \
             first 10% of tickets); client latency: intended submission → decision seen:"
        ),
        " ",
        80,
        0,
    );
    for r in &summary.runs {
        let offered = match r.offered_per_s {
            Some(_) => format!("{} offered, ", rate_text(r.offered_per_s)),
            None => String::new(),
        };
        let c = &r.client_latency_ms;
        let line = format!(
            "  {:width$}  {offered}{} decided; client p50 {}, p99 {}",
            r.label(),
            rate_text(r.throughput_per_s),
            ms_text(c.p50),
            ms_text(c.p99),
        );
        text.push_str(&wrap(&line, "; ", 80, width + 4));
    }
    text
}

/// A run's measured cells, as every table prints them: δ max (theory), δ p50, messages per
/// ticket (theory), accepted/rejected/undecided, violations. At δ = 0 the latencies are in µs
/// ("83µs (2δ)").
pub fn measured_cells(r: &RunSummary) -> [String; 5] {
    let theory = fmt_num(Some(r.theory.latency_delta));
    let (max, p50) = if at_delta_zero(r) {
        (
            format!("{} ({theory}δ)", us_cell(r.latency_ms.max)),
            us_cell(r.latency_ms.p50),
        )
    } else {
        (
            format!("{} ({theory})", fmt_num(r.latency_delta.max)),
            fmt_num(r.latency_delta.p50),
        )
    };
    [
        max,
        p50,
        format!(
            "{} ({})",
            fmt_num(Some(r.messages_per_ticket)),
            r.theory.messages_per_ticket
        ),
        format!("{}/{}/{}", r.accepted, r.rejected, r.undecided),
        r.violations.len().to_string(),
    ]
}

/// The length of the longest whitespace-separated word of `s`, in characters.
fn longest_word(s: &str) -> usize {
    s.split_whitespace()
        .map(|w| w.chars().count())
        .max()
        .unwrap_or(0)
}
