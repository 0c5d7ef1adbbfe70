//! End-to-end tests of processes mode: the real `ticketlab` binary spawns real server processes
//! that talk TCP on 127.0.0.1. Small clusters, few tickets, δ = 2 ms. After every run, no
//! `ticketlab server` of that run may be left: each test passes a unique `--run-id` (servers carry
//! it on their command line) and looks for it in the process table (/proc on Linux; `ps` with
//! the portable build, as on macOS).
//!
//! Timing assertions are one-sided or generous (the machine is shared): latency is never below
//! theory (δ is a floor: every message is held at its receiver until δ after it was sent), and
//! stays within theory + a wide margin.

mod common;
use common::procs::{assert_none_left, processes_with};

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

fn ticketlab(dir: &Path, run_id: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ticketlab"));
    c.current_dir(dir)
        .args(["run", "--run-id", run_id])
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

fn output(mut c: Command) -> Output {
    c.output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A run id nobody else uses (the test binary's pid + a per-test tag).
fn run_id(tag: &str) -> String {
    format!("e2e{}{tag}", std::process::id())
}

fn summary(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("out/summary.json")).expect("summary.json written");
    serde_json::from_str(&text).unwrap()
}

fn history(dir: &Path, protocol: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join("out").join(protocol).join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const SMALL: &[&str] = &[
    "--set",
    "cluster.mode=processes",
    "--set",
    "cluster.delta_ms=2",
    "--set",
    "workload.tickets=12",
    "--format",
    "json",
    "--out",
    "out",
];

#[test]
fn table1_with_real_processes_counts_exactly_and_latency_is_at_least_theory() {
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("t1");
    let mut c = ticketlab(dir.path(), &id, SMALL);
    // No false suspicion on a busy machine: it would add messages (they are still safe).
    c.args([
        "--set",
        "cluster.servers=4",
        "--set",
        "cluster.suspect_after_ms=3000",
    ]);
    let o = output(c);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_none_left(&id);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["mode"], "processes");
    assert_eq!(v["complete"], true);
    // Table 1's rows at n = 4 (the paper's formulas, written out here, not read from the output).
    let n = 4.0;
    let rows = [
        ("2pe", 2.0, 2.0 * (n - 1.0)),
        ("se-ct", 4.0, 4.0 * (n - 1.0)),
        ("se-opt", 2.0, (n + 1.0) * (n - 1.0)),
        ("se-gb", 2.0, (n + 1.0) * (n - 1.0)),
    ];
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), rows.len());
    for (run, (name, lat, msgs)) in runs.iter().zip(rows) {
        assert_eq!(run["protocol"], name);
        assert_eq!(run["messages_per_ticket"], msgs, "{name}: {run}");
        assert_eq!(run["violations"].as_array().unwrap().len(), 0, "{name}");
        assert_eq!(run["accepted"], 12, "{name}");
        assert_eq!(run["undecided"], 0, "{name}");
        let max_ms = run["latency_ms"]["max"].as_f64().unwrap();
        let theory_ms = lat * 2.0;
        assert!(
            max_ms >= theory_ms,
            "{name}: max {max_ms} ms < theory {theory_ms} ms"
        );
        assert!(
            max_ms < theory_ms + 250.0,
            "{name}: max {max_ms} ms, theory {theory_ms} ms"
        );
        // The history on disk is the whole story: the counts recount from it.
        let h = history(dir.path(), name);
        let sends = h.iter().filter(|e| e["kind"] == "send").count() as f64;
        assert_eq!(sends / 12.0, msgs, "{name}");
    }
}

