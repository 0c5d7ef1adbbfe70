//! The orchestrator: runs one protocol of a scenario on a real local cluster.
//!
//! Phases of `run_protocol`:
//! 1. **Setup.** Bind the control listener on 127.0.0.1:0, spawn n `ticketlab server` processes
//!    (one process group, `kill_on_drop`), take each one's hello (its real listening address), send
//!    every server the configuration with all addresses, wait until each reports its peer links up,
//!    open one user connection per server, then hand out the run epoch ([`ToServer::Start`]).
//! 2. **Workload.** The users' [`Client`](crate::workload::Client) runs on real time: submissions go out on the user
//!    connections, decisions come back on them; `[[fault]]`s fire at their times (crash = SIGKILL,
//!    recorded as a `crash` event; link faults = [`ToServer::Link`] to every server, confirmed
//!    before later actions). A due action fires at once; a future one wakes the loop through the
//!    platform's [`PreciseTimer`] (tokio's timer wheel would add up to 1 ms to each). History
//!    events stream in from every server's control connection as they happen — read in batches,
//!    kept encoded, and decoded after the run in the order they arrived. The issuer's signatures
//!    on the users' tickets are made before the run's epoch ([`Driver::presign`]).
//! 3. **Quiescence.** When every submission is resolved and every fault has fired, the run ends
//!    once no protocol message is in flight: probe every live server's per-peer sent/received
//!    counters until two consecutive rounds agree and balance (the four-counter method), so the
//!    message counts are exact, as in the simulator. A message counts as sent when its sender's
//!    protocol sends it and as received only when its receiver releases it to the protocol, so
//!    one held anywhere — at its sender on a cut link, in a socket, or at its receiver until its
//!    release instant — keeps the run going.
//! 4. **Shutdown.** [`ToServer::Shutdown`], wait for the goodbyes, then SIGKILL whatever is left
//!    and reap it.
//!
//! Servers elsewhere (`scenario::remote`): with `cluster.launch` each server is `sh -c` of the
//! template, and the control listener is bound where the hosts reach it (`control_addr`, or this
//! machine's address on the route to the hosts); with `cluster.attach` the orchestrator dials
//! servers started by hand ([`auth::attach`]). Either way each remote server's clock is pinged
//! at setup (the min-RTT sample gives its offset: [`ToServer::StartAt`] hands it the epoch on
//! its own clock, so history timestamps stay on ours), its peer-link pings come back before
//! Ready, and both go to `summary.json` as `links`. A crash is [`ToServer::Crash`] (plus the
//! template's `kill`).
//!
//! Any stop — SIGINT/SIGTERM, a server dying on its own, a setup failure — kills the whole
//! process group at once, keeps reading what the servers had already sent, and returns the
//! partial output with the reason.

mod setup;

use super::auth::{self, Role, Secret};
use super::clock::{mono_ns, unix_us, RunClock};
use super::cluster::Cluster;
use super::platform::PreciseTimer;
use super::wire::{
    decode_body, encode_frame, forward_frames, is_event_body, FrameReader, FromServer, LinkFault,
    ServerConfig, ToServer, UserReq, UserResp,
};
use super::{Interrupt, ProcessError, RunOptions, Stop};
use crate::history::Event;
use crate::lab::driver::{Action, Command, Driver};
use crate::lab::triggers::Trigger;
use crate::lab::{LinkStat, RunOutput};
use crate::progress;
use crate::protocol::{NodeConfig, Note, ProtocolKind, ServerId, Ticket, Time};
use crate::scenario::{FaultAction, Scenario};
use bytes::{Bytes, BytesMut};
use indicatif::ProgressBar;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

/// How long a cluster of up to 50 servers may take to come up; larger ones get [`setup_timeout`].
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a cluster of `n` may take to come up: [`SETUP_TIMEOUT`], or 400 ms per server when
/// longer (n processes start on shared cores and open n·(n − 1) authenticated peer links).
fn setup_timeout(n: u16) -> Duration {
    SETUP_TIMEOUT.max(Duration::from_millis(400) * u32::from(n))
}
/// Clock pings per remote server at setup (and per peer link, by the servers).
const CLOCK_PINGS: u8 = 8;
/// How long servers get to say goodbye before they are killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// How many generated tickets are signed before the run starts, at most.
const PRESIGNED: u64 = 100_000;
/// After a kill, how long to keep reading what the servers had already sent.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(2);

