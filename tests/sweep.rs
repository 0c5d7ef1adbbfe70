//! Sweeps end to end (the binary, simulator mode): `--sweep` and `[sweep]`, `sweep.csv` against
//! the theory columns, the SVG figures, bad keys and values refused before anything runs.

mod common;
use common::bin::stderr;
use common::bin::ticketlab;

use std::collections::BTreeMap;
use std::path::Path;

/// `sweep.csv` as (header, rows of column → value).
fn read_csv(path: &Path) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            assert_eq!(rec.len(), header.len(), "{rec:?}");
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect()
        })
        .collect();
    (header, rows)
}

fn f(row: &BTreeMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = {:?} is not a number", row[col]))
}

/// The texts of an SVG file (which must be well-formed XML), trimmed.
fn svg_texts(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not well-formed XML: {e}", path.display()));
    assert!(doc.root_element().has_tag_name("svg"));
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect()
}

/// Legend entries of an SVG that end with `suffix` (" max", " theory", …).
fn legend(texts: &[String], suffix: &str) -> Vec<String> {
    texts
        .iter()
        .filter(|t| t.ends_with(suffix))
        .cloned()
        .collect()
}

const TABLE1: [&str; 4] = ["2pe", "se-ct", "se-opt", "se-gb"];

/// Every row of an uncontended, fault-free Table 1 sweep in the simulator is exactly on theory.
fn assert_on_theory(rows: &[BTreeMap<String, String>]) {
    for row in rows {
        assert_eq!(row["theory_applies"], "true");
        assert_eq!(row["violations"], "0");
        assert_eq!(row["undecided"], "0");
        assert_eq!(
            f(row, "latency_delta_max"),
            f(row, "theory_latency_delta"),
            "{row:?}"
        );
        assert_eq!(
            f(row, "latency_ms_max"),
            f(row, "theory_latency_ms"),
            "{row:?}"
        );
        assert_eq!(
            f(row, "messages_per_ticket"),
            f(row, "theory_messages_per_ticket"),
            "{row:?}"
        );
        // The first 10% of the tickets are the warm-up.
        let measured = f(row, "tickets") - (f(row, "tickets") / 10.0).floor();
        let want = measured / (f(row, "measured_interval_ms") / 1000.0);
        assert!(
            (f(row, "throughput_per_s") - want).abs() < 1e-9 * want,
            "{row:?}"
        );
        assert!(f(row, "warmup_ms") > 0.0, "{row:?}");
        assert_eq!(row["offered_per_s"], "", "closed loop: {row:?}");
    }
}

