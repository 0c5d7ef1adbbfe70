//! The etcd baseline: the same users' workload validated by a real etcd cluster (`"etcd"` in
//! `cluster.protocols`), for comparison with the lab's protocols. Not a protocol state machine
//! and not a [`crate::lab::Runtime`]: a runtime of its own for one kind of row
//! (docs/BASELINE.md).
//!
//! - `members` starts n `etcd` members on loopback ports it picks, data in a temporary folder
//!   removed afterwards; one process group, `kill_on_drop`, `PR_SET_PDEATHSIG` on Linux, killed
//!   on any stop — no member outlives its run;
//! - `txn` validates one submission with ONE etcd transaction through etcd's gRPC-JSON gateway
//!   (`POST /v3/kv/txn`, HTTP/1.1): compare `create_revision(key) == 0` → put the key (accept),
//!   else read it (reject, unless the holder is this very submission: a retried request whose
//!   first attempt committed);
//! - `run` drives the lab's [`crate::lab::driver::Driver`] (users, deadlines, duplicates,
//!   signed tickets) on real time and records the same history as the protocols' runs: `submit`
//!   when the user hands the ticket to member s_i, `decide` at s_i when its transaction answers.
//!
//! E-1 holds through etcd's linearizable transactions; the lab's checker checks it on the history.

mod members;
mod run;
mod txn;

use crate::lab::{RunOutput, Stop};
use crate::scenario::Scenario;
use crate::signals::Interrupt;
use anyhow::Context;
use std::path::PathBuf;

/// The environment variable naming the `etcd` binary (default: `etcd` on `PATH`).
pub const BINARY_ENV: &str = "TICKETLAB_ETCD";

/// What the etcd row measured beyond the history.
#[derive(Debug, Default)]
pub struct Extra {
    /// `etcd --version`'s first line, e.g. "etcd Version: 3.4.23".
    pub version: String,
    /// Transactions sent (retries included).
    pub transactions: u64,
    /// Transactions retried after a transport error or an etcd error answer.
    pub retries: u64,
    /// Submissions given up after the last retry (left undecided).
    pub failed: u64,
}

/// One etcd row: its output (the history, as a protocol run's), the extras, why it stopped early.
#[derive(Debug)]
pub struct EtcdRun {
    pub output: RunOutput,
    pub extra: Extra,
    pub stop: Option<Stop>,
}

/// The `etcd` binary: `$TICKETLAB_ETCD`, else `etcd` on `PATH`; a clear error saying what to
/// install when there is none.
pub fn binary() -> anyhow::Result<PathBuf> {
    let install = "install etcd 3.4 or later (Debian/Ubuntu: `apt-get install etcd-server`; \
                   elsewhere: https://github.com/etcd-io/etcd/releases) or set TICKETLAB_ETCD \
                   to the etcd binary's path";
    if let Some(path) = std::env::var_os(BINARY_ENV) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            anyhow::bail!(
                "the etcd baseline needs the `etcd` server binary, and {BINARY_ENV} = {} is not \
                 a file: {install}",
                path.display()
            );
        }
        return Ok(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("etcd"))
            .find(|p| p.is_file())
    });
    found.ok_or_else(|| {
        anyhow::anyhow!(
            "the etcd baseline (\"etcd\" in cluster.protocols) needs the `etcd` server binary, \
             which is not on PATH: {install}"
        )
    })
}

/// `etcd --version`'s first line.
fn version(binary: &PathBuf) -> anyhow::Result<String> {
    let out = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {} --version", binary.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or("").trim().to_string();
    if !out.status.success() || !first.starts_with("etcd Version:") {
        anyhow::bail!(
            "{} --version did not answer like etcd ({:?}): set TICKETLAB_ETCD to an etcd 3.4+ \
             binary",
            binary.display(),
            first
        );
    }
    Ok(first)
}

/// Runs etcd rows: one current-thread tokio runtime and one SIGINT/SIGTERM watch per
/// invocation, on the thread that made it (the main thread: the members' PR_SET_PDEATHSIG fires
/// when the spawning *thread* exits).
pub struct Etcd {
    rt: tokio::runtime::Runtime,
    binary: PathBuf,
    version: String,
    run_id: String,
    progress: bool,
    interrupt: Interrupt,
}

impl Etcd {
    /// Finds the binary (a clear error when missing) and prepares the runtime.
    pub fn new(run_id: String, progress: bool) -> anyhow::Result<Self> {
        let binary = binary()?;
        let version = version(&binary)?;
        let (rt, interrupt) = crate::signals::runtime_with_interrupt()?;
        Ok(Etcd {
            rt,
            binary,
            version,
            run_id,
            progress,
            interrupt,
        })
    }

    /// A signal received so far, if any.
    pub fn interrupted(&self) -> Option<&'static str> {
        self.interrupt.fired()
    }

    /// The etcd row of `scenario` with `seed`, on a fresh cluster of `cluster.servers` members.
    pub fn run(&self, scenario: &Scenario, seed: u64) -> EtcdRun {
        let opts = run::Options {
            binary: &self.binary,
            run_id: &self.run_id,
            progress: self.progress,
            interrupt: self.interrupt.clone(),
        };
        let mut r = self.rt.block_on(run::run(scenario, seed, opts));
        r.extra.version = self.version.clone();
        r
    }
}
