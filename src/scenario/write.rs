//! The way back: a [`Scenario`] as a TOML file in the v1 format, which [`load`](super::load)
//! reads back to the same scenario (explore writes its reproducing scenario files with it).
//!
//! A `loss` fault's `from`/`to` that name every server are left out, as the user wrote them:
//! written in full they would name a server on both sides, which `load` refuses.

use super::{CrashPick, EventKind, FaultAction, Scenario, SubmitTo};
use crate::protocol::ServerId;
use std::fmt::Write as _;

/// µs as milliseconds, always with a fraction (`10.0`, `0.25`).
fn ms(us: u64) -> String {
    let v = us as f64 / 1000.0;
    if v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Server ids as a TOML array: `[1, 3]`.
fn ids(v: &[ServerId]) -> String {
    format!(
        "[{}]",
        v.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The scenario as a TOML file in the v1 format (`scenario::load` reads it back unchanged).
pub fn to_toml(s: &Scenario, header: &str) -> String {
    let mut t = String::new();
    for line in header.lines() {
        let _ = writeln!(t, "# {line}");
    }
    let _ = writeln!(t, "name = {:?}", s.name);
    if let Some(seed) = s.seed {
        let _ = writeln!(t, "seed = {seed}");
    }
    let c = &s.cluster;
    let _ = writeln!(t, "\n[cluster]\nservers = {}", c.servers);
    let protos: Vec<String> = c
        .protocols
        .iter()
        .map(|p| format!("{:?}", p.name()))
        .chain(c.baselines.iter().map(|b| format!("{:?}", b.name())))
        .collect();
    let _ = writeln!(t, "protocols = [{}]", protos.join(", "));
    let _ = writeln!(t, "mode = {:?}", c.mode.name());
    let _ = writeln!(
        t,
        "delta_ms = {}\njitter_ms = {}\nheartbeat_ms = {}\nsuspect_after_ms = {}",
        ms(c.delta),
        ms(c.jitter),
        ms(c.heartbeat),
        ms(c.suspect_after)
    );
    if c.byzantine_max > 0 || c.allow_unsafe {
        let _ = writeln!(
            t,
            "byzantine_max = {}\nallow_unsafe = {}",
            c.byzantine_max, c.allow_unsafe
        );
    }
    write_remote(&mut t, &c.remote);
    let w = &s.workload;
    let submit_to = match &w.submit_to {
        SubmitTo::Random => "\"random\"".to_string(),
        SubmitTo::RoundRobin => "\"round-robin\"".to_string(),
        SubmitTo::Servers(v) => ids(v),
    };
    // The open loop's rate and arrivals, or the closed loop's concurrency (never both).
    let lp = match &w.open {
        Some(o) => format!("rate = {:?}\narrivals = {:?}", o.rate, o.arrivals.name()),
        None => format!("concurrency = {}", w.concurrency),
    };
    let _ = writeln!(
        t,
        "\n[workload]\ntickets = {}\n{lp}\nthink_ms = {}\nsubmit_to = {submit_to}\nduplicates = {:?}\nduplicate_gap_ms = {}\ndeadline_ms = {}",
        w.tickets, ms(w.think), w.duplicates, ms(w.duplicate_gap), ms(w.deadline)
    );
    if w.forged > 0.0 || w.tampered > 0.0 {
        let _ = writeln!(t, "forged = {:?}\ntampered = {:?}", w.forged, w.tampered);
    }
    for tk in &s.tickets {
        let subs: Vec<String> = tk
            .submit
            .iter()
            .map(|x| format!("{{ server = {}, at_ms = {} }}", x.server, ms(x.at)))
            .collect();
        let _ = writeln!(
            t,
            "\n[[ticket]]\nid = {:?}\nsubmit = [{}]",
            tk.id,
            subs.join(", ")
        );
    }
    for f in &s.faults {
        let _ = writeln!(t, "\n[[fault]]");
        match &f.after {
            None => {
                let _ = writeln!(t, "at_ms = {}", ms(f.at));
            }
            Some(a) => {
                let (event, msg) = match &a.event {
                    EventKind::Accept => ("accept", None),
                    EventKind::Reject => ("reject", None),
                    EventKind::Decide => ("decide", None),
                    EventKind::Send(m) => ("send", Some(m)),
                };
                let msg = msg.map(|m| format!(", msg = {m:?}")).unwrap_or_default();
                let _ = writeln!(
                    t,
                    "after = {{ server = {}, event = {event:?}{msg}, count = {} }}",
                    a.server, a.count
                );
            }
        }
        let _ = match &f.action {
            FaultAction::Crash(v) => writeln!(t, "crash = {}", ids(v)),
            FaultAction::Pause(v) => writeln!(t, "pause = {}", ids(v)),
            FaultAction::Resume(v) => writeln!(t, "resume = {}", ids(v)),
            FaultAction::Heal => writeln!(t, "heal = true"),
            FaultAction::Partition(groups) => {
                let g: Vec<String> = groups.iter().map(|g| ids(g)).collect();
                writeln!(t, "partition = [{}]", g.join(", "))
            }
            FaultAction::Block { from, to } => {
                writeln!(t, "block = {{ from = {}, to = {} }}", ids(from), ids(to))
            }
            FaultAction::Delay { from, to, delay } => {
                writeln!(
                    t,
                    "delay = {{ from = {}, to = {}, ms = {} }}",
                    ids(from),
                    ids(to),
                    ms(*delay)
                )
            }
            FaultAction::Loss { from, to, rate } => {
                let all = |v: &[ServerId]| v.len() == usize::from(s.cluster.servers);
                let mut keys = String::new();
                if !all(from) {
                    let _ = write!(keys, "from = {}, ", ids(from));
                }
                if !all(to) {
                    let _ = write!(keys, "to = {}, ", ids(to));
                }
                writeln!(t, "loss = {{ {keys}rate = {rate:?} }}")
            }
            FaultAction::Suspect {
                by,
                server,
                duration,
            } => {
                writeln!(
                    t,
                    "suspect = {{ by = {by}, server = {server}, for_ms = {} }}",
                    ms(*duration)
                )
            }
            FaultAction::Byzantine { servers, behaviour } => writeln!(
                t,
                "byzantine = {{ servers = {}, behaviour = {:?} }}",
                ids(servers),
                behaviour.name()
            ),
        };
    }
    if let Some(r) = &s.resilience {
        let crash = match r.crash {
            CrashPick::First => "first",
            CrashPick::Last => "last",
        };
        let _ = writeln!(t, "\n[resilience]\nmax_f = {}\ncrash = {crash:?}", r.max_f);
    }
    if let Some(b) = &s.byzantine {
        let names: Vec<String> = b
            .behaviours
            .iter()
            .map(|x| format!("{:?}", x.name()))
            .collect();
        let _ = writeln!(
            t,
            "\n[byzantine]\nservers = {}\nbehaviours = [{}]\nat_ms = {}",
            ids(&b.servers),
            names.join(", "),
            ms(b.at)
        );
    }
    t
}

/// `[cluster]`'s remote keys, when set (`scenario::remote`).
fn write_remote(t: &mut String, r: &super::remote::Remote) {
    let list = |v: Vec<String>| {
        v.iter()
            .map(|x| format!("{x:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(l) = &r.launch {
        let _ = writeln!(t, "launch = {:?}", l.text());
    }
    if !r.hosts.is_empty() {
        let _ = writeln!(t, "hosts = [{}]", list(r.hosts.clone()));
    }
    if !r.listen.is_empty() {
        let _ = writeln!(
            t,
            "listen = [{}]",
            list(r.listen.iter().map(|a| a.to_string()).collect())
        );
    }
    if let Some(a) = r.control_addr {
        let _ = writeln!(t, "control_addr = \"{a}\"");
    }
    if !r.attach.is_empty() {
        let _ = writeln!(
            t,
            "attach = [{}]",
            list(r.attach.iter().map(|a| a.to_string()).collect())
        );
    }
    if let Some(f) = &r.secret_file {
        let _ = writeln!(t, "secret_file = {:?}", f.display().to_string());
    }
    if let Some(us) = r.setup_timeout {
        let _ = writeln!(t, "setup_timeout_ms = {}", ms(us));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::testkit::*;
    use crate::scenario::{load, BUILTIN_TABLE1};

    /// `to_toml`, then `load` gives the same scenario back; returns the text.
    fn round_trip(s: &Scenario) -> String {
        let text = to_toml(s, "round trip");
        let back = load("back.toml", &text, &[]).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(&back, s, "{text}");
        text
    }

    #[test]
    fn remote_keys_round_trip() {
        let launched = load_ok(&edit(
            "mode",
            "launch = \"ssh {host} {command}\"\nhosts = [\"10.0.0.2\", \"u@b\"]\n\
             listen = [\"0.0.0.0:7000\"]\ncontrol_addr = \"10.0.0.1\"\nsetup_timeout_ms = 5000",
        ));
        let text = round_trip(&launched);
        assert!(text.contains("launch = \"ssh {host} {command}\""), "{text}");
        let attached = load_ok(&edit(
            "mode",
            "attach = [\"10.0.0.2:7000\", \"10.0.0.3:7000\", \"10.0.0.4:7000\", \
             \"10.0.0.5:7000\", \"10.0.0.6:7000\"]\nsecret_file = \"run.key\"",
        ));
        round_trip(&attached);
    }

    #[test]
    fn loss_on_every_link_round_trips() {
        for loss in [
            "loss = { rate = 0.25 }",
            "loss = { from = 2, rate = 0.25 }",
            "loss = { to = [1, 3], rate = 0.25 }",
        ] {
            let s = load_ok(&append(&format!("[[fault]]\nat_ms = 1\n{loss}\n")));
            let text = round_trip(&s);
            assert!(text.contains("loss = {"), "{text}");
        }
    }

    #[test]
    fn every_bundled_scenario_round_trips() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
        let mut files = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                let file = path.display().to_string();
                let s = load(&file, &text, &[]).unwrap_or_else(|e| panic!("{e}"));
                round_trip(&s);
                files += 1;
            }
        }
        assert!(files >= 7, "only {files} scenarios in {dir}");
        round_trip(&load("table1.toml", BUILTIN_TABLE1, &[]).unwrap());
    }

    #[test]
    fn scripted_tickets_and_the_fault_vocabulary_round_trip() {
        let s = load_ok(&append(
            "[[ticket]]\nid = \"tau\"\nsubmit = [{ server = 1, at_ms = 0 }, { server = 5, at_ms = 0.125 }]\n\
             [[fault]]\nafter = { server = 1, event = \"accept\" }\ncrash = [1]\n\
             [[fault]]\nafter = { server = 2, event = \"send\", msg = \"C-PROPOSE\", count = 3 }\ncrash = [2]\n\
             [[fault]]\nafter = { server = 4, event = \"reject\", count = 2 }\ncrash = [4]\n\
             [[fault]]\nat_ms = 10\npause = [3]\n[[fault]]\nat_ms = 20\nresume = [3]\n\
             [[fault]]\nat_ms = 30\npartition = [[1, 2], [3, 4, 5]]\n[[fault]]\nat_ms = 40\nheal = true\n\
             [[fault]]\nat_ms = 50\nblock = { from = 1, to = 3 }\n[[fault]]\nat_ms = 60\nheal = true\n\
             [[fault]]\nat_ms = 0\nloss = { from = 5, to = [1, 2], rate = 0.5 }\n\
             [[fault]]\nat_ms = 1.5\ndelay = { from = [1, 2], to = 3, ms = 0.001 }\n\
             [[fault]]\nat_ms = 5\nsuspect = { by = 5, server = 3, for_ms = 50 }\n",
        ));
        assert_eq!(s.tickets.len(), 1);
        assert_eq!(s.faults.len(), 12);
        round_trip(&s);
    }

    #[test]
    fn resilience_server_lists_and_no_seed_round_trip() {
        let s = with_set(
            &edit("seed", "# no seed"),
            &[
                "workload.submit_to=[2, 4]",
                "workload.duplicates=0.25",
                "workload.think_ms=1.5",
                "cluster.mode=processes",
                "cluster.jitter_ms=3",
                "resilience.max_f=2",
                "resilience.crash=last",
            ],
        )
        .unwrap();
        assert_eq!(s.seed, None);
        let text = round_trip(&s);
        assert!(
            text.contains("\n[resilience]\nmax_f = 2\ncrash = \"last\"\n"),
            "{text}"
        );
    }

    #[test]
    fn the_open_loop_and_delta_zero_round_trip() {
        for extra in ["", "\narrivals = \"uniform\"", "\narrivals = \"poisson\""] {
            let s = load_ok(
                &edit("concurrency", &format!("rate = 2500.5{extra}"))
                    .replace("delta_ms = 10.0", "delta_ms = 0"),
            );
            let text = round_trip(&s);
            assert!(!text.contains("concurrency"), "{text}");
            assert!(text.contains("rate = 2500.5\narrivals = "), "{text}");
            assert!(text.contains("delta_ms = 0.0\n"), "{text}");
        }
        // The built-in Table 1 takes an open loop from --set.
        let s = load(
            "table1.toml",
            BUILTIN_TABLE1,
            &["workload.rate=2000".into()],
        )
        .unwrap();
        round_trip(&s);
    }

    /// The exact text: replay files written by older builds stay comparable.
    #[test]
    fn the_written_text_is_stable() {
        let s = load_ok(
            "name = \"g\"\nseed = 3\n[cluster]\nservers = 3\nprotocols = [\"2pe\", \"se-gb\"]\n\
             mode = \"sim\"\ndelta_ms = 2.5\n[workload]\ntickets = 2\nsubmit_to = \"round-robin\"\n\
             [[ticket]]\nid = \"x\"\nsubmit = [{ server = 1, at_ms = 0 }, { server = 3, at_ms = 0.25 }]\n\
             [[fault]]\nafter = { server = 2, event = \"send\", msg = \"NEWTKT\" }\ncrash = [2]\n\
             [[fault]]\nat_ms = 2\npartition = [[1], [2, 3]]\n[[fault]]\nat_ms = 3\nheal = true\n",
        );
        let want = r#"# found
# by a test
name = "g"
seed = 3

[cluster]
servers = 3
protocols = ["2pe", "se-gb"]
mode = "sim"
delta_ms = 2.5
jitter_ms = 0.0
heartbeat_ms = 20.0
suspect_after_ms = 100.0

[workload]
tickets = 2
concurrency = 1
think_ms = 0.0
submit_to = "round-robin"
duplicates = 0.0
duplicate_gap_ms = 0.0
deadline_ms = 5000.0

[[ticket]]
id = "x"
submit = [{ server = 1, at_ms = 0.0 }, { server = 3, at_ms = 0.25 }]

[[fault]]
after = { server = 2, event = "send", msg = "NEWTKT", count = 1 }
crash = [2]

[[fault]]
at_ms = 2.0
partition = [[1], [2, 3]]

[[fault]]
at_ms = 3.0
heal = true
"#;
        assert_eq!(to_toml(&s, "found\nby a test"), want);
        round_trip(&s);
    }
}
