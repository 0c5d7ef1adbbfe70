//! Measuring across runs with the binary: HDR latency distributions (`latency.hgrm`, p90 and
//! p99.9), CSV and Markdown tables, `compare`, and results that can be trusted later (the
//! effective scenario and command line in summary.json; output folders never mix two runs).

mod common;
use common::bin::ticketlab;

use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// (value, percentile, total count, 1/(1−p)) rows of an .hgrm.
fn hgrm_rows(text: &str) -> Vec<(f64, f64, u64, f64)> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(c.len(), 4, "four columns: {l}");
            let inv = if c[3] == "inf" {
                f64::INFINITY
            } else {
                c[3].parse().unwrap()
            };
            (
                c[0].parse().unwrap(),
                c[1].parse().unwrap(),
                c[2].parse().unwrap(),
                inv,
            )
        })
        .collect()
}

#[test]
fn hgrm_is_the_four_column_format_and_ends_at_the_summary_max() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "run",
        "--sim",
        "--out",
        "out",
        "--set",
        "cluster.jitter_ms=4",
        "--set",
        "workload.duplicates=0.3",
    ];
    ok(&ticketlab(&args, dir.path()));
    let s = summary(&dir.path().join("out"));
    for run in s["runs"].as_array().unwrap() {
        let p = run["protocol"].as_str().unwrap();
        let text =
            std::fs::read_to_string(dir.path().join("out").join(p).join("latency.hgrm")).unwrap();
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"));
        let rows = hgrm_rows(&text);
        assert!(rows.len() > 10, "{p}: {text}");
        let last = rows.last().unwrap();
        let max = run["latency_ms"]["max"].as_f64().unwrap();
        assert!(
            (last.0 - max).abs() < 5e-4,
            "{p}: last {} vs max {max}",
            last.0
        );
        assert_eq!((last.1, last.3), (1.0, f64::INFINITY));
        assert_eq!(last.2, run["decisions"].as_u64().unwrap());
        // Percentiles and counts grow; values never pass the max.
        for w in rows.windows(2) {
            assert!(
                w[0].0 <= w[1].0 && w[0].1 <= w[1].1 && w[0].2 <= w[1].2,
                "{w:?}"
            );
        }
        // The CDF beside it: a well-formed SVG naming the run and the theory line.
        let svg = std::fs::read_to_string(dir.path().join("out").join(p).join("latency-cdf.svg"))
            .unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{p}: {e}"));
        let text: String = doc
            .descendants()
            .filter(|n| n.is_text())
            .map(|n| n.text().unwrap_or(""))
            .collect();
        assert!(text.contains(&format!("table1 · {p}")), "{p}: {text}");
        assert!(text.contains("theory: "), "{p}: {text}");
        let lat = &run["latency_ms"];
        let q = |k: &str| lat[k].as_f64().unwrap();
        assert!(q("p50") <= q("p90") && q("p90") <= q("p99") && q("p99") <= q("p999"));
        assert!(q("p999") <= q("max"));
    }
}

#[test]
fn csv_and_markdown_carry_the_table_with_theory_beside_measured() {
    let dir = tempfile::tempdir().unwrap();
    let csv = ok(&ticketlab(
        &["run", "--sim", "--format", "csv", "--out", "o"],
        dir.path(),
    ));
    let lines: Vec<&str> = csv.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(lines.len(), 5, "a header and Table 1's four rows:\n{csv}");
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for line in &lines[1..] {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), header.len(), "{line}");
        // The simulator: measured = theory, exactly.
        assert_eq!(f[col("latency_delta_max")], f[col("theory_latency_delta")]);
        assert_eq!(
            f[col("messages_per_ticket")],
            f[col("theory_messages_per_ticket")]
        );
    }
    let md = ok(&ticketlab(
        &["run", "--sim", "--format", "markdown", "--out", "o"],
        dir.path(),
    ));
    assert!(
        md.contains("| protocol | tolerates (theory) | δ max (theory) |"),
        "{md}"
    );
    assert!(
        md.contains("| se-ct | f < n/2 | 4 (4) | 4 | 4 | 16 (16) |"),
        "{md}"
    );
}

