//! `ticketlab compare A B`: two runs' figures side by side, with ratios. A and B are run folders
//! or `summary.json` files; runs are matched by protocol (and Byzantine behaviour). Read as JSON
//! values, so summaries of older versions compare too (a missing figure shows as —).

use anyhow::{bail, Context};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, ContentArrangement, Table};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The figures compared, as (label, JSON path in a run).
const METRICS: &[(&str, &[&str])] = &[
    ("δ max", &["latency_delta", "max"]),
    ("δ p50", &["latency_delta", "p50"]),
    ("δ p99", &["latency_delta", "p99"]),
    // In ms too: at δ = 0 the δ figures are null.
    ("ms p50", &["latency_ms", "p50"]),
    ("ms max", &["latency_ms", "max"]),
    ("client ms p50", &["client_latency_ms", "p50"]),
    ("client ms p99", &["client_latency_ms", "p99"]),
    ("decided/s", &["throughput_per_s"]),
    ("msgs/ticket", &["messages_per_ticket"]),
    ("tickets", &["tickets"]),
    ("accepted", &["accepted"]),
    ("undecided", &["undecided"]),
    ("duration ms", &["duration_ms"]),
];

/// A run folder's `summary.json`, or the file itself.
pub fn load(path: &Path) -> anyhow::Result<(PathBuf, Value)> {
    let file = if path.is_dir() {
        path.join("summary.json")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "cannot read {} (expected a run folder or a summary.json)",
            file.display()
        )
    })?;
    let v: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a ticketlab summary (invalid JSON)",
            file.display()
        )
    })?;
    if !v.get("runs").is_some_and(Value::is_array) {
        bail!(
            "{} is not a ticketlab summary: expected a \"runs\" list",
            file.display()
        );
    }
    Ok((file, v))
}

fn label(run: &Value) -> String {
    let p = run.get("protocol").and_then(Value::as_str).unwrap_or("?");
    match run.get("behaviour").and_then(Value::as_str) {
        Some(b) => format!("{p} / {b}"),
        None => p.to_string(),
    }
}

fn get(run: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(run, |v, k| v.get(k))?.as_f64()
}

fn num(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if (v - v.round()).abs() < 1e-9 => format!("{v:.0}"),
        Some(v) => format!("{v:.3}"),
    }
}

/// The side-by-side table: per protocol both runs have, every metric, B/A.
pub fn render(a: &(PathBuf, Value), b: &(PathBuf, Value)) -> String {
    let runs = |v: &Value| v["runs"].as_array().cloned().unwrap_or_default();
    let (ra, rb) = (runs(&a.1), runs(&b.1));
    let describe = |v: &Value| {
        format!(
            "{}, n = {}, δ = {} ms, seed {}, {}",
            v["scenario"].as_str().unwrap_or("?"),
            v["servers"],
            v["delta_ms"],
            v["seed"],
            v["mode"].as_str().unwrap_or("?")
        )
    };
    let mut text = format!(
        "A: {} ({})\nB: {} ({})\n",
        a.0.display(),
        describe(&a.1),
        b.0.display(),
        describe(&b.1)
    );
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(80)
        .set_header(vec!["protocol", "figure", "A", "B", "B / A"]);
    let mut only = Vec::new();
    for x in &ra {
        let Some(y) = rb.iter().find(|y| label(y) == label(x)) else {
            only.push(format!("{} (A only)", label(x)));
            continue;
        };
        for (i, (name, path)) in METRICS.iter().enumerate() {
            let (va, vb) = (get(x, path), get(y, path));
            let ratio = match (va, vb) {
                (Some(p), Some(q)) if p != 0.0 => format!("{:.3}", q / p),
                _ => "—".into(),
            };
            let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
            t.add_row(vec![
                Cell::new(if i == 0 { label(x) } else { String::new() }),
                Cell::new(*name),
                right(num(va)),
                right(num(vb)),
                right(ratio),
            ]);
        }
    }
    for y in &rb {
        if !ra.iter().any(|x| label(x) == label(y)) {
            only.push(format!("{} (B only)", label(y)));
        }
    }
    text.push_str(&t.to_string());
    if !only.is_empty() {
        text.push_str(&format!("\nnot in both: {}", only.join(", ")));
    }
    text
}
