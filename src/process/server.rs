//! One server process (`ticketlab server`, hidden): the unchanged protocol state machine driven by
//! a single-threaded tokio runtime.
//!
//! Start-up, in order:
//! 1. [`platform::die_with_parent`]: on Linux `prctl(PR_SET_PDEATHSIG, SIGKILL)`; everywhere a
//!    check that the parent is still the orchestrator that spawned us (it could have died before
//!    the prctl): a server never outlives its run.
//! 2. Dial the orchestrator's control address, bind a listener on the address this host reaches
//!    it from (127.0.0.1 locally; or `--listen`), send [`FromServer::Hello`] with the real
//!    address; answer clock pings ([`ToServer::Ping`]); receive the
//!    [`ServerConfig`](super::wire::ServerConfig) (every peer's address). An *attached* server
//!    (`--listen` without `--control`) instead waits on its listener for an orchestrator's call
//!    ([`auth::accept_orchestrator`]), serves that run, and waits for the next.
//! 3. Dial every peer (one outgoing link per peer, TCP_NODELAY) and accept every peer's link to us
//!    (giving up if the control connection ends meanwhile); then report [`FromServer::Ready`] and
//!    wait for [`ToServer::Start`] with the run epoch.
//! 4. Run `Node` (`super::node`): one loop owning the protocol; every input (peer message, user ticket, control
//!    command, timer) is one protocol call whose effects are executed at once.
//!
//! **δ is held at the receiver.** The sender gives each outgoing server→server message a release
//! instant `now + transit`, never earlier than the previous message on that link (FIFO), and
//! writes it to the socket at once, tagged with that instant ([`PeerFrame`], in the run's shared
//! time base). The transit comes from the simulator's own [`LinkModel`]: δ (+ seeded jitter), or
//! a delay fault's override, plus one retransmission timeout per lost transmission on a lossy
//! link; on a cut link (partition, block) the message waits *at the sender* for the heal and its
//! transit starts then. The receiver's task for that link (`peer_link`) decodes frames as they
//! come, queues them, and hands each to the protocol at its release instant (a [`PreciseTimer`],
//! early wake and a short spin; see [`super::clock`] and [`super::platform`]). So the loopback
//! write, the receiver's wake-up and the decoding happen inside δ instead of adding to it: a
//! message reaches its receiver's protocol no earlier than its release instant, and as little
//! after it as the receiver can manage.
//!
//! **Crashes** keep the simulator's crash-stop: a killed server takes with it the messages it sent
//! that have not yet *arrived* (been released). kill -9 makes the kernel close the server's
//! sockets, each receiver's link task reads the end of stream (or a reset) and drops every message
//! of that link it still holds; right before a release it also takes one non-blocking look at the
//! connection. The window left: a message whose release instant falls after the kill but before
//! the end of stream is visible at the receiver (the killed process must still be scheduled to
//! exit and close its sockets: µs on an idle machine, a scheduling delay on a loaded one) is
//! delivered, where the simulator would drop it; conversely, a receiver descheduled past a release
//! that reads the end of stream first drops a message the simulator would have delivered just
//! before the crash. (The `crash` event is stamped by the orchestrator right after its SIGKILL.)
//! Crash-on-event faults are watched here too (see `super::node`): the server dies right after the
//! event, before anything else of that step happens.
//!
//! **Pauses** (SIGSTOP) match the simulator, which defers only the paused server's own inputs: a
//! paused sender's messages already written still arrive on time; a paused receiver's link tasks
//! stop with it, and on resume it releases what fell due meanwhile, late, in order per link.
//!
//! The process exits when the orchestrator says [`ToServer::Shutdown`] or its control connection
//! closes: losing the orchestrator is the end of the run (and, without Linux's parent-death
//! signal, how a server learns that its orchestrator died).

use super::auth::{self, Role, Secret};
use super::clock::{mono_ns, RunClock};
use super::node::{Input, Link, Node, Submission};
use super::platform::{self, PreciseTimer};
use super::wire::{
    encode_frame, forward_frames, FrameReader, FrameWriter, FromServer, PeerFrame, PeerPing,
    ToServer, UserReq,
};
use crate::lab::netmodel::LinkModel;
use crate::lab::tickets::Verifier;
use crate::lab::triggers::Triggers;
use crate::protocol::{Msg, Out, ServerId};
use anyhow::{bail, Context};
use bytes::{Bytes, BytesMut};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, trace, warn, Instrument};