#[test]
fn kill_9_of_a_server_mid_run_still_completes_without_e1_violations() {
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("crash");
    std::fs::write(
        dir.path().join("crash.toml"),
        r#"
name = "crash"
seed = 7
[cluster]
servers = 3
protocols = ["2pe", "se-ct"]
mode = "processes"
delta_ms = 2.0
[workload]
tickets = 30
concurrency = 2
submit_to = "random"
duplicates = 0.5
duplicate_gap_ms = 1.0
[[fault]]
at_ms = 25.0
crash = [2]
"#,
    )
    .unwrap();
    let o = output(ticketlab(
        dir.path(),
        &id,
        &["crash.toml", "--format", "json", "--out", "out"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_none_left(&id);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["complete"], true);
    for run in v["runs"].as_array().unwrap() {
        let name = run["protocol"].as_str().unwrap();
        assert_eq!(
            run["violations"].as_array().unwrap().len(),
            0,
            "{name}: {run}"
        );
        assert_eq!(run["crashed"], serde_json::json!([2]), "{name}");
        // 30 tickets, less at most the one a user handed to s2 in the very instant of its
        // kill -9: it never reached s2, so no server recorded it (a real race, not a bug).
        let tickets = run["tickets"].as_u64().unwrap();
        assert!((29..=30).contains(&tickets), "{name}: {tickets} tickets");
        let h = history(dir.path(), name);
        let crash = h
            .iter()
            .find(|e| e["kind"] == "crash")
            .expect("a crash event");
        let t_crash = crash["t_us"].as_u64().unwrap();
        assert!(t_crash >= 25_000, "{name}: crash at {t_crash} µs");
        // s2's own events before its death were kept ...
        assert!(
            h.iter().any(|e| e["kind"] == "send"
                && e["from"] == 2
                && e["t_us"].as_u64() < Some(t_crash)),
            "{name}: s2 sent nothing before the crash?"
        );
        // ... and it did nothing afterwards (no send, no decision; a message it sent before
        // may still be delivered to a peer's protocol, a moment later, as any sent message).
        assert!(
            !h.iter().any(|e| ((e["kind"] == "send" && e["from"] == 2)
                || (e["kind"] == "decide" && e["server"] == 2))
                && e["t_us"].as_u64().unwrap() > t_crash + 1_000),
            "{name}: s2 acted after its kill"
        );
    }
}

/// δ is held at the receiver, so a killed server's messages may already sit in their receivers'
/// queues: they must be dropped, not delivered, as in the simulator. s2's NEWTKT to s3 takes
/// 300 ms (a delay fault) and s2 is killed at 50 ms: s3 must never act on it — in 2PE s3 would
/// answer it with an ACK about τ, in the history. A ticket at 400 ms keeps the run going past the
/// held message's release instant.
#[test]
fn a_killed_servers_messages_held_at_their_receiver_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("held");
    std::fs::write(
        dir.path().join("held.toml"),
        r#"
name = "held"
seed = 5
[cluster]
servers = 3
protocols = ["2pe"]
mode = "processes"
delta_ms = 2.0
suspect_after_ms = 3000.0
[workload]
tickets = 0
[[ticket]]
id = "tau"
submit = [{ server = 2, at_ms = 0.0 }]
[[ticket]]
id = "later"
submit = [{ server = 1, at_ms = 400.0 }]
[[fault]]
at_ms = 0.0
delay = { from = [2], to = [3], ms = 300.0 }
[[fault]]
at_ms = 50.0
crash = [2]
"#,
    )
    .unwrap();
    let o = output(ticketlab(
        dir.path(),
        &id,
        &["held.toml", "--format", "json", "--out", "out"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_none_left(&id);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let run = &v["runs"][0];
    assert_eq!(run["violations"].as_array().unwrap().len(), 0, "{run}");
    assert_eq!(run["crashed"], serde_json::json!([2]), "{run}");
    assert_eq!(run["accepted"], 2, "{run}");
    let h = history(dir.path(), "2pe");
    let about = |e: &Value, server: u64, ticket: &str| {
        e["ticket"] == ticket && (e["from"] == server || e["server"] == server)
    };
    // s2 sent NEWTKT to both and accepted τ with s1's ACK, before its kill ...
    assert!(
        h.iter()
            .any(|e| e["kind"] == "send" && e["from"] == 2 && e["to"] == 3),
        "{h:?}"
    );
    assert!(
        h.iter().any(|e| e["kind"] == "send" && about(e, 1, "tau")),
        "s1 answered s2: {h:?}"
    );
    // ... but its NEWTKT to s3, held at s3 until 300 ms, died with it at 50 ms.
    assert!(
        !h.iter().any(|e| about(e, 3, "tau")),
        "s3 acted on a message of s2 released after its crash: {h:?}"
    );
    // The run went on past that release instant.
    let later = h
        .iter()
        .find(|e| e["kind"] == "decide" && e["ticket"] == "later")
        .expect("the later ticket decided");
    assert!(later["t_us"].as_u64().unwrap() >= 400_000, "{later}");
}

/// Start a long run and wait until it is under way: the orchestrator has recorded a decision
/// (it logs the first one at info level). Returns the child and the reader of its stderr, which
/// keeps reading to the end (every process of the run writes there) and returns it all.
fn start_long_run(dir: &Path, id: &str, n: usize) -> (Child, JoinHandle<String>) {
    let mut c = ticketlab(
        dir,
        id,
        &[
            "--set",
            "cluster.mode=processes",
            "--set",
            &format!("cluster.servers={n}"),
            "--set",
            "cluster.delta_ms=2",
            "--set",
            "workload.tickets=1000000",
            "--format",
            "json",
            "--out",
            "out",
        ],
    );
    let mut child = c
        .env("RUST_LOG", "warn,ticketlab::process::orchestrator=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in stderr.lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(line) if line.contains("first ticket decided") => return (child, reader),
            Ok(_) => {}
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let left = processes_with(id);
                panic!("no decision within 30 s ({e}); left: {left:?}");
            }
        }
    }
}

#[test]
fn ctrl_c_kills_the_cluster_and_writes_partial_results() {
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("int");
    let (mut child, stderr) = start_long_run(dir.path(), &id, 3);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_none_left(&id);
    assert_eq!(status.code(), Some(130), "{}", stderr.join().unwrap());
    let s = summary(dir.path());
    assert_eq!(s["complete"], false);
    let run = &s["runs"][0];
    assert_eq!(run["protocol"], "2pe");
    assert!(run["decisions"].as_u64().unwrap() > 0, "{run}");
    assert_eq!(run["violations"].as_array().unwrap().len(), 0);
    assert!(!history(dir.path(), "2pe").is_empty());
}

#[test]
fn kill_9_of_the_orchestrator_leaves_no_server_behind() {
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("orch");
    let (mut child, _stderr) = start_long_run(dir.path(), &id, 3);
    // SIGKILL: no handler runs. PR_SET_PDEATHSIG does the work on Linux; the end of the control
    // connection with the portable build (don't wait for stderr: the servers hold it too).
    child.kill().unwrap();
    child.wait().unwrap();
    assert_none_left(&id);
}

#[test]
fn crash_on_event_kills_the_server_right_after_its_accept_as_in_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("fig2");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/figure2.toml");
    let mut c = ticketlab(
        dir.path(),
        &id,
        &[scenario, "--format", "json", "--out", "out"],
    );
    c.args([
        "--set",
        "cluster.mode=processes",
        "--set",
        "cluster.delta_ms=4",
    ]);
    let o = output(c);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_none_left(&id);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    for run in v["runs"].as_array().unwrap() {
        let name = run["protocol"].as_str().unwrap();
        assert_eq!(run["accepted"], 1, "{name}: {run}");
        assert_eq!(run["crashed"], serde_json::json!([1]), "{name}");
        assert_eq!(run["violations"].as_array().unwrap().len(), 0, "{name}");
        // (No exact message count: after the crash, what the survivors send depends on when their
        // failure detectors notice, which real time does not fix.)
        let h = history(dir.path(), name);
        let accept = h
            .iter()
            .find(|e| e["kind"] == "decide" && e["outcome"] == "accept")
            .unwrap();
        assert_eq!(accept["server"], 1, "{name}");
        let crash = h.iter().find(|e| e["kind"] == "crash").unwrap();
        assert_eq!(
            crash["t_us"], accept["t_us"],
            "{name}: crash right after the accept"
        );
        assert!(
            !h.iter().any(|e| e["kind"] == "send"
                && e["from"] == 1
                && e["t_us"].as_u64() > accept["t_us"].as_u64()),
            "{name}: s1 sent something after its crash"
        );
    }
}

#[test]
fn pause_resume_and_a_healed_partition_keep_every_ticket_and_a_server_left_paused_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("pause");
    std::fs::write(
        dir.path().join("pause.toml"),
        r#"
name = "pause"
seed = 3
[cluster]
servers = 3
protocols = ["2pe"]
mode = "processes"
delta_ms = 2.0
suspect_after_ms = 3000.0
[workload]
tickets = 20
concurrency = 2
submit_to = "round-robin"
[[fault]]
at_ms = 10.0
partition = [[1], [2, 3]]
[[fault]]
at_ms = 60.0
heal = true
[[fault]]
at_ms = 80.0
pause = [2]
[[fault]]
at_ms = 150.0
resume = [2]
[[fault]]
at_ms = 170.0
pause = [3]
"#,
    )
    .unwrap();
    let o = output(ticketlab(
        dir.path(),
        &id,
        &["pause.toml", "--format", "json", "--out", "out"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_none_left(&id);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let run = &v["runs"][0];
    assert_eq!(v["complete"], true);
    assert_eq!(run["violations"].as_array().unwrap().len(), 0, "{run}");
    // s3 stays paused from 170 ms to the end: tickets it holds may be undecided, the rest not.
    let decided = run["accepted"].as_u64().unwrap() + run["rejected"].as_u64().unwrap();
    assert!(decided >= 10, "{run}");
    // Tickets held up by the partition (50 ms) and the pause (70 ms) waited: a failure-free
    // ticket takes 2δ = 4 ms, so a maximum of at least 5× that spans a cut or a pause, however
    // the run's timing fell on a loaded machine.
    assert!(run["latency_ms"]["max"].as_f64().unwrap() >= 20.0, "{run}");
    // The history of real processes is complete too: every delivery matches a send (from, seq)
    // and comes after it; nothing crosses the partition before the heal; every fault is there.
    let h = history(dir.path(), "2pe");
    let key = |e: &Value| (e["from"].as_u64().unwrap(), e["seq"].as_u64().unwrap());
    let sends: std::collections::BTreeMap<_, _> = h
        .iter()
        .filter(|e| e["kind"] == "send")
        .map(|e| (key(e), e))
        .collect();
    let delivers: Vec<&Value> = h.iter().filter(|e| e["kind"] == "deliver").collect();
    assert!(!delivers.is_empty());
    for d in &delivers {
        let s = sends
            .get(&key(d))
            .unwrap_or_else(|| panic!("no send for {d}"));
        assert_eq!((&s["to"], &s["msg"]), (&d["to"], &d["msg"]), "{d}");
        let (ts, td) = (s["t_us"].as_u64().unwrap(), d["t_us"].as_u64().unwrap());
        assert!(td >= ts, "{d}");
        // Sent well inside the cut (servers apply it a moment after it fires at 10 ms).
        let across = (d["from"] == 1) != (d["to"] == 1);
        if across && (25_000..55_000).contains(&ts) {
            assert!(
                td >= 60_000,
                "crossed the partition before the heal: {s} → {d}"
            );
        }
    }
    let faults: Vec<&str> = h
        .iter()
        .filter(|e| e["kind"] == "fault")
        .map(|e| e["fault"].as_str().unwrap())
        .collect();
    assert_eq!(faults, ["partition", "heal", "pause", "resume", "pause"]);
}

#[test]
fn explore_with_real_processes_checks_every_run_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ticketlab"))
        .current_dir(dir.path())
        .args([
            "explore",
            "--processes",
            "--seeds",
            "2",
            "--protocols",
            "2pe,se-ct",
        ])
        .args(["--servers", "3", "--format", "json", "--out", "ex"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let needle = format!("tl{}-explore", child.id());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["mode"], "processes");
    assert_eq!(v["runs"], 4);
    assert_eq!(v["violations"], 0);
    assert!(v["failures"].as_array().unwrap().is_empty());
    assert_none_left(&needle);
}

/// A Byzantine server in processes mode, under both Byzantine-tolerant protocols: the adversary
/// runs inside the real server process (accept-all: it accepts every ticket it is handed, at
/// once), its accepts are reported apart, the correct servers keep E-1_B, and no process is left.
#[test]
fn a_byzantine_server_runs_as_a_real_process_and_its_accepts_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("byz");
    let c = ticketlab(
        dir.path(),
        &id,
        &[
            concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/byzantine.toml"),
            "--format",
            "json",
            "--set",
            "cluster.mode=processes",
            "--set",
            "cluster.delta_ms=2",
            "--set",
            "cluster.jitter_ms=0",
            "--set",
            "cluster.protocols=[\"bqlock-amo\", \"bft-fleet\"]",
            "--set",
            "workload.tickets=12",
            "--set",
            "byzantine.behaviours=[\"accept-all\"]",
            "--out",
            "out",
        ],
    );
    let o = output(c);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_none_left(&id);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["mode"], "processes");
    for (run, protocol) in v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["bqlock-amo", "bft-fleet"])
    {
        assert_eq!(run["protocol"], protocol);
        assert_eq!(run["behaviour"], "accept-all");
        assert_eq!(run["byzantine"], serde_json::json!([6]));
        assert_eq!(run["violations"].as_array().unwrap().len(), 0, "{run}");
        let apart = run["byzantine_accepts"].as_array().unwrap();
        assert!(!apart.is_empty(), "{run}");
        assert!(apart.iter().all(|a| a["server"] == 6), "{run}");
    }
    // bft-fleet validates exactly once: every ticket is accepted by one server.
    assert_eq!(v["runs"][1]["accepted"], 12, "{}", v["runs"][1]);
}

