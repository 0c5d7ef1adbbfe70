//! The raw serde structs: the file's shape (`deny_unknown_fields`), nothing checked beyond
//! types. Integers are i64 (TOML's) and times f64 (TOML integers are accepted too), so range
//! rules get the validator's messages.

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawScenario {
    pub(super) name: String,
    pub(super) seed: Option<i64>,
    pub(super) cluster: RawCluster,
    #[serde(default)]
    pub(super) workload: RawWorkload,
    #[serde(default)]
    pub(super) ticket: Vec<RawTicket>,
    #[serde(default)]
    pub(super) fault: Vec<RawFault>,
    pub(super) resilience: Option<RawResilience>,
    pub(super) byzantine: Option<RawByzantineSweep>,
    /// `[sweep]`: read in file order by [`super::sweep_table`]; one scenario is one point.
    #[allow(dead_code)]
    pub(super) sweep: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table { servers = [..], behaviours = [..] }"
)]
pub(super) struct RawByzantineSweep {
    pub(super) servers: Vec<i64>,
    pub(super) behaviours: Option<Vec<String>>,
    pub(super) at_ms: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawResilience {
    pub(super) max_f: Option<i64>,
    pub(super) crash: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawCluster {
    pub(super) servers: i64,
    pub(super) protocols: Vec<String>,
    pub(super) mode: Option<String>,
    pub(super) delta_ms: Option<f64>,
    pub(super) jitter_ms: Option<f64>,
    pub(super) heartbeat_ms: Option<f64>,
    pub(super) suspect_after_ms: Option<f64>,
    pub(super) byzantine_max: Option<i64>,
    pub(super) allow_unsafe: Option<bool>,
    // Where the servers live (see `super::remote`).
    pub(super) launch: Option<String>,
    pub(super) hosts: Option<Vec<String>>,
    pub(super) listen: Option<Vec<String>>,
    pub(super) control_addr: Option<String>,
    pub(super) attach: Option<Vec<String>>,
    pub(super) secret_file: Option<String>,
    pub(super) setup_timeout_ms: Option<f64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawWorkload {
    pub(super) tickets: Option<i64>,
    pub(super) concurrency: Option<i64>,
    /// Open-loop arrivals per second; "poisson" | "uniform": checked by the validator.
    pub(super) rate: Option<f64>,
    pub(super) arrivals: Option<String>,
    pub(super) think_ms: Option<f64>,
    /// "random" | "round-robin" | [ids]: checked by the validator.
    pub(super) submit_to: Option<toml::Value>,
    pub(super) duplicates: Option<f64>,
    pub(super) duplicate_gap_ms: Option<f64>,
    pub(super) deadline_ms: Option<f64>,
    pub(super) forged: Option<f64>,
    pub(super) tampered: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawTicket {
    pub(super) id: String,
    pub(super) submit: Vec<RawSubmission>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table { server = .., at_ms = .. }")]
pub(super) struct RawSubmission {
    pub(super) server: i64,
    pub(super) at_ms: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawFault {
    pub(super) at_ms: Option<f64>,
    pub(super) after: Option<RawAfter>,
    pub(super) crash: Option<Vec<i64>>,
    pub(super) delay: Option<RawDelay>,
    pub(super) pause: Option<Vec<i64>>,
    pub(super) resume: Option<Vec<i64>>,
    pub(super) partition: Option<Vec<Vec<i64>>>,
    pub(super) heal: Option<bool>,
    pub(super) block: Option<RawLinks>,
    pub(super) loss: Option<RawLoss>,
    pub(super) suspect: Option<RawSuspect>,
    pub(super) byzantine: Option<RawByzantine>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table { servers = [..], behaviour = .. }"
)]
pub(super) struct RawByzantine {
    pub(super) servers: Vec<i64>,
    pub(super) behaviour: String,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table { server = .., event = .., msg = .., count = .. }"
)]
pub(super) struct RawAfter {
    pub(super) server: i64,
    pub(super) event: String,
    pub(super) msg: Option<String>,
    pub(super) count: Option<i64>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table { from = .., to = .., ms = .. }"
)]
pub(super) struct RawDelay {
    /// A server id or a list of them: checked by the validator.
    pub(super) from: toml::Value,
    pub(super) to: toml::Value,
    pub(super) ms: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table { from = .., to = .. }")]
pub(super) struct RawLinks {
    pub(super) from: toml::Value,
    pub(super) to: toml::Value,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table { from = .., to = .., rate = .. }"
)]
pub(super) struct RawLoss {
    pub(super) from: Option<toml::Value>,
    pub(super) to: Option<toml::Value>,
    pub(super) rate: f64,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table { by = .., server = .., for_ms = .. }"
)]
pub(super) struct RawSuspect {
    pub(super) by: i64,
    pub(super) server: i64,
    pub(super) for_ms: f64,
}

#[cfg(test)]
mod tests {
    use crate::scenario::testkit::*;

    #[test]
    fn unknown_key_in_file() {
        let e = load_err(&edit("think_ms", "think = 1"), &[]);
        assert_err_at(&e, 14, "workload.think");
        assert!(
            e.to_string().contains("unknown key, expected one of"),
            "{e}"
        );
        assert!(e.to_string().contains("`think_ms`"), "{e}");
    }

    #[test]
    fn unknown_key_in_an_inline_table() {
        let e = load_err(
            &append("[[fault]]\nat_ms = 1\ndelay = { from = 1, to = 2, ms = 1, x = 3 }\n"),
            &[],
        );
        assert_err_at(&e, 21, "fault[0].delay.x");
    }

    #[test]
    fn unknown_top_level_table() {
        let e = load_err(&append("[faults]\nat_ms = 1\n"), &[]);
        assert_err_at(&e, 19, "faults");
    }

    #[test]
    fn wrong_type_in_file() {
        let e = load_err(&edit("servers", "servers = \"five\""), &[]);
        assert_eq!(
            e.to_string(),
            "test.toml:4: cluster.servers = \"five\": expected an integer"
        );
        let e = load_err(&edit("delta_ms", "delta_ms = \"10\""), &[]);
        assert_eq!(
            e.to_string(),
            "test.toml:7: cluster.delta_ms = \"10\": expected a number"
        );
        let e = load_err(&edit("servers", "servers = 2.5"), &[]);
        assert_err_at(&e, 4, "cluster.servers");
        let e = load_err(&edit("protocols", "protocols = [\"2pe\", 3]"), &[]);
        assert_err_at(&e, 5, "cluster.protocols[1]");
        let e = load_err(&append("[[fault]]\nat_ms = 1\ncrash = 3\n"), &[]);
        assert_err_at(&e, 21, "fault[0].crash");
        assert!(e.to_string().ends_with("expected an array"), "{e}");
    }

    #[test]
    fn missing_required_keys() {
        let e = load_err(&edit("servers", "# no servers"), &[]);
        assert_eq!(
            e.to_string(),
            "test.toml:3: cluster.servers: missing; this key is required"
        );
        let e = load_err(&edit("name", "# no name"), &[]);
        assert_eq!(
            e.to_string(),
            "test.toml: name: missing; this key is required"
        );
        let e = load_err(&append("[[fault]]\ncrash = [1]\n"), &[]);
        assert_err_at(&e, 19, "fault[0].at_ms");
    }
}