#[test]
fn servers_sweep_in_the_simulator_is_exactly_on_theory() {
    let dir = tempfile::tempdir().unwrap();
    let o = ticketlab(
        &[
            "run",
            "--sim",
            "--sweep",
            "cluster.servers=3,5,7",
            "--set",
            "workload.tickets=20",
            "--out",
            "out",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("out");
    let (header, rows) = read_csv(&out.join("sweep.csv"));
    assert_eq!(header[..2], ["cluster.servers", "protocol"]);
    for col in [
        "tickets",
        "accepted",
        "rejected",
        "undecided",
        "latency_delta_p50",
        "latency_delta_p99",
        "latency_delta_max",
        "theory_latency_delta",
        "latency_ms_p50",
        "latency_ms_max",
        "messages_per_ticket",
        "theory_messages_per_ticket",
        "messages",
        "decisions",
        "duration_ms",
        "throughput_per_s",
    ] {
        assert!(
            header.iter().any(|h| h == col),
            "no column {col}: {header:?}"
        );
    }
    // Theory sits right after the measured figure it predicts.
    let at = |c: &str| header.iter().position(|h| h == c).unwrap();
    assert_eq!(at("theory_latency_delta"), at("latency_delta_max") + 1);
    assert_eq!(
        at("theory_messages_per_ticket"),
        at("messages_per_ticket") + 1
    );
    // One row per point × protocol, in grid order.
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["cluster.servers"].clone(), r["protocol"].clone()))
        .collect();
    let want: Vec<(String, String)> = ["3", "5", "7"]
        .iter()
        .flat_map(|n| TABLE1.iter().map(|p| (n.to_string(), p.to_string())))
        .collect();
    assert_eq!(got, want);
    assert_on_theory(&rows);
    for r in &rows {
        assert_eq!(r["servers"], r["cluster.servers"]);
        assert_eq!(r["tickets"], "20");
    }
    // 2PE's 2(n−1) and SE/CT's 4(n−1), measured.
    let msgs = |n: &str, p: &str| {
        let r = rows
            .iter()
            .find(|r| r["cluster.servers"] == n && r["protocol"] == p)
            .unwrap();
        f(r, "messages_per_ticket")
    };
    assert_eq!(msgs("7", "2pe"), 12.0);
    assert_eq!(msgs("7", "se-ct"), 24.0);
    // Each point's normal outputs in its folder.
    for n in [3, 5, 7] {
        let point = out.join(format!("points/cluster.servers={n}"));
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(point.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(summary["servers"], n);
        for p in TABLE1 {
            assert!(point.join(p).join("history.jsonl").is_file(), "{n} {p}");
        }
    }
    // The figures: well-formed SVG, a legend entry per protocol and measure, axes with units.
    let lat = svg_texts(&out.join("latency.svg"));
    for suffix in [" max", " p50", " theory"] {
        let entries = legend(&lat, suffix);
        let want: Vec<String> = TABLE1.iter().map(|p| format!("{p}{suffix}")).collect();
        assert_eq!(entries, want, "latency.svg {suffix}");
    }
    assert!(lat.iter().any(|t| t == "latency (δ, one message delay)"));
    assert!(lat.iter().any(|t| t == "cluster.servers (n, servers)"));
    let msg = svg_texts(&out.join("messages.svg"));
    assert_eq!(legend(&msg, " measured").len(), 4);
    assert_eq!(legend(&msg, " theory").len(), 4);
    assert!(msg.iter().any(|t| t == "server→server messages per ticket"));
    // Not a load sweep: no latency-vs-throughput figure.
    assert!(!out.join("throughput.svg").exists());
    // The table fits 80 columns and names every point.
    let table = String::from_utf8(o.stdout).unwrap();
    for line in table.lines() {
        assert!(line.chars().count() <= 80, "{line}");
    }
    assert!(
        table.contains("sweep over cluster.servers, 3 of 3 point(s)"),
        "{table}"
    );
    // sweep.json holds every point's summary.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(json["keys"], serde_json::json!(["cluster.servers"]));
    assert_eq!(json["points"][2]["point"]["cluster.servers"], 7);
    assert_eq!(json["points"][2]["summary"]["runs"][0]["protocol"], "2pe");
}

#[test]
fn delta_sweep_in_the_simulator_is_exactly_on_theory() {
    let dir = tempfile::tempdir().unwrap();
    let o = ticketlab(
        &[
            "run",
            "--sim",
            "--sweep",
            "cluster.delta_ms=1,2.5,10",
            "--set",
            "workload.tickets=20",
            "--set",
            "cluster.servers=3",
            "--format",
            "json",
            "--out",
            "out",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("out");
    let (_, rows) = read_csv(&out.join("sweep.csv"));
    assert_eq!(rows.len(), 3 * TABLE1.len());
    assert_on_theory(&rows);
    for r in &rows {
        assert_eq!(f(r, "delta_ms"), f(r, "cluster.delta_ms"));
        // Latency in ms scales with δ exactly: theory δ × δ ms.
        assert_eq!(
            f(r, "latency_ms_max"),
            f(r, "theory_latency_delta") * f(r, "cluster.delta_ms")
        );
    }
    // --format json prints sweep.json.
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(printed, file);
    assert_eq!(file["points"][1]["point"]["cluster.delta_ms"], 2.5);
    assert!(out
        .join("points/cluster.delta_ms=2.5/se-ct/history.jsonl")
        .is_file());
    let lat = svg_texts(&out.join("latency.svg"));
    assert_eq!(legend(&lat, " max").len(), 4);
    assert!(lat.iter().any(|t| t == "cluster.delta_ms (ms)"));
}

#[test]
fn bad_sweep_keys_and_values_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    for (arg, says) in [
        (
            "cluster.servers=3,0",
            "--sweep cluster.servers=3,0: cluster.servers = 0: expected an integer from 1 to 1000",
        ),
        (
            "cluster.server=3,5",
            "--sweep cluster.server=3,5: cluster.server: unknown key, expected one of `servers`",
        ),
        (
            "cluster.delta_ms=5,fast",
            "--sweep cluster.delta_ms=5,fast: cluster.delta_ms = \"fast\": expected a number",
        ),
        (
            "workload.submit_to=[1,9]",
            "workload.submit_to[1] = 9: expected a server id from 1 to 5",
        ),
        (
            "cluster.servers",
            "--sweep cluster.servers: expected key=v1,v2,…",
        ),
        ("cluster.servers=3,,5", "a value is empty"),
        ("cluster.servers=3,3", "the value 3 appears twice"),
    ] {
        let o = ticketlab(
            &["run", "--sim", "--sweep", arg, "--out", "out"],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(2), "{arg}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(says), "{arg}: {err}");
        assert_eq!(err.lines().count(), 1, "{arg}: {err}");
        assert!(!dir.path().join("out").exists(), "{arg}: ran anyway");
    }
    // A point that breaks another rule is named.
    std::fs::write(
        dir.path().join("crash.toml"),
        "name = \"c\"\n[cluster]\nservers = 5\nprotocols = [\"2pe\"]\nmode = \"sim\"\n\
         [workload]\ntickets = 2\n[[fault]]\nat_ms = 1\ncrash = [5]\n",
    )
    .unwrap();
    let o = ticketlab(
        &[
            "run",
            "crash.toml",
            "--sweep",
            "cluster.servers=5,3",
            "--out",
            "out",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("at sweep point cluster.servers=3: crash.toml:10: fault[0].crash"),
        "{err}"
    );
    assert!(!dir.path().join("out").exists());
}

const SCENARIO: &str = r#"name = "swept"
seed = 5
[cluster]
servers = 3
protocols = ["2pe", "se-ct"]
mode = "sim"
[workload]
tickets = 12
submit_to = "round-robin"
"#;

#[test]
fn a_sweep_table_in_the_scenario_works_like_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain.toml"), SCENARIO).unwrap();
    std::fs::write(
        dir.path().join("table.toml"),
        format!("{SCENARIO}[sweep]\n\"cluster.servers\" = [3, 5]\nworkload.concurrency = [1, 4]\n"),
    )
    .unwrap();
    let flags = ticketlab(
        &[
            "run",
            "plain.toml",
            "--sweep",
            "cluster.servers=3,5",
            "--sweep",
            "workload.concurrency=1,4",
            "--out",
            "flags",
        ],
        dir.path(),
    );
    assert!(flags.status.success(), "{}", stderr(&flags));
    let table = ticketlab(&["run", "table.toml", "--out", "table"], dir.path());
    assert!(table.status.success(), "{}", stderr(&table));
    // Two keys: one "point" column, a key=value line per key; still 80 columns.
    let printed = String::from_utf8(table.stdout.clone()).unwrap();
    for line in printed.lines() {
        assert!(line.chars().count() <= 80, "{line}");
    }
    assert!(printed.contains("servers=5"), "{printed}");
    assert!(printed.contains("concurrency=4"), "{printed}");
    let csv = |d: &str| std::fs::read_to_string(dir.path().join(d).join("sweep.csv")).unwrap();
    assert_eq!(csv("flags"), csv("table"));
    let (header, rows) = read_csv(&dir.path().join("table/sweep.csv"));
    assert_eq!(
        header[..3],
        ["cluster.servers", "workload.concurrency", "protocol"]
    );
    // The full grid, first key slowest.
    let got: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["cluster.servers"], r["workload.concurrency"], r["protocol"]
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "3 1 2pe",
            "3 1 se-ct",
            "3 4 2pe",
            "3 4 se-ct",
            "5 1 2pe",
            "5 1 se-ct",
            "5 4 2pe",
            "5 4 se-ct"
        ]
    );
    assert!(dir
        .path()
        .join("table/points/cluster.servers=5,workload.concurrency=4/2pe/history.jsonl")
        .is_file());
    // Plotted against the first key, one panel per value of the other; a load key was swept, so
    // latency against throughput too, one panel per value of the other key.
    let lat = svg_texts(&dir.path().join("table/latency.svg"));
    for panel in ["concurrency=1", "concurrency=4"] {
        assert!(lat.iter().any(|t| t == panel), "{panel}: {lat:?}");
    }
    assert_eq!(legend(&lat, " max"), ["2pe max", "se-ct max"]);
    let thr = svg_texts(&dir.path().join("table/throughput.svg"));
    for panel in ["servers=3", "servers=5"] {
        assert!(thr.iter().any(|t| t == panel), "{panel}: {thr:?}");
    }
    assert_eq!(legend(&thr, " p50"), ["2pe p50", "se-ct p50"]);
    assert!(thr
        .iter()
        .any(|t| t == "throughput (tickets decided per second, after the warm-up)"));
    // --sweep replaces the table's values for its key and keeps the others.
    let o = ticketlab(
        &[
            "run",
            "table.toml",
            "--sweep",
            "cluster.servers=7",
            "--out",
            "replaced",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (_, rows) = read_csv(&dir.path().join("replaced/sweep.csv"));
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r["cluster.servers"] == "7"));
    // A bad value in the table names the file, the line and the key.
    std::fs::write(
        dir.path().join("bad.toml"),
        format!("{SCENARIO}[sweep]\n\"cluster.servers\" = [3, 1001]\n"),
    )
    .unwrap();
    let o = ticketlab(&["run", "bad.toml", "--out", "bad"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(
            "bad.toml:11: [sweep] cluster.servers: cluster.servers = 1001: expected an \
             integer from 1 to 1000"
        ),
        "{}",
        stderr(&o)
    );
    std::fs::write(
        dir.path().join("empty.toml"),
        format!("{SCENARIO}[sweep]\n\"cluster.servers\" = []\n"),
    )
    .unwrap();
    let o = ticketlab(&["run", "empty.toml"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("empty.toml:11: [sweep] cluster.servers = []: expected a non-empty"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_byzantine_sweep_is_swept_per_point_with_a_behaviour_column() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/byzantine.toml");
    let o = ticketlab(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--set",
            "workload.tickets=4",
            "--set",
            r#"cluster.protocols=["bqlock-amo"]"#,
            "--set",
            r#"byzantine.behaviours=["silent","lie"]"#,
            "--sweep",
            "cluster.jitter_ms=0,5",
            "--out",
            "out",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (header, rows) = read_csv(&dir.path().join("out/sweep.csv"));
    assert_eq!(header[..3], ["cluster.jitter_ms", "protocol", "behaviour"]);
    let got: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {}", r["cluster.jitter_ms"], r["behaviour"]))
        .collect();
    assert_eq!(got, ["0 silent", "0 lie", "5 silent", "5 lie"]);
    assert!(dir
        .path()
        .join("out/points/cluster.jitter_ms=5/bqlock-amo/lie/history.jsonl")
        .is_file());
    let lat = svg_texts(&dir.path().join("out/latency.svg"));
    assert_eq!(
        legend(&lat, " max"),
        ["bqlock-amo / silent max", "bqlock-amo / lie max"]
    );
}
