//! The process runtime's wire: what travels on its three kinds of TCP connection, and the framing.
//!
//! - **peer links** (server → server, one connection per ordered pair): a [`Hello::Peer`], then
//!   [`PeerFrame`]s — a protocol [`Msg`] (the protocols' own flat wire enum, unchanged) tagged with
//!   the instant its receiver may hand it to the protocol;
//! - **user connections** (orchestrator's users → server): a [`Hello::User`], then [`UserReq`]s one
//!   way and [`UserResp`]s the other;
//! - **the control connection** (server → orchestrator, dialled by the server at start-up):
//!   [`ToServer`] commands one way, [`FromServer`] reports (history events as they happen,
//!   counters, probe answers) the other.
//!
//! Every frame is a 4-byte big-endian length (tokio-util's [`LengthDelimitedCodec`] format, which
//! decodes it with a bounded frame size) followed by a bincode 1 body (varint integers, size limit
//! [`MAX_FRAME`]). Framing is kept apart from I/O as in mini-redis: [`encode_frame`] appends a
//! frame to a buffer the caller owns, so the hot path reuses one buffer instead of allocating per
//! message; [`FrameReader`] owns its read buffer.
//!
//! [`history::Event`](crate::history::Event) is internally tagged for JSON, which bincode cannot
//! decode, so history events travel as [`WireEvent`] and become `Event`s at the orchestrator.

use crate::history::Event;
use crate::history::Rejection;
use crate::lab::triggers::Trigger;
use crate::protocol::{
    Control, Msg, NodeConfig, Note, Outcome, ProtocolKind, ServerId, Ticket, Time,
};
use crate::scenario::FaultAction;
use bincode::Options;
use bytes::{BufMut, Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

/// The largest frame body either side accepts (a consensus value of many tickets fits easily).
pub const MAX_FRAME: usize = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("connection i/o")]
    Io(#[from] std::io::Error),
    #[error("cannot encode or decode a frame")]
    Codec(#[from] bincode::Error),
    #[error("frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("unexpected message: {0}")]
    Unexpected(String),
}

fn options() -> impl Options {
    bincode::DefaultOptions::new().with_limit(MAX_FRAME as u64)
}

/// Append one frame (length + bincode body) holding `value` to `buf`.
pub fn encode_frame<T: Serialize>(value: &T, buf: &mut BytesMut) -> Result<(), WireError> {
    let start = buf.len();
    buf.put_u32(0);
    if let Err(e) = options().serialize_into((&mut *buf).writer(), value) {
        buf.truncate(start);
        return Err(e.into());
    }
    let len = buf.len() - start - 4;
    if len > MAX_FRAME {
        buf.truncate(start);
        return Err(WireError::TooLarge(len));
    }
    buf[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// Reads whole frames from a byte stream and decodes them.
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    codec: LengthDelimitedCodec,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::with_capacity(8 * 1024),
            codec: LengthDelimitedCodec::builder()
                .max_frame_length(MAX_FRAME)
                .new_codec(),
        }
    }

    /// Accept frames of at most `max` bytes from now on (≤ [`MAX_FRAME`]): a length prefix
    /// above it is an error before anything is allocated for the frame.
    pub fn set_max_frame(&mut self, max: usize) {
        self.codec.set_max_frame_length(max.min(MAX_FRAME));
    }

    /// The next value, or `None` on a clean end of stream (between frames).
    pub async fn next<T: DeserializeOwned>(&mut self) -> Result<Option<T>, WireError> {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buf)? {
                return Ok(Some(options().deserialize(&frame)?));
            }
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(WireError::Truncated)
                };
            }
        }
    }

    /// Wait for at least one whole frame, then take every whole frame the buffer holds (raw
    /// bodies, decoded later by the caller) into `out`: one wake-up, many frames. `Ok(false)` on
    /// a clean end of stream (between frames).
    pub async fn next_frames(&mut self, out: &mut Vec<Bytes>) -> Result<bool, WireError> {
        loop {
            while let Some(frame) = self.codec.decode(&mut self.buf)? {
                out.push(frame.freeze());
            }
            if !out.is_empty() {
                return Ok(true);
            }
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(false)
                } else {
                    Err(WireError::Truncated)
                };
            }
        }
    }

    /// The next value; end of stream is an error.
    pub async fn expect<T: DeserializeOwned>(&mut self) -> Result<T, WireError> {
        self.next()
            .await?
            .ok_or_else(|| WireError::Unexpected("end of stream".into()))
    }
}

