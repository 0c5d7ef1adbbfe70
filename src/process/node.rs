//! The protocol's runtime inside one server process: [`Node`] owns the unchanged protocol state
//! machine, takes one [`Input`] at a time (a peer message released at its instant, a user's
//! ticket, a control command, a timer), makes one protocol call and executes its effects at once:
//! sends leave on their [`Link`] tagged with their release instant (δ, jitter and link faults
//! from the shared [`LinkModel`]; held at the sender while the link is cut), timers go into a
//! deadline map, decisions answer the waiting user and every event streams to the orchestrator.
//! Crash-on-event faults are counted here with the shared [`Triggers`]: the server dies right
//! after the event, before anything else of that step happens.

use super::clock::{mono_ns, tokio_instant, RunClock};
use super::wire::{encode_frame, FromServer, PeerFrame, ToServer, UserResp, WireEvent};
use crate::history::detector_event;
use crate::lab::netmodel::LinkModel;
use crate::lab::tickets::Verifier;
use crate::lab::triggers::{Seen, Triggers};
use crate::protocol::{Effect, Msg, Out, Protocol, ServerId, Ticket, Time, Timer};
use bytes::{Bytes, BytesMut};
use rand_chacha::ChaCha8Rng;
use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tracing::{info, warn};

/// An input to the node loop.
pub(super) enum Input {
    Peer {
        from: ServerId,
        /// The sender's number for it (the history's `seq`).
        seq: u64,
        msg: Msg,
    },
    UserConn {
        conn: u64,
        tx: UnboundedSender<UserResp>,
    },
    /// A user's ticket, as handed over.
    Ticket(Submission),
    Control(ToServer),
    /// The control connection closed: the orchestrator is gone or done with us.
    ControlClosed,
}

/// The most users' tickets taken in together (their signatures checked in batches of 16 by
/// `Verifier::check_all`): more would hardly lower the CPU per ticket, while the first ticket
/// taken in waits for the whole lot's checks.
pub(super) const TICKET_BATCH: usize = 64;

/// A ticket a user handed over on connection `conn`, with its signed text.
pub(super) struct Submission {
    pub(super) conn: u64,
    pub(super) ticket: Ticket,
    pub(super) signed: String,
}

/// The node's side of one outgoing peer link.
pub(super) struct Link {
    /// Encoded frames, to the link's writer task.
    pub(super) tx: UnboundedSender<Bytes>,
    /// Release instant of the last message sent (monotonic ns): FIFO per link.
    pub(super) last_release: u64,
    /// Messages sent while the link is cut (partition or block), waiting for the heal in send
    /// order.
    pub(super) cut: VecDeque<(Msg, u64)>,
}

/// The protocol's runtime inside one server process.
pub(super) struct Node {
    pub(super) me: ServerId,
    pub(super) n: u16,
    pub(super) clock: RunClock,
    pub(super) protocol: Box<dyn Protocol>,
    pub(super) out: Out,
    pub(super) links: Vec<Option<Link>>,
    /// δ, jitter and the link faults in force (the simulator's model of the same links).
    pub(super) model: LinkModel,
    /// Jitter and loss draws.
    pub(super) rng: ChaCha8Rng,
    /// Pending protocol timers: deadline (monotonic ns) by id; setting one replaces it.
    pub(super) timers: BTreeMap<Timer, u64>,
    pub(super) users: BTreeMap<u64, UnboundedSender<UserResp>>,
    /// Users waiting for a decision on a ticket, oldest submission first.
    pub(super) waiting: BTreeMap<Ticket, VecDeque<u64>>,
    pub(super) events: UnboundedSender<FromServer>,
    /// Event-triggered faults watched here.
    pub(super) triggers: Triggers,
    /// The watched faults that crash this server.
    pub(super) crash_self: Vec<u32>,
    /// A crash-on-event fault hit this server: it executes nothing more.
    pub(super) dying: bool,
    pub(super) heartbeats: u64,
    pub(super) retransmissions: u64,
    /// Connections that failed the handshake (counted by the listener's tasks).
    pub(super) rejected: std::sync::Arc<std::sync::atomic::AtomicU64>,
    pub(super) sent: Vec<u64>,
    pub(super) received: Vec<u64>,
    /// The number of this server's next protocol message (the history's `seq`).
    pub(super) next_seq: u64,
    /// Encoding buffer shared by every outgoing frame (split off, never reallocated per message).
    pub(super) scratch: BytesMut,
    /// The issuer's public key: every ticket is verified with it when the node takes it in.
    pub(super) verifier: Verifier,
}