/// `ticketlab bench` with tiny counts: the shape of what it prints and writes (its figures are
/// measurements, not checked here).
/// Whether an `etcd` binary is on PATH (or named by `TICKETLAB_ETCD`).
fn which_etcd() -> bool {
    if let Some(p) = std::env::var_os("TICKETLAB_ETCD") {
        return std::path::Path::new(&p).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("etcd").is_file()))
}

#[test]
fn bench_prints_and_writes_one_row_per_protocol_and_point() {
    let tmp = tempfile::tempdir().unwrap();
    let id = run_id("bench");
    let o = Command::new(env!("CARGO_BIN_EXE_ticketlab"))
        .current_dir(tmp.path())
        .args(["bench", "--run-id", &id, "--tickets", "12"])
        .args([
            "--in-flight",
            "1,4",
            "--protocols",
            "2pe,se-ct",
            "--out",
            "b",
        ])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_none_left(&id);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.starts_with("machine: "), "{stdout}");
    assert!(
        stdout.contains("tickets/s") && stdout.contains("p99"),
        "{stdout}"
    );
    assert!(
        stdout.lines().all(|l| l.chars().count() <= 80),
        "fits 80 columns: {stdout}"
    );
    // The saturation sweep: one row per offered load and protocol, offered load beside throughput.
    let sweep = std::fs::read_to_string(tmp.path().join("b/saturation/sweep.csv")).unwrap();
    assert_eq!(sweep.lines().count(), 1 + 5 * 2, "{sweep}");
    assert!(
        sweep.lines().next().unwrap().contains("offered_per_s"),
        "{sweep}"
    );
    assert!(stdout.contains("offered/s"), "{stdout}");
    // With etcd installed, the comparison row and its ratios; without, a line saying why not.
    let etcd = tmp.path().join("b/etcd.json");
    if which_etcd() {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&etcd).unwrap()).unwrap();
        assert_eq!(json["etcd"]["accepted"], 12, "{json}");
        assert_eq!(json["ratios"].as_array().map(Vec::len), Some(2), "{json}");
        assert!(stdout.contains("× etcd"), "{stdout}");
    } else {
        assert!(!etcd.exists());
        assert!(stderr(&o).contains("no etcd comparison"), "{}", stderr(&o));
    }
    let csv = std::fs::read_to_string(tmp.path().join("b/bench.csv")).unwrap();
    let lines: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(lines.len(), 1 + 2 * 2, "{csv}");
    let header = &lines[0];
    assert_eq!(&header[..3], ["protocol", "delta_ms", "in_flight"]);
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let in_flight: Vec<&str> = lines[1..].iter().map(|l| l[col("in_flight")]).collect();
    assert_eq!(in_flight, ["1", "1", "4", "4"]);
    let protocols: Vec<&str> = lines[1..].iter().map(|l| l[0]).collect();
    assert_eq!(protocols, ["2pe", "se-ct", "2pe", "se-ct"]);
    for l in &lines[1..] {
        assert_eq!(l.len(), header.len(), "{csv}");
        assert_eq!(l[col("decided")], "12", "{csv}");
        assert!(
            l[col("tickets_per_s")].parse::<f64>().unwrap() > 0.0,
            "{csv}"
        );
        assert!(l[col("p99_ms")].parse::<f64>().unwrap() > 0.0, "{csv}");
        assert_eq!(l[col("violations")], "0", "{csv}");
    }
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("b/bench.json")).unwrap())
            .unwrap();
    assert!(json["machine"]["cores"].as_u64().unwrap() >= 1);
    assert_eq!(json["rows"].as_array().unwrap().len(), 4);
    assert_eq!(json["complete"], true);
}