impl FrameReader<OwnedReadHalf> {
    /// Take in whatever the socket holds right now, without waiting (the frames are decoded by
    /// the next [`FrameReader::next`]). `Ok(true)`: the connection is still open; `Ok(false)`: end
    /// of stream — the peer closed it, or died; an error is a broken connection (e.g. a reset).
    pub fn try_fill(&mut self) -> io::Result<bool> {
        loop {
            self.buf.reserve(4096);
            match self.inner.try_read_buf(&mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Buffers encoded frames and writes them out in one go.
pub struct FrameWriter<W> {
    inner: W,
    buf: BytesMut,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    pub fn new(inner: W) -> Self {
        FrameWriter {
            inner,
            buf: BytesMut::with_capacity(8 * 1024),
        }
    }

    /// Queue a frame; nothing is written until [`FrameWriter::flush`].
    pub fn push<T: Serialize>(&mut self, value: &T) -> Result<(), WireError> {
        encode_frame(value, &mut self.buf)
    }

    /// Write every queued frame.
    pub async fn flush(&mut self) -> Result<(), WireError> {
        self.inner.write_all_buf(&mut self.buf).await?;
        Ok(())
    }

    pub async fn send<T: Serialize>(&mut self, value: &T) -> Result<(), WireError> {
        self.push(value)?;
        self.flush().await
    }

    /// The connection back, with nothing left queued.
    pub fn into_inner(self) -> W {
        debug_assert!(self.buf.is_empty());
        self.inner
    }
}

/// Write every value received on `rx` to `wr` as frames, batching whatever is queued at once,
/// until `rx` closes or the connection fails.
pub async fn forward_frames<T: Serialize, W: AsyncWrite + Unpin>(
    wr: W,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<T>,
) -> Result<(), WireError> {
    let mut w = FrameWriter::new(wr);
    while let Some(first) = rx.recv().await {
        w.push(&first)?;
        while let Ok(more) = rx.try_recv() {
            w.push(&more)?;
        }
        w.flush().await?;
    }
    Ok(())
}

/// The first frame on a connection to a server's listener says who is calling, and proves it
/// knows the run's secret (see [`super::auth`]). It answers the listener's challenge: 32 raw
/// bytes the listener writes as soon as it accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hello {
    /// Server `from`'s outgoing link to this server; [`PeerFrame`]s follow. `mac` answers the
    /// listener's challenge ([`super::auth::mac`] with role `Peer(from)`).
    Peer {
        from: ServerId,
        run_id: String,
        mac: Vec<u8>,
    },
    /// A user connection; `UserReq` frames follow. `mac`: role `User`.
    User { run_id: String, mac: Vec<u8> },
    /// The orchestrator dialling an attached server (`ticketlab server --listen`): it proves the
    /// secret for server `id` of run `run_id` (role `Orchestrator(id)`) and sends its own
    /// `challenge`, which the server answers with its [`FromServer::Hello`]; the connection is
    /// then that server's control connection.
    Orchestrator {
        id: ServerId,
        run_id: String,
        mac: Vec<u8>,
        challenge: Vec<u8>,
    },
}

/// One server→server message on a peer link. The sender writes it as soon as the protocol sends
/// it; the receiver holds it until `release_ns` and only then hands `msg` to its protocol (see
/// [`super::server`]). `release_ns` is the release instant in the run's shared time base: ns
/// since the run epoch, which every process of the run places at the same `CLOCK_MONOTONIC`
/// instant ([`ToServer::Start`]). Release instants never decrease along a link.
///
/// Generic so that the sender can encode a borrowed message (`PeerFrame<&Msg>`, same bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerFrame<M = Msg> {
    pub release_ns: u64,
    /// The sender's number for the message (the history's `seq`; 0 for heartbeats).
    pub seq: u64,
    pub msg: M,
}

/// A user's request to a server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserReq {
    /// `signed`: the ticket as the user holds it (`lab::tickets::SignedTicket`'s text), verified
    /// by the server before its protocol sees `ticket`.
    Submit { ticket: Ticket, signed: String },
}

/// A server's answer to a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserResp {
    Decided {
        ticket: Ticket,
        outcome: Outcome,
    },
    /// The server rejected the ticket's credential at once (its protocol never saw it).
    Rejected {
        ticket: Ticket,
        reason: Rejection,
    },
}