mod start;
use start::answer_pings;
pub use start::{main, ServerArgs};

/// What the listener's connection tasks share.
struct Listen {
    run_id: String,
    secret: Secret,
    n: u16,
    inputs: UnboundedSender<Input>,
    peer_up: UnboundedSender<ServerId>,
    clock: watch::Receiver<Option<RunClock>>,
    /// Connections closed for failing the handshake (reported in `FromServer::Counters`).
    rejected: Arc<AtomicU64>,
    /// Permits for connections in their handshake ([`auth::max_pending`]).
    pending: Arc<Semaphore>,
    /// Pings each incoming peer link answers before its frames ([`super::wire::ServerConfig::ping_peers`]).
    ping_peers: u8,
}

impl Listen {
    fn reject(&self, why: &str) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        warn!("rejected a connection: {why}");
    }
}

/// Accept peer links and user connections; each must first pass the handshake ([`auth`]).
async fn accept_loop(listener: Arc<TcpListener>, listen: Arc<Listen>) {
    let mut next_conn = 0u64;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // E.g. out of descriptors: don't spin on it.
                warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Too many connections still unauthenticated: close this one at once.
        let Ok(permit) = listen.pending.clone().try_acquire_owned() else {
            drop(stream);
            listen.reject("too many unauthenticated connections");
            continue;
        };
        next_conn += 1;
        tokio::spawn(connection(stream, next_conn, listen.clone(), permit).in_current_span());
    }
}

