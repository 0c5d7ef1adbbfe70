//! One etcd row: start the members, wait until each is healthy, run the lab's [`Driver`] on real
//! time — executing its commands as the process runtime does (`Schedule` in a time-ordered
//! queue, `Deliver` = the member verifies the signed ticket, then one transaction) — wait for the
//! transactions still in flight, kill the members.

use super::members::{Members, START_TIMEOUT};
use super::txn::{Answer, Store};
use super::{EtcdRun, Extra};
use crate::history::Event;
use crate::lab::driver::{Action, Command, Driver};
use crate::lab::tickets::Verifier;
use crate::lab::{RunOutput, Stop};
use crate::progress;
use crate::protocol::{Outcome, ServerId, Ticket, Time};
use crate::scenario::Scenario;
use crate::signals::Interrupt;
use indicatif::ProgressBar;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;
use tracing::{info, warn};

/// How long transactions still in flight when the workload is over get to answer.
const DRAIN: Duration = Duration::from_secs(10);

pub(super) struct Options<'a> {
    pub(super) binary: &'a Path,
    pub(super) run_id: &'a str,
    pub(super) progress: bool,
    pub(super) interrupt: Interrupt,
}

/// A transaction's end.
struct Done {
    ticket: Ticket,
    server: ServerId,
    answer: Result<Answer, String>,
    attempts: u32,
}

struct Row<'a> {
    driver: Driver<'a>,
    members: Members,
    /// Members killed by a crash fault: their answers are no longer heard.
    crashed: BTreeSet<ServerId>,
    verifier: Verifier,
    store: Store,
    epoch: Instant,
    schedule: BTreeMap<(Time, u64), Action>,
    seq: u64,
    /// Submissions so far (each one's tag: `s<server>#<k>`).
    submissions: u64,
    in_flight: u64,
    done_tx: UnboundedSender<Done>,
    decided: BTreeSet<Ticket>,
    bar: ProgressBar,
    extra: Extra,
    /// A command a baseline cannot carry out (validation refuses every fault but timed crashes:
    /// never expected).
    unsupported: Option<String>,
}

pub(super) async fn run(scenario: &Scenario, seed: u64, mut opts: Options<'_>) -> EtcdRun {
    let n = scenario.cluster.servers;
    let run_id = format!("{}-etcd", opts.run_id);
    let mut members = match Members::spawn(n, opts.binary, &run_id) {
        Ok(m) => m,
        Err(e) => return failed(e),
    };
    let store = Store::new(members.client_ports.clone());
    info!(run_id, "spawned {n} etcd members");
    let started = tokio::select! {
        biased;
        sig = opts.interrupt.wait() => Err(Stop::Interrupted(sig)),
        r = wait_healthy(&mut members, &store, n) => r.map_err(Stop::Failed),
    };
    if let Err(stop) = started {
        members.stop().await;
        return EtcdRun {
            output: RunOutput::default(),
            extra: Extra::default(),
            stop: Some(stop),
        };
    }
    info!(run_id, "etcd cluster up");
    let (done_tx, mut done_rx) = unbounded_channel();
    let driver = Driver::new(scenario, seed);
    let bar = progress::bar(driver.total_tickets(), "etcd", opts.progress);
    let mut row = Row {
        verifier: driver.verifier(),
        driver,
        members,
        crashed: BTreeSet::new(),
        store,
        epoch: Instant::now(),
        schedule: BTreeMap::new(),
        seq: 0,
        submissions: 0,
        in_flight: 0,
        done_tx,
        decided: BTreeSet::new(),
        bar,
        extra: Extra::default(),
        unsupported: None,
    };
    let stop = row.workload(&mut done_rx, &mut opts.interrupt).await;
    let stop = match stop {
        None => row.drain(&mut done_rx, &mut opts.interrupt).await,
        some => some,
    };
    let end = row.now();
    row.members.stop().await;
    if stop.is_some() {
        row.bar.abandon();
    } else {
        row.bar.finish();
    }
    let load = row.driver.load();
    let mut history = row.driver.into_history();
    history.sort_by_key(Event::time);
    EtcdRun {
        output: RunOutput {
            history,
            load,
            end,
            ..RunOutput::default()
        },
        extra: row.extra,
        stop,
    }
}

fn failed(e: anyhow::Error) -> EtcdRun {
    EtcdRun {
        output: RunOutput::default(),
        extra: Extra::default(),
        stop: Some(Stop::Failed(e)),
    }
}

