//! A server's start: its command line (`ServerArgs`), reaching its orchestrator (dialling the
//! control address, or — attached — waiting for an orchestrator's call, run after run), the
//! hello, clock pings, the configuration, the peer mesh (with peer pings), the start, and the
//! node's run until the end. The running links are `super`'s.

use super::*;

/// Arguments of the `ticketlab server` subcommand (hidden: the orchestrator starts it, or an
/// operator attaches it with `--listen`).
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// This server's id, 1..=n (given by the orchestrator; an attached server learns it).
    #[arg(long)]
    pub id: Option<ServerId>,
    /// The orchestrator's control address, which the server dials. Without it the server is
    /// *attached*: it waits on `--listen` for an orchestrator to call.
    #[arg(long)]
    pub control: Option<SocketAddr>,
    /// The orchestrator's pid, when the orchestrator is the parent: the server exits if its parent
    /// is not (or no longer) this process. Launched servers (a template) have none: the end of
    /// their control connection ends them.
    #[arg(long)]
    pub parent_pid: Option<u32>,
    /// The run's id (also makes the process easy to find: `pgrep -f RUN_ID`).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Listen here (IP or IP:PORT; default: the address this host reaches the orchestrator
    /// from, any port). An unspecified IP (0.0.0.0) is reported as that address.
    #[arg(long, value_parser = parse_listen)]
    pub listen: Option<SocketAddr>,
    /// Read the run's secret from this file (64 hex digits) instead of stdin.
    #[arg(long)]
    pub secret_file: Option<std::path::PathBuf>,
}

fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    crate::scenario::remote::parse_addr(s)
        .ok_or_else(|| format!("expected IP or IP:PORT (\"0.0.0.0:7000\"), got {s:?}"))
}