/// Run `protocol` of `scenario` on a fresh local cluster.
pub(super) async fn run_protocol(
    scenario: &Scenario,
    protocol: ProtocolKind,
    seed: u64,
    opts: &RunOptions,
) -> (RunOutput, Option<Stop>) {
    let n = scenario.cluster.servers;
    let (inbox_tx, inbox) = unbounded_channel();
    let mut driver = Driver::new(scenario, seed);
    // The issuer signs the tickets before the run starts (as when tickets are sold), on every
    // core: its signing is not part of validating them. Up to PRESIGNED of them (about a second
    // of signing on two cores); a longer run signs the rest as its users hand them over.
    let cores = std::thread::available_parallelism().map_or(1, |p| p.get());
    driver.presign(cores, PRESIGNED);
    // A fresh secret per run; attached servers hold the operator's.
    let secret = match &scenario.cluster.remote.secret_file {
        Some(path) if !scenario.cluster.remote.attach.is_empty() => match Secret::from_file(path) {
            Ok(s) => s,
            Err(e) => {
                let e = ProcessError::Setup(format!("cluster.secret_file: {e}"));
                return (RunOutput::default(), Some(Stop::Failed(e)));
            }
        },
        _ => Secret::random(),
    };
    let bar = progress::bar(driver.total_tickets(), protocol.name(), opts.progress);
    let mut o = Orchestrator {
        scenario,
        protocol,
        n,
        seed,
        run_id: format!("{}-{}", opts.run_id, protocol.name()),
        interrupt: opts.interrupt.clone(),
        clock: None,
        cluster: Cluster::empty(n),
        ctl: (0..=n).map(|_| None).collect(),
        users: (0..=n).map(|_| None).collect(),
        inbox_tx,
        inbox,
        phase: Phase::Setup,
        ready: vec![false; usize::from(n) + 1],
        closed: vec![false; usize::from(n) + 1],
        bye: vec![false; usize::from(n) + 1],
        probes: vec![None; usize::from(n) + 1],
        unconfirmed: BTreeSet::new(),
        driver,
        schedule: BTreeMap::new(),
        seq: 0,
        heartbeats: vec![0; usize::from(n) + 1],
        retransmissions: vec![0; usize::from(n) + 1],
        rejected: vec![0; usize::from(n) + 1],
        secret,
        offsets: vec![None; usize::from(n) + 1],
        peer_pings: Vec::new(),
        notes: BTreeMap::new(),
        events: Vec::new(),
        decided: BTreeSet::new(),
        bar,
        end: 0,
    };
    let span = tracing::info_span!("run", protocol = protocol.name());
    let result = o.execute().instrument(span).await;
    let stop = match result {
        Ok(()) => None,
        Err(mut stop) => {
            if let Stop::Failed(ProcessError::ServerDied { server, status }) = &mut stop {
                // It closed its connection on its way out: give it a moment to tell us how.
                if let Some(s) = o
                    .cluster
                    .wait_status(*server, Duration::from_millis(500))
                    .await
                {
                    *status = s;
                }
            }
            o.phase = Phase::Stopping;
            o.end = o.now();
            o.cluster.kill_all();
            o.drain_after_kill().await;
            Some(stop)
        }
    };
    o.cluster.reap().await;
    if stop.is_some() {
        o.bar.abandon();
    } else {
        o.bar.finish();
    }
    (o.into_output(), stop)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Setup,
    Running,
    Quiescing,
    ShuttingDown,
    Stopping,
}

/// A frame body of `m` (as a control connection carries it).
fn encoded(m: &FromServer) -> Bytes {
    let mut buf = BytesMut::new();
    match encode_frame(m, &mut buf) {
        Ok(()) => buf.split_off(4).freeze(),
        Err(_) => Bytes::new(),
    }
}

/// What the connection tasks report to the orchestrator loop.
enum Report {
    /// Frames of a server's control connection, encoded ([`FromServer`] bodies).
    Frames(ServerId, Vec<Bytes>),
    ControlClosed(ServerId),
    Decided(ServerId, Ticket),
}

type Counters = (Vec<u64>, Vec<u64>);

