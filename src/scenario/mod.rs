//! Scenario files: TOML → raw serde structs (`deny_unknown_fields`) → a validated [`Scenario`].
//!
//! The scenario keys are a user contract (see README "Scenario format"): keep names stable.
//!
//! [`load`] is a pipeline in four steps, each with its own kind of [`ScenarioError`]:
//! 1. parse the text with `toml_edit` (keeps byte spans, so errors can name a line);
//! 2. apply `--set key=value` overrides to the document, remembering which keys they touched;
//! 3. deserialize into the raw structs (unknown keys, missing keys and wrong types stop here);
//! 4. validate every rule, including cross-field ones, into a [`Scenario`].
//!
//! Every error names the file, the line when known (or "(from --set)" when the key came from an
//! override: the file's line would be a lie), the dotted key (`fault[2].crash`,
//! `ticket[0].submit[1].server`), the bad value and what is allowed. Lines come from looking the
//! key's path up in the document as the user wrote it, not from the text after overrides, whose
//! lines may have moved.
//!
//! One job per file: this one holds the validated model and [`load`]; `error.rs` the errors and
//! their locations; `overrides.rs` key paths on the `toml_edit` document and `--set`; `raw.rs`
//! the raw serde structs; `validate/` the rules (`cluster.rs`, `workload.rs` with `[[ticket]]`,
//! `faults.rs`); `write.rs` the way back, [`to_toml`] (explore's replay files); `sweep.rs` the
//! `[sweep]` table ([`sweep_table`]), which `load` leaves to the sweep driver.

mod error;
mod overrides;
mod raw;
pub mod remote;
mod sweep;
#[cfg(test)]
mod testkit;
mod validate;
mod write;

pub use error::{Location, ScenarioError};
pub use sweep::{sweep_table, SweepAxis};
pub use write::to_toml;

use crate::protocol::{ProtocolKind, ServerId, Time};
use error::{one_line, syntax_error};
use overrides::apply_override;
use raw::RawScenario;
use serde::{Deserialize, Serialize};
use std::fmt;
use toml_edit::{DocumentMut, ImDocument};
use validate::Ctx;

/// The built-in Table 1 scenario (the same text as scenarios/table1.toml).
pub const BUILTIN_TABLE1: &str = include_str!("../../scenarios/table1.toml");

/// The largest cluster a scenario may ask for (in the simulator; see [`MAX_PROCESS_SERVERS`]).
pub const MAX_SERVERS: u16 = 1000;
/// The largest cluster of real server processes: each server holds a TCP link to and from every
/// other (n·(n − 1) connections, about 2n descriptors per process) and all of them share the
/// machine's cores; 101 run Table 1 exactly on 2 cores (`scenarios/scale.toml`).
pub const MAX_PROCESS_SERVERS: u16 = 128;
/// The largest δ, in ms: beyond a minute a "delay" is a partition, and runs would take forever.
pub const MAX_DELTA_MS: f64 = 60_000.0;
/// The smallest positive duration, in ms: the clock ticks in µs.
pub const MIN_POSITIVE_MS: f64 = 0.001;
/// The largest duration of any kind, in ms (about 31 years): keeps every sum of times far from
/// `Time::MAX`, so the runtimes can add times without overflow checks.
pub const MAX_MS: f64 = 1e12;

/// Defaults of the optional `[cluster]` keys, in ms.
pub const DEFAULT_DELTA_MS: f64 = 10.0;
pub const DEFAULT_JITTER_MS: f64 = 0.0;
pub const DEFAULT_HEARTBEAT_MS: f64 = 20.0;
pub const DEFAULT_SUSPECT_AFTER_MS: f64 = 100.0;
/// Default of `workload.deadline_ms`.
pub const DEFAULT_DEADLINE_MS: f64 = 5000.0;

/// The id of the `k`-th generated ticket (1-based): "t1".."tN". Scripted ids must not collide.
pub fn generated_ticket_id(k: u64) -> String {
    format!("t{k}")
}

/// How a run executes (`cluster.mode`; `"processes"` when omitted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The deterministic discrete-event simulator.
    Sim,
    /// Real local server processes over TCP on loopback (the default).
    #[default]
    Processes,
}

