//! The etcd baseline (`"etcd"` in `cluster.protocols`): a real etcd cluster validating the
//! users' tickets with one compare-and-create transaction each. With the `etcd` binary installed
//! these tests run real members; without it, each asserts the clear error (exit 2, what to
//! install) instead. Every run passes a unique `--run-id` (the members carry it on their command
//! line) and its own TMPDIR (their data folders), so leftovers are found.

mod common;
use common::procs::{assert_none_left, processes_with};

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The etcd binary the runs will use, if any (the lookup `ticketlab` does).
fn etcd() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TICKETLAB_ETCD") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join("etcd"))
        .find(|p| p.is_file())
}

fn run_id(tag: &str) -> String {
    format!("etcd{}{tag}", std::process::id())
}

/// `ticketlab run --run-id ID ARGS` in `dir`, members' data under `dir/tmp`.
fn ticketlab(dir: &Path, id: &str, args: &[&str]) -> Command {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_ticketlab"));
    c.current_dir(dir)
        .args(["run", "--run-id", id])
        .args(args)
        .env("TMPDIR", &tmp)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// No member of the run is left, and no data folder.
fn assert_no_leftovers(dir: &Path, id: &str) {
    assert_none_left(id);
    let data: Vec<_> = std::fs::read_dir(dir.join("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(data.is_empty(), "data folders left behind: {data:?}");
}

/// The clear error of a machine without etcd: exit 2 before anything runs, saying what to
/// install.
fn assert_missing_etcd(o: &Output, dir: &Path) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("needs the `etcd` server binary")
            && err.contains("apt-get install etcd-server"),
        "{err}"
    );
    assert!(!dir.join("out/2pe").exists(), "no row ran before the error");
}

/// Run ticketlab with `args`: without an etcd binary, check the clear error and give `None`;
/// with one, check that the run succeeded and left nothing behind, and give its output.
fn run_with_etcd(dir: &Path, id: &str, args: &[&str]) -> Option<Output> {
    let o = ticketlab(dir, id, args).output().unwrap();
    if etcd().is_none() {
        assert_missing_etcd(&o, dir);
        return None;
    }
    assert!(o.status.success(), "{}", stderr(&o));
    assert_no_leftovers(dir, id);
    Some(o)
}

const SMALL: &[&str] = &[
    "--set",
    "cluster.servers=3",
    "--set",
    "workload.tickets=60",
    "--set",
    "workload.concurrency=8",
    "--set",
    "workload.duplicates=0.5",
    "--set",
    "workload.duplicate_gap_ms=0.5",
    "--set",
    "workload.forged=0.1",
    "--format",
    "json",
    "--out",
    "out",
];

#[test]
fn duplicates_are_accepted_exactly_once_forged_tickets_refused_and_nothing_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("small");
    let mut args = vec!["--set", r#"cluster.protocols=["2pe","etcd"]"#];
    args.extend_from_slice(SMALL);
    let Some(o) = run_with_etcd(dir.path(), &id, &args) else {
        return;
    };
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    let b = &s["baselines"][0];
    assert_eq!(b["protocol"], "etcd");
    assert!(b["store"].as_str().unwrap().starts_with("etcd 3."), "{b}");
    assert_eq!(b["violations"].as_array().unwrap().len(), 0, "{b}");
    assert_eq!(b["undecided"], 0, "{b}");
    // No δ, no message count, no theory: null, never a number.
    for k in ["latency_delta", "messages_per_ticket", "messages", "theory"] {
        assert!(b[k].is_null(), "{k}: {b}");
    }
    let ms = &b["latency_ms"];
    assert!(ms["p50"].as_f64().unwrap() > 0.0, "{b}");
    assert!(ms["max"].as_f64().unwrap() >= ms["p50"].as_f64().unwrap());
    assert!(b["throughput_per_s"].as_f64().unwrap() > 0.0, "{b}");
    // The same users as the 2pe row: the same tickets, the same forged ones refused.
    let r = &s["runs"][0];
    assert_eq!(b["tickets"], r["tickets"]);
    assert_eq!(b["forged_rejected"], r["forged_rejected"]);
    assert!(b["forged_rejected"].as_u64().unwrap() > 0, "{b}");

    // Recount the history: every genuine ticket accepted at exactly one member; every second
    // submission of a duplicated one rejected there; forged ones never reach etcd.
    let text = std::fs::read_to_string(dir.path().join("out/etcd/history.jsonl")).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut submits: BTreeMap<String, u64> = BTreeMap::new();
    let mut accepts: BTreeMap<String, u64> = BTreeMap::new();
    let mut rejects = 0;
    let mut forged = 0;
    for e in &events {
        let t = e["ticket"].as_str().unwrap_or("").to_string();
        match e["kind"].as_str().unwrap() {
            "submit" => *submits.entry(t).or_default() += 1,
            "decide" if e["outcome"] == "accept" => *accepts.entry(t).or_default() += 1,
            "decide" => {
                rejects += 1;
                assert!(e["why"].as_str().unwrap().contains("compare failed"), "{e}");
            }
            "refused" => {
                forged += 1;
                assert_eq!(e["reason"], "forged", "{e}");
                assert!(!submits.contains_key(&t), "{e}");
            }
            other => panic!("unexpected event {other}: {e}"),
        }
    }
    let duplicated = submits.values().filter(|&&n| n == 2).count() as u64;
    assert!(
        duplicated > 5,
        "the workload duplicates tickets: {submits:?}"
    );
    assert!(forged > 0);
    assert_eq!(
        accepts.len(),
        submits.len(),
        "every genuine ticket accepted"
    );
    assert!(accepts.values().all(|&n| n == 1), "{accepts:?}");
    assert_eq!(rejects, duplicated, "one reject per second submission");
    assert_eq!(b["rejected_submissions"], rejects);
    assert_eq!(b["accepted"], accepts.len() as u64);
    assert_eq!(b["decisions"], accepts.len() as u64 + rejects);
}

#[test]
fn the_table_has_an_etcd_row_without_delta_or_messages_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("table");
    let Some(o) = run_with_etcd(
        dir.path(),
        &id,
        &[
            "--set",
            r#"cluster.protocols=["etcd"]"#,
            "--set",
            "cluster.servers=3",
            "--set",
            "workload.tickets=20",
            "--out",
            "out",
        ],
    ) else {
        return;
    };
    let table = String::from_utf8_lossy(&o.stdout);
    let row = table
        .lines()
        .find(|l| l.contains("etcd") && l.contains('┆'))
        .unwrap_or_else(|| panic!("{table}"));
    assert_eq!(row.matches("n/a").count(), 3, "{row}");
    assert!(row.contains("20/0/0"), "{row}");
    assert!(table.contains("n/a: etcd is a baseline"), "{table}");
    assert!(table.contains("tickets/s"), "{table}");
    assert!(table.lines().all(|l| l.chars().count() <= 80), "{table}");
    let s: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(s["runs"].as_array().unwrap().len(), 0);
    assert!(s["scenario_toml"]
        .as_str()
        .unwrap()
        .contains(r#"protocols = ["etcd"]"#));
}

#[test]
fn a_missing_etcd_binary_is_a_clear_error_before_any_row_runs() {
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("missing");
    let mut args = vec!["--set", r#"cluster.protocols=["2pe","etcd"]"#];
    args.extend_from_slice(SMALL);
    let o = ticketlab(dir.path(), &id, &args)
        .env("TICKETLAB_ETCD", dir.path().join("no-such-etcd"))
        .output()
        .unwrap();
    assert_missing_etcd(&o, dir.path());
    assert!(stderr(&o).contains("TICKETLAB_ETCD"), "{}", stderr(&o));
}

#[test]
fn the_simulator_faults_and_sweeps_refuse_etcd_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("refuse");
    let etcd = r#"cluster.protocols=["2pe","etcd"]"#;
    let cases: &[(&[&str], &str)] = &[
        (&["--sim"], "has no simulated form"),
        (
            &["--set", r#"cluster.mode="sim""#],
            "has no simulated form: expected cluster.mode = \"processes\"",
        ),
        (&["--sweep", "cluster.servers=3,5"], "not in sweeps"),
    ];
    for (extra, want) in cases {
        let mut args = vec!["--set", etcd];
        args.extend_from_slice(extra);
        let o = ticketlab(dir.path(), &id, &args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{extra:?}: {}", stderr(&o));
    }
    let faulty = dir.path().join("faulty.toml");
    std::fs::write(
        &faulty,
        "name = \"faulty\"\n[cluster]\nservers = 3\nprotocols = [\"2pe\", \"etcd\"]\n\
         [workload]\ntickets = 5\n[[fault]]\nat_ms = 1.0\npause = [2]\n",
    )
    .unwrap();
    let o = ticketlab(dir.path(), &id, &[faulty.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("faulty.toml:7: fault[0]")
            && stderr(&o).contains("takes timed crash faults only"),
        "{}",
        stderr(&o)
    );
    assert!(processes_with(&id).is_empty());
}

#[test]
fn a_member_killed_mid_run_leaves_e1_intact_and_no_decision_after_its_crash() {
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("crash");
    let scenario = dir.path().join("crash.toml");
    std::fs::write(
        &scenario,
        "name = \"crash\"\nseed = 7\n[cluster]\nservers = 3\nprotocols = [\"etcd\"]\n\
         [workload]\ntickets = 400\nconcurrency = 8\nduplicates = 0.3\nduplicate_gap_ms = 1.0\n\
         [[fault]]\nat_ms = 100.0\ncrash = [1]\n",
    )
    .unwrap();
    let Some(o) = run_with_etcd(
        dir.path(),
        &id,
        &[
            scenario.to_str().unwrap(),
            "--format",
            "json",
            "--out",
            "out",
        ],
    ) else {
        return;
    };
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    let b = &s["baselines"][0];
    assert_eq!(b["violations"].as_array().unwrap().len(), 0, "{b}");
    assert_eq!(b["undecided"], 0, "users move on to live members: {b}");
    assert!(b["accepted"].as_u64().unwrap() > 300, "{b}");
    let text = std::fs::read_to_string(dir.path().join("out/etcd/history.jsonl")).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let crash = events
        .iter()
        .find(|e| e["kind"] == "crash")
        .unwrap_or_else(|| panic!("no crash event"));
    assert_eq!(crash["server"], 1);
    let at = crash["t_us"].as_u64().unwrap();
    let late: Vec<&Value> = events
        .iter()
        .filter(|e| e["server"] == 1 && e["t_us"].as_u64().unwrap() > at)
        .filter(|e| e["kind"] == "decide" || e["kind"] == "submit")
        .collect();
    assert!(late.is_empty(), "s1 acts after its crash: {late:?}");
    let mut accepts: BTreeMap<String, u64> = BTreeMap::new();
    for e in &events {
        if e["kind"] == "decide" && e["outcome"] == "accept" {
            *accepts
                .entry(e["ticket"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    assert!(accepts.values().all(|&n| n == 1), "E-1: {accepts:?}");
}

/// An etcd row that runs a while, started with its log on; returns once its first ticket is
/// decided (or the missing-etcd error's output when there is no etcd).
fn start_long_run(dir: &Path, id: &str) -> Result<Child, Output> {
    let mut c = ticketlab(
        dir,
        id,
        &[
            "--set",
            r#"cluster.protocols=["etcd"]"#,
            "--set",
            "cluster.servers=3",
            "--set",
            "workload.tickets=1000000",
            "--set",
            "workload.concurrency=2",
            "--format",
            "json",
            "--out",
            "out",
        ],
    );
    if etcd().is_none() {
        return Err(c.output().unwrap());
    }
    let mut child = c
        .env("RUST_LOG", "warn,ticketlab::etcd=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let err = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in err.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let until = Instant::now() + Duration::from_secs(40);
    loop {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(line) if line.contains("first ticket decided") => return Ok(child),
            Ok(_) => {}
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "no decision within 40 s ({e}); left: {:?}",
                    processes_with(id)
                );
            }
        }
    }
}

#[test]
fn ctrl_c_kills_the_members_and_writes_partial_results() {
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("int");
    let mut child = match start_long_run(dir.path(), &id) {
        Ok(c) => c,
        Err(o) => return assert_missing_etcd(&o, dir.path()),
    };
    assert!(!processes_with(&id).is_empty(), "the members run");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_no_leftovers(dir.path(), &id);
    assert_eq!(status.code(), Some(130));
    let s: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(s["complete"], false);
    let b = &s["baselines"][0];
    assert!(b["decisions"].as_u64().unwrap() > 0, "{b}");
    assert_eq!(b["violations"].as_array().unwrap().len(), 0);
}

/// PR_SET_PDEATHSIG is Linux's: elsewhere a kill -9 of ticketlab cannot take the members along.
#[cfg(target_os = "linux")]
#[test]
fn kill_9_of_ticketlab_leaves_no_member_behind() {
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("kill");
    let mut child = match start_long_run(dir.path(), &id) {
        Ok(c) => c,
        Err(o) => return assert_missing_etcd(&o, dir.path()),
    };
    assert!(!processes_with(&id).is_empty(), "the members run");
    // SIGKILL: no handler runs; PR_SET_PDEATHSIG kills the members (Linux).
    child.kill().unwrap();
    child.wait().unwrap();
    let until = Instant::now() + Duration::from_secs(3);
    while !processes_with(&id).is_empty() {
        assert!(
            Instant::now() < until,
            "members left behind: {:?}",
            processes_with(&id)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