/// What the node loop should do after an input.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

impl Node {
    /// Drive the protocol until told to stop; true when a crash-on-event fault hit this server.
    pub(super) async fn run(mut self, mut inputs: UnboundedReceiver<Input>) -> bool {
        let now_ns = mono_ns();
        let now = self.clock.time_of(now_ns);
        self.protocol.on_start(now, &mut self.out);
        self.apply(now_ns);
        let sleep = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(sleep);
        let mut armed: Option<u64> = None;
        loop {
            let next = self.timers.values().min().copied();
            if next != armed {
                if let Some(at) = next {
                    sleep.as_mut().reset(tokio_instant(at));
                }
                armed = next;
            }
            tokio::select! {
                biased;
                input = inputs.recv() => {
                    let Some(input) = input else { break };
                    if self.take(input, &mut inputs) == Flow::Stop {
                        break;
                    }
                }
                () = &mut sleep, if armed.is_some() => {
                    armed = None;
                    self.fire_timers();
                }
            }
            if self.dying {
                info!("crashing on a protocol event");
                return true;
            }
        }
        info!("stopped");
        false
    }

    /// Take `input`; a user's ticket takes with it the tickets queued right behind it (up to
    /// [`TICKET_BATCH`]), verified together (see [`Node::tickets`]). Order is kept: the first
    /// other input found behind them is taken after them.
    fn take(&mut self, input: Input, inputs: &mut UnboundedReceiver<Input>) -> Flow {
        let Input::Ticket(first) = input else {
            return self.input(input);
        };
        let mut batch = vec![first];
        let mut next = None;
        while batch.len() < TICKET_BATCH {
            match inputs.try_recv() {
                Ok(Input::Ticket(s)) => batch.push(s),
                Ok(other) => {
                    next = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        self.tickets(batch);
        match next {
            Some(input) if !self.dying => self.input(input),
            _ => Flow::Continue,
        }
    }

    /// Users' tickets taken in together at one instant: each verified before the protocol sees
    /// it, the lot in one batch verification ([`Verifier::check_all`]: about half the CPU per
    /// signature of one-by-one checks under load; alone, a ticket is checked alone). A bad
    /// ticket is rejected here, at once; each good one goes to the protocol in arrival order, its
    /// effects executed before the next.
    fn tickets(&mut self, batch: Vec<Submission>) {
        let now_ns = mono_ns();
        let now = self.clock.time_of(now_ns);
        let signed: Vec<&str> = batch.iter().map(|s| s.signed.as_str()).collect();
        let verdicts = self.verifier.check_all(&signed, now);
        for (Submission { conn, ticket, .. }, verdict) in batch.into_iter().zip(verdicts) {
            if self.dying {
                return; // crashed on an event of an earlier ticket: the rest is lost with it
            }
            if let Err((_, reason)) = verdict {
                self.report(FromServer::Event(WireEvent::Refused {
                    t_us: now,
                    ticket: ticket.clone(),
                    reason,
                }));
                if let Some(tx) = self.users.get(&conn) {
                    let _ = tx.send(UserResp::Rejected { ticket, reason });
                }
                continue;
            }
            self.report(FromServer::Event(WireEvent::Submit {
                t_us: now,
                ticket: ticket.clone(),
            }));
            self.waiting
                .entry(ticket.clone())
                .or_default()
                .push_back(conn);
            self.protocol.on_ticket(now, ticket, &mut self.out);
            self.apply(now_ns);
        }
    }

    fn input(&mut self, input: Input) -> Flow {
        let now_ns = mono_ns();
        let now = self.clock.time_of(now_ns);
        match input {
            Input::Peer { from, seq, msg } => {
                if !matches!(msg, Msg::Heartbeat) {
                    self.received[usize::from(from)] += 1;
                    self.report(FromServer::Event(WireEvent::Deliver {
                        t_us: now,
                        from,
                        msg: Cow::Borrowed(msg.kind()),
                        seq,
                    }));
                }
                self.protocol.on_message(now, from, msg, &mut self.out);
            }
            Input::UserConn { conn, tx } => {
                self.users.insert(conn, tx);
            }
            Input::Ticket(s) => {
                self.tickets(vec![s]);
                return Flow::Continue;
            }
            Input::Control(cmd) => match cmd {
                ToServer::Link(fault) => {
                    if self.model.apply(&fault.action()) {
                        self.release_cut(now_ns);
                    }
                    self.report(FromServer::Applied);
                }
                ToServer::Protocol(ctl) => self.protocol.on_control(now, ctl, &mut self.out),
                ToServer::Probe { round } => self.report(FromServer::Probe {
                    round,
                    sent: self.sent.clone(),
                    received: self.received.clone(),
                }),
                ToServer::Shutdown => {
                    self.report_counters();
                    self.report(FromServer::Bye);
                    return Flow::Stop;
                }
                other @ (ToServer::Config(_)
                | ToServer::Start { .. }
                | ToServer::StartAt { .. }
                | ToServer::Ping { .. }
                | ToServer::Crash) => {
                    warn!("ignoring {other:?} after start");
                }
            },
            Input::ControlClosed => {
                info!("orchestrator gone");
                return Flow::Stop;
            }
        }
        self.apply(now_ns);
        Flow::Continue
    }

    fn fire_timers(&mut self) {
        let now_ns = mono_ns();
        let due: Vec<Timer> = self
            .timers
            .iter()
            .filter(|(_, &at)| at <= now_ns)
            .map(|(t, _)| *t)
            .collect();
        for timer in due {
            if self.dying {
                return;
            }
            self.timers.remove(&timer);
            let now = self.clock.time_of(now_ns);
            self.protocol.on_timer(now, timer, &mut self.out);
            self.apply(now_ns);
        }
    }

    fn report(&self, m: FromServer) {
        // The orchestrator going away ends the run anyway (ControlClosed).
        let _ = self.events.send(m);
    }

    fn report_counters(&self) {
        self.report(FromServer::Counters {
            heartbeats: self.heartbeats,
            retransmissions: self.retransmissions,
            rejected: self.rejected.load(std::sync::atomic::Ordering::Relaxed),
        });
    }

    /// Count an executed effect toward the event triggers; a trigger that fires is reported, and
    /// if it crashes this server, the server stops here: the rest of the step is lost, and so are
    /// its messages not yet released at their receivers (they drop them when its links close).
    fn observe(&mut self, now: Time, seen: Seen) {
        for fault in self.triggers.observe(self.me, seen) {
            self.report(FromServer::Triggered { fault, t_us: now });
            if self.crash_self.contains(&fault) {
                self.die();
            }
        }
    }

    /// Stop here, as a crash: nothing more of this step happens, and the messages this server sent
    /// that are not yet released at their receivers are lost when its links close.
    fn die(&mut self) {
        self.dying = true;
        self.links.iter_mut().for_each(|l| *l = None);
    }

    /// Execute the effects of the protocol call made at `now_ns`.
    fn apply(&mut self, now_ns: u64) {
        let now: Time = self.clock.time_of(now_ns);
        let counters = (self.heartbeats, self.retransmissions);
        let mut effects = std::mem::take(&mut self.out.effects);
        for e in effects.drain(..) {
            if self.dying {
                break; // crashed right after an earlier effect of this step
            }
            let seen = if self.triggers.is_empty() {
                None
            } else {
                Seen::of(&e)
            };
            match e {
                Effect::Send { to, msg } => {
                    let mut seq = 0;
                    if matches!(msg, Msg::Heartbeat) {
                        self.heartbeats += 1;
                    } else {
                        self.sent[usize::from(to)] += 1;
                        seq = self.next_seq;
                        self.next_seq += 1;
                        self.report(FromServer::Event(WireEvent::Send {
                            t_us: now,
                            to,
                            msg: Cow::Borrowed(msg.kind()),
                            ticket: msg.ticket().cloned(),
                            seq,
                        }));
                    }
                    self.send(now_ns, to, msg, seq);
                }
                Effect::SetTimer { timer, after } => {
                    self.timers.insert(timer, now_ns + after * 1000);
                }
                Effect::CancelTimer { timer } => {
                    self.timers.remove(&timer);
                }
                Effect::Decide {
                    ticket,
                    outcome,
                    phase,
                    why,
                } => {
                    if let Some(conn) = self.waiting.get_mut(&ticket).and_then(|q| q.pop_front()) {
                        if let Some(tx) = self.users.get(&conn) {
                            let _ = tx.send(UserResp::Decided {
                                ticket: ticket.clone(),
                                outcome,
                            });
                        }
                    }
                    if self.waiting.get(&ticket).is_some_and(|q| q.is_empty()) {
                        self.waiting.remove(&ticket);
                    }
                    self.report(FromServer::Event(WireEvent::Decide {
                        t_us: now,
                        ticket,
                        outcome,
                        phase,
                        why,
                    }));
                }
                Effect::Note { note, by } => self.report(FromServer::Note { note, by }),
                Effect::Detector { server, suspects } => {
                    let (note, _) = detector_event(now, self.me, server, suspects);
                    self.report(FromServer::Note { note, by: 1 });
                    self.report(FromServer::Event(WireEvent::Detector {
                        t_us: now,
                        server,
                        suspects,
                    }));
                }
                Effect::Halt => {
                    self.report(FromServer::Halted { t_us: now });
                    self.die();
                }
            }
            if let Some(seen) = seen {
                self.observe(now, seen);
            }
        }
        // Give the (now empty) vector back so its capacity is reused by the next call.
        effects.clear();
        self.out.effects = effects;
        if (self.heartbeats, self.retransmissions) != counters {
            self.report_counters();
        }
    }

    /// Send `msg` on the link to `to`, to be released at its receiver after the link's transit
    /// time (δ, + jitter, or a delay fault's override, + retransmission timeouts on a lossy link)
    /// from `now_ns`, never before the link's previous message; or, while the link is cut, keep it
    /// here until the heal.
    fn send(&mut self, now_ns: u64, to: ServerId, msg: Msg, seq: u64) {
        debug_assert!(self.me != to && to <= self.n);
        let cut = self.model.is_cut(self.me, to);
        let Some(Some(link)) = self.links.get_mut(usize::from(to)) else {
            return;
        };
        if cut {
            link.cut.push_back((msg, seq));
            return;
        }
        self.transmit(now_ns, to, &msg, seq);
    }

    /// Write `msg` to `to` now, tagged with its release instant.
    fn transmit(&mut self, now_ns: u64, to: ServerId, msg: &Msg, seq: u64) {
        let transit = self.model.transit(self.me, to, &mut self.rng);
        self.retransmissions += u64::from(transit.retransmissions);
        let Some(Some(link)) = self.links.get_mut(usize::from(to)) else {
            return;
        };
        let release = (now_ns + transit.time * 1000).max(link.last_release);
        let frame = PeerFrame {
            release_ns: self.clock.since_epoch_ns(release),
            seq,
            msg,
        };
        if let Err(e) = encode_frame(&frame, &mut self.scratch) {
            warn!(to, "cannot encode {}: {e}", msg.kind());
            self.scratch.clear();
            return;
        }
        link.last_release = release;
        if link.tx.send(self.scratch.split().freeze()).is_err() {
            // The link task ended (peer gone): drop the link.
            self.links[usize::from(to)] = None;
        }
    }

    /// After a heal: what waited on a cut link leaves now, in send order, link by link.
    fn release_cut(&mut self, now_ns: u64) {
        for to in 1..=self.n {
            let waiting = match self.links.get_mut(usize::from(to)) {
                Some(Some(link)) => std::mem::take(&mut link.cut),
                _ => continue,
            };
            for (msg, seq) in waiting {
                if self.model.is_cut(self.me, to) {
                    break;
                }
                self.transmit(now_ns, to, &msg, seq);
            }
        }
        self.report_counters();
    }
}