impl Mode {
    /// The mode as `cluster.mode` spells it: "sim" or "processes".
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Sim => "sim",
            Mode::Processes => "processes",
        }
    }
}

impl fmt::Display for Mode {
    /// [`Mode::name`] (padded, so `{:<10}` works).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Where generated tickets are submitted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum SubmitTo {
    /// A uniformly random server per ticket (seeded).
    Random,
    /// s_1, s_2, …, s_n, s_1, … in turn.
    RoundRobin,
    /// A uniformly random server from this list per ticket (1-based ids).
    Servers(Vec<ServerId>),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cluster {
    /// n, the number of servers.
    pub servers: u16,
    /// Each runs in turn on a fresh cluster with the same workload.
    pub protocols: Vec<ProtocolKind>,
    /// Baseline rows (`"etcd"` in `cluster.protocols`): real systems run on the same workload
    /// after the protocols, for comparison (real processes only; timed crash faults only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub baselines: Vec<Baseline>,
    pub mode: Mode,
    /// Server-to-server message delay δ, in µs (exact).
    pub delta: Time,
    /// Extra uniform delay in [0, jitter] µs per message.
    pub jitter: Time,
    pub heartbeat: Time,
    pub suspect_after: Time,
    /// b, the Byzantine servers the run declares (default: those its faults make Byzantine);
    /// checked against each protocol's bound (`ProtocolKind::byzantine_bound`).
    pub byzantine_max: u16,
    /// Run protocols beyond their Byzantine bound anyway (to show the violation).
    pub allow_unsafe: bool,
    /// Where the servers live (processes mode): launched through a template, attached, or local
    /// (the default).
    #[serde(skip_serializing_if = "remote::Remote::is_default")]
    pub remote: remote::Remote,
}

/// How an open loop's arrivals are spaced (`workload.arrivals`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Exponential gaps of mean 1/rate, drawn from the run seed (the default).
    Poisson,
    /// Every 1/rate seconds exactly.
    Uniform,
}

impl Arrivals {
    /// The name `workload.arrivals` takes.
    pub fn name(self) -> &'static str {
        match self {
            Arrivals::Poisson => "poisson",
            Arrivals::Uniform => "uniform",
        }
    }
}

/// The open loop (`workload.rate`): generated tickets arrive at a rate whatever the cluster
/// answers, instead of `concurrency` in flight.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct OpenLoop {
    /// Arrivals per second (finite, > 0).
    pub rate: f64,
    pub arrivals: Arrivals,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Workload {
    /// Distinct generated tickets.
    pub tickets: u64,
    /// Generated tickets in flight at once (closed loop; 1 and unused with `open`).
    pub concurrency: u32,
    /// The open loop, when `workload.rate` is set; `None`: the closed loop.
    pub open: Option<OpenLoop>,
    /// Pause between a decision and the next submission, µs.
    pub think: Time,
    pub submit_to: SubmitTo,
    /// Fraction of generated tickets a malicious user also submits to another server.
    pub duplicates: f64,
    /// Delay between the original and the duplicate submission, µs.
    pub duplicate_gap: Time,
    /// A ticket undecided this long after its last submission is "undecided", µs.
    pub deadline: Time,
    /// Fraction of generated tickets signed by a wrong key (a forger's): servers reject them.
    pub forged: f64,
    /// Fraction of the other generated tickets with a field changed after signing: servers
    /// reject them.
    pub tampered: f64,
    /// Stop issuing generated tickets once one is undecided at its deadline (not a scenario key:
    /// resilience sweeps set it, so a blocked point costs one deadline, not one per ticket).
    #[serde(skip)]
    pub stop_at_first_timeout: bool,
}

impl Default for Workload {
    /// The defaults of an omitted `[workload]`: no generated tickets, one at a time, random servers.
    fn default() -> Self {
        Workload {
            tickets: 0,
            concurrency: 1,
            open: None,
            think: 0,
            submit_to: SubmitTo::Random,
            duplicates: 0.0,
            duplicate_gap: 0,
            deadline: ms_to_us(DEFAULT_DEADLINE_MS),
            forged: 0.0,
            tampered: 0.0,
            stop_at_first_timeout: false,
        }
    }
}

/// One scripted submission of a scripted ticket.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Submission {
    pub server: ServerId,
    pub at: Time,
}