/// One accepted connection: the handshake, then a peer's link to us or a user. Nothing it sends
/// reaches the node before the handshake has passed.
async fn connection(
    stream: TcpStream,
    conn: u64,
    listen: Arc<Listen>,
    permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut rd = FrameReader::new(rd);
    let who = tokio::time::timeout(
        auth::handshake_timeout(listen.n),
        auth::accept(&mut rd, &mut wr, &listen.secret, &listen.run_id, listen.n),
    )
    .await;
    drop(permit);
    let who = match who {
        Ok(Ok(who)) => who,
        Ok(Err(e)) => return listen.reject(&e.to_string()),
        Err(_) => return listen.reject("no hello in time"),
    };
    let inputs = listen.inputs.clone();
    match who {
        auth::Peer::Server(from) => {
            if listen.ping_peers > 0 {
                if let Err(e) = answer_pings(&mut rd, &mut wr, listen.ping_peers).await {
                    return listen.reject(&format!("s{from}'s pings: {e}"));
                }
            }
            let _ = listen.peer_up.send(from);
            let mut clock = listen.clock.clone();
            let clock = match clock.wait_for(Option::is_some).await {
                Ok(c) => c.expect("waited for it"),
                Err(_) => return, // never started
            };
            peer_link(from, rd, clock, inputs)
                .instrument(tracing::debug_span!("link", from))
                .await;
        }
        auth::Peer::User => {
            let (tx, rx) = unbounded_channel();
            if inputs.send(Input::UserConn { conn, tx }).is_err() {
                return;
            }
            tokio::spawn(forward_frames(wr, rx).in_current_span());
            while let Ok(Some(UserReq::Submit { ticket, signed })) = rd.next::<UserReq>().await {
                if inputs
                    .send(Input::Ticket(Submission {
                        conn,
                        ticket,
                        signed,
                    }))
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

/// One outgoing link: writes each frame as soon as the node hands it over (the receiver holds it
/// until its release instant), batching whatever is queued at once.
async fn link_writer(peer: ServerId, mut wr: OwnedWriteHalf, mut rx: UnboundedReceiver<Bytes>) {
    let mut batch = BytesMut::new();
    while let Some(frame) = rx.recv().await {
        batch.extend_from_slice(&frame);
        while let Ok(frame) = rx.try_recv() {
            batch.extend_from_slice(&frame);
        }
        if let Err(e) = wr.write_all_buf(&mut batch).await {
            // The peer is gone (crashed): what it would have received is lost, as in the
            // simulator. Keep draining so the node's sends stay cheap.
            debug!(peer, "link closed: {e}");
            while rx.recv().await.is_some() {}
            return;
        }
    }
}

/// A message held at its receiver until `release` (monotonic ns).
struct Held {
    release: u64,
    seq: u64,
    msg: Msg,
}

impl Held {
    /// Protocol messages are released on time to the µs; heartbeats whenever the timer fires.
    fn precise(&self) -> bool {
        !matches!(self.msg, Msg::Heartbeat)
    }
}

/// How long before a protocol message's release its link task wakes up, then finishes the wait on
/// the CPU: the platform timer's typical lateness ([`platform::TIMER_LATENESS_NS`]; on Linux a
/// sleeping process wakes 50–150 µs after its timerfd's deadline on the lab's machines — VMs: the
/// host must resume an idle vCPU). Waking early and spinning the rest takes that lateness out of
/// every hop for ≤ that much CPU per release instant. Heartbeats don't spin.
const EARLY_WAKE_NS: u64 = platform::TIMER_LATENESS_NS;

/// One incoming peer link: decodes `from`'s frames as they arrive, holds each message until its
/// release instant and then hands it to the node, in link order. On the end of the stream or an
/// error (`from` crashed, or the run is over) every message still held is dropped: a killed
/// server's messages that have not arrived are lost, as in the simulator (see the module
/// documentation for the window this leaves).
async fn peer_link(
    from: ServerId,
    mut rd: FrameReader<OwnedReadHalf>,
    clock: RunClock,
    inputs: UnboundedSender<Input>,
) {
    let mut timer = match PreciseTimer::new() {
        Ok(t) => t,
        Err(e) => {
            warn!(from, "cannot create a {} timer: {e}", platform::NAME);
            return;
        }
    };
    let mut queue: VecDeque<Held> = VecDeque::new();
    let mut last_release = 0u64;
    let mut armed: Option<u64> = None;
    loop {
        if let Some(head) = queue.front() {
            let (release, precise) = (head.release, head.precise());
            // Wake at the head's release, or early for the first protocol message (which may sit
            // right behind a heartbeat).
            let wake_at = queue.iter().find(|h| h.precise()).map_or(release, |h| {
                release.min(h.release.saturating_sub(EARLY_WAKE_NS))
            });
            if mono_ns() >= wake_at {
                // Within EARLY_WAKE_NS of the head's release: finish the wait here, to the µs.
                while mono_ns() < release {
                    std::hint::spin_loop();
                }
                // A last look at the connection: a sender that died meanwhile takes it all.
                match rd.try_fill() {
                    Ok(true) => {}
                    Ok(false) => return dropped(from, &queue, "end of stream"),
                    Err(e) => return dropped(from, &queue, &e.to_string()),
                }
                let now = mono_ns();
                trace!(from, precise, late_ns = now - release, "release");
                while queue.front().is_some_and(|h| h.release <= now) {
                    let h = queue.pop_front().expect("front exists");
                    let (seq, msg) = (h.seq, h.msg);
                    if inputs.send(Input::Peer { from, seq, msg }).is_err() {
                        return; // the node stopped
                    }
                }
                continue;
            }
            if armed != Some(wake_at) {
                if let Err(e) = timer.arm(wake_at) {
                    warn!(from, "cannot arm the link timer: {e}");
                    return;
                }
                armed = Some(wake_at);
            }
        }
        tokio::select! {
            biased;
            r = timer.wait(), if !queue.is_empty() => {
                armed = None;
                if let Err(e) = r {
                    warn!(from, "link timer failed: {e}");
                    return;
                }
            }
            frame = rd.next::<PeerFrame>() => match frame {
                Ok(Some(PeerFrame { release_ns, seq, msg })) => {
                    let mut release = clock.mono_of_ns(release_ns);
                    if release < last_release {
                        // Senders never do this (FIFO by construction); keep the link FIFO anyway.
                        warn!(from, release_ns, "release instants out of order on a link");
                        release = last_release;
                    }
                    last_release = release;
                    queue.push_back(Held { release, seq, msg });
                }
                Ok(None) => return dropped(from, &queue, "end of stream"),
                Err(e) => return dropped(from, &queue, &e.to_string()),
            },
        }
    }
}

/// `from`'s link closed: what it still holds is never released (the caller drops it).
fn dropped(from: ServerId, queue: &VecDeque<Held>, why: &str) {
    let held = queue.iter().filter(|h| h.precise()).count();
    debug!(
        from,
        held, "peer link closed ({why}): dropping its held messages"
    );
}
