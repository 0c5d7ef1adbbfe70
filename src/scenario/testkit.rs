//! Test helpers shared by the scenario tests: a complete scenario with every key on a known
//! line, and ways to load it with edits and overrides.

use super::{load, Scenario, ScenarioError};

/// A complete scenario with every key on a known line (1-based), for the rule tests.
pub(super) const BASE: &str = r#"name = "base"
seed = 7
[cluster]
servers = 5
protocols = ["2pe", "se-ct"]
mode = "sim"
delta_ms = 10.0
jitter_ms = 0.0
heartbeat_ms = 20.0
suspect_after_ms = 100.0
[workload]
tickets = 10
concurrency = 1
think_ms = 0.0
submit_to = "random"
duplicates = 0.0
duplicate_gap_ms = 0.0
deadline_ms = 5000.0
"#;

/// BASE with the line starting with `prefix` replaced by `line`.
pub(super) fn edit(prefix: &str, line: &str) -> String {
    let mut found = false;
    let out: Vec<&str> = BASE
        .lines()
        .map(|l| {
            if l.starts_with(prefix) && !found {
                found = true;
                line
            } else {
                l
            }
        })
        .collect();
    assert!(found, "no line starts with {prefix:?}");
    out.join("\n") + "\n"
}

/// BASE plus `extra` lines at the end (line 19 onwards).
pub(super) fn append(extra: &str) -> String {
    format!("{BASE}{extra}")
}

pub(super) fn load_ok(text: &str) -> Scenario {
    load("test.toml", text, &[]).unwrap_or_else(|e| panic!("{e}"))
}

pub(super) fn load_err(text: &str, overrides: &[&str]) -> ScenarioError {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    match load("test.toml", text, &overrides) {
        Ok(s) => panic!("expected an error, got {s:?}"),
        Err(e) => e,
    }
}

/// The error names `key` at `line` of test.toml (and starts with exactly that).
pub(super) fn assert_err_at(e: &ScenarioError, line: usize, key: &str) {
    let msg = e.to_string();
    let want = format!("test.toml:{line}: {key}");
    assert!(
        msg.starts_with(&want),
        "{msg:?} does not start with {want:?}"
    );
    assert_eq!(e.key(), Some(key), "{msg}");
    assert!(!msg.ends_with('.'), "{msg}");
}

pub(super) fn with_set(text: &str, overrides: &[&str]) -> Result<Scenario, ScenarioError> {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    load("test.toml", text, &overrides)
}

pub(super) fn fault_err(extra: &str) -> String {
    load_err(&append(extra), &[]).to_string()
}