/// A `[[ticket]]` entry: a ticket with explicit submissions (Figures 5 and 6 style).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScriptedTicket {
    pub id: String,
    pub submit: Vec<Submission>,
}

/// What a `[[fault]]` entry does.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum FaultAction {
    /// Crash-stop these servers (in processes mode: kill -9).
    Crash(Vec<ServerId>),
    /// From then on, messages on these links take `delay` µs (instead of δ + jitter).
    Delay {
        from: Vec<ServerId>,
        to: Vec<ServerId>,
        delay: Time,
    },
    /// Stop these servers (SIGSTOP): they handle nothing until resumed; what reaches them waits.
    Pause(Vec<ServerId>),
    /// Resume paused servers (SIGCONT).
    Resume(Vec<ServerId>),
    /// Split the cluster into groups that cannot reach each other until `heal`. Links stay
    /// reliable: messages across the cut wait and are delivered, in order, after the heal.
    Partition(Vec<Vec<ServerId>>),
    /// End every partition and block.
    Heal,
    /// A one-way cut: messages from `from` to `to` wait until `heal`.
    Block {
        from: Vec<ServerId>,
        to: Vec<ServerId>,
    },
    /// Each transmission on these links is lost with probability `rate`; the transport
    /// retransmits after a timeout, so links stay reliable and latency grows.
    Loss {
        from: Vec<ServerId>,
        to: Vec<ServerId>,
        rate: f64,
    },
    /// Force server `by`'s failure detector to suspect `server` for `duration` µs.
    Suspect {
        by: ServerId,
        server: ServerId,
        duration: Time,
    },
    /// From then on these servers are Byzantine: a runtime-side adversary wrapped around the
    /// protocol (`lab::byzantine`) rewrites what they send and decide.
    Byzantine {
        servers: Vec<ServerId>,
        behaviour: Behaviour,
    },
}

/// What a Byzantine server does (`byzantine` faults; the adversary is `lab::byzantine`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    Silent,
    Lie,
    Equivocate,
    AcceptAll,
    Random,
}

