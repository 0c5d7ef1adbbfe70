//! The orchestrator: runs one protocol of a scenario on a real local cluster.
//!
//! Phases of [`run_protocol`]:
//! 1. **Setup.** Bind the control listener on 127.0.0.1:0, spawn n `ticketlab server` processes
//!    (one process group, `kill_on_drop`), take each one's hello (its real listening port), send
//!    every server the configuration with all ports, wait until each reports its peer links up,
//!    open one user connection per server, then hand out the run epoch ([`ToServer::Start`]).
//! 2. **Workload.** The users' [`Client`] runs on real time: submissions go out on the user
//!    connections, decisions come back on them; `[[fault]]`s fire at their times (crash = SIGKILL,
//!    recorded as a `crash` event; link faults = [`ToServer::Link`] to every server, confirmed
//!    before later actions). History events stream in from every server's control connection as
//!    they happen.
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
//! Any stop — SIGINT/SIGTERM, a server dying on its own, a setup failure — kills the whole
//! process group at once, keeps reading what the servers had already sent, and returns the
//! partial output with the reason.

use super::clock::{tokio_instant, unix_us, RunClock};
use super::wire::{
    forward_frames, FrameReader, FrameWriter, FromServer, Hello, LinkFault, ServerConfig, ToServer,
    Trigger, UserReq, UserResp,
};
use super::{Interrupt, ProcessError, ProcessRun, RunOptions, Stop};
use crate::history::Event;
use crate::progress;
use crate::protocol::{Control, NodeConfig, Note, ProtocolKind, ServerId, Ticket, Time};
use crate::scenario::{FaultAction, Scenario};
use crate::sim::RunOutput;
use crate::workload::{Client, ClientOut};
use indicatif::ProgressBar;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

/// How long the cluster may take to come up.
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long servers get to say goodbye before they are killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// After a kill, how long to keep reading what the servers had already sent.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(2);

