//! Authenticated cluster links: the per-run secret and the handshake every connection to a
//! server's listener must pass before any of its input reaches a protocol.
//!
//! - The orchestrator draws a [`Secret`] (32 bytes from the OS) per run and hands it to each
//!   server through the stdin pipe it spawns the server with (written once, then closed) — never
//!   on a command line, in the environment or in a file. The run id (on every command line) only
//!   names the run.
//! - The servers' control connections to the orchestrator pass the same handshake (role
//!   `Control(id)`, the orchestrator sends the challenge), so nobody else can pose as a server
//!   and receive its configuration.
//! - **Handshake.** The listener sends a fresh random [`Challenge`] (32 bytes, raw) the moment it
//!   accepts; the connector answers with a [`Hello`] frame carrying
//!   `HMAC-SHA256(secret, DOMAIN ‖ challenge ‖ role ‖ claimed id ‖ run id)` ([`mac`]). The
//!   listener recomputes it and compares in constant time (`hmac`'s `verify_slice`). A MAC is
//!   bound to one challenge, so a recorded hello cannot be replayed on another connection, and to
//!   the claimed role and id, so a user's proof cannot open a peer link or claim another id.
//! - An attached server (`ticketlab server --listen`) is dialled by the orchestrator: the
//!   server's challenge is answered by a [`Hello::Orchestrator`] (role `Orchestrator(id)`), whose
//!   own challenge the server's hello answers ([`attach`], [`accept_orchestrator`]); both sides
//!   then hold the operator's secret (a file, or stdin), not a per-run one.
//! - Until it passes, a connection is **unauthenticated** and tightly bounded
//!   ([`HANDSHAKE_TIMEOUT`], [`MAX_HELLO`], [`MAX_PENDING`]); a failure closes it and is counted
//!   (`rejected_connections`).
//!
//! This authenticates connections, not frames: see ARCHITECTURE.md ("Authenticated links") for
//! why that is enough on loopback and what is left.

use super::wire::{encode_frame, FrameReader, FromServer, Hello, WireError, MAX_FRAME};
use crate::protocol::ServerId;
use bytes::BytesMut;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// How long an accepted connection may take to authenticate (challenge out, hello in), in a
/// cluster of up to 50 servers; larger clusters get [`handshake_timeout`].
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest hello frame body a listener reads from an unauthenticated connection.
pub const MAX_HELLO: usize = 1024;
/// At most this many connections per server may be in their handshake at once in a cluster of up
/// to 64 servers; more are closed on accept (and counted as rejected). Real peers and users are
/// n at most, so larger clusters get [`max_pending`].
pub const MAX_PENDING: usize = 64;

/// The handshake bound of a server in a cluster of `n`: [`MAX_PENDING`], or n when larger (every
/// peer dials at once while the mesh comes up, plus the user).
pub fn max_pending(n: u16) -> usize {
    MAX_PENDING.max(usize::from(n))
}

/// The handshake time limit in a cluster of `n`: [`HANDSHAKE_TIMEOUT`], or 40 ms per server
/// when longer — at n = 101 a hundred peers' handshakes (an HMAC each) queue behind one another
/// on a machine whose cores the n processes share.
pub fn handshake_timeout(n: u16) -> Duration {
    HANDSHAKE_TIMEOUT.max(Duration::from_millis(40) * u32::from(n))
}

/// Separates this protocol's MACs from any other use of the key.
const DOMAIN: &[u8] = b"ticketlab link v1";

type HmacSha256 = Hmac<Sha256>;

/// The run's shared secret. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret([u8; 32]);

impl Secret {
    /// Read the secret from `r` (a server's stdin: the orchestrator writes it into the pipe it
    /// spawned the server with, then closes it).
    pub fn read_from(mut r: impl std::io::Read) -> std::io::Result<Self> {
        let mut b = [0u8; 32];
        r.read_exact(&mut b)?;
        Ok(Secret(b))
    }

    /// A secret file's content: 64 hex digits (surrounding whitespace ignored) or 32 raw bytes.
    pub fn parse(content: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(content).map(str::trim).unwrap_or("");
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut b = [0u8; 32];
            for (i, byte) in b.iter_mut().enumerate() {
                *byte =
                    u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
            }
            return Ok(Secret(b));
        }
        if content.len() == 32 {
            let mut b = [0u8; 32];
            b.copy_from_slice(content);
            return Ok(Secret(b));
        }
        Err(format!(
            "expected 64 hex digits (e.g. from `openssl rand -hex 32`), found {} bytes",
            content.len()
        ))
    }

    /// Read a secret file ([`Secret::parse`]).
    pub fn from_file(path: &std::path::Path) -> Result<Self, String> {
        let content =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&content).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The bytes, to hand to a server through its stdin pipe.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 32 fresh bytes from the operating system.
    pub fn random() -> Self {
        let mut b = [0u8; 32];
        OsRng.fill_bytes(&mut b);
        Secret(b)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// The listener's fresh nonce for one connection.
pub type Challenge = [u8; 32];

/// A fresh challenge from the OS.
pub fn challenge() -> Challenge {
    let mut c = [0u8; 32];
    OsRng.fill_bytes(&mut c);
    c
}

/// Who a connector claims to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Server `id`'s outgoing peer link.
    Peer(u16),
    /// A user connection (the orchestrator's users).
    User,
    /// Server `id`'s control connection to the orchestrator.
    Control(u16),
    /// The orchestrator dialling an attached server to make it server `id`.
    Orchestrator(u16),
}