/// How long a server tries to reach its orchestrator's control address.
const CONTROL_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Entry point of `ticketlab server`.
pub fn main(args: ServerArgs) -> ExitCode {
    let name = args.id.map_or("server".to_string(), |id| format!("s{id}"));
    if let Some(parent) = args.parent_pid {
        if let Err(e) = platform::die_with_parent(parent) {
            // E.g. the orchestrator died before the prctl took effect: nobody would ever stop us.
            eprintln!("ticketlab server {name}: {e}, exiting");
            return ExitCode::from(2);
        }
    }
    // Normally inherited from the orchestrator already (n = 101 needs more than 1,024 files).
    super::super::raise_open_files();
    // The run's secret: a file the operator gave, else stdin (the orchestrator writes it into the
    // pipe it started us with, then closes it; ssh forwards it). Never on the command line.
    let secret = match &args.secret_file {
        Some(path) => Secret::from_file(path),
        None => Secret::read_from(std::io::stdin().lock())
            .map_err(|e| format!("no secret on stdin: {e}")),
    };
    let secret = match secret {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ticketlab server {name}: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ticketlab server {name}: cannot start a runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match args.control {
        Some(control) => {
            let (Some(id), Some(run_id)) = (args.id, args.run_id.clone()) else {
                eprintln!("ticketlab server: --control needs --id and --run-id");
                return ExitCode::from(2);
            };
            let span = tracing::info_span!("node", id);
            rt.block_on(launched(id, run_id, control, args.listen, secret).instrument(span))
        }
        None => match args.listen {
            Some(listen) => rt.block_on(attached(listen, secret)),
            None => {
                eprintln!("ticketlab server: give --control (started by an orchestrator) or --listen ADDR (attached)");
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(died) => {
            if died {
                // A crash-on-event fault: everything up to the event is reported; nothing after
                // it may happen. kill -9 ourselves, exactly like a timed crash.
                crash_now();
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ticketlab server {name}: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// kill -9 this very process.
fn crash_now() -> ! {
    // SAFETY: kill(2) on this very process.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    unreachable!("SIGKILL cannot be caught")
}

/// Bind the listener: `listen`, or 127.0.0.1 on any port.
async fn bind(listen: Option<SocketAddr>) -> anyhow::Result<TcpListener> {
    let at = listen.unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    TcpListener::bind(at)
        .await
        .with_context(|| format!("cannot listen on {at}"))
}

/// The address peers and users reach `listener` at: its own, or — bound to an unspecified IP —
/// the IP this host used to reach the orchestrator on `ctl`.
fn reachable(listener: &TcpListener, ctl: &TcpStream) -> anyhow::Result<SocketAddr> {
    let mut at = listener.local_addr()?;
    if at.ip().is_unspecified() {
        at.set_ip(ctl.local_addr()?.ip());
    }
    Ok(at)
}

/// A server the orchestrator started (a child, or through a launch template): dial the control
/// address, say hello, serve the run. `Ok(true)`: it must die now (a crash-on-event fault).
async fn launched(
    id: ServerId,
    run_id: String,
    control: SocketAddr,
    listen: Option<SocketAddr>,
    secret: Secret,
) -> anyhow::Result<bool> {
    let mut ctl = tokio::time::timeout(CONTROL_CONNECT_TIMEOUT, TcpStream::connect(control))
        .await
        .map_err(|_| anyhow::anyhow!("cannot reach the orchestrator at {control}: no answer in {CONTROL_CONNECT_TIMEOUT:?}"))?
        .with_context(|| format!("cannot reach the orchestrator at {control}"))?;
    ctl.set_nodelay(true)?;
    // By default, listen on the address this host reaches the orchestrator from (127.0.0.1 for
    // a local run): peers and users on that network reach it there.
    let listener = bind(Some(
        listen.unwrap_or(SocketAddr::new(ctl.local_addr()?.ip(), 0)),
    ))
    .await?;
    let addr = reachable(&listener, &ctl)?;
    let mut challenge: auth::Challenge = [0; 32];
    ctl.read_exact(&mut challenge)
        .await
        .context("no challenge from the orchestrator")?;
    let (ctl_rd, ctl_wr) = ctl.into_split();
    let ctl_rd = FrameReader::new(ctl_rd);
    let ctl_wr = FrameWriter::new(ctl_wr);
    let session = Session {
        id,
        run_id,
        secret,
        addr,
        challenge,
    };
    session.serve(Arc::new(listener), ctl_rd, ctl_wr).await
}

/// An attached server (`ticketlab server --listen ADDR`): wait for an orchestrator to call,
/// serve its run, and wait for the next one, until a run crashes it (kill -9, as a crash fault
/// demands) or it is stopped. Only a caller that knows the secret can make it serve.
async fn attached(listen: SocketAddr, secret: Secret) -> anyhow::Result<bool> {
    let listener = Arc::new(bind(Some(listen)).await?);
    eprintln!(
        "ticketlab server: attached, listening on {}; waiting for an orchestrator",
        listener.local_addr()?
    );
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let addr = match reachable(&listener, &stream) {
            Ok(a) => a,
            Err(e) => {
                warn!("{e}");
                continue;
            }
        };
        let (rd, mut wr) = stream.into_split();
        let mut rd = FrameReader::new(rd);
        let call = tokio::time::timeout(
            auth::HANDSHAKE_TIMEOUT,
            auth::accept_orchestrator(&mut rd, &mut wr, &secret),
        )
        .await;
        let (id, run_id, challenge) = match call {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                warn!(%from, "rejected a connection: {e}");
                continue;
            }
            Err(_) => {
                warn!(%from, "rejected a connection: no hello in time");
                continue;
            }
        };
        eprintln!("ticketlab server: s{id} of run {run_id} (orchestrator {from})");
        let session = Session {
            id,
            run_id: run_id.clone(),
            secret: secret.clone(),
            addr,
            challenge,
        };
        let span = tracing::info_span!("node", id);
        match session
            .serve(listener.clone(), rd, FrameWriter::new(wr))
            .instrument(span)
            .await
        {
            Ok(true) => return Ok(true),
            Ok(false) => eprintln!("ticketlab server: run {run_id} is over; waiting for the next"),
            Err(e) => {
                eprintln!("ticketlab server: run {run_id} failed: {e:#}; waiting for the next")
            }
        }
    }
}

/// One run at one server, from its hello on the control connection to the end.
struct Session {
    id: ServerId,
    run_id: String,
    secret: Secret,
    /// The listener's address as others reach it (in the hello).
    addr: SocketAddr,
    /// The orchestrator's challenge, which the hello answers.
    challenge: auth::Challenge,
}

impl Session {
    /// Say hello, answer clock pings, take the configuration, build the mesh, wait for the
    /// start, run the node. `Ok(true)`: a crash-on-event fault fired (the caller dies).
    async fn serve(
        self,
        listener: Arc<TcpListener>,
        mut ctl_rd: FrameReader<OwnedReadHalf>,
        mut ctl_wr: FrameWriter<OwnedWriteHalf>,
    ) -> anyhow::Result<bool> {
        let Session {
            id,
            run_id,
            secret,
            addr,
            challenge,
        } = self;
        ctl_wr
            .send(&FromServer::Hello {
                id,
                addr,
                pid: std::process::id(),
                run_id: run_id.clone(),
                mac: auth::mac(&secret, &challenge, Role::Control(id), &run_id),
            })
            .await?;
        // Clock pings (servers on other hosts), then the configuration.
        let cfg = loop {
            match ctl_rd.expect::<ToServer>().await? {
                ToServer::Ping { seq } => {
                    ctl_wr
                        .send(&FromServer::Pong {
                            seq,
                            mono_ns: mono_ns(),
                        })
                        .await?
                }
                ToServer::Config(cfg) => break *cfg,
                other => bail!("expected the configuration, got {other:?}"),
            }
        };
        if cfg.node.me != id || cfg.run_id != run_id {
            bail!(
                "configuration for s{} of run {}, but this is s{} of run {}",
                cfg.node.me,
                cfg.run_id,
                id,
                run_id
            );
        }
        let accept = Accepting(None);
        run_session(id, secret, cfg, listener, ctl_rd, ctl_wr, accept).await
    }
}

/// The accept task of a session: stopped when the session ends (an attached server's listener
/// outlives it).
struct Accepting(Option<tokio::task::JoinHandle<()>>);

impl Drop for Accepting {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
        }
    }
}

/// The run, once configured: the mesh, the start, the node.
async fn run_session(
    me: ServerId,
    secret: Secret,
    cfg: crate::process::wire::ServerConfig,
    listener: Arc<TcpListener>,
    mut ctl_rd: FrameReader<OwnedReadHalf>,
    mut ctl_wr: FrameWriter<OwnedWriteHalf>,
    mut accepting: Accepting,
) -> anyhow::Result<bool> {
    let n = cfg.node.n;
    debug!(n, protocol = %cfg.protocol, "configured");

    let (in_tx, in_rx) = unbounded_channel::<Input>();
    let (peer_up_tx, mut peer_up_rx) = unbounded_channel::<ServerId>();
    // Incoming peer links wait for the run clock before they read (a peer may start first).
    let (clock_tx, clock_rx) = watch::channel(None::<RunClock>);
    let rejected = Arc::new(AtomicU64::new(0));
    let listen = Arc::new(Listen {
        run_id: cfg.run_id.clone(),
        secret: secret.clone(),
        n,
        inputs: in_tx.clone(),
        peer_up: peer_up_tx,
        clock: clock_rx,
        rejected: rejected.clone(),
        pending: Arc::new(Semaphore::new(auth::max_pending(n))),
        ping_peers: cfg.ping_peers,
    });
    accepting.0 = Some(tokio::spawn(
        accept_loop(listener, listen).in_current_span(),
    ));

    // Outgoing links: dial every peer (their listeners were bound before they said hello).
    let mut links: Vec<Option<Link>> = (0..=n).map(|_| None).collect();
    let mut pings = Vec::new();
    for &(peer, peer_addr) in &cfg.peers {
        if peer == me {
            continue;
        }
        let mut stream = dial(peer_addr)
            .await
            .with_context(|| format!("cannot connect to s{peer} at {peer_addr}"))?;
        auth::connect(&mut stream, &secret, Role::Peer(me), &cfg.run_id)
            .await
            .with_context(|| format!("handshake with s{peer}"))?;
        if cfg.ping_peers > 0 {
            pings.push(
                ping_peer(&mut stream, peer, cfg.ping_peers)
                    .await
                    .with_context(|| format!("pinging s{peer}"))?,
            );
        }
        let (_rd, wr) = stream.into_split();
        let (tx, rx) = unbounded_channel();
        tokio::spawn(link_writer(peer, wr, rx).instrument(tracing::debug_span!("link", to = peer)));
        links[usize::from(peer)] = Some(Link {
            tx,
            last_release: 0,
            cut: VecDeque::new(),
        });
    }
    // Incoming links: every peer dials us.
    let mut up = vec![false; usize::from(n) + 1];
    let mut missing = n - 1;
    while missing > 0 {
        // Nothing comes on the control connection before Ready; its end means the orchestrator
        // is gone (a peer that died with it would never dial us).
        let p = tokio::select! {
            p = peer_up_rx.recv() => p,
            m = ctl_rd.next::<ToServer>() => match m {
                Ok(None) => bail!("the orchestrator is gone (control connection closed)"),
                Ok(Some(other)) => bail!("expected nothing before Ready, got {other:?}"),
                Err(e) => bail!("control connection: {e}"),
            },
        };
        let Some(p) = p else {
            bail!("listener stopped")
        };
        if let Some(seen) = up.get_mut(usize::from(p)) {
            if !std::mem::replace(seen, true) {
                missing -= 1;
            }
        }
    }
    if cfg.ping_peers > 0 {
        ctl_wr.send(&FromServer::PeerPings(pings)).await?;
    }
    ctl_wr.send(&FromServer::Ready).await?;
    let clock = match ctl_rd.expect::<ToServer>().await? {
        ToServer::Start {
            epoch_unix_us,
            epoch_mono_ns,
        } => RunClock::shared(epoch_unix_us, epoch_mono_ns),
        ToServer::StartAt { epoch_mono_ns } => RunClock::at_mono(epoch_mono_ns),
        other => bail!("expected Start, got {other:?}"),
    };
    let _ = clock_tx.send(Some(clock));
    info!(now_us = clock.now(), "started");

    // Control reader → node inputs; node → control writer. A crash order is carried out here, at
    // once, ahead of anything the node has queued.
    let ctl_in = in_tx.clone();
    tokio::spawn(
        async move {
            loop {
                match ctl_rd.next::<ToServer>().await {
                    Ok(Some(ToServer::Crash)) => crash_now(),
                    Ok(Some(cmd)) => {
                        if ctl_in.send(Input::Control(cmd)).is_err() {
                            return;
                        }
                    }
                    Ok(None) | Err(_) => {
                        let _ = ctl_in.send(Input::ControlClosed);
                        return;
                    }
                }
            }
        }
        .in_current_span(),
    );
    let (ev_tx, ev_rx) = unbounded_channel::<FromServer>();
    let writer = tokio::spawn(
        async move {
            if let Err(e) = forward_frames(ctl_wr.into_inner(), ev_rx).await {
                warn!("control connection: {e}");
            }
        }
        .in_current_span(),
    );
    drop(in_tx);

    let protocol = crate::lab::byzantine::build(cfg.protocol, &cfg.node, cfg.byzantine);
    let node = Node {
        me,
        n,
        clock,
        protocol,
        out: Out::new(me, n),
        links,
        model: LinkModel::new(cfg.delta, cfg.jitter),
        rng: ChaCha8Rng::seed_from_u64(
            cfg.seed ^ 0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(u64::from(me)),
        ),
        timers: BTreeMap::new(),
        users: BTreeMap::new(),
        waiting: BTreeMap::new(),
        events: ev_tx,
        triggers: Triggers::new(cfg.triggers),
        crash_self: cfg.crash_self,
        dying: false,
        heartbeats: 0,
        retransmissions: 0,
        rejected,
        sent: vec![0; usize::from(n) + 1],
        received: vec![0; usize::from(n) + 1],
        next_seq: 0,
        scratch: BytesMut::with_capacity(64 * 1024),
        verifier: Verifier::new(cfg.issuer),
    };
    let died = node.run(in_rx).await;
    // The node dropped its event sender: the writer flushes what is left and ends.
    let _ = writer.await;
    Ok(died)
}

/// Ping a peer `count` times on its freshly authenticated link (before any peer frame): the
/// shortest round trip, and the peer's clock minus ours at that round trip's middle.
async fn ping_peer(stream: &mut TcpStream, to: ServerId, count: u8) -> anyhow::Result<PeerPing> {
    let mut best: Option<(u64, i64)> = None;
    let mut buf = BytesMut::new();
    for seq in 0..u32::from(count) {
        encode_frame(&seq, &mut buf)?;
        let t0 = mono_ns();
        stream.write_all_buf(&mut buf).await?;
        let mut reply = [0u8; 12];
        stream.read_exact(&mut reply).await?;
        let t1 = mono_ns();
        let their = u64::from_be_bytes(reply[4..12].try_into().expect("8 bytes"));
        let rtt = t1 - t0;
        if best.is_none_or(|(r, _)| rtt < r) {
            let mid = i128::from(t0) + i128::from(rtt / 2);
            best = Some((rtt, (i128::from(their) - mid) as i64));
        }
    }
    let (rtt_ns, offset_ns) = best.unwrap_or((0, 0));
    Ok(PeerPing {
        to,
        rtt_ns,
        offset_ns,
        samples: u32::from(count),
    })
}

/// The other side of [`ping_peer`]: answer each ping with our clock (a raw 12-byte reply: a
/// 4-byte length 8 and the ns, big-endian).
pub(super) async fn answer_pings(
    rd: &mut FrameReader<OwnedReadHalf>,
    wr: &mut OwnedWriteHalf,
    count: u8,
) -> Result<(), crate::process::wire::WireError> {
    for _ in 0..count {
        let _seq: u32 = rd.expect().await?;
        let mut reply = [0u8; 12];
        reply[..4].copy_from_slice(&8u32.to_be_bytes());
        reply[4..].copy_from_slice(&mono_ns().to_be_bytes());
        wr.write_all(&reply).await?;
    }
    Ok(())
}

/// Connect to a peer (it is listening already; retry briefly on transient errors).
async fn dial(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let mut last = None;
    for attempt in 0..20u64 {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(5 * (attempt + 1))).await;
            }
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no attempt")))
}