/// Run `protocol` of `scenario` on a fresh local cluster.
pub async fn run_protocol(
    scenario: &Scenario,
    protocol: ProtocolKind,
    seed: u64,
    opts: &RunOptions,
) -> ProcessRun {
    let n = scenario.cluster.servers;
    let (inbox_tx, inbox) = unbounded_channel();
    let client = Client::new(scenario, seed);
    let bar = progress::bar(client.total_tickets(), protocol.name(), opts.progress);
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
        paused: BTreeSet::new(),
        client,
        schedule: BTreeMap::new(),
        seq: 0,
        faults_left: scenario.faults.iter().filter(|f| f.after.is_none()).count(),
        history: Vec::new(),
        heartbeats: vec![0; usize::from(n) + 1],
        retransmissions: vec![0; usize::from(n) + 1],
        notes: BTreeMap::new(),
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
    ProcessRun {
        output: o.into_output(),
        stop,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Setup,
    Running,
    Quiescing,
    ShuttingDown,
    Stopping,
}

/// What the connection tasks report to the orchestrator loop.
enum Report {
    Server(ServerId, FromServer),
    ControlClosed(ServerId),
    Decided(ServerId, Ticket),
}

/// Something the users or the fault injector do at a given time.
enum Action {
    Submit { ticket: Ticket, server: ServerId },
    Wake,
    Fault(usize),
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
    /// Servers stopped with SIGSTOP (a `pause` fault) and not resumed yet.
    paused: BTreeSet<ServerId>,
    client: Client,
    schedule: BTreeMap<(Time, u64), Action>,
    seq: u64,
    faults_left: usize,
    history: Vec<Event>,
    heartbeats: Vec<u64>,
    retransmissions: Vec<u64>,
    notes: BTreeMap<Note, u64>,
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

    // ---- phase 1 -------------------------------------------------------------------------

    async fn setup(&mut self) -> Result<(), Stop> {
        let n = self.n;
        let deadline = Instant::now() + SETUP_TIMEOUT;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(ProcessError::Io)?;
        let control = listener.local_addr().map_err(ProcessError::Io)?;
        self.cluster = Cluster::spawn(n, control, &self.run_id)?;
        info!(run_id = %self.run_id, "spawned {n} servers");

        // Hellos: who is on which port.
        let mut ports: Vec<(ServerId, u16)> = Vec::new();
        let mut writers = Vec::new();
        while ports.len() < usize::from(n) {
            let stream = tokio::select! {
                biased;
                sig = self.interrupt.wait() => return Err(Stop::Interrupted(sig)),
                r = listener.accept() => r.map_err(ProcessError::Io)?.0,
                () = tokio::time::sleep_until(deadline) => {
                    return Err(self.setup_failure("servers did not all connect back in time").into())
                }
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    self.cluster.check_exited()?;
                    continue;
                }
            };
            stream.set_nodelay(true).map_err(ProcessError::Io)?;
            let (rd, wr) = stream.into_split();
            let mut rd = FrameReader::new(rd);
            let hello = tokio::time::timeout_at(deadline, rd.expect::<FromServer>())
                .await
                .map_err(|_| self.setup_failure("a server said nothing"))?
                .map_err(ProcessError::Wire)?;
            let FromServer::Hello {
                id,
                port,
                pid,
                run_id,
            } = hello
            else {
                return Err(self
                    .setup_failure(&format!("expected a hello, got {hello:?}"))
                    .into());
            };
            if run_id != self.run_id || !(1..=n).contains(&id) || self.cluster.pid(id) != Some(pid)
            {
                return Err(self
                    .setup_failure(&format!(
                        "unexpected hello from s{id} (pid {pid}, run {run_id})"
                    ))
                    .into());
            }
            if ports.iter().any(|p| p.0 == id) {
                return Err(self
                    .setup_failure(&format!("s{id} said hello twice"))
                    .into());
            }
            ports.push((id, port));
            writers.push((id, wr));
            let inbox = self.inbox_tx.clone();
            tokio::spawn(async move {
                loop {
                    match rd.next::<FromServer>().await {
                        Ok(Some(m)) => {
                            if inbox.send(Report::Server(id, m)).is_err() {
                                return;
                            }
                        }
                        Ok(None) | Err(_) => {
                            let _ = inbox.send(Report::ControlClosed(id));
                            return;
                        }
                    }
                }
            });
        }
        ports.sort_unstable();
        let c = &self.scenario.cluster;
        for (id, wr) in writers {
            let (tx, rx) = unbounded_channel();
            tokio::spawn(async move {
                let _ = forward_frames(wr, rx).await;
            });
            let cfg = ServerConfig {
                run_id: self.run_id.clone(),
                protocol: self.protocol,
                node: NodeConfig {
                    me: id,
                    n,
                    heartbeat: c.heartbeat,
                    suspect_after: c.suspect_after,
                },
                delta: c.delta,
                jitter: c.jitter,
                seed: self.seed,
                peers: ports.clone(),
                triggers: self.triggers_at(id),
            };
            let _ = tx.send(ToServer::Config(Box::new(cfg)));
            self.ctl[usize::from(id)] = Some(tx);
        }

        // Every server's mesh is up.
        if !self
            .pump_until(deadline, |o| o.ready[1..].iter().all(|&r| r))
            .await?
        {
            return Err(self
                .setup_failure("the servers' links did not all come up in time")
                .into());
        }

        // One user connection per server.
        for &(id, port) in &ports {
            let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                .await
                .map_err(ProcessError::Io)?;
            stream.set_nodelay(true).map_err(ProcessError::Io)?;
            let (rd, wr) = stream.into_split();
            let mut w = FrameWriter::new(wr);
            w.send(&Hello::User {
                run_id: self.run_id.clone(),
            })
            .await
            .map_err(ProcessError::Wire)?;
            let (tx, rx) = unbounded_channel();
            tokio::spawn(async move {
                let _ = forward_frames(w.into_inner(), rx).await;
            });
            self.users[usize::from(id)] = Some(tx);
            let inbox = self.inbox_tx.clone();
            tokio::spawn(async move {
                let mut rd = FrameReader::new(rd);
                while let Ok(Some(UserResp::Decided { ticket, .. })) = rd.next::<UserResp>().await {
                    if inbox.send(Report::Decided(id, ticket)).is_err() {
                        return;
                    }
                }
            });
        }

        // Time 0, on the wall clock and on the monotonic clock every process shares.
        let epoch = unix_us();
        let clock = RunClock::from_unix_epoch(epoch);
        self.clock = Some(clock);
        for tx in self.ctl.iter().flatten() {
            let _ = tx.send(ToServer::Start {
                epoch_unix_us: epoch,
                epoch_mono_ns: clock.epoch_mono(),
            });
        }
        self.phase = Phase::Running;
        info!(epoch, "cluster up");
        Ok(())
    }

    /// The event-triggered faults (`after = {..}`) server `id` watches.
    fn triggers_at(&self, id: ServerId) -> Vec<Trigger> {
        let faults = self.scenario.faults.iter().enumerate();
        faults
            .filter_map(|(i, f)| {
                let after = f.after.as_ref().filter(|a| a.server == id)?;
                Some(Trigger {
                    fault: i as u32,
                    event: (&after.event).into(),
                    count: after.count,
                    crash_self: matches!(&f.action, FaultAction::Crash(s) if s.contains(&id)),
                })
            })
            .collect()
    }

    fn setup_failure(&self, what: &str) -> ProcessError {
        ProcessError::Setup(format!(
            "{} ({} servers, run {})",
            what, self.n, self.run_id
        ))
    }

    // ---- phase 2 -------------------------------------------------------------------------

    async fn workload(&mut self) -> Result<(), Stop> {
        for (i, f) in self.scenario.faults.iter().enumerate() {
            if f.after.is_none() {
                self.push(f.at, Action::Fault(i));
            }
        }
        let outs = self.client.start(0, self.scenario.workload.concurrency);
        self.client_outs(outs);
        let clock = self.clock.expect("set up");
        loop {
            if self.client.done() && self.faults_left == 0 {
                return Ok(());
            }
            let next = self.schedule.keys().next().map(|k| k.0);
            let wake = tokio_instant(clock.mono_of(next.unwrap_or(0)));
            tokio::select! {
                biased;
                sig = self.interrupt.wait() => return Err(Stop::Interrupted(sig)),
                r = self.inbox.recv() => {
                    if let Some(r) = r {
                        self.on_report(r)?;
                    }
                }
                () = tokio::time::sleep_until(wake), if next.is_some() && self.unconfirmed.is_empty() => {
                    self.fire_due()
                }
            }
        }
    }

    fn push(&mut self, at: Time, action: Action) {
        self.seq += 1;
        self.schedule.insert((at, self.seq), action);
    }

    fn client_outs(&mut self, outs: Vec<ClientOut>) {
        for o in outs {
            match o {
                ClientOut::Submit { at, ticket, server } => {
                    self.push(at, Action::Submit { ticket, server })
                }
                ClientOut::WakeAt(at) => self.push(at, Action::Wake),
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
            match action {
                Action::Submit { ticket, server } => {
                    let sent = self.users[usize::from(server)].as_ref().is_some_and(|tx| {
                        tx.send(UserReq::Submit {
                            ticket: ticket.clone(),
                        })
                        .is_ok()
                    });
                    if !sent {
                        self.history.push(Event::Refused {
                            t_us: now,
                            ticket: ticket.clone(),
                            server,
                        });
                    }
                    let outs = self.client.submitted(now, &ticket, server, sent);
                    self.client_outs(outs);
                }
                Action::Wake => {
                    let outs = self.client.wake(now);
                    self.client_outs(outs);
                }
                Action::Fault(i) => {
                    self.faults_left -= 1;
                    self.fault(i, None);
                }
            }
        }
    }

    /// Execute fault `i`; `trigger` is the server whose event fired it, and when.
    fn fault(&mut self, i: usize, trigger: Option<(ServerId, Time)>) {
        let action = &self.scenario.faults[i].action;
        let now = self.now();
        info!(fault = i, t_us = now, "fault: {action:?}");
        match action {
            FaultAction::Crash(servers) => {
                for &s in servers {
                    if self.ctl[usize::from(s)].is_none() {
                        continue;
                    }
                    self.cluster.kill(s);
                    let now = match trigger {
                        Some((t, at)) if t == s => at,
                        _ => self.now(),
                    };
                    self.ctl[usize::from(s)] = None;
                    self.users[usize::from(s)] = None;
                    self.unconfirmed.remove(&s);
                    self.paused.remove(&s);
                    self.history.push(Event::Crash {
                        t_us: now,
                        server: s,
                    });
                    let outs = self.client.crashed(now, s);
                    self.client_outs(outs);
                }
            }
            FaultAction::Pause(servers) => {
                for &s in servers {
                    if self.ctl[usize::from(s)].is_some() && self.paused.insert(s) {
                        self.cluster.signal(s, libc::SIGSTOP);
                        self.unconfirmed.remove(&s);
                    }
                }
            }
            FaultAction::Resume(servers) => {
                for &s in servers {
                    if self.paused.remove(&s) {
                        self.cluster.signal(s, libc::SIGCONT);
                    }
                }
            }
            FaultAction::Suspect {
                by,
                server,
                duration,
            } => {
                if let Some(tx) = &self.ctl[usize::from(*by)] {
                    let _ = tx.send(ToServer::Protocol(Control::Suspect {
                        server: *server,
                        until: now + duration,
                    }));
                }
            }
            FaultAction::Delay { .. }
            | FaultAction::Loss { .. }
            | FaultAction::Block { .. }
            | FaultAction::Partition(_)
            | FaultAction::Heal => {
                let Some(link) = LinkFault::of(action) else {
                    return;
                };
                // Every server keeps the whole link model; later actions wait until the fault
                // is in force at every server that can answer (a paused one applies it when it
                // resumes).
                for s in self.live() {
                    if let Some(tx) = &self.ctl[usize::from(s)] {
                        if tx.send(ToServer::Link(link.clone())).is_ok()
                            && !self.paused.contains(&s)
                        {
                            self.unconfirmed.insert(s);
                        }
                    }
                }
            }
        }
    }

    fn on_report(&mut self, r: Report) -> Result<(), ProcessError> {
        match r {
            Report::Server(id, m) => match m {
                FromServer::Event(e) => {
                    let e = e.into_event(id);
                    if let Event::Decide { ticket, .. } = &e {
                        if self.decided.insert(ticket.clone()) {
                            if self.decided.len() == 1 {
                                info!(t_us = e.time(), "first ticket decided");
                            }
                            self.bar.inc(1);
                        }
                    }
                    self.history.push(e);
                }
                FromServer::Note(note) => *self.notes.entry(note).or_insert(0) += 1,
                FromServer::Counters {
                    heartbeats,
                    retransmissions,
                } => {
                    self.heartbeats[usize::from(id)] = heartbeats;
                    self.retransmissions[usize::from(id)] = retransmissions;
                }
                FromServer::Triggered { fault, t_us } => {
                    if self.phase == Phase::Running || self.phase == Phase::Quiescing {
                        // A server that crashes itself on the event died at the event.
                        self.fault(fault as usize, Some((id, t_us)));
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
                FromServer::Hello { .. } => warn!(server = id, "a second hello"),
            },
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
                    let outs = self.client.decided(now, &ticket, id);
                    self.client_outs(outs);
                }
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
            .filter(|&s| self.ctl[usize::from(s)].is_some() && !self.paused.contains(&s))
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

    fn into_output(mut self) -> RunOutput {
        // Stable sort: events of one server arrive in the order it recorded them, so equal
        // timestamps keep that order (a submission before its immediate decision).
        self.history.sort_by_key(Event::time);
        RunOutput {
            history: self.history,
            heartbeats: self.heartbeats.iter().sum(),
            retransmissions: self.retransmissions.iter().sum(),
            notes: self.notes,
            end: self.end,
        }
    }
}

/// The server processes of one run: one process group, killed as a whole.
struct Cluster {
    children: Vec<Option<Child>>,
    pids: Vec<Option<u32>>,
    pgid: Option<i32>,
}

impl Cluster {
    fn empty(n: u16) -> Self {
        Cluster {
            children: (0..=n).map(|_| None).collect(),
            pids: vec![None; usize::from(n) + 1],
            pgid: None,
        }
    }

    /// Spawn `ticketlab server` n times. Must run on a thread that outlives the servers (the main
    /// thread): PR_SET_PDEATHSIG fires when the spawning *thread* exits.
    fn spawn(n: u16, control: SocketAddr, run_id: &str) -> Result<Self, ProcessError> {
        let exe =
            std::env::current_exe().map_err(|source| ProcessError::Spawn { server: 1, source })?;
        let mut c = Cluster::empty(n);
        let me = std::process::id();
        for id in 1..=n {
            let mut cmd = Command::new(&exe);
            cmd.arg("server")
                .arg("--id")
                .arg(id.to_string())
                .arg("--control")
                .arg(control.to_string())
                .arg("--parent-pid")
                .arg(me.to_string())
                .arg("--run-id")
                .arg(run_id)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                // All servers in one new process group: one kill reaches them all, and the
                // terminal's Ctrl-C reaches only the orchestrator, which decides what to do.
                .process_group(c.pgid.unwrap_or(0));
            let child = cmd
                .spawn()
                .map_err(|source| ProcessError::Spawn { server: id, source })?;
            let pid = child.id();
            if c.pgid.is_none() {
                c.pgid = pid.map(|p| p as i32);
            }
            c.pids[usize::from(id)] = pid;
            c.children[usize::from(id)] = Some(child);
        }
        Ok(c)
    }

    fn pid(&self, id: ServerId) -> Option<u32> {
        self.pids.get(usize::from(id)).copied().flatten()
    }

    fn spawned(&self) -> Vec<ServerId> {
        (1..self.pids.len() as u16)
            .filter(|&s| self.pids[usize::from(s)].is_some())
            .collect()
    }

    /// Send `sig` to server `id` (SIGSTOP/SIGCONT for pause/resume).
    fn signal(&self, id: ServerId, sig: libc::c_int) {
        if let Some(pid) = self.pid(id) {
            // SAFETY: kill(2) on our own child, which we have not reaped yet.
            unsafe { libc::kill(pid as i32, sig) };
        }
    }

    /// kill -9 one server.
    fn kill(&mut self, id: ServerId) {
        if let Some(child) = self.children[usize::from(id)].as_mut() {
            let _ = child.start_kill();
        }
    }

    /// kill -9 every server (the whole group, then each one, in case one left the group).
    fn kill_all(&mut self) {
        if let Some(pgid) = self.pgid {
            // SAFETY: kill(2) on our own process group.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        for child in self.children.iter_mut().flatten() {
            let _ = child.start_kill();
        }
    }

    /// A server exited during setup: that is a setup failure.
    fn check_exited(&mut self) -> Result<(), ProcessError> {
        for (id, child) in self.children.iter_mut().enumerate() {
            if let Some(child) = child {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(ProcessError::Setup(format!(
                        "server s{id} exited during start-up ({status})"
                    )));
                }
            }
        }
        Ok(())
    }

    fn status(&mut self, id: ServerId) -> String {
        match self.children[usize::from(id)]
            .as_mut()
            .map(|c| c.try_wait())
        {
            Some(Ok(Some(status))) => status.to_string(),
            _ => "its control connection closed".into(),
        }
    }

    /// The exit status of server `id` if it exits within `timeout`.
    async fn wait_status(&mut self, id: ServerId, timeout: Duration) -> Option<String> {
        let child = self.children[usize::from(id)].as_mut()?;
        match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// Wait for every server to be gone (killing stragglers), so none is left as a zombie.
    async fn reap(&mut self) {
        for child in self.children.iter_mut().flatten() {
            match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
                Ok(_) => {}
                Err(_) => {
                    let _ = child.start_kill();
                    let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
                }
            }
        }
        self.children.iter_mut().for_each(|c| *c = None);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A panic or an early return: nothing may survive (kill_on_drop covers each child too).
        if self.children.iter().any(Option::is_some) {
            self.kill_all();
        }
    }
}
