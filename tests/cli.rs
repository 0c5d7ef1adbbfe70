//! End-to-end tests of the `ticketlab` binary in simulator mode: outputs, exit codes, errors.

mod common;
use common::bin::stderr;
use common::bin::ticketlab;

#[test]
fn builtin_table1_in_json_matches_theory_and_the_history_recounts() {
    let dir = tempfile::tempdir().unwrap();
    let o = ticketlab(
        &["run", "--sim", "--format", "json", "--out", "out"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["scenario"], "table1");
    assert_eq!(v["seed"], 42);
    assert_eq!(v["mode"], "sim");
    assert_eq!(v["servers"], 5);
    assert_eq!(v["delta_ms"], 10.0);
    let runs = v["runs"].as_array().unwrap();
    let want = [
        ("2pe", 2.0, 8.0),
        ("se-ct", 4.0, 16.0),
        ("se-opt", 2.0, 24.0),
        ("se-gb", 2.0, 24.0),
    ];
    assert_eq!(runs.len(), want.len());
    for (run, (name, lat, msgs)) in runs.iter().zip(want) {
        assert_eq!(run["protocol"], name);
        assert_eq!(run["latency_delta"]["max"], lat);
        assert_eq!(run["latency_ms"]["max"], lat * 10.0);
        assert_eq!(run["messages_per_ticket"], msgs);
        assert_eq!(run["theory"]["messages_per_ticket"], msgs);
        assert_eq!(run["violations"].as_array().unwrap().len(), 0);
        for key in [
            "tickets",
            "accepted",
            "rejected",
            "undecided",
            "accepted_phase1",
            "accepted_phase2",
            "heartbeats",
        ] {
            assert!(run[key].is_u64(), "{key}");
        }
        // Independent recount from history.jsonl.
        let hist = std::fs::read_to_string(dir.path().join("out").join(name).join("history.jsonl"))
            .unwrap();
        let events: Vec<serde_json::Value> = hist
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let sends = events.iter().filter(|e| e["kind"] == "send").count() as f64;
        let submits = events.iter().filter(|e| e["kind"] == "submit").count() as f64;
        assert_eq!(sends / submits, msgs);
        assert!(events.iter().all(|e| e["t_us"].is_u64()));
    }
    // The summary file holds the same document.
    let file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(file, v);
}

#[test]
fn set_overrides_and_seed_flag_apply() {
    let dir = tempfile::tempdir().unwrap();
    let o = ticketlab(
        &[
            "run",
            "--sim",
            "--format",
            "json",
            "--seed",
            "9",
            "--set",
            "cluster.servers=7",
            "--set",
            r#"cluster.protocols=["2pe"]"#,
            "--out",
            "o",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["seed"], 9);
    assert_eq!(v["servers"], 7);
    assert_eq!(v["runs"].as_array().unwrap().len(), 1);
    assert_eq!(v["runs"][0]["messages_per_ticket"], 12.0);
}

#[test]
fn table_output_labels_measured_and_theory_and_default_out_dir_is_results_name() {
    let dir = tempfile::tempdir().unwrap();
    let o = ticketlab(
        &["run", "--sim", "--set", "workload.tickets=10"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("measured") && out.contains("theory"), "{out}");
    assert!(out.contains("2pe") && out.contains("se-ct"));
    assert!(dir.path().join("results/table1/summary.json").exists());
    assert!(dir
        .path()
        .join("results/table1/se-ct/history.jsonl")
        .exists());
    assert!(stderr(&o).contains("seed 42"), "the banner prints the seed");
}

#[test]
fn bad_input_exits_2_with_a_clear_message_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        ("name = \"x\"\n[cluster]\nservers = 0\nprotocols = [\"2pe\"]\n", "cluster.servers", &["bad.toml:3"]),
        ("name = \"x\"\n[cluster]\nservers = 3\nprotocols = [\"paxos\"]\n", "cluster.protocols", &["paxos"]),
        ("name = \"x\"\n[cluster]\nservers = 3\nprotocols = [\"2pe\"]\nspeed = 1\n", "speed", &["bad.toml:5"]),
        ("name = \"x\"\n[cluster]\nservers = 3\nprotocols = [\"2pe\"]\n[[fault]]\nat_ms = 1\ncrash = [4]\n", "crash", &["bad.toml"]),
        ("name = [\n", "", &["bad.toml"]),
    ];
    for (text, key, needles) in cases {
        std::fs::write(dir.path().join("bad.toml"), text).unwrap();
        let o = ticketlab(&["run", "bad.toml", "--sim"], dir.path());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(key), "{text}: {err}");
        for n in *needles {
            assert!(err.contains(n), "{text}: expected {n:?} in {err}");
        }
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "{err}"
        );
    }
    let o = ticketlab(&["run", "missing.toml"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing.toml"));
    // The open loop's settings: each refused, naming the file, the line, the key and the value.
    let w =
        "name = \"x\"\n[cluster]\nservers = 3\nprotocols = [\"2pe\"]\n[workload]\ntickets = 5\n";
    let load_cases: &[(String, &[&str])] = &[
        (
            format!("{w}rate = 0\n"),
            &["bad.toml:7: workload.rate = 0", "> 0"],
        ),
        (
            format!("{w}rate = -3\n"),
            &["bad.toml:7: workload.rate = -3", "> 0"],
        ),
        (
            format!("{w}rate = nan\n"),
            &["bad.toml:7: workload.rate = NaN", "finite"],
        ),
        (
            format!("{w}rate = inf\n"),
            &["bad.toml:7: workload.rate = inf", "finite"],
        ),
        (
            format!("{w}rate = 100\nconcurrency = 2\n"),
            &[
                "bad.toml:8: workload.concurrency = 2",
                "open loop",
                "closed loop",
                "set one",
            ],
        ),
        (
            format!("{w}arrivals = \"uniform\"\n"),
            &[
                "bad.toml:7: workload.arrivals = \"uniform\"",
                "workload.rate",
            ],
        ),
        (
            format!("{w}rate = 100\narrivals = \"bursty\"\n"),
            &[
                "bad.toml:8: workload.arrivals = \"bursty\"",
                "\"poisson\"",
                "\"uniform\"",
            ],
        ),
        (
            format!("{w}rate = 100\nthink_ms = 5\n"),
            &[
                "bad.toml:8: workload.think_ms = 5",
                "expected 0 with workload.rate",
            ],
        ),
    ];
    for (text, needles) in load_cases {
        std::fs::write(dir.path().join("bad.toml"), text).unwrap();
        let o = ticketlab(&["run", "bad.toml", "--sim"], dir.path());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{text}: {err}");
        for n in *needles {
            assert!(err.contains(n), "{text}: expected {n:?} in {err}");
        }
    }
    // From --set: "(from --set)" instead of a line; the built-in Table 1 takes a rate.
    std::fs::write(dir.path().join("c.toml"), format!("{w}concurrency = 2\n")).unwrap();
    let o = ticketlab(
        &["run", "c.toml", "--sim", "--set", "workload.rate=50"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("c.toml:7: workload.concurrency = 2"),
        "{}",
        stderr(&o)
    );
    let o = ticketlab(&["run", "--sim", "--set", "workload.rate=-1"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("(from --set)"), "{}", stderr(&o));
    assert!(stderr(&o).contains("workload.rate = -1"), "{}", stderr(&o));
    let o = ticketlab(&["run", "--sim", "--set", "cluster.servers"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let o = ticketlab(&["run", "--format", "yaml"], dir.path());
    assert_eq!(o.status.code(), Some(2));
}
