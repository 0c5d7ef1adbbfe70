//! `[cluster]`: size, protocols, mode, δ, jitter and the failure detector's timing.

use super::{shown, us_as_ms, Ctx, Res, K};
use crate::protocol::ProtocolKind;
use crate::scenario::raw::RawCluster;
use crate::scenario::{
    Baseline, Cluster, Mode, DEFAULT_DELTA_MS, DEFAULT_HEARTBEAT_MS, DEFAULT_JITTER_MS,
    DEFAULT_SUSPECT_AFTER_MS, MAX_DELTA_MS, MAX_MS, MAX_PROCESS_SERVERS, MAX_SERVERS,
    MIN_POSITIVE_MS,
};

impl Ctx<'_> {
    pub(super) fn cluster(&self, raw: &RawCluster) -> Res<Cluster> {
        let c = K::root().k("cluster");

        if !(1..=i64::from(MAX_SERVERS)).contains(&raw.servers) {
            return Err(self.invalid(
                &c.k("servers"),
                raw.servers,
                format!(
                    "expected an integer from 1 to {MAX_SERVERS} (up to {MAX_PROCESS_SERVERS} in \
                     mode \"processes\")"
                ),
            ));
        }
        let servers = raw.servers as u16;

        let names = ProtocolKind::ALL
            .iter()
            .map(|k| format!("{:?}", k.name()))
            .collect::<Vec<_>>()
            .join(", ");
        let baseline_names = Baseline::ALL
            .iter()
            .map(|b| format!("{:?}", b.name()))
            .collect::<Vec<_>>()
            .join(", ");
        if raw.protocols.is_empty() {
            return Err(self.invalid(
                &c.k("protocols"),
                "[]",
                format!("expected a non-empty list of protocols from {names}"),
            ));
        }
        let mut protocols = Vec::new();
        let mut baselines = Vec::new();
        for (i, name) in raw.protocols.iter().enumerate() {
            let key = c.k("protocols").i(i);
            if let Some(b) = Baseline::from_name(name) {
                if baselines.contains(&b) {
                    return Err(self.invalid(
                        &key,
                        format!("{name:?}"),
                        "expected each protocol at most once",
                    ));
                }
                baselines.push(b);
                continue;
            }
            let Some(kind) = ProtocolKind::from_name(name) else {
                return Err(self.invalid(
                    &key,
                    format!("{name:?}"),
                    format!("expected one of {names}, or the baseline {baseline_names}"),
                ));
            };
            if let Some(first) = protocols.iter().position(|&p| p == kind) {
                return Err(self.invalid(
                    &key,
                    format!("{name:?}"),
                    format!("expected each protocol at most once (cluster.protocols[{first}] is already {name:?})"),
                ));
            }
            protocols.push(kind);
        }

        let mode = match raw.mode.as_deref() {
            Some("sim") => Mode::Sim,
            None | Some("processes") => Mode::Processes,
            Some(other) => {
                return Err(self.invalid(
                    &c.k("mode"),
                    format!("{other:?}"),
                    "expected \"sim\" or \"processes\"",
                ))
            }
        };
        if mode == Mode::Processes && servers > MAX_PROCESS_SERVERS {
            return Err(self.invalid(
                &c.k("servers"),
                raw.servers,
                format!(
                    "expected at most {MAX_PROCESS_SERVERS} in mode \"processes\" (one real \
                     process per server, each linked to every other over TCP, all on this \
                     machine's cores); up to {MAX_SERVERS} run in the simulator (--sim or \
                     cluster.mode = \"sim\")"
                ),
            ));
        }

        // δ = 0: no injected delay, messages travel at the machine's own speed.
        let delta = self.ms(
            &c.k("delta_ms"),
            raw.delta_ms,
            DEFAULT_DELTA_MS,
            0.0,
            MAX_DELTA_MS,
        )?;
        let jitter = self.ms(
            &c.k("jitter_ms"),
            raw.jitter_ms,
            DEFAULT_JITTER_MS,
            0.0,
            MAX_MS,
        )?;
        let heartbeat = self.ms(
            &c.k("heartbeat_ms"),
            raw.heartbeat_ms,
            DEFAULT_HEARTBEAT_MS,
            MIN_POSITIVE_MS,
            MAX_MS,
        )?;
        let suspect_key = c.k("suspect_after_ms");
        let suspect_after = self.ms(
            &suspect_key,
            raw.suspect_after_ms,
            DEFAULT_SUSPECT_AFTER_MS,
            MIN_POSITIVE_MS,
            MAX_MS,
        )?;
        // A correct server's heartbeat can arrive as late as heartbeat + δ + jitter after the
        // previous one: a timeout at or below that suspects correct servers all the time.
        let bound = heartbeat + delta + jitter;
        if suspect_after <= bound {
            return Err(self.invalid(
                &suspect_key,
                shown(raw.suspect_after_ms, DEFAULT_SUSPECT_AFTER_MS),
                format!(
                    "expected more than heartbeat_ms + delta_ms + jitter_ms = {} + {} + {} = {} \
                     (a heartbeat can arrive that late, so a shorter timeout suspects correct \
                     servers all the time)",
                    us_as_ms(heartbeat),
                    us_as_ms(delta),
                    us_as_ms(jitter),
                    us_as_ms(bound)
                ),
            ));
        }

        // byzantine_max: at most n; the default (the faults' Byzantine servers) and the
        // protocols' bounds are settled once the faults are read (`Ctx::byzantine`).
        let byzantine_max = match raw.byzantine_max {
            None => 0,
            Some(b) if (0..=i64::from(servers)).contains(&b) => b as u16,
            Some(b) => {
                return Err(self.invalid(
                    &c.k("byzantine_max"),
                    b,
                    format!("expected an integer from 0 to {servers} (the number of servers)"),
                ))
            }
        };

        if let (Some(i), Mode::Sim) = (
            raw.protocols
                .iter()
                .position(|p| Baseline::from_name(p).is_some()),
            mode,
        ) {
            return Err(self.invalid(
                &c.k("protocols").i(i),
                format!("{:?}", raw.protocols[i]),
                "a baseline runs a real store, which has no simulated form: expected \
                 cluster.mode = \"processes\" (or drop the baseline from cluster.protocols)",
            ));
        }
        let remote = self.remote(raw, servers)?;

        Ok(Cluster {
            servers,
            protocols,
            baselines,
            mode,
            delta,
            jitter,
            heartbeat,
            suspect_after,
            byzantine_max,
            allow_unsafe: raw.allow_unsafe.unwrap_or(false),
            remote,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::testkit::*;

    #[test]
    fn rule_servers_from_1_to_1000_and_128_processes() {
        let e = load_err(&edit("servers", "servers = 0"), &[]);
        assert_eq!(
            e.to_string(),
            "test.toml:4: cluster.servers = 0: expected an integer from 1 to 1000 (up to 128 in \
             mode \"processes\")"
        );
        for bad in ["1001", "99999999999"] {
            assert_err_at(
                &load_err(&edit("servers", &format!("servers = {bad}")), &[]),
                4,
                "cluster.servers",
            );
        }
        assert_eq!(
            load_ok(&edit("servers", "servers = 1000")).cluster.servers,
            1000
        );
        // Real processes stop at 128, and the error says which mode and why.
        let processes =
            edit("servers", "servers = 129").replace("mode = \"sim\"", "mode = \"processes\"");
        let e = load_err(&processes, &[]);
        assert_err_at(&e, 4, "cluster.servers");
        let text = e.to_string();
        assert!(
            text.contains("at most 128 in mode \"processes\"") && text.contains("--sim"),
            "{text}"
        );
        let at_bound = processes.replace("servers = 129", "servers = 128");
        assert_eq!(load_ok(&at_bound).cluster.servers, 128);
    }

    #[test]
    fn rule_protocols_non_empty() {
        assert_err_at(
            &load_err(&edit("protocols", "protocols = []"), &[]),
            5,
            "cluster.protocols",
        );
    }

    #[test]
    fn rule_etcd_is_a_baseline_row_of_real_processes_once() {
        // BASE is a simulator scenario: a baseline is refused there, at its name.
        let etcd = edit("protocols", "protocols = [\"2pe\", \"etcd\"]");
        let e = load_err(&etcd, &[]);
        assert_err_at(&e, 5, "cluster.protocols[1]");
        assert!(e.to_string().contains("has no simulated form"), "{e}");
        let real = etcd.replace("mode = \"sim\"", "mode = \"processes\"");
        let s = load_ok(&real);
        assert_eq!(s.cluster.protocols, vec![ProtocolKind::TwoPe]);
        assert_eq!(s.cluster.baselines, vec![Baseline::Etcd]);
        // The way back keeps it (summary.json's scenario_toml re-runs it).
        assert!(crate::scenario::to_toml(&s, "t").contains("protocols = [\"2pe\", \"etcd\"]"));
        let twice = real.replace("[\"2pe\", \"etcd\"]", "[\"etcd\", \"etcd\"]");
        assert_err_at(&load_err(&twice, &[]), 5, "cluster.protocols[1]");
        // Timed crashes only (kill -9 of a member).
        let crash = format!("{real}[[fault]]\nat_ms = 1.0\ncrash = [2]\n");
        assert_eq!(load_ok(&crash).faults.len(), 1);
        let pause = format!("{crash}[[fault]]\nat_ms = 1.0\npause = [3]\n");
        let e = load_err(&pause, &[]);
        assert!(e.to_string().contains("fault[1]: the etcd baseline"), "{e}");
        let after = format!(
            "{real}[[fault]]\ncrash = [2]\nafter = {{ server = 2, event = \"decide\", count = 1 }}\n"
        );
        let e = load_err(&after, &[]);
        assert!(e.to_string().contains("timed crash faults only"), "{e}");
    }

    #[test]
    fn rule_protocols_known_names() {
        let e = load_err(&edit("protocols", "protocols = [\"2pe\", \"paxos\"]"), &[]);
        let want = format!(
            "test.toml:5: cluster.protocols[1] = \"paxos\": expected one of {}, or the baseline \"etcd\"",
            ProtocolKind::ALL
                .iter()
                .map(|p| format!("{:?}", p.name()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert_eq!(e.to_string(), want);
        assert!(want.contains("\"se-gb\""));
    }

    #[test]
    fn rule_protocols_no_duplicates() {
        let e = load_err(
            &edit("protocols", "protocols = [\"2pe\", \"se-ct\", \"2pe\"]"),
            &[],
        );
        assert_err_at(&e, 5, "cluster.protocols[2]");
        assert!(e.to_string().contains("at most once"), "{e}");
    }

    #[test]
    fn rule_mode() {
        let e = load_err(&edit("mode", "mode = \"threads\""), &[]);
        assert_eq!(
            e.to_string(),
            "test.toml:6: cluster.mode = \"threads\": expected \"sim\" or \"processes\""
        );
    }

    #[test]
    fn rule_delta_range() {
        for bad in ["-0.001", "-1", "60000.5", "nan", "inf"] {
            let e = load_err(&edit("delta_ms", &format!("delta_ms = {bad}")), &[]);
            assert_err_at(&e, 7, "cluster.delta_ms");
            assert!(e.to_string().contains("from 0 to 60000"), "{e}");
        }
        // δ = 0: no injected delay.
        assert_eq!(load_ok(&edit("delta_ms", "delta_ms = 0")).cluster.delta, 0);
        assert_eq!(
            load_ok(&edit("delta_ms", "delta_ms = 0.001")).cluster.delta,
            1
        );
        // δ = 60 s needs a larger failure-detector timeout to stay valid.
        let text = edit("delta_ms", "delta_ms = 60000")
            .replace("suspect_after_ms = 100.0", "suspect_after_ms = 70000");
        assert_eq!(load_ok(&text).cluster.delta, 60_000_000);
    }

    #[test]
    fn rule_jitter_non_negative() {
        assert_err_at(
            &load_err(&edit("jitter_ms", "jitter_ms = -0.5"), &[]),
            8,
            "cluster.jitter_ms",
        );
    }

    #[test]
    fn rule_heartbeat_positive() {
        assert_err_at(
            &load_err(&edit("heartbeat_ms", "heartbeat_ms = 0"), &[]),
            9,
            "cluster.heartbeat_ms",
        );
    }

    #[test]
    fn rule_suspect_after_exceeds_heartbeat_delta_jitter() {
        let e = load_err(&edit("suspect_after_ms", "suspect_after_ms = 30"), &[]);
        assert_err_at(&e, 10, "cluster.suspect_after_ms");
        let msg = e.to_string();
        assert!(
            msg.contains("heartbeat_ms + delta_ms + jitter_ms = 20 + 10 + 0 = 30"),
            "{msg}"
        );
        assert!(
            msg.contains("suspects correct servers all the time"),
            "{msg}"
        );
        assert_eq!(
            load_ok(&edit("suspect_after_ms", "suspect_after_ms = 30.001"))
                .cluster
                .suspect_after,
            30_001
        );
        // With the default timeout, the key is not in the file: point at [cluster], say "default".
        let e = load_err(
            &edit("suspect_after_ms", "# default")
                .replace("heartbeat_ms = 20.0", "heartbeat_ms = 95"),
            &[],
        );
        assert_err_at(&e, 3, "cluster.suspect_after_ms");
        assert!(e.to_string().contains("= 100 (default)"), "{e}");
    }
}
