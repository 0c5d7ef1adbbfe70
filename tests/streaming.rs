//! A streamed run (`Runtime::run_to`, what `ticketlab run` does in the simulator) writes the same
//! `history.jsonl` as the history kept in memory, and its incremental tally gives the same
//! summary: checked properties, message counts, latencies, decisions, refusals and the scripted
//! tickets' stories — under faults, duplicates, forged tickets and crashes.

mod common;

use common::*;
use ticketlab::history;
use ticketlab::lab::Runtime;
use ticketlab::protocol::ProtocolKind;
use ticketlab::report;
use ticketlab::sim::{self, Simulator};

const SCENARIO: &str = r#"name = "streamed"
seed = 5
[cluster]
servers = 5
protocols = ["2pe", "se-ct", "se-opt"]
mode = "sim"
delta_ms = 10.0
jitter_ms = 3.0
[workload]
tickets = 40
concurrency = 3
duplicates = 0.4
duplicate_gap_ms = 5.0
forged = 0.1
tampered = 0.1
[[ticket]]
id = "story"
submit = [{ at_ms = 1.0, server = 1 }, { at_ms = 2.0, server = 2 }]
[[fault]]
at_ms = 60.0
crash = [4]
[[fault]]
at_ms = 30.0
delay = { from = 1, to = 2, ms = 25.0 }
"#;

#[test]
fn a_streamed_run_writes_and_summarises_exactly_what_a_kept_one_does() {
    let scenario = load(SCENARIO, &[]);
    let dir = tempfile::tempdir().unwrap();
    for protocol in [ProtocolKind::TwoPe, ProtocolKind::SeCt, ProtocolKind::SeOpt] {
        let kept = sim::run(&scenario, protocol, 9);
        assert!(kept.streamed.is_none() && !kept.history.is_empty());
        let path = dir.path().join(format!("{}.jsonl", protocol.name()));
        let streamed = Simulator
            .run_to(&scenario, protocol, 9, &path)
            .completed()
            .unwrap();
        assert!(streamed.history.is_empty(), "nothing kept in memory");
        let s = streamed.streamed.as_ref().expect("streamed");
        assert_eq!(s.error, None);
        assert_eq!(s.tallied.events, kept.history.len() as u64);

        // The same file, byte for byte, as writing the kept history.
        let again = dir.path().join("kept.jsonl");
        history::write_jsonl(&again, &kept.history).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(&again).unwrap(),
            "{protocol}"
        );

        // The same summary, but for the simulator's own speed.
        let mut a = report::summarize(&scenario, protocol, &kept);
        let mut b = report::summarize(&scenario, protocol, &streamed);
        assert!(a.sim_speed.is_some() && b.sim_speed.is_some());
        (a.sim_speed, b.sim_speed) = (None, None);
        let (a, b) = (
            serde_json::to_value(&a).unwrap(),
            serde_json::to_value(&b).unwrap(),
        );
        assert_eq!(a, b, "{protocol}");
        // The run exercised what the tally keeps.
        assert!(a["messages"].as_u64().unwrap() > 0);
        assert!(
            a["forged_rejected"].as_u64().unwrap() + a["tampered_rejected"].as_u64().unwrap() > 0
        );
        assert_eq!(a["crashed"], serde_json::json!([4]));
        assert_eq!(a["scripted_tickets"][0]["ticket"], "story");
        assert_eq!(
            report::run_latencies(&kept).hgrm(1000.0),
            report::run_latencies(&streamed).hgrm(1000.0)
        );
    }
}

#[test]
fn a_history_that_cannot_be_written_stops_the_run_with_the_path() {
    let scenario = load(SCENARIO, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("history.jsonl");
    let run = Simulator.run_to(&scenario, ProtocolKind::TwoPe, 1, &path);
    let err = run.completed().unwrap_err().to_string();
    assert!(err.contains("missing/history.jsonl"), "{err}");
}