fn keyed(secret: &Secret, challenge: &Challenge, role: Role, run_id: &str) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(&secret.0).expect("HMAC takes any key length");
    m.update(DOMAIN);
    m.update(challenge);
    match role {
        Role::Peer(id) => {
            m.update(b"P");
            m.update(&id.to_be_bytes());
        }
        Role::User => m.update(b"U\0\0"),
        Role::Control(id) => {
            m.update(b"C");
            m.update(&id.to_be_bytes());
        }
        Role::Orchestrator(id) => {
            m.update(b"O");
            m.update(&id.to_be_bytes());
        }
    }
    m.update(&(run_id.len() as u64).to_be_bytes());
    m.update(run_id.as_bytes());
    m
}

/// The connector's proof: HMAC-SHA256(secret, DOMAIN ‖ challenge ‖ role ‖ id ‖ run id).
pub fn mac(secret: &Secret, challenge: &Challenge, role: Role, run_id: &str) -> Vec<u8> {
    keyed(secret, challenge, role, run_id)
        .finalize()
        .into_bytes()
        .to_vec()
}

/// Does `tag` prove knowledge of `secret` for this challenge, role and run? Constant time.
pub fn verify(
    secret: &Secret,
    challenge: &Challenge,
    role: Role,
    run_id: &str,
    tag: &[u8],
) -> bool {
    keyed(secret, challenge, role, run_id)
        .verify_slice(tag)
        .is_ok()
}

/// Who passed a listener's handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Server(ServerId),
    User,
}

/// The listener's side of the handshake on a freshly accepted connection: send a challenge, read
/// one hello frame of at most [`MAX_HELLO`] bytes, check its MAC. On success the reader accepts
/// frames up to [`MAX_FRAME`] again. The caller bounds the time it takes
/// ([`handshake_timeout`]) and closes the connection on any error.
pub async fn accept(
    rd: &mut FrameReader<OwnedReadHalf>,
    wr: &mut OwnedWriteHalf,
    secret: &Secret,
    run_id: &str,
    n: u16,
) -> Result<Peer, WireError> {
    let c = challenge();
    wr.write_all(&c).await?;
    rd.set_max_frame(MAX_HELLO);
    let hello = rd.expect::<Hello>().await?;
    let who = match &hello {
        Hello::Peer {
            from,
            run_id: r,
            mac,
        } if r == run_id
            && (1..=n).contains(from)
            && verify(secret, &c, Role::Peer(*from), run_id, mac) =>
        {
            Peer::Server(*from)
        }
        Hello::User { run_id: r, mac }
            if r == run_id && verify(secret, &c, Role::User, run_id, mac) =>
        {
            Peer::User
        }
        Hello::Peer { from, .. } => {
            return Err(WireError::Unexpected(format!(
                "a peer hello claiming s{from} without the run's secret"
            )))
        }
        Hello::User { .. } => {
            return Err(WireError::Unexpected(
                "a user hello without the run's secret".into(),
            ))
        }
        Hello::Orchestrator { .. } => {
            return Err(WireError::Unexpected(
                "an orchestrator's hello while this server is in a run".into(),
            ))
        }
    };
    rd.set_max_frame(MAX_FRAME);
    Ok(who)
}

/// The connector's side: read the listener's challenge, answer with the hello for `role`.
pub async fn connect(
    stream: &mut TcpStream,
    secret: &Secret,
    role: Role,
    run_id: &str,
) -> Result<(), WireError> {
    let mut c: Challenge = [0; 32];
    stream.read_exact(&mut c).await?;
    let run_id = run_id.to_string();
    let tag = mac(secret, &c, role, &run_id);
    let hello = match role {
        Role::Peer(from) => Hello::Peer {
            from,
            run_id,
            mac: tag,
        },
        Role::User => Hello::User { run_id, mac: tag },
        Role::Control(_) | Role::Orchestrator(_) => {
            return Err(WireError::Unexpected(format!(
                "{role:?} connections have their own hello"
            )))
        }
    };
    let mut buf = BytesMut::new();
    encode_frame(&hello, &mut buf)?;
    stream.write_all(&buf).await?;
    Ok(())
}

/// A server's control connection once its hello has passed: its id, listening address, pid, and
/// the connection's two halves.
pub type ControlConn = (
    ServerId,
    SocketAddr,
    u32,
    FrameReader<OwnedReadHalf>,
    OwnedWriteHalf,
);