struct Orchestrator<'a> {
    scenario: &'a Scenario,
    protocol: ProtocolKind,
    n: u16,
    seed: u64,
    run_id: String,
    interrupt: Interrupt,
    clock: Option<RunClock>,
    cluster: Cluster,
    /// Control connection senders, by server id; `None` once the server is gone.
    ctl: Vec<Option<UnboundedSender<ToServer>>>,
    /// User connection senders, by server id.
    users: Vec<Option<UnboundedSender<UserReq>>>,
    inbox_tx: UnboundedSender<Report>,
    inbox: UnboundedReceiver<Report>,
    phase: Phase,
    ready: Vec<bool>,
    closed: Vec<bool>,
    bye: Vec<bool>,
    probes: Vec<Option<(u64, Counters)>>,
    /// Servers that have not yet confirmed the last fault command: later actions wait for them,
    /// so a delay fault is in force before anything scheduled after it happens.
    unconfirmed: BTreeSet<ServerId>,
    /// The users, the faults and the history (paused servers: SIGSTOP, not resumed yet).
    driver: Driver<'a>,
    /// The driver's actions, by (due time, order of scheduling).
    schedule: BTreeMap<(Time, u64), Action>,
    seq: u64,
    heartbeats: Vec<u64>,
    retransmissions: Vec<u64>,
    /// Connections each server closed for failing the handshake (index 0: the orchestrator's
    /// control listener).
    rejected: Vec<u64>,
    /// The run's secret (see [`super::auth`]): handed to the servers on their stdin only (or,
    /// attached servers, the operator's `cluster.secret_file`).
    secret: Secret,
    /// Remote servers' (round trip, clock offset) to ours, ns, from the clock pings at setup.
    offsets: Vec<Option<(u64, i64)>>,
    /// Each server's pings of its outgoing peer links.
    peer_pings: Vec<(ServerId, super::wire::PeerPing)>,
    notes: BTreeMap<Note, u64>,
    /// The servers' history events as they came, still encoded, each with the number of events
    /// the driver had recorded by then: decoded and merged in that order after the run
    /// ([`Orchestrator::into_output`]), so the measured run only moves bytes.
    events: Vec<(usize, ServerId, Bytes)>,
    /// Tickets some user has an answer for (the progress bar).
    decided: BTreeSet<Ticket>,
    /// Tickets decided / total (hidden unless wanted and on a terminal).
    bar: ProgressBar,
    end: Time,
}