/// Everything a server needs to join a run (sent once, after its [`FromServer::Hello`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerConfig {
    pub run_id: String,
    pub protocol: ProtocolKind,
    pub node: NodeConfig,
    /// δ, µs: every server→server message reaches its receiver's protocol this long after it was
    /// sent.
    pub delta: Time,
    /// Extra uniform transit in [0, jitter] µs per message, drawn from `seed`.
    pub jitter: Time,
    pub seed: u64,
    /// The run's ticket issuer's Ed25519 public key: tickets are verified with it.
    pub issuer: [u8; 32],
    /// Every server's listening address, including this one's.
    pub peers: Vec<(ServerId, SocketAddr)>,
    /// Event-triggered faults (`after = {..}`) watched at this server. The server reports
    /// [`FromServer::Triggered`] when one fires.
    pub triggers: Vec<Trigger>,
    /// Those of `triggers` whose fault crashes this very server: it executes nothing more of that
    /// step and dies at once, so the crash lands exactly where the scenario says, as in the
    /// simulator.
    pub crash_self: Vec<u32>,
    /// This server's Byzantine behaviour and from when (`byzantine` faults), if any.
    pub byzantine: Option<(crate::lab::byzantine::Behaviour, Time)>,
    /// Ping every peer this many times when its link opens, and report the round trips and
    /// clock offsets ([`FromServer::PeerPings`]) before [`FromServer::Ready`]; 0: no pings (a
    /// local run, whose processes share one clock).
    pub ping_peers: u8,
}

/// A link fault on the wire: the [`FaultAction`]s that shape links (see [`crate::lab::netmodel`]).
/// Every server gets every link fault and keeps the whole [`crate::lab::netmodel::LinkModel`]; it
/// only ever asks it about its own outgoing links.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LinkFault {
    Delay {
        from: Vec<ServerId>,
        to: Vec<ServerId>,
        delay: Time,
    },
    Loss {
        from: Vec<ServerId>,
        to: Vec<ServerId>,
        rate: f64,
    },
    Block {
        from: Vec<ServerId>,
        to: Vec<ServerId>,
    },
    Partition(Vec<Vec<ServerId>>),
    Heal,
}

impl LinkFault {
    /// The link part of a fault, if it is one.
    pub fn of(action: &FaultAction) -> Option<Self> {
        Some(match action {
            FaultAction::Delay { from, to, delay } => LinkFault::Delay {
                from: from.clone(),
                to: to.clone(),
                delay: *delay,
            },
            FaultAction::Loss { from, to, rate } => LinkFault::Loss {
                from: from.clone(),
                to: to.clone(),
                rate: *rate,
            },
            FaultAction::Block { from, to } => LinkFault::Block {
                from: from.clone(),
                to: to.clone(),
            },
            FaultAction::Partition(groups) => LinkFault::Partition(groups.clone()),
            FaultAction::Heal => LinkFault::Heal,
            FaultAction::Crash(_)
            | FaultAction::Pause(_)
            | FaultAction::Resume(_)
            | FaultAction::Suspect { .. }
            | FaultAction::Byzantine { .. } => return None,
        })
    }