#[test]
fn compare_prints_both_runs_with_ratios_and_bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    ok(&ticketlab(&["run", "--sim", "--out", "a"], dir.path()));
    let b = ["run", "--sim", "--out", "b", "--set", "cluster.servers=7"];
    ok(&ticketlab(&b, dir.path()));
    let out = ok(&ticketlab(&["compare", "a", "b/summary.json"], dir.path()));
    // 2PE's messages grow from 2(5−1) = 8 to 2(7−1) = 12: ratio 1.5.
    let cells = |figure: &str| -> Vec<String> {
        let line = out.lines().find(|l| l.contains(figure)).unwrap_or("");
        line.split(['┆', '│'])
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect()
    };
    assert!(
        cells("msgs/ticket").ends_with(&[
            "msgs/ticket".into(),
            "8".into(),
            "12".into(),
            "1.500".into()
        ]),
        "{out}"
    );
    // Throughput is compared too (one ticket at a time: 1 / 2δ = 50 per second at both sizes).
    assert!(
        cells("decided/s").ends_with(&[
            "decided/s".into(),
            "50".into(),
            "50".into(),
            "1.000".into()
        ]),
        "{out}"
    );
    for line in out.lines() {
        assert!(line.chars().count() <= 80, "{line}");
    }
    let o = ticketlab(&["compare", "a", "missing"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("missing/summary.json") || e.contains("missing"),
        "{e}"
    );
}

#[test]
fn a_summary_says_how_to_rerun_it_and_the_rerun_matches() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "run",
        "--sim",
        "--out",
        "first",
        "--set",
        "cluster.servers=3",
    ];
    ok(&ticketlab(&args, dir.path()));
    let s = summary(&dir.path().join("first"));
    assert!(s["tool"].as_str().unwrap().starts_with("ticketlab "));
    let cmd: Vec<&str> = s["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(&cmd[1..], &args);
    // The effective scenario, after --set, re-runs to the same figures.
    let toml = s["scenario_toml"].as_str().unwrap();
    assert!(toml.contains("servers = 3"), "{toml}");
    std::fs::write(dir.path().join("again.toml"), toml).unwrap();
    let seed = s["seed"].to_string();
    let again = [
        "run",
        "again.toml",
        "--sim",
        "--seed",
        &seed,
        "--out",
        "again",
    ];
    ok(&ticketlab(&again, dir.path()));
    let t = summary(&dir.path().join("again"));
    for (x, y) in s["runs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(t["runs"].as_array().unwrap())
    {
        assert_eq!(x["latency_delta"], y["latency_delta"]);
        assert_eq!(x["messages"], y["messages"]);
    }
}

#[test]
fn rerunning_into_a_used_folder_never_mixes_two_runs() {
    let dir = tempfile::tempdir().unwrap();
    ok(&ticketlab(&["run", "--sim", "--out", "o"], dir.path()));
    assert!(dir.path().join("o/se-gb/history.jsonl").exists());
    // A second run with fewer protocols: the old protocol folders go.
    let args = [
        "run",
        "--sim",
        "--out",
        "o",
        "--set",
        "cluster.protocols=[\"2pe\"]",
    ];
    ok(&ticketlab(&args, dir.path()));
    let left: Vec<String> = std::fs::read_dir(dir.path().join("o"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    let mut left = left;
    left.sort();
    assert_eq!(left, ["2pe", "summary.json"]);
    // A folder ticketlab did not write is refused, untouched.
    std::fs::create_dir_all(dir.path().join("mine")).unwrap();
    std::fs::write(dir.path().join("mine/notes.txt"), "keep").unwrap();
    let o = ticketlab(&["run", "--sim", "--out", "mine"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds no ticketlab run"));
    assert!(dir.path().join("mine/notes.txt").exists());
    // The default folder keeps an earlier run of another configuration aside.
    ok(&ticketlab(&["run", "--sim"], dir.path()));
    let o = ticketlab(&["run", "--sim", "--set", "cluster.servers=7"], dir.path());
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("kept it as results/table1.1"));
    assert_eq!(summary(&dir.path().join("results/table1.1"))["servers"], 5);
    assert_eq!(summary(&dir.path().join("results/table1"))["servers"], 7);
}
