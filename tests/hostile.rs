//! A hostile local client against a real processes-mode run: every server's listening port gets
//! garbage, oversized length prefixes, half frames, well-formed hellos and protocol frames from
//! someone who knows the run id (it is on every command line) but not the run's secret — the
//! forged-ACK attack on 2PE — and a flood of connections. The run must not notice: it completes
//! with exact message counts, no violation, no server lost, the rejections counted, and nothing
//! left behind.
//!
//! Linux only: the attacker finds the servers and their ports in /proc, as any local user can.
#![cfg(target_os = "linux")]

mod common;
use common::procs::processes_with;

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use ticketlab::process::wire::{encode_frame, Hello, PeerFrame};
use ticketlab::protocol::Msg;

const N: usize = 5;
const TICKETS: u64 = 600;

/// The socket inodes a process holds.
fn socket_inodes(pid: u32) -> BTreeSet<u64> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return BTreeSet::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let link = std::fs::read_link(e.path()).ok()?;
            let s = link.to_string_lossy().into_owned();
            s.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// The TCP port `pid` listens on (from /proc/net/tcp: state 0A is LISTEN).
fn listening_port(pid: u32) -> Option<u16> {
    let inodes = socket_inodes(pid);
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let inode: u64 = f.get(9)?.parse().ok()?;
        if f.get(3) != Some(&"0A") || !inodes.contains(&inode) {
            return None;
        }
        u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()
    })
}

fn frame<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    encode_frame(v, &mut buf).unwrap();
    buf.to_vec()
}

fn connect(port: u16) -> Option<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    Some(s)
}

/// Send `bytes`, then wait (bounded) for the server to close the connection.
fn send_and_wait_close(port: u16, bytes: &[u8]) {
    let Some(mut s) = connect(port) else { return };
    let _ = s.write_all(bytes);
    let until = Instant::now() + Duration::from_secs(4);
    let mut buf = [0u8; 256];
    while Instant::now() < until {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {} // the challenge
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}

fn attack(port: u16, run_id: &str) {
    // Garbage.
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    send_and_wait_close(port, &garbage);
    // Length prefixes far beyond any limit, and one just past the hello limit.
    send_and_wait_close(port, &[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3]);
    send_and_wait_close(port, &(8u32 << 20).to_be_bytes());
    send_and_wait_close(port, &4096u32.to_be_bytes());
    // A bincode body claiming a huge string.
    let mut huge = vec![0, 0, 0, 10, 0, 2];
    huge.extend_from_slice(&[0xFC, 0xFF, 0xFF, 0xFF, 0x7F]);
    send_and_wait_close(port, &huge);
    // Half a frame, then silence: the handshake timeout closes it.
    send_and_wait_close(port, &[0, 0, 0, 100, 1, 2, 3]);
    // The forged-ACK attack: a well-formed hello claiming to be a peer, without the secret, then
    // protocol frames for the tickets the workload submits.
    for from in 1..=N as u16 {
        let mut bytes = frame(&Hello::Peer {
            from,
            run_id: run_id.to_string(),
            mac: vec![0; 32],
        });
        for t in 0..20 {
            for owner in 1..=N as u16 {
                bytes.extend(frame(&PeerFrame {
                    release_ns: 0,
                    seq: t,
                    msg: Msg::Ack {
                        owner,
                        ticket: format!("t{t}").as_str().into(),
                    },
                }));
            }
        }
        send_and_wait_close(port, &bytes);
    }
    // A user hello without the secret, then a submission.
    let mut bytes = frame(&Hello::User {
        run_id: run_id.to_string(),
        mac: Vec::new(),
    });
    bytes.extend(frame(&ticketlab::process::wire::UserReq::Submit {
        ticket: "evil".into(),
        signed: "evil|1|0|0|00".into(),
    }));
    send_and_wait_close(port, &bytes);
}

#[test]
fn hostile_clients_do_not_disturb_a_run_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let id = format!("hostile{}", std::process::id());
    std::fs::write(
        dir.path().join("h.toml"),
        format!(
            r#"
name = "hostile"
seed = 3
[cluster]
servers = {N}
protocols = ["2pe"]
mode = "processes"
delta_ms = 2.0
suspect_after_ms = 3000.0
[workload]
tickets = {TICKETS}
concurrency = 1
submit_to = "round-robin"
"#
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ticketlab"))
        .current_dir(dir.path())
        .args([
            "run", "--run-id", &id, "h.toml", "--format", "json", "--out", "out",
        ])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The servers, their ports, and the run id on their command lines (all public).
    let until = Instant::now() + Duration::from_secs(20);
    let servers = loop {
        let servers: Vec<(u32, String)> = processes_with(&id)
            .into_iter()
            .filter(|(_, cmd)| cmd.contains(" server "))
            .collect();
        // Set up: listener, control, 2(n−1) peer links and one user connection each.
        let ready = servers.len() == N
            && servers
                .iter()
                .all(|(pid, _)| socket_inodes(*pid).len() > 2 * (N - 1) + 1);
        if ready {
            break servers;
        }
        assert!(Instant::now() < until, "servers not up: {servers:?}");
        std::thread::sleep(Duration::from_millis(10));
    };
    let run_id = {
        let cmd = &servers[0].1;
        let mut words = cmd.split_whitespace();
        words.find(|w| *w == "--run-id");
        words.next().unwrap().to_string()
    };
    let ports: Vec<u16> = servers
        .iter()
        .map(|(pid, _)| listening_port(*pid).expect("a listening port"))
        .collect();
    let attackers: Vec<_> = ports
        .iter()
        .map(|&port| {
            let run_id = run_id.clone();
            std::thread::spawn(move || attack(port, &run_id))
        })
        .collect();
    // A flood: ~200 connections at once, held open, then dropped.
    let flood: Vec<TcpStream> = (0..200)
        .filter_map(|i| TcpStream::connect(("127.0.0.1", ports[i % ports.len()])).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    drop(flood);
    for a in attackers {
        a.join().unwrap();
    }

    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let left = |needle: &str| {
        let until = Instant::now() + Duration::from_secs(3);
        loop {
            let left = processes_with(needle);
            if left.is_empty() || Instant::now() > until {
                return left;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert!(left(&id).is_empty(), "processes left behind");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["complete"], true, "{err}");
    let run = &v["runs"][0];
    assert_eq!(run["protocol"], "2pe");
    assert_eq!(run["tickets"], TICKETS, "{run}");
    assert_eq!(run["accepted"], TICKETS, "{run}");
    assert_eq!(run["undecided"], 0);
    assert_eq!(run["violations"].as_array().unwrap().len(), 0, "{run}");
    assert_eq!(run["crashed"].as_array().unwrap().len(), 0);
    // Uncontended 2PE: NEWTKT to n−1 servers and n−1 ACKs per ticket, exactly.
    assert_eq!(run["messages"], TICKETS * 2 * (N as u64 - 1), "{run}");
    let rejected = run["rejected_connections"].as_u64().unwrap();
    eprintln!(
        "rejected {rejected} connections; run took {} ms; latency median {} ms",
        run["duration_ms"], run["latency_ms"]["p50"]
    );
    // Per server at least: garbage, 4 bad prefixes, half frame, 5 forged peers, 1 forged user.
    assert!(rejected >= (N as u64) * 12, "rejected {rejected}");
    let summary = std::fs::read_to_string(Path::new(dir.path()).join("out/summary.json")).unwrap();
    assert!(summary.contains("\"rejected_connections\""));
}