/// Every member answers `/health` with a leader elected, or a member died, or time is up.
async fn wait_healthy(members: &mut Members, store: &Store, n: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut up = vec![false; usize::from(n)];
    loop {
        if let Some(why) = members.exited() {
            anyhow::bail!("the etcd cluster did not come up: {why}");
        }
        for s in 1..=n {
            let i = usize::from(s) - 1;
            up[i] = up[i] || store.healthy(s).await;
        }
        if up.iter().all(|&u| u) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let down: Vec<String> = (1..=n)
                .filter(|&s| !up[usize::from(s) - 1])
                .map(|s| format!("s{s}"))
                .collect();
            anyhow::bail!(
                "the etcd cluster did not come up within {START_TIMEOUT:?}: {} not healthy",
                down.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Row<'_> {
    fn now(&self) -> Time {
        self.epoch.elapsed().as_micros() as Time
    }

    async fn workload(
        &mut self,
        done_rx: &mut UnboundedReceiver<Done>,
        interrupt: &mut Interrupt,
    ) -> Option<Stop> {
        let faults = self.driver.faults();
        self.exec(0, faults);
        let users = self.driver.start(0);
        self.exec(0, users);
        loop {
            if let Some(what) = self.unsupported.take() {
                return Some(Stop::Failed(anyhow::anyhow!(
                    "the etcd baseline cannot {what} (it takes timed crash faults only)"
                )));
            }
            if self.driver.done() {
                return None;
            }
            let next = self.schedule.keys().next().map(|k| k.0);
            let wake = self.epoch + Duration::from_micros(next.unwrap_or(0));
            tokio::select! {
                biased;
                sig = interrupt.wait() => return Some(Stop::Interrupted(sig)),
                Some(done) = done_rx.recv() => self.on_done(done, true),
                () = tokio::time::sleep_until(wake), if next.is_some() => self.fire_due(),
            }
        }
    }

    /// The users are done (answered or past their deadlines): record what the transactions
    /// still in flight answer, so no accept etcd made is missing from the history.
    async fn drain(
        &mut self,
        done_rx: &mut UnboundedReceiver<Done>,
        interrupt: &mut Interrupt,
    ) -> Option<Stop> {
        let give_up = tokio::time::sleep(DRAIN);
        tokio::pin!(give_up);
        while self.in_flight > 0 {
            tokio::select! {
                biased;
                sig = interrupt.wait() => return Some(Stop::Interrupted(sig)),
                Some(done) = done_rx.recv() => self.on_done(done, false),
                () = &mut give_up => {
                    warn!(left = self.in_flight, "etcd transactions unanswered at the end of the run");
                    return None;
                }
            }
        }
        None
    }

    fn fire_due(&mut self) {
        let now = self.now();
        while let Some(entry) = self.schedule.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let action = entry.remove();
            let cmds = self.driver.fire(now, action);
            self.exec(now, cmds);
        }
    }

    /// Carry out the driver's commands, in order, at `now` (the time the driver was told: every
    /// event they record is stamped with it, so the history's order is the order of execution).
    fn exec(&mut self, now: Time, cmds: Vec<Command>) {
        for cmd in cmds {
            match cmd {
                Command::Schedule { at, action } => {
                    self.seq += 1;
                    self.schedule.insert((at, self.seq), action);
                }
                Command::Deliver {
                    ticket,
                    server,
                    signed,
                } => self.deliver(now, ticket, server, &signed),
                Command::Crash(s) => {
                    // kill -9 of member s (the driver recorded the crash and told its users).
                    self.members.kill(s);
                    self.crashed.insert(s);
                }
                Command::Pause(s) | Command::Resume(s) => {
                    self.unsupported = Some(format!("pause or resume s{s}"))
                }
                Command::Control { server, .. } => {
                    self.unsupported = Some(format!("make s{server} suspect"))
                }
                Command::Link(_) => self.unsupported = Some("apply a link fault".into()),
            }
        }
    }

    /// Member `server` takes the user's ticket in: it verifies the credential as the lab's
    /// servers do (a bad one is refused at once, no transaction), then validates it with one
    /// transaction.
    fn deliver(&mut self, now: Time, ticket: Ticket, server: ServerId, signed: &str) {
        let id = match self.verifier.check(signed, now) {
            Ok(id) => id,
            Err((id, reason)) => {
                self.driver.record(Event::Refused {
                    t_us: now,
                    ticket: id,
                    server,
                    reason: Some(reason),
                });
                let cmds = self.driver.rejected(now, &ticket, server);
                self.exec(now, cmds);
                return;
            }
        };
        self.driver.record(Event::Submit {
            t_us: now,
            ticket: id.clone(),
            server,
        });
        self.submissions += 1;
        self.in_flight += 1;
        let tag = format!("s{server}#{}", self.submissions);
        let store = self.store.clone();
        let tx = self.done_tx.clone();
        tokio::spawn(async move {
            let (answer, attempts) = store.validate(server, &id.0, &tag).await;
            let _ = tx.send(Done {
                ticket: id,
                server,
                answer,
                attempts,
            });
        });
    }

    /// A transaction answered: `decide` at its member; its user is told while the workload runs.
    fn on_done(&mut self, done: Done, running: bool) {
        let now = self.now();
        self.in_flight -= 1;
        self.extra.transactions += u64::from(done.attempts);
        self.extra.retries += u64::from(done.attempts.saturating_sub(1));
        if self.crashed.contains(&done.server) {
            // Its member was killed: whatever etcd answered, no user hears it (a crashed
            // server decides nothing), as with the lab's servers.
            return;
        }
        let (outcome, why) = match done.answer {
            Ok(Answer::Accepted { revision }) => (
                Outcome::Accept,
                format!("etcd txn created the key at revision {revision}"),
            ),
            Ok(Answer::Rejected { holder, revision }) => (
                Outcome::Reject,
                format!("etcd txn compare failed: created at revision {revision} by {holder}"),
            ),
            Err(e) => {
                self.extra.failed += 1;
                warn!(ticket = %done.ticket.0, server = done.server, "etcd transaction failed: {e}");
                return;
            }
        };
        self.driver.record(Event::Decide {
            t_us: now,
            ticket: done.ticket.clone(),
            server: done.server,
            outcome,
            phase: None,
            why: Some(why),
        });
        if self.decided.insert(done.ticket.clone()) {
            if self.decided.len() == 1 {
                info!(t_us = now, "first ticket decided");
            }
            self.bar.inc(1);
        }
        if running {
            let cmds = self.driver.decided(now, &done.ticket, done.server);
            self.exec(now, cmds);
        }
    }
}
