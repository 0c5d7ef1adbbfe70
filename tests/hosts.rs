//! Servers beyond the orchestrator's children, on this machine: launched through a template
//! (`cluster.launch`), attached (`ticketlab server --listen` + `cluster.attach`), and what goes
//! wrong with them — a bad or failing launch command, a server that never says hello, a wrong
//! secret, an address nobody listens on: clear errors, in bounded time, partial results kept, no
//! process left. (On separate network stacks: `tests/netns.sh`, as root.)

mod common;
use common::procs::assert_none_left;

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ticketlab")
}

fn run(dir: &Path, run_id: &str, scenario: &str, sets: &[&str]) -> Output {
    std::fs::write(dir.join("s.toml"), scenario).unwrap();
    let mut c = Command::new(bin());
    c.current_dir(dir)
        .args([
            "run", "s.toml", "--run-id", run_id, "--format", "json", "--out", "out",
        ])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    for s in sets {
        c.args(["--set", s]);
    }
    c.output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn run_id(tag: &str) -> String {
    format!("hosts{}{tag}", std::process::id())
}

const SCENARIO: &str = r#"name = "hosts"
seed = 3
[cluster]
servers = 3
protocols = ["2pe"]
mode = "processes"
delta_ms = 2.0
[workload]
tickets = 8
"#;

#[test]
fn launched_through_a_template_servers_run_report_links_and_crash_by_order() {
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("launch");
    let scenario = format!("{SCENARIO}[[fault]]\nat_ms = 20.0\ncrash = [3]\n")
        .replace("[workload]", "launch = \"exec {command}\"\n[workload]")
        .replace("tickets = 8", "tickets = 8\nsubmit_to = [1, 2]");
    let o = run(dir.path(), &id, &scenario, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &s["runs"][0];
    assert_eq!(r["accepted"], 8, "{r}");
    assert_eq!(r["crashed"], serde_json::json!([3]));
    // Links: orchestrator → each server, and each server → each peer.
    let links = r["links"].as_array().expect("links");
    assert_eq!(links.len(), 3 + 3 * 2, "{links:?}");
    assert!(links
        .iter()
        .all(|l| l["rtt_us"].as_f64().unwrap() > 0.0 && l["samples"] == 8));
    assert!(links
        .iter()
        .any(|l| l["from"] == "orchestrator" && l["to"] == "s2"));
    assert!(links.iter().any(|l| l["from"] == "s3" && l["to"] == "s1"));
    assert_none_left(&id);
}

#[test]
fn a_launch_command_that_fails_or_does_not_exist_is_a_setup_error() {
    for (template, says) in [
        ("sh -c 'exit 3' {command}", "exit status: 3"),
        (
            "/nonexistent/ticketlab-runner {command}",
            "exit status: 127",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let id = run_id("fail");
        let t0 = Instant::now();
        let o = run(
            dir.path(),
            &id,
            SCENARIO,
            &[&format!("cluster.launch={template:?}")],
        );
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains("the launch command of s"), "{e}");
        assert!(e.contains(says), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        // Partial results are written.
        assert!(dir.path().join("out/summary.json").exists());
        assert_none_left(&id);
    }
}

#[test]
fn a_server_that_never_says_hello_times_out_and_nothing_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let id = run_id("silent");
    // A distinctive sleep, to look for afterwards.
    let template = "sleep 107.31 # {command}";
    let t0 = Instant::now();
    let o = run(
        dir.path(),
        &id,
        SCENARIO,
        &[
            &format!("cluster.launch={template:?}"),
            "cluster.setup_timeout_ms=1500",
        ],
    );
    let took = t0.elapsed();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("s1, s2, s3 never said hello within 1.5 s"),
        "{e}"
    );
    assert!(e.contains("sleep 107.31 #"), "{e}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert!(dir.path().join("out/summary.json").exists());
    assert_none_left("107.31");
    assert_none_left(&id);
}

#[test]
fn bad_remote_keys_are_validation_errors_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (set, key) in [
        ("cluster.launch=\"ssh {host}\"", "cluster.launch"),
        ("cluster.launch=\"ssh {hots} {command}\"", "cluster.launch"),
        ("cluster.hosts=[\"10.0.0.2 && reboot\"]", "cluster.hosts[0]"),
        ("cluster.attach=[\"10.0.0.2\"]", "cluster.attach[0]"),
        (
            "cluster.control_addr=\"10.0.0.256\"",
            "cluster.control_addr",
        ),
    ] {
        let o = run(dir.path(), &run_id("bad"), SCENARIO, &[set]);
        assert_eq!(o.status.code(), Some(2), "{set}");
        let e = stderr(&o);
        assert!(e.contains(key), "{set}: {e}");
    }
}

/// `ticketlab server --listen ADDR --secret-file F`, started by hand.
fn attached(addr: &str, key: &Path) -> Child {
    Command::new(bin())
        .args(["server", "--listen", addr, "--secret-file"])
        .arg(key)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A free port on loopback (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn attached_servers_serve_run_after_run_with_the_operators_secret_only() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut servers: Vec<Child> = addrs.iter().map(|a| attached(a, &key)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let attach = format!(
        "cluster.attach=[{}]",
        addrs
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let two = "cluster.protocols=[\"2pe\", \"se-ct\"]";
    let o = run(
        dir.path(),
        &run_id("attach"),
        SCENARIO,
        &[&attach, "cluster.secret_file=\"key\"", two],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    for r in s["runs"].as_array().unwrap() {
        assert_eq!(r["accepted"], 8, "{r}");
        assert_eq!(r["links"].as_array().unwrap().len(), 9);
    }
    // A wrong secret: refused, said so, and the servers stay up for the right one.
    std::fs::write(dir.path().join("wrong"), "a5".repeat(32)).unwrap();
    let o = run(
        dir.path(),
        &run_id("wrong"),
        SCENARIO,
        &[&attach, "cluster.secret_file=\"wrong\""],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot attach s1"), "{}", stderr(&o));
    assert!(stderr(&o).contains("secret"), "{}", stderr(&o));
    for c in &mut servers {
        assert!(c.try_wait().unwrap().is_none(), "an attached server exited");
    }
    let o = run(
        dir.path(),
        &run_id("again"),
        SCENARIO,
        &[&attach, "cluster.secret_file=\"key\""],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for mut c in servers {
        let _ = c.kill();
        let _ = c.wait();
    }
    // Nobody listening there any more: a clear error, at once.
    let o = run(
        dir.path(),
        &run_id("gone"),
        SCENARIO,
        &[&attach, "cluster.secret_file=\"key\""],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("cannot attach s1 at 127.0.0.1:"), "{e}");
    assert!(e.contains("cluster.attach[0]"), "{e}");
}