impl Behaviour {
    pub const ALL: &'static [Behaviour] = &[
        Behaviour::Silent,
        Behaviour::Lie,
        Behaviour::Equivocate,
        Behaviour::AcceptAll,
        Behaviour::Random,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Silent => "silent",
            Behaviour::Lie => "lie",
            Behaviour::Equivocate => "equivocate",
            Behaviour::AcceptAll => "accept-all",
            Behaviour::Random => "random",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|b| b.name() == s)
    }
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A protocol event at one server that can trigger a fault (`after = {..}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Accept,
    Reject,
    Decide,
    /// A server→server message of this type (e.g. "NEWTKT", "C-PROPOSE").
    Send(String),
}

/// "Right after the `count`-th `event` at `server`".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct After {
    pub server: ServerId,
    pub event: EventKind,
    pub count: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fault {
    /// When the fault fires (µs since the start); 0 and unused when `after` is set.
    pub at: Time,
    /// Fire on a protocol event instead of at a time (crash only).
    pub after: Option<After>,
    pub action: FaultAction,
}

/// Which servers a resilience sweep crashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CrashPick {
    /// s_1..s_f: includes s_1, the round-1 consensus coordinator (the harder case).
    First,
    /// s_{n−f+1}..s_n.
    Last,
}

/// `[resilience]`: measure the resilience column by crashing f = 0..=max_f servers at the start.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Resilience {
    pub max_f: u16,
    pub crash: CrashPick,
}

/// `[byzantine]`: run every protocol once per behaviour, with these servers Byzantine from
/// `at` on — one row per (protocol, behaviour).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ByzantineSweep {
    pub servers: Vec<ServerId>,
    pub behaviours: Vec<Behaviour>,
    pub at: Time,
}

/// A row that is not one of the lab's protocols: a real replicated store validating the same
/// users' tickets, named in `cluster.protocols` beside the protocols (docs/BASELINE.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Baseline {
    /// A real etcd cluster of n members; one compare-and-create transaction per submission.
    #[serde(rename = "etcd")]
    Etcd,
}

impl Baseline {
    pub const ALL: &'static [Baseline] = &[Baseline::Etcd];

    pub fn name(self) -> &'static str {
        match self {
            Baseline::Etcd => "etcd",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|b| b.name() == s)
    }
}

impl fmt::Display for Baseline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Cluster {
    /// `NodeConfig::byzantine` for `protocol`: the declared b; for a protocol that sizes its
    /// quorums by b, at most its bound (beyond it, with `allow_unsafe`, more servers lie than its
    /// quorums mask). A crash-tolerant protocol (bound 0) gets the declared b.
    pub fn byzantine_for(&self, protocol: ProtocolKind) -> u16 {
        if protocol.masks_byzantine() {
            self.byzantine_max
                .min(protocol.byzantine_bound(self.servers))
        } else {
            self.byzantine_max
        }
    }
}

impl ByzantineSweep {
    /// `base` with the servers Byzantine in `behaviour` (one more fault).
    pub fn apply(&self, base: &Scenario, behaviour: Behaviour) -> Scenario {
        let mut s = base.clone();
        s.byzantine = None;
        s.faults.push(Fault {
            at: self.at,
            after: None,
            action: FaultAction::Byzantine {
                servers: self.servers.clone(),
                behaviour,
            },
        });
        s
    }
}

/// A validated scenario: every cross-field rule holds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scenario {
    pub name: String,
    pub seed: Option<u64>,
    pub cluster: Cluster,
    pub workload: Workload,
    pub tickets: Vec<ScriptedTicket>,
    pub faults: Vec<Fault>,
    /// When present, `run` sweeps crashes at the start to measure resilience.
    pub resilience: Option<Resilience>,
    /// When present, `run` runs every protocol once per Byzantine behaviour.
    pub byzantine: Option<ByzantineSweep>,
}

/// Milliseconds (as written in scenarios) to µs.
pub fn ms_to_us(ms: f64) -> Time {
    (ms * 1000.0).round() as Time
}

// ---------------------------------------------------------------------------------------------
// The pipeline

/// Parse `text` (from the file shown to users as `file`), apply `--set key=value` overrides,
/// validate.
pub fn load(file: &str, text: &str, overrides: &[String]) -> Result<Scenario, ScenarioError> {
    // 1. Parse, keeping spans: lines in errors refer to this text.
    let original = ImDocument::parse(text).map_err(|e| syntax_error(file, text, &e))?;

    // 2. Overrides, on a mutable copy; the original keeps its spans for line look-ups.
    let rendered: String;
    let mut set_paths = Vec::new();
    let effective = if overrides.is_empty() {
        original.clone()
    } else {
        let mut doc: DocumentMut = original.clone().into_mut();
        for arg in overrides {
            let path =
                apply_override(&mut doc, arg).map_err(|reason| ScenarioError::BadOverride {
                    file: file.to_string(),
                    arg: arg.clone(),
                    reason,
                })?;
            set_paths.push(path);
        }
        rendered = doc.to_string();
        ImDocument::parse(rendered.as_str()).map_err(|e| ScenarioError::BadOverride {
            file: file.to_string(),
            arg: overrides.join(" "),
            reason: format!(
                "the scenario with these overrides is not valid toml: {}",
                one_line(e.message())
            ),
        })?
    };
    let ctx = Ctx {
        file,
        original: &original,
        set_paths,
    };

    // 3. Raw structs: unknown keys, missing keys and wrong types.
    let raw: RawScenario =
        toml::from_str(effective.raw()).map_err(|e| ctx.schema_error(&effective, &e))?;

    // 4. Every rule.
    ctx.validate(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::testkit::*;

    #[test]
    fn builtin_table1_loads() {
        let s = load("table1.toml", BUILTIN_TABLE1, &[]).unwrap();
        assert_eq!(s.name, "table1");
        assert_eq!(s.seed, Some(42));
        assert_eq!(s.cluster.servers, 5);
        assert_eq!(s.cluster.protocols, ProtocolKind::TABLE1.to_vec());
        assert_eq!(s.cluster.mode, Mode::Processes);
        assert_eq!(s.cluster.delta, 10_000);
        assert_eq!(s.cluster.suspect_after, 100_000);
        assert_eq!(s.workload.tickets, 100);
        assert_eq!(s.workload.submit_to, SubmitTo::RoundRobin);
        assert_eq!(s.workload.deadline, 5_000_000);
        assert!(s.tickets.is_empty());
        assert!(s.faults.is_empty());
    }

    #[test]
    fn base_loads() {
        let s = load_ok(BASE);
        assert_eq!(s.name, "base");
    }

    #[test]
    fn minimal_scenario_gets_the_defaults() {
        let s = load_ok(
            "name = \"m\"\n[cluster]\nservers = 3\nprotocols = [\"2pe\"]\n[workload]\ntickets = 4\n",
        );
        assert_eq!(s.seed, None);
        assert_eq!(
            s.cluster,
            Cluster {
                servers: 3,
                protocols: vec![ProtocolKind::TwoPe],
                baselines: Vec::new(),
                mode: Mode::Processes,
                delta: 10_000,
                jitter: 0,
                heartbeat: 20_000,
                suspect_after: 100_000,
                byzantine_max: 0,
                allow_unsafe: false,
                remote: Default::default(),
            }
        );
        assert_eq!(
            s.workload,
            Workload {
                tickets: 4,
                ..Workload::default()
            }
        );
        assert_eq!(s.workload.concurrency, 1);
        assert_eq!(s.workload.submit_to, SubmitTo::Random);
        assert_eq!(s.workload.deadline, 5_000_000);
    }

    #[test]
    fn integers_are_accepted_for_milliseconds() {
        let s = load_ok(&edit("delta_ms", "delta_ms = 3"));
        assert_eq!(s.cluster.delta, 3_000);
        let s = load_ok(&edit("delta_ms", "delta_ms = 0.25"));
        assert_eq!(s.cluster.delta, 250);
    }

    #[test]
    fn scripted_tickets_and_faults_load_in_file_order() {
        let s = load_ok(&append(
            r#"[[ticket]]
id = "tau"
submit = [{ server = 1, at_ms = 0.0 }, { server = 5, at_ms = 25 }, { server = 1, at_ms = 30 }]
[[fault]]
at_ms = 100.0
crash = [3]
[[fault]]
at_ms = 50
delay = { from = 2, to = [1, 4], ms = 15.0 }
"#,
        ));
        assert_eq!(
            s.tickets,
            vec![ScriptedTicket {
                id: "tau".into(),
                submit: vec![
                    Submission { server: 1, at: 0 },
                    Submission {
                        server: 5,
                        at: 25_000
                    },
                    Submission {
                        server: 1,
                        at: 30_000
                    },
                ],
            }]
        );
        assert_eq!(
            s.faults,
            vec![
                Fault {
                    at: 100_000,
                    after: None,
                    action: FaultAction::Crash(vec![3]),
                },
                Fault {
                    at: 50_000,
                    after: None,
                    action: FaultAction::Delay {
                        from: vec![2],
                        to: vec![1, 4],
                        delay: 15_000,
                    },
                },
            ]
        );
    }

    #[test]
    fn scripted_tickets_alone_are_enough() {
        let s = load_ok(
            &append("[[ticket]]\nid = \"x\"\nsubmit = [{ server = 2, at_ms = 0 }]\n")
                .replace("tickets = 10", "tickets = 0"),
        );
        assert_eq!(s.workload.tickets, 0);
        assert_eq!(s.tickets.len(), 1);
    }

    #[test]
    fn workload_may_be_omitted_when_tickets_are_scripted() {
        let s = load_ok(
            "name = \"w\"\n[cluster]\nservers = 2\nprotocols = [\"se-ct\"]\n\
             [[ticket]]\nid = \"a\"\nsubmit = [{ server = 2, at_ms = 0 }]\n",
        );
        assert_eq!(s.workload, Workload::default());
    }

    #[test]
    fn mode_names_are_those_of_cluster_mode() {
        for mode in [Mode::Sim, Mode::Processes] {
            let s = with_set(BASE, &[&format!("cluster.mode={}", mode.name())]).unwrap();
            assert_eq!(s.cluster.mode, mode);
            assert_eq!(mode.to_string(), mode.name());
            assert_eq!(
                serde_json::to_string(&mode).unwrap(),
                format!("{:?}", mode.name())
            );
        }
        assert_eq!(format!("[{:<5}]", Mode::Sim), "[sim  ]");
    }
}