/// The orchestrator's side of a server's control connection: send a challenge, read the
/// server's [`FromServer::Hello`] (at most [`MAX_HELLO`] bytes), check its MAC. Returns the
/// server's id, listening address, pid and the connection. The caller bounds the time.
pub async fn control_hello(
    mut stream: TcpStream,
    secret: &Secret,
    run_id: &str,
    n: u16,
) -> Result<ControlConn, WireError> {
    stream.set_nodelay(true)?;
    let c = challenge();
    stream.write_all(&c).await?;
    let (rd, wr) = stream.into_split();
    read_control_hello(FrameReader::new(rd), wr, &c, secret, run_id, n, None).await
}

/// The server's hello answering challenge `c` (for server `want`, if given).
async fn read_control_hello(
    mut rd: FrameReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
    c: &Challenge,
    secret: &Secret,
    run_id: &str,
    n: u16,
    want: Option<ServerId>,
) -> Result<ControlConn, WireError> {
    rd.set_max_frame(MAX_HELLO);
    match rd.expect::<FromServer>().await? {
        FromServer::Hello {
            id,
            addr,
            pid,
            run_id: r,
            mac,
        } if r == run_id
            && (1..=n).contains(&id)
            && want.is_none_or(|w| w == id)
            && verify(secret, c, Role::Control(id), run_id, &mac) =>
        {
            rd.set_max_frame(MAX_FRAME);
            Ok((id, addr, pid, rd, wr))
        }
        FromServer::Hello { id, .. } => Err(WireError::Unexpected(format!(
            "a control hello claiming s{id} without the run's secret"
        ))),
        _ => Err(WireError::Unexpected("expected a hello".into())),
    }
}

/// The orchestrator dialling an attached server (`ticketlab server --listen`) to make it server
/// `id` of run `run_id`: answer its challenge ([`Hello::Orchestrator`], which proves the
/// secret), send ours, check its hello. The caller bounds the time.
pub async fn attach(
    mut stream: TcpStream,
    secret: &Secret,
    run_id: &str,
    id: ServerId,
    n: u16,
) -> Result<ControlConn, WireError> {
    stream.set_nodelay(true)?;
    let mut theirs: Challenge = [0; 32];
    stream.read_exact(&mut theirs).await?;
    let ours = challenge();
    let hello = Hello::Orchestrator {
        id,
        run_id: run_id.to_string(),
        mac: mac(secret, &theirs, Role::Orchestrator(id), run_id),
        challenge: ours.to_vec(),
    };
    let mut buf = BytesMut::new();
    encode_frame(&hello, &mut buf)?;
    stream.write_all(&buf).await?;
    let (rd, wr) = stream.into_split();
    read_control_hello(FrameReader::new(rd), wr, &ours, secret, run_id, n, Some(id)).await
}

/// An attached server's side of an orchestrator's call: send a challenge, read a
/// [`Hello::Orchestrator`] and check it. Returns the server id and run id it was given and the
/// orchestrator's challenge (which the server's [`FromServer::Hello`] answers).
pub async fn accept_orchestrator(
    rd: &mut FrameReader<OwnedReadHalf>,
    wr: &mut OwnedWriteHalf,
    secret: &Secret,
) -> Result<(ServerId, String, Challenge), WireError> {
    let c = challenge();
    wr.write_all(&c).await?;
    rd.set_max_frame(MAX_HELLO);
    let hello = rd.expect::<Hello>().await?;
    rd.set_max_frame(MAX_FRAME);
    match hello {
        Hello::Orchestrator {
            id,
            run_id,
            mac,
            challenge,
        } if id >= 1
            && verify(secret, &c, Role::Orchestrator(id), &run_id, &mac)
            && challenge.len() == 32 =>
        {
            let mut theirs: Challenge = [0; 32];
            theirs.copy_from_slice(&challenge);
            Ok((id, run_id, theirs))
        }
        Hello::Orchestrator { .. } => Err(WireError::Unexpected(
            "an orchestrator's hello without the secret".into(),
        )),
        _ => Err(WireError::Unexpected(
            "expected an orchestrator's hello (this server is waiting for a run)".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_verifies_only_for_its_secret_challenge_role_and_run() {
        let s = Secret::random();
        let c = challenge();
        let tag = mac(&s, &c, Role::Peer(2), "r1");
        assert!(verify(&s, &c, Role::Peer(2), "r1", &tag));
        assert!(!verify(&Secret::random(), &c, Role::Peer(2), "r1", &tag));
        assert!(!verify(&s, &challenge(), Role::Peer(2), "r1", &tag));
        assert!(!verify(&s, &c, Role::Peer(3), "r1", &tag));
        assert!(!verify(&s, &c, Role::User, "r1", &tag));
        assert!(!verify(&s, &c, Role::Peer(2), "r2", &tag));
        assert!(!verify(&s, &c, Role::Peer(2), "r1", &tag[..16]));
        assert!(!verify(&s, &c, Role::Peer(2), "r1", &[]));
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let s = Secret([0xAB; 32]);
        assert!(!format!("{s:?}").to_lowercase().contains("ab"));
    }
}