    pub fn action(&self) -> FaultAction {
        match self.clone() {
            LinkFault::Delay { from, to, delay } => FaultAction::Delay { from, to, delay },
            LinkFault::Loss { from, to, rate } => FaultAction::Loss { from, to, rate },
            LinkFault::Block { from, to } => FaultAction::Block { from, to },
            LinkFault::Partition(groups) => FaultAction::Partition(groups),
            LinkFault::Heal => FaultAction::Heal,
        }
    }
}

/// Orchestrator → server, on the control connection.
///
/// Fault injection that needs the server's cooperation arrives here (link faults, forced
/// suspicions; event triggers come with the configuration); faults the OS does on its own
/// (kill -9, SIGSTOP/SIGCONT) never reach the server. New kinds are new variants: orchestrator
/// and servers are always the same binary, so the enum grows without a version handshake.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ToServer {
    Config(Box<ServerConfig>),
    /// Start the protocol. `epoch_unix_us` is the run's time 0 as UNIX time in µs, and
    /// `epoch_mono_ns` the same instant on the orchestrator's `CLOCK_MONOTONIC` (one clock for
    /// every process of the machine): every process stamps its history events in µs since that
    /// instant, and peer frames carry their release instants in ns since it
    /// ([`PeerFrame::release_ns`]), so all of them share one time base exactly.
    Start {
        epoch_unix_us: u64,
        epoch_mono_ns: u64,
    },
    /// Apply a link fault to this server's outgoing links. Answered by [`FromServer::Applied`],
    /// so the orchestrator can hold back later actions until the fault is in force.
    Link(LinkFault),
    /// Hand a control command to the protocol (`Protocol::on_control`).
    Protocol(Control),
    /// Report the message counters (quiescence detection at the end of a run).
    Probe {
        round: u64,
    },
    /// Report the final counters, say goodbye and exit.
    Shutdown,
    /// Answer at once with [`FromServer::Pong`] (clock synchronisation at setup, before the
    /// configuration).
    Ping {
        seq: u32,
    },
    /// Start the protocol, with the run epoch given on *this server's own* `CLOCK_MONOTONIC`,
    /// ns (the orchestrator measured the offset between the clocks at setup): used as is.
    StartAt {
        epoch_mono_ns: u64,
    },
    /// kill -9 yourself now (a crash fault on a server the orchestrator cannot signal).
    Crash,
}

/// A history event as the server records it (`from`/`server` is the reporting server).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireEvent {
    Submit {
        t_us: Time,
        ticket: Ticket,
    },
    /// The server rejected the ticket's credential when it took it in.
    Refused {
        t_us: Time,
        ticket: Ticket,
        reason: Rejection,
    },
    Send {
        t_us: Time,
        to: ServerId,
        msg: Cow<'static, str>,
        ticket: Option<Ticket>,
        seq: u64,
    },
    /// Message `seq` of `from` reached this server's protocol.
    Deliver {
        t_us: Time,
        from: ServerId,
        msg: Cow<'static, str>,
        seq: u64,
    },
    Decide {
        t_us: Time,
        ticket: Ticket,
        outcome: Outcome,
        phase: Option<u8>,
        why: Option<String>,
    },
    /// This server's failure detector began (`suspects`) or stopped suspecting `server`.
    Detector {
        t_us: Time,
        server: ServerId,
        suspects: bool,
    },
}

