//! Phase 1 of a run, setup: the control listener (or dialling attached servers), the servers'
//! hellos, clock pings to remote servers, the configuration, the mesh barrier, the user
//! connections, the epoch. Also what the setup measures (`links`) and how it finds its own
//! address on the route to a host.

use super::*;

impl Orchestrator<'_> {
    // ---- phase 1 -------------------------------------------------------------------------

    pub(super) async fn setup(&mut self) -> Result<(), Stop> {
        let n = self.n;
        let remote = &self.scenario.cluster.remote;
        let deadline = Instant::now()
            + remote
                .setup_timeout
                .map_or(setup_timeout(n), Duration::from_micros);
        let mut ports: Vec<(ServerId, SocketAddr)> = Vec::new();
        let mut writers = Vec::new();
        if !remote.attach.is_empty() {
            if let Some(i) =
                self.scenario.faults.iter().position(|f| {
                    matches!(f.action, FaultAction::Pause(_) | FaultAction::Resume(_))
                })
            {
                return Err(self
                    .setup_failure(&format!(
                        "fault[{i}] pauses or resumes a server, which an attached server cannot be \
                         made to do (use cluster.launch: signals go through the template)"
                    ))
                    .into());
            }
            // Dial each attached server; the secret is the one the operator gave it.
            for (i, &at) in remote.attach.iter().enumerate() {
                let id = i as ServerId + 1;
                let call = async {
                    let stream = TcpStream::connect(at).await.map_err(ProcessError::Io)?;
                    auth::attach(stream, &self.secret, &self.run_id, id, n)
                        .await
                        .map_err(ProcessError::Wire)
                };
                let conn = tokio::select! {
                    biased;
                    sig = self.interrupt.wait() => return Err(Stop::Interrupted(sig)),
                    r = tokio::time::timeout_at(deadline, call) => r,
                };
                let conn = match conn {
                    Ok(Ok(conn)) => conn,
                    Ok(Err(e)) => {
                        let hint = if matches!(e, ProcessError::Wire(_)) {
                            " (a server closes a call that does not prove its secret: does \
                             cluster.secret_file hold the secret it was started with?)"
                        } else {
                            ""
                        };
                        return Err(self
                            .setup_failure(&format!(
                                "cannot attach s{id} at {at} (cluster.attach[{i}]): {}{hint}",
                                error_chain(&e)
                            ))
                            .into());
                    }
                    Err(_) => {
                        return Err(self
                            .setup_failure(&format!(
                                "attached server s{id} at {at} (cluster.attach[{i}]) did not \
                                 answer in time"
                            ))
                            .into())
                    }
                };
                self.take_hello(conn, deadline, &mut ports, &mut writers)
                    .await?;
            }
        } else {
            let (listener, control) = self.control_listener()?;
            self.cluster = Cluster::spawn(n, &control, &self.run_id, &self.secret, remote).await?;
            info!(run_id = %self.run_id, control = %control[0], "spawned {n} servers");

            // Hellos: who listens where.
            while ports.len() < usize::from(n) {
                let stream = tokio::select! {
                    biased;
                    sig = self.interrupt.wait() => return Err(Stop::Interrupted(sig)),
                    r = listener.accept() => r.map_err(ProcessError::Io)?.0,
                    () = tokio::time::sleep_until(deadline) => {
                        return Err(self.no_hello(&ports).into())
                    }
                    () = tokio::time::sleep(Duration::from_millis(100)) => {
                        self.cluster.check_exited()?;
                        continue;
                    }
                };
                // Anyone who can reach us can connect here: only a server that knows the secret
                // gets further.
                let hello = auth::control_hello(stream, &self.secret, &self.run_id, n);
                let conn = match tokio::time::timeout(auth::handshake_timeout(n), hello).await {
                    Ok(Ok(hello)) => hello,
                    Ok(Err(e)) => {
                        self.rejected[0] += 1;
                        warn!("rejected a control connection: {e}");
                        continue;
                    }
                    Err(_) => {
                        self.rejected[0] += 1;
                        warn!("rejected a control connection: no hello in time");
                        continue;
                    }
                };
                self.take_hello(conn, deadline, &mut ports, &mut writers)
                    .await?;
            }
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
                    seed: self.seed,
                    delta: c.delta,
                    byzantine: c.byzantine_for(self.protocol),
                },
                byzantine: crate::lab::byzantine::role(self.scenario, id),
                delta: c.delta,
                jitter: c.jitter,
                seed: self.seed,
                issuer: crate::lab::tickets::Issuer::derive(self.seed).public(),
                peers: ports.clone(),
                triggers: Trigger::of(&self.scenario.faults, Some(id)),
                crash_self: self.crash_self(id),
                ping_peers: if self.remote() { CLOCK_PINGS } else { 0 },
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
        for &(id, addr) in &ports {
            let connect = tokio::time::timeout_at(deadline, TcpStream::connect(addr));
            let mut stream = connect
                .await
                .map_err(|_| {
                    self.setup_failure(&format!(
                        "s{id} at {addr} did not take a user's connection in time"
                    ))
                })?
                .map_err(|e| {
                    self.setup_failure(&format!("cannot connect a user to s{id} at {addr}: {e}"))
                })?;
            stream.set_nodelay(true).map_err(ProcessError::Io)?;
            let handshake = auth::connect(&mut stream, &self.secret, Role::User, &self.run_id);
            tokio::time::timeout_at(deadline, handshake)
                .await
                .map_err(|_| self.setup_failure(&format!("s{id} did not answer a user's hello")))?
                .map_err(ProcessError::Wire)?;
            let (rd, wr) = stream.into_split();
            let (tx, rx) = unbounded_channel();
            tokio::spawn(async move {
                let _ = forward_frames(wr, rx).await;
            });
            self.users[usize::from(id)] = Some(tx);
            let inbox = self.inbox_tx.clone();
            tokio::spawn(async move {
                let mut rd = FrameReader::new(rd);
                while let Ok(Some(resp)) = rd.next::<UserResp>().await {
                    // Decided or rejected at once: either way the user has its answer.
                    let (UserResp::Decided { ticket, .. } | UserResp::Rejected { ticket, .. }) =
                        resp;
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
        for (id, tx) in self.ctl.iter().enumerate() {
            let Some(tx) = tx else { continue };
            let start = match self.offsets.get(id).copied().flatten() {
                // Another clock (another host, or as if): the epoch on the server's own clock.
                Some((_, offset)) => ToServer::StartAt {
                    epoch_mono_ns: (i128::from(clock.epoch_mono()) + i128::from(offset)).max(1)
                        as u64,
                },
                None => ToServer::Start {
                    epoch_unix_us: epoch,
                    epoch_mono_ns: clock.epoch_mono(),
                },
            };
            let _ = tx.send(start);
        }
        self.phase = Phase::Running;
        info!(epoch, "cluster up");
        Ok(())
    }

    /// The event-triggered faults (`after = {..}`) at server `id` that crash `id` itself.
    pub(super) fn crash_self(&self, id: ServerId) -> Vec<u32> {
        let faults = self.scenario.faults.iter().enumerate();
        faults
            .filter(|(_, f)| {
                f.after.as_ref().is_some_and(|a| a.server == id)
                    && matches!(&f.action, FaultAction::Crash(s) if s.contains(&id))
            })
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// Servers launched through a template or attached: not sharing our clock (as far as we
    /// know), not our children.
    pub(super) fn remote(&self) -> bool {
        !self.scenario.cluster.remote.is_local()
    }

    /// The control listener, and the address each server dials: loopback for local servers;
    /// with a launch template, `cluster.control_addr` or this machine's address on the route to
    /// each server's host (an unspecified IP is bound when the routes differ).
    fn control_listener(&self) -> Result<(TcpListener, Vec<SocketAddr>), ProcessError> {
        let remote = &self.scenario.cluster.remote;
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let mut dial: Vec<SocketAddr> = Vec::new();
        let bind = if remote.launch.is_none() {
            loopback
        } else if let Some(at) = remote.control_addr {
            at
        } else if !remote.hosts.is_empty() {
            for id in 1..=self.n {
                let host = remote.host(id).unwrap_or("");
                let ip = route_ip(host).map_err(|e| {
                    self.setup_failure(&format!(
                        "cannot find this machine's address on the route to host {host:?} \
                         (cluster.hosts): {e}; set cluster.control_addr"
                    ))
                })?;
                dial.push(SocketAddr::new(ip, 0));
            }
            if dial.iter().all(|a| a.ip() == dial[0].ip()) {
                dial[0]
            } else {
                SocketAddr::new(unspecified(dial[0].ip()), 0)
            }
        } else {
            loopback
        };
        let listener = std::net::TcpListener::bind(bind)
            .and_then(|l| {
                l.set_nonblocking(true)?;
                TcpListener::from_std(l)
            })
            .map_err(|e| {
                self.setup_failure(&format!("cannot listen for the servers on {bind}: {e}"))
            })?;
        let at = listener.local_addr().map_err(ProcessError::Io)?;
        if dial.is_empty() {
            let ip = if at.ip().is_unspecified() {
                Ipv4Addr::LOCALHOST.into()
            } else {
                at.ip()
            };
            dial.push(SocketAddr::new(ip, at.port()));
        }
        for d in &mut dial {
            d.set_port(at.port());
        }
        Ok((listener, dial))
    }

    /// A server's hello has passed: check who it is, synchronise clocks with a remote one, and
    /// start reading its reports.
    async fn take_hello(
        &mut self,
        conn: auth::ControlConn,
        deadline: Instant,
        ports: &mut Vec<(ServerId, SocketAddr)>,
        writers: &mut Vec<(ServerId, OwnedWriteHalf)>,
    ) -> Result<(), Stop> {
        let (id, addr, pid, mut rd, mut wr) = conn;
        if self.remote() {
            self.cluster.set_remote_pid(id, pid);
        } else if self.cluster.pid(id) != Some(pid) {
            return Err(self
                .setup_failure(&format!("unexpected hello from s{id} (pid {pid})"))
                .into());
        }
        if ports.iter().any(|p| p.0 == id) {
            return Err(self
                .setup_failure(&format!("s{id} said hello twice"))
                .into());
        }
        if self.remote() {
            let sync = tokio::time::timeout_at(deadline, sync_clock(&mut rd, &mut wr, CLOCK_PINGS));
            let (rtt, offset) = sync
                .await
                .map_err(|_| {
                    self.setup_failure(&format!("s{id} did not answer clock pings in time"))
                })?
                .map_err(|e| self.setup_failure(&format!("clock pings with s{id}: {e}")))?;
            debug!(server = id, rtt, offset, "clock offset");
            self.offsets[usize::from(id)] = Some((rtt, offset));
        }
        info!(server = id, %addr, "hello");
        ports.push((id, addr));
        writers.push((id, wr));
        let inbox = self.inbox_tx.clone();
        tokio::spawn(async move {
            // Every whole frame of one read goes to the loop at once, still encoded.
            let mut frames = Vec::new();
            loop {
                match rd.next_frames(&mut frames).await {
                    Ok(true) => {
                        let batch = std::mem::take(&mut frames);
                        if inbox.send(Report::Frames(id, batch)).is_err() {
                            return;
                        }
                    }
                    Ok(false) | Err(_) => {
                        let _ = inbox.send(Report::ControlClosed(id));
                        return;
                    }
                }
            }
        });
        Ok(())
    }

    /// The setup timed out before every server said hello.
    fn no_hello(&self, ports: &[(ServerId, SocketAddr)]) -> ProcessError {
        let missing: Vec<String> = (1..=self.n)
            .filter(|id| !ports.iter().any(|p| p.0 == *id))
            .map(|id| format!("s{id}"))
            .collect();
        let remote = &self.scenario.cluster.remote;
        let timeout = remote
            .setup_timeout
            .map_or(setup_timeout(self.n), Duration::from_micros);
        let how = match &remote.launch {
            Some(t) => format!(
                "; launched with cluster.launch = {:?}, e.g. s{}: `{}` — is the command running the \
                 server, and can the host reach this machine?",
                t.text(),
                missing.first().map_or("1", |s| &s[1..]),
                self.cluster
                    .command(missing.first().and_then(|s| s[1..].parse().ok()).unwrap_or(1))
            ),
            None => String::new(),
        };
        self.setup_failure(&format!(
            "{} never said hello within {:.1} s{how}",
            missing.join(", "),
            timeout.as_secs_f64()
        ))
    }

    pub(super) fn setup_failure(&self, what: &str) -> ProcessError {
        ProcessError::Setup(format!(
            "{} ({} servers, run {})",
            what, self.n, self.run_id
        ))
    }
}

/// Ping a server `count` times on its control connection (before its configuration): the
/// shortest round trip and the server's clock minus ours at its middle, ns.
async fn sync_clock(
    rd: &mut FrameReader<OwnedReadHalf>,
    wr: &mut OwnedWriteHalf,
    count: u8,
) -> Result<(u64, i64), crate::process::wire::WireError> {
    use tokio::io::AsyncWriteExt;
    let mut best: Option<(u64, i64)> = None;
    let mut buf = bytes::BytesMut::new();
    for seq in 0..u32::from(count) {
        crate::process::wire::encode_frame(&ToServer::Ping { seq }, &mut buf)?;
        let t0 = mono_ns();
        wr.write_all_buf(&mut buf).await?;
        let pong = rd.expect::<FromServer>().await?;
        let t1 = mono_ns();
        let FromServer::Pong {
            seq: s,
            mono_ns: theirs,
        } = pong
        else {
            return Err(crate::process::wire::WireError::Unexpected(format!(
                "expected a pong, got {pong:?}"
            )));
        };
        if s != seq {
            continue;
        }
        let rtt = t1 - t0;
        if best.is_none_or(|(r, _)| rtt < r) {
            let mid = i128::from(t0) + i128::from(rtt / 2);
            best = Some((rtt, (i128::from(theirs) - mid) as i64));
        }
    }
    best.ok_or_else(|| {
        crate::process::wire::WireError::Unexpected("no pong matched its ping".into())
    })
}

/// The links measured at setup, for `summary.json`: orchestrator → each remote server (control
/// connection pings) and each server → each peer (peer-link pings).
pub(super) fn links(
    offsets: &[Option<(u64, i64)>],
    pings: &[(ServerId, crate::process::wire::PeerPing)],
) -> Vec<LinkStat> {
    let mut out = Vec::new();
    for (id, o) in offsets.iter().enumerate() {
        if let Some((rtt, offset)) = o {
            out.push(LinkStat::new(
                "orchestrator".into(),
                format!("s{id}"),
                *rtt,
                *offset,
                u32::from(CLOCK_PINGS),
            ));
        }
    }
    let mut pings: Vec<_> = pings.iter().collect();
    pings.sort_by_key(|(from, p)| (*from, p.to));
    for (from, p) in pings {
        out.push(LinkStat::new(
            format!("s{from}"),
            format!("s{}", p.to),
            p.rtt_ns,
            p.offset_ns,
            p.samples,
        ));
    }
    out
}

/// This machine's source address on its route to `host` (`user@` and `[..]` stripped): the
/// address a UDP socket "connected" there is bound to (nothing is sent).
fn route_ip(host: &str) -> std::io::Result<IpAddr> {
    use std::net::ToSocketAddrs;
    let host = host.rsplit('@').next().unwrap_or(host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let target = (host, 9)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let socket = UdpSocket::bind(SocketAddr::new(unspecified(target.ip()), 0))?;
    socket.connect(target)?;
    Ok(socket.local_addr()?.ip())
}

/// 0.0.0.0 or ::, as `ip`'s family.
fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    }
}

/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