impl Orchestrator<'_> {
    fn now(&self) -> Time {
        self.clock.map_or(0, |c| c.now())
    }

    async fn execute(&mut self) -> Result<(), Stop> {
        self.setup().await?;
        self.workload().await?;
        self.quiesce().await?;
        self.end = self.now();
        self.shutdown().await;
        Ok(())
    }

    // ---- phase 1: see `setup.rs` ------------------------------------------------------

    // ---- phase 2 -------------------------------------------------------------------------

    /// The users and the timed faults on real time. A due action fires at once (think 0: the next
    /// submission leaves as soon as the last decision is in); a future one wakes the loop through
    /// the platform's [`PreciseTimer`] (a `timerfd` on Linux), not tokio's 1 ms timer wheel, which
    /// would add up to a millisecond to every scheduled action.
    async fn workload(&mut self) -> Result<(), Stop> {
        let faults = self.driver.faults();
        self.exec(faults);
        let users = self.driver.start(0);
        self.exec(users);
        let clock = self.clock.expect("set up");
        let mut timer = PreciseTimer::new().map_err(ProcessError::Io)?;
        let mut armed: Option<u64> = None;
        loop {
            if self.driver.done() {
                return Ok(());
            }
            // Later actions wait while a link fault is not yet confirmed everywhere.
            let next = self
                .schedule
                .keys()
                .next()
                .filter(|_| self.unconfirmed.is_empty())
                .map(|k| clock.mono_of(k.0));
            if let Some(at) = next {
                if mono_ns() >= at {
                    self.fire_due();
                    // Whatever came in meanwhile, without waiting (the loop fires again first).
                    while let Ok(r) = self.inbox.try_recv() {
                        self.on_report(r)?;
                    }
                    if let Some(sig) = self.interrupt.fired() {
                        return Err(Stop::Interrupted(sig));
                    }
                    continue;
                }
                if armed != Some(at) {
                    timer.arm(at).map_err(ProcessError::Io)?;
                    armed = Some(at);
                }
            }
            tokio::select! {
                biased;
                sig = self.interrupt.wait() => return Err(Stop::Interrupted(sig)),
                r = self.inbox.recv() => {
                    if let Some(r) = r {
                        self.on_report(r)?;
                    }
                }
                r = timer.wait(), if armed.is_some() => {
                    armed = None;
                    r.map_err(ProcessError::Io)?;
                }
            }
        }
    }

    fn fire_due(&mut self) {
        let now = self.now();
        while let Some(entry) = self.schedule.first_entry() {
            if entry.key().0 > now || !self.unconfirmed.is_empty() {
                break;
            }
            let action = entry.remove();
            if let Action::Fault(i) = action {
                info!(
                    fault = i,
                    t_us = now,
                    "fault: {:?}",
                    self.scenario.faults[i].action
                );
            }
            let cmds = self.driver.fire(now, action);
            self.exec(cmds);
        }
    }

    /// Carry out the driver's commands on the real cluster, in order.
    fn exec(&mut self, cmds: Vec<Command>) {
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
                } => {
                    let user = self.users[usize::from(server)].as_ref();
                    let req = UserReq::Submit { ticket, signed };
                    if user.is_none_or(|tx| tx.send(req).is_err()) {
                        // Its connection is gone although it was not crashed on purpose: the
                        // closed control connection reports the death.
                        debug!(server, "a user connection is closed");
                    }
                }
                Command::Crash(s) => {
                    if self.remote() {
                        // Not (necessarily) our child: it kills itself on this order.
                        if let Some(tx) = &self.ctl[usize::from(s)] {
                            let _ = tx.send(ToServer::Crash);
                        }
                    }
                    self.cluster.kill(s);
                    self.ctl[usize::from(s)] = None;
                    self.users[usize::from(s)] = None;
                    self.unconfirmed.remove(&s);
                }
                Command::Pause(s) => {
                    self.cluster.signal(s, libc::SIGSTOP);
                    self.unconfirmed.remove(&s);
                }
                Command::Resume(s) => self.cluster.signal(s, libc::SIGCONT),
                Command::Control { server, control } => {
                    if let Some(tx) = &self.ctl[usize::from(server)] {
                        let _ = tx.send(ToServer::Protocol(control));
                    }
                }
                Command::Link(action) => {
                    let Some(link) = LinkFault::of(&action) else {
                        continue;
                    };
                    // Every server keeps the whole link model; later actions wait until the fault
                    // is in force at every server that can answer (a paused one applies it when
                    // it resumes).
                    for s in self.live() {
                        if let Some(tx) = &self.ctl[usize::from(s)] {
                            if tx.send(ToServer::Link(link.clone())).is_ok()
                                && !self.driver.is_paused(s)
                            {
                                self.unconfirmed.insert(s);
                            }
                        }
                    }
                }
            }
        }
    }

    fn on_report(&mut self, r: Report) -> Result<(), ProcessError> {
        match r {
            Report::Frames(id, frames) => {
                for body in frames {
                    if is_event_body(&body) {
                        self.events.push((self.driver.recorded(), id, body));
                        continue;
                    }
                    match decode_body::<FromServer>(&body) {
                        Ok(m) => self.on_server(id, m)?,
                        Err(e) => warn!(server = id, "an undecodable control frame: {e}"),
                    }
                }
            }
            Report::ControlClosed(id) => {
                self.closed[usize::from(id)] = true;
                let expected = self.ctl[usize::from(id)].is_none() || self.bye[usize::from(id)];
                if !expected
                    && matches!(self.phase, Phase::Setup | Phase::Running | Phase::Quiescing)
                {
                    return Err(ProcessError::ServerDied {
                        server: id,
                        status: self.cluster.status(id),
                    });
                }
            }
            Report::Decided(id, ticket) => {
                if self.phase == Phase::Running {
                    let now = self.now();
                    if self.decided.insert(ticket.clone()) {
                        if self.decided.len() == 1 {
                            info!(t_us = now, "first ticket decided");
                        }
                        self.bar.inc(1);
                    }
                    let cmds = self.driver.decided(now, &ticket, id);
                    self.exec(cmds);
                }
            }
        }
        Ok(())
    }

    /// One decoded report of server `id` other than a history event.
    fn on_server(&mut self, id: ServerId, m: FromServer) -> Result<(), ProcessError> {
        match m {
            FromServer::Event(e) => {
                self.events
                    .push((self.driver.recorded(), id, encoded(&FromServer::Event(e))))
            }
            FromServer::Note { note, by } => *self.notes.entry(note).or_insert(0) += by,
            FromServer::Halted { t_us } => {
                if matches!(self.phase, Phase::Running | Phase::Quiescing) {
                    info!(t_us, "s{id} halted itself");
                    let cmds = self.driver.halted(id, t_us);
                    self.exec(cmds);
                }
            }
            FromServer::Counters {
                heartbeats,
                retransmissions,
                rejected,
            } => {
                self.rejected[usize::from(id)] = rejected;
                self.heartbeats[usize::from(id)] = heartbeats;
                self.retransmissions[usize::from(id)] = retransmissions;
            }
            FromServer::Triggered { fault, t_us } => {
                if self.phase == Phase::Running || self.phase == Phase::Quiescing {
                    // A server that crashes itself on the event died at the event.
                    let fault = fault as usize;
                    let now = self.now();
                    info!(
                        fault,
                        t_us,
                        "fault on an event at s{id}: {:?}",
                        self.scenario.faults[fault].action
                    );
                    let cmds = self.driver.triggered(fault, id, t_us, now);
                    self.exec(cmds);
                }
            }
            FromServer::Probe {
                round,
                sent,
                received,
            } => self.probes[usize::from(id)] = Some((round, (sent, received))),
            FromServer::Ready => self.ready[usize::from(id)] = true,
            FromServer::Applied => {
                self.unconfirmed.remove(&id);
            }
            FromServer::Bye => self.bye[usize::from(id)] = true,
            FromServer::Hello { .. } | FromServer::Pong { .. } => {
                warn!(server = id, "a second hello or a late pong")
            }
            FromServer::PeerPings(pings) => {
                self.peer_pings.extend(pings.into_iter().map(|p| (id, p)))
            }
        }
        Ok(())
    }

    /// Handle reports until `done` holds (true) or `deadline` passes (false).
    async fn pump_until(
        &mut self,
        deadline: Instant,
        done: impl Fn(&Self) -> bool,
    ) -> Result<bool, Stop> {
        loop {
            if done(self) {
                return Ok(true);
            }
            tokio::select! {
                biased;
                sig = self.interrupt.wait(), if self.phase != Phase::Stopping => {
                    return Err(Stop::Interrupted(sig))
                }
                r = self.inbox.recv() => {
                    if let Some(r) = r {
                        self.on_report(r)?;
                    }
                }
                () = tokio::time::sleep_until(deadline) => return Ok(false),
            }
        }
    }

    // ---- phase 3 -------------------------------------------------------------------------

    /// Servers not crashed.
    fn live(&self) -> Vec<ServerId> {
        (1..=self.n)
            .filter(|&s| self.ctl[usize::from(s)].is_some())
            .collect()
    }

    /// Servers not crashed and not paused: those that answer.
    fn responsive(&self) -> Vec<ServerId> {
        (1..=self.n)
            .filter(|&s| self.ctl[usize::from(s)].is_some() && !self.driver.is_paused(s))
            .collect()
    }

    async fn quiesce(&mut self) -> Result<(), Stop> {
        self.phase = Phase::Quiescing;
        let c = &self.scenario.cluster;
        let longest_delay = self.scenario.faults.iter().fold(0, |m, f| match f.action {
            FaultAction::Delay { delay, .. } => m.max(delay),
            _ => m,
        });
        let longest_hold = Duration::from_micros((c.delta + c.jitter).max(longest_delay));
        let give_up = Instant::now() + Duration::from_secs(2) + longest_hold * 50;
        let mut previous: Option<Vec<Option<(u64, Counters)>>> = None;
        for round in 1u64.. {
            let live = self.responsive();
            for &s in &live {
                self.probes[usize::from(s)] = None;
                if let Some(tx) = &self.ctl[usize::from(s)] {
                    let _ = tx.send(ToServer::Probe { round });
                }
            }
            let answered = self
                .pump_until(give_up, |o| {
                    o.responsive().iter().all(|&s| {
                        o.probes[usize::from(s)]
                            .as_ref()
                            .is_some_and(|p| p.0 == round)
                    })
                })
                .await?;
            if !answered {
                warn!("servers did not answer the end-of-run probe; message counts may be short");
                return Ok(());
            }
            let live = self.responsive();
            let balanced = live.iter().all(|&i| {
                live.iter().all(|&j| {
                    let (pi, pj) = (&self.probes[usize::from(i)], &self.probes[usize::from(j)]);
                    match (pi, pj) {
                        (Some((_, (sent_i, _))), Some((_, (_, recv_j)))) => {
                            i == j || sent_i[usize::from(j)] == recv_j[usize::from(i)]
                        }
                        _ => false,
                    }
                })
            });
            let snapshot: Vec<Option<(u64, Counters)>> = self
                .probes
                .iter()
                .map(|p| p.as_ref().map(|(_, c)| (0, c.clone())))
                .collect();
            if balanced && previous.as_ref() == Some(&snapshot) {
                debug!(round, "quiescent");
                return Ok(());
            }
            previous = Some(snapshot);
            if Instant::now() >= give_up {
                warn!(
                    "protocol messages still in flight at the end of the run; counts may be short"
                );
                return Ok(());
            }
            let pause = if balanced {
                Duration::from_millis(1)
            } else {
                (longest_hold / 4).max(Duration::from_millis(1))
            };
            self.pump_until(Instant::now() + pause, |_| false).await?;
        }
        Ok(())
    }

    // ---- phase 4 -------------------------------------------------------------------------

    async fn shutdown(&mut self) {
        self.phase = Phase::ShuttingDown;
        let live = self.responsive();
        for &s in &live {
            if let Some(tx) = &self.ctl[usize::from(s)] {
                let _ = tx.send(ToServer::Shutdown);
            }
        }
        let all_closed = |o: &Self| live.iter().all(|&s| o.closed[usize::from(s)]);
        match self
            .pump_until(Instant::now() + SHUTDOWN_GRACE, all_closed)
            .await
        {
            Ok(true) => {}
            Ok(false) => warn!("servers did not exit in time; killing them"),
            Err(_) => {}
        }
        // Paused servers never said goodbye: the kill takes them as they are.
        self.ctl.iter_mut().for_each(|c| *c = None);
        self.users.iter_mut().for_each(|u| *u = None);
        self.cluster.kill_all();
    }

    /// After a kill: keep what the servers had sent before they died.
    async fn drain_after_kill(&mut self) {
        self.ctl.iter_mut().for_each(|c| *c = None);
        self.users.iter_mut().for_each(|u| *u = None);
        let n = self.n;
        let spawned = self.cluster.spawned();
        let _ = self
            .pump_until(Instant::now() + DRAIN_AFTER_KILL, |o| {
                (1..=n)
                    .filter(|&s| spawned.contains(&s))
                    .all(|s| o.closed[usize::from(s)])
            })
            .await;
    }

    fn into_output(self) -> RunOutput {
        let load = self.driver.load();
        // The servers' events, decoded now, go back where they arrived among the driver's own.
        let recorded = self.driver.into_history();
        let mut history = Vec::with_capacity(recorded.len() + self.events.len());
        let mut own = recorded.into_iter().enumerate().peekable();
        for (at, server, body) in self.events {
            while let Some((_, e)) = own.next_if(|(i, _)| *i < at) {
                history.push(e);
            }
            match decode_body::<FromServer>(&body) {
                Ok(FromServer::Event(e)) => history.push(e.into_event(server)),
                Ok(_) => {}
                Err(e) => warn!(server, "an undecodable history event: {e}"),
            }
        }
        history.extend(own.map(|(_, e)| e));
        // Stable sort: events of one server arrive in the order it recorded them, so equal
        // timestamps keep that order (a submission before its immediate decision).
        history.sort_by_key(Event::time);
        RunOutput {
            load,
            history,
            heartbeats: self.heartbeats.iter().sum(),
            retransmissions: self.retransmissions.iter().sum(),
            rejected_connections: self.rejected.iter().sum(),
            links: setup::links(&self.offsets, &self.peer_pings),
            notes: self.notes,
            end: self.end,
            ..RunOutput::default()
        }
    }
}
