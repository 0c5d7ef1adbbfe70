//! Advice for large clusters of real processes: the failure detector's timing at large n.

use crate::scenario::Scenario;

/// Heartbeats per second (n·(n − 1) / heartbeat) above which real processes on a small machine
/// spend their time on the failure detector.
pub(super) const MAX_HEARTBEATS_PER_S: u64 = 20_000;

/// At large n the default failure-detector timing (20 ms / 100 ms) floods the machine with
/// heartbeats and, once they queue, suspects correct servers: SE/CT's consensus then changes
/// rounds and its message count leaves Table 1's row (n = 101: 2,820 messages per ticket instead
/// of 400). The timing that keeps the heartbeats under [`MAX_HEARTBEATS_PER_S`] and the timeout
/// 20 heartbeats long, as `scenarios/scale.toml` has it.
pub(super) fn heartbeat_advice(scenario: &Scenario) -> Option<String> {
    let c = &scenario.cluster;
    let n = u64::from(c.servers);
    let per_sec = n * (n - 1) * 1_000_000 / c.heartbeat.max(1);
    if per_sec <= MAX_HEARTBEATS_PER_S {
        return None;
    }
    // The smallest heartbeat (whole 100 ms) under the bound, and a timeout 20 of them long.
    let min_us = (n * (n - 1) * 1_000_000).div_ceil(MAX_HEARTBEATS_PER_S);
    let heartbeat_ms = min_us.div_ceil(100_000) * 100;
    let suspect_ms = heartbeat_ms * 20;
    Some(format!(
        "at n = {n} a heartbeat every {} ms is {per_sec} heartbeats/s: the servers fall behind \
         and suspect correct servers, and consensus-based protocols then send more than Table \
         1's messages; give the failure detector generous timing, e.g. --set \
         cluster.heartbeat_ms={heartbeat_ms} --set cluster.suspect_after_ms={suspect_ms} (as in \
         scenarios/scale.toml)",
        c.heartbeat as f64 / 1000.0
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;

    fn cluster(n: u16, heartbeat_ms: f64) -> Scenario {
        let text = format!(
            "name = \"t\"\n[cluster]\nservers = {n}\nprotocols = [\"2pe\"]\nmode = \"processes\"\n\
             heartbeat_ms = {heartbeat_ms}\nsuspect_after_ms = {}\n[workload]\ntickets = 1\n",
            heartbeat_ms * 20.0
        );
        scenario::load("t.toml", &text, &[]).expect("valid scenario")
    }

    #[test]
    fn large_clusters_with_fast_heartbeats_are_told_a_timing_that_fits() {
        let advice = heartbeat_advice(&cluster(101, 20.0)).expect("505,000 heartbeats/s");
        assert!(advice.contains("505000 heartbeats/s"), "{advice}");
        // 101·100 heartbeats per 600 ms stay under the bound; the timeout is 20 of them.
        assert!(
            advice.contains("cluster.heartbeat_ms=600 --set cluster.suspect_after_ms=12000"),
            "{advice}"
        );
        let (n, hb) = (101u64, 600u64);
        assert!(n * (n - 1) * 1000 / hb <= MAX_HEARTBEATS_PER_S);
        // What the advice says is itself quiet, and so are scale.toml's timing and Table 1's.
        assert_eq!(heartbeat_advice(&cluster(101, 600.0)), None);
        assert_eq!(heartbeat_advice(&cluster(101, 1000.0)), None);
        assert_eq!(heartbeat_advice(&cluster(5, 20.0)), None);
    }
}
