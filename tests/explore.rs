//! `ticketlab explore` beyond finding failures: shrinking them (`src/shrink.rs`) to small
//! scenarios that still fail the same property, deterministically, and Ctrl-C (exit 130, the
//! report and failures so far written).

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use ticketlab::checker;
use ticketlab::explore;
use ticketlab::nemesis::{Nemesis, Schedules};
use ticketlab::protocol::{Property, ProtocolKind};
use ticketlab::scenario::{self, FaultAction, Scenario};
use ticketlab::shrink::{self, Size};
use ticketlab::sim::{self, Simulator};

fn ticketlab(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ticketlab"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn load_file(path: &Path) -> Scenario {
    let text = std::fs::read_to_string(path).unwrap();
    scenario::load(&path.display().to_string(), &text, &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// The claimed properties a scenario fails in the simulator with its own seed, safety first.
fn failed(s: &Scenario) -> Vec<Property> {
    let p = s.cluster.protocols[0];
    let out = sim::run(s, p, s.seed.expect("explore files carry their seed"));
    checker::check(&out.history).failed_properties(p.properties())
}

/// Replay a scenario file through the binary (`run FILE --sim --strict`, in `cwd`): the
/// properties its violations name, in order of first appearance.
fn replay(file: &str, cwd: &Path) -> Vec<String> {
    let o = ticketlab(
        &[
            "run", file, "--sim", "--strict", "--format", "json", "--out", "replay",
        ],
        cwd,
    );
    assert_eq!(o.status.code(), Some(1), "{file}: {}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut props: Vec<String> = Vec::new();
    for viol in v["runs"][0]["violations"].as_array().unwrap() {
        let p = viol["property"].as_str().unwrap().to_string();
        if !props.contains(&p) {
            props.push(p);
        }
    }
    props
}

#[test]
fn a_shrunk_2pe_minority_failure_has_at_most_five_tickets_and_fails_the_same_property_on_replay() {
    let dir = tempfile::tempdir().unwrap();
    let o = ticketlab(
        &[
            "explore",
            "--protocols",
            "2pe-minority",
            "--seeds",
            "40",
            "--format",
            "json",
            "--out",
            "ex",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["complete"], true);
    let failures = v["failures"].as_array().unwrap();
    let shrunk = v["shrunk"].as_array().unwrap();
    assert!(!failures.is_empty(), "2pe-minority is caught");
    assert_eq!(shrunk.len(), failures.len(), "one entry per failure");
    for (original, small) in failures.iter().zip(shrunk) {
        let original = original.as_str().unwrap();
        let small = small
            .as_str()
            .unwrap_or_else(|| panic!("{original} was not shrunk"));
        assert_eq!(small, original.replace(".toml", ".shrunk.toml"));
        let (before, after) = (
            Size::of(&load_file(&dir.path().join(original))),
            Size::of(&load_file(&dir.path().join(small))),
        );
        assert!(after.tickets <= 5, "{small}: {after:?} (from {before:?})");
        assert!(after.tickets <= before.tickets && after.faults <= before.faults);
        assert!(after.servers <= before.servers);
        // The same property fails when both files are replayed by the real command.
        let was = replay(original, dir.path());
        let is = replay(small, dir.path());
        assert!(is.contains(&was[0]), "{small}: {is:?}, original {was:?}");
    }
    // The original file keeps its name and says where its shrunk form is.
    let first = std::fs::read_to_string(dir.path().join(failures[0].as_str().unwrap())).unwrap();
    assert!(first.contains("# Shrunk: "), "{first}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("ex/explore.json")).unwrap())
            .unwrap();
    assert_eq!(report, v, "explore.json holds what --format json printed");
}

#[test]
fn the_table_prints_how_to_replay_and_draw_each_shrunk_failure() {
    let dir = tempfile::tempdir().unwrap();
    let o = ticketlab(
        &[
            "explore",
            "--protocols",
            "2pe-minority",
            "--seeds",
            "15",
            "--out",
            "ex",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let shrunk = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("shrunk ("))
        .unwrap_or_else(|| panic!("no shrunk failure in\n{out}"));
    let file = shrunk.rsplit(": ").next().unwrap();
    assert!(file.ends_with(".shrunk.toml"), "{shrunk}");
    assert!(
        out.contains(&format!("replay: ticketlab run {file} --sim")),
        "{out}"
    );
    let draw = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("draw:"))
        .unwrap()
        .trim();
    assert!(
        draw.starts_with(&format!("ticketlab run {file} --sim --out ")),
        "{draw}"
    );
    assert!(draw.contains("; ticketlab diagram "), "{draw}");
    // The shrunk file's header carries the same commands.
    let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
    assert!(text.contains(&format!("# Draw: {draw}")), "{text}");
}

/// The failing runs of a short targeted campaign over the bug zoo and of a random one over
/// 2pe-minority, with their generated scenarios (from the written files).
fn zoo_failures(dir: &Path) -> Vec<(String, Option<String>)> {
    let mut all = Vec::new();
    for (protocols, seeds, schedules) in [
        (ProtocolKind::ZOO, 0..12, Schedules::Targeted),
        (
            &[ProtocolKind::TwoPeMinority][..],
            0..30,
            Schedules::One(Nemesis::Random),
        ),
    ] {
        let out = dir.join(format!("{}", all.len()));
        let report = explore::campaign(
            protocols,
            seeds,
            &[3, 4, 5, 7],
            &out,
            false,
            schedules,
            &Simulator,
        )
        .unwrap();
        assert!(report.complete);
        all.extend(report.failures.into_iter().zip(report.shrunk));
    }
    all
}

#[test]
fn shrinking_keeps_the_failure_and_stays_in_the_fault_model() {
    let dir = tempfile::tempdir().unwrap();
    let failures = zoo_failures(dir.path());
    let shrunk: Vec<(&String, &String)> = failures
        .iter()
        .filter_map(|(o, s)| Some((o, s.as_ref()?)))
        .collect();
    assert!(shrunk.len() >= 10, "{failures:?}");
    let mut smaller = 0;
    for (original, small) in shrunk {
        let (o, s) = (load_file(Path::new(original)), load_file(Path::new(small)));
        let was = failed(&o);
        let is = failed(&s);
        assert!(!was.is_empty(), "{original} fails");
        assert!(is.contains(&was[0]), "{small}: {is:?}, original {was:?}");
        let (before, after) = (Size::of(&o), Size::of(&s));
        assert!(
            after.tickets <= before.tickets
                && after.faults <= before.faults
                && after.servers <= before.servers,
            "{small}: {after:?} from {before:?}"
        );
        smaller += usize::from(after != before);
        assert!(s.cluster.jitter <= o.cluster.jitter);
        // Every partition still heals, every pause still resumes, crashes stay in the model.
        let p = s.cluster.protocols[0];
        let mut crashed = std::collections::BTreeSet::new();
        for (i, f) in s.faults.iter().enumerate() {
            let later = || s.faults.iter().skip(i + 1).chain(&s.faults[..i]);
            match &f.action {
                FaultAction::Partition(_) | FaultAction::Block { .. } => assert!(
                    later().any(|g| g.action == FaultAction::Heal && g.at >= f.at),
                    "{small}: fault {i} never heals"
                ),
                FaultAction::Pause(v) => assert!(
                    later()
                        .any(|g| matches!(&g.action, FaultAction::Resume(w) if w == v)
                            && g.at >= f.at),
                    "{small}: fault {i} never resumes"
                ),
                FaultAction::Crash(v) => crashed.extend(v.iter().copied()),
                _ => {}
            }
        }
        assert!(crashed.len() <= usize::from(p.max_faults(s.cluster.servers)));
    }
    assert!(smaller > 0);
}

#[test]
fn shrinking_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let failures = zoo_failures(dir.path());
    let mut checked = 0;
    for (original, _) in failures.iter().take(8) {
        let s = load_file(Path::new(original));
        let (p, seed) = (s.cluster.protocols[0], s.seed.unwrap());
        let a = shrink::shrink(&s, p, seed, &Simulator, &|| false).expect("it fails");
        let b = shrink::shrink(&s, p, seed, &Simulator, &|| false).expect("it fails");
        assert_eq!(a.scenario, b.scenario, "{original}");
        assert_eq!(
            (a.runs, a.property, &a.details),
            (b.runs, b.property, &b.details)
        );
        assert!(a.runs <= shrink::BUDGET);
        checked += 1;
    }
    assert!(checked > 0);
    // The whole campaign too: a second one writes the same shrunk files, byte for byte (but
    // for the folder names in their headers).
    let again = zoo_failures(&dir.path().join("again"));
    assert_eq!(again.len(), failures.len());
    for ((_, a), (_, b)) in failures.iter().zip(&again) {
        let (Some(a), Some(b)) = (a, b) else {
            assert_eq!(a.is_none(), b.is_none());
            continue;
        };
        let root = dir.path().display().to_string();
        let again_root = dir.path().join("again").display().to_string();
        let text_a = std::fs::read_to_string(a).unwrap().replace(&root, "");
        let text_b = std::fs::read_to_string(b).unwrap().replace(&again_root, "");
        assert_eq!(text_a, text_b);
    }
}

#[test]
fn shrinking_a_scenario_that_passes_gives_nothing() {
    let s = explore::generate(3, ProtocolKind::TwoPe, &[3, 5]);
    assert!(failed(&s).is_empty());
    assert!(shrink::shrink(&s, ProtocolKind::TwoPe, 3, &Simulator, &|| false).is_none());
    // A stop before the first run: nothing either.
    assert!(shrink::shrink(&s, ProtocolKind::TwoPe, 3, &Simulator, &|| true).is_none());
}

#[test]
fn a_run_fails_for_explore_exactly_when_it_fails_a_claimed_property() {
    let mut failures = 0;
    for p in [
        ProtocolKind::TwoPeMinority,
        ProtocolKind::TwoPe,
        ProtocolKind::Alo2Pe,
        ProtocolKind::QlockAmo,
    ] {
        for seed in 0..40 {
            let s = explore::generate(seed, p, &[3, 4, 5, 7]);
            let out = sim::run(&s, p, seed);
            let finding = explore::judge(seed, Nemesis::Random, p, &s, &out);
            let props = checker::check(&out.history).failed_properties(p.properties());
            assert_eq!(finding.failed(), !props.is_empty(), "{p} seed {seed}");
            // Safety first: a run failing E-1 (or E-1′, E-1_B) is shrunk for it.
            if finding.e1 > 0 {
                assert!(
                    matches!(props[0], Property::E1 | Property::E1Prime | Property::E1B),
                    "{p} seed {seed}: {props:?}"
                );
            }
            failures += usize::from(finding.failed());
        }
    }
    assert!(failures > 0);
}

#[test]
fn ctrl_c_stops_explore_at_a_run_boundary_writes_the_report_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ticketlab"))
        .current_dir(dir.path())
        .args(["explore", "--protocols", "2pe,2pe-minority"])
        .args(["--seeds", "100000", "--format", "json", "--out", "ex"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut all = String::new();
        std::io::Read::read_to_string(&mut out, &mut all).unwrap();
        all
    });
    // The banner comes once the signals are watched.
    let (tx, rx) = mpsc::channel();
    let err = BufReader::new(child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in err.lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let banner = rx.recv_timeout(Duration::from_secs(60));
    if banner.is_err() {
        let _ = child.kill();
    }
    assert!(banner
        .unwrap()
        .starts_with("ticketlab explore: seeds 0..100000"));
    // Let it run a while, then Ctrl-C.
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("explore did not stop within 60 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out_reader.join().unwrap();
    let err = reader.join().unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted by SIGINT"), "{err}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("ex/explore.json")).unwrap())
            .unwrap();
    assert_eq!(report, serde_json::from_str::<Value>(&stdout).unwrap());
    assert_eq!(report["complete"], false);
    let runs = report["runs"].as_u64().unwrap();
    assert!(runs > 0 && runs < 200_000, "{runs}");
    // The failures found so far are written (2pe-minority fails in about one run in five).
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(report["violations"].as_u64(), Some(failures.len() as u64));
    for f in failures {
        assert!(dir.path().join(f.as_str().unwrap()).exists(), "{f}");
    }
    let totals: u64 = report["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["runs"].as_u64().unwrap())
        .sum();
    assert_eq!(totals, runs);
}