impl WireEvent {
    /// The history event, as reported by server `server`.
    pub fn into_event(self, server: ServerId) -> Event {
        match self {
            WireEvent::Submit { t_us, ticket } => Event::Submit {
                t_us,
                ticket,
                server,
            },
            WireEvent::Refused {
                t_us,
                ticket,
                reason,
            } => Event::Refused {
                t_us,
                ticket,
                server,
                reason: Some(reason),
            },
            WireEvent::Send {
                t_us,
                to,
                msg,
                ticket,
                seq,
            } => Event::Send {
                t_us,
                from: server,
                to,
                msg: msg.into_owned(),
                ticket,
                seq,
            },
            WireEvent::Deliver {
                t_us,
                from,
                msg,
                seq,
            } => Event::Deliver {
                t_us,
                from,
                to: server,
                msg: msg.into_owned(),
                seq,
            },
            WireEvent::Decide {
                t_us,
                ticket,
                outcome,
                phase,
                why,
            } => Event::Decide {
                t_us,
                ticket,
                server,
                outcome,
                phase,
                why,
            },
            WireEvent::Detector {
                t_us,
                server: other,
                suspects,
            } => crate::history::detector_event(t_us, server, other, suspects).1,
        }
    }
}

/// Decode one frame body (as [`FrameReader::next_frames`] gives it).
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    Ok(options().deserialize(body)?)
}

/// The first byte of every encoded [`FromServer::Event`] body: its variant's index, a bincode
/// varint (one byte below 251). The orchestrator keeps history events as they came, encoded, and
/// decodes them after the run, so it can tell them from the frames it acts on without decoding.
pub const EVENT_TAG: u8 = 2;

/// Whether a [`FromServer`] frame body is a history event ([`EVENT_TAG`]).
pub fn is_event_body(body: &[u8]) -> bool {
    body.first() == Some(&EVENT_TAG)
}

/// Server → orchestrator, on the control connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromServer {
    /// First frame: who I am and where my listener is. `mac` answers the orchestrator's
    /// challenge ([`super::auth::mac`], role `Control(id)`).
    Hello {
        id: ServerId,
        /// The server's listening address, as peers and users on other hosts reach it.
        addr: SocketAddr,
        pid: u32,
        run_id: String,
        mac: Vec<u8>,
    },
    /// Every peer link is up, both ways.
    Ready,
    /// A history event, sent as it happens (so a killed server's events up to its death are kept).
    Event(WireEvent),
    /// A protocol note (`Effect::Note`): add `by` to its total.
    Note { note: Note, by: u64 },
    /// The protocol halted this server (`Effect::Halt`) at `t_us`: the last frame; it dies now.
    Halted { t_us: Time },
    /// Counters so far (cumulative): heartbeats sent, transmissions lost and retransmitted,
    /// connections that failed the authentication handshake and were closed.
    Counters {
        heartbeats: u64,
        retransmissions: u64,
        rejected: u64,
    },
    /// A link fault ([`ToServer::Link`]) is in force.
    Applied,
    /// An event trigger fired at `t_us` (see [`Trigger`]); for a `crash_self` fault this is the last
    /// frame.
    Triggered { fault: u32, t_us: Time },
    /// Non-heartbeat protocol messages sent to / received from each server, indexed by id
    /// (index 0 unused).
    Probe {
        round: u64,
        sent: Vec<u64>,
        received: Vec<u64>,
    },
    /// Last frame before a clean exit.
    Bye,
    /// Answer to [`ToServer::Ping`]: this server's `CLOCK_MONOTONIC` when it answered, ns.
    Pong { seq: u32, mono_ns: u64 },
    /// The pings of this server's outgoing peer links ([`ServerConfig::ping_peers`]).
    PeerPings(Vec<PeerPing>),
}

/// One outgoing peer link's pings at setup: the shortest round trip, and the peer's clock minus
/// this server's measured in that round trip (the peer's reading minus the round trip's middle).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerPing {
    pub to: ServerId,
    pub rtt_ns: u64,
    pub offset_ns: i64,
    pub samples: u32,
}

#[cfg(test)]
mod tests;
