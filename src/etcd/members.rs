//! The etcd members of one row: n `etcd` processes on loopback ports picked here, their data in
//! a temporary folder removed afterwards. Like the lab's server processes they live in one
//! process group killed as a whole on any stop, are spawned `kill_on_drop`, and on Linux get
//! `PR_SET_PDEATHSIG = SIGKILL` (they die with ticketlab, even after a kill -9 of it).

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Child;

/// How long the members may take to elect a leader and answer `/health`.
pub(super) const START_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) struct Members {
    children: Vec<Child>,
    pgid: Option<i32>,
    dir: PathBuf,
    /// Member s_i's client port at index i − 1.
    pub(super) client_ports: Vec<u16>,
}

impl Members {
    /// Spawn n members forming one new cluster. Must run on the main thread (PDEATHSIG).
    pub(super) fn spawn(n: u16, binary: &Path, run_id: &str) -> anyhow::Result<Self> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "ticketlab-etcd-{run_id}-{}-{stamp}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let mut m = Members {
            children: Vec::new(),
            pgid: None,
            dir,
            client_ports: Vec::new(),
        };
        // Free loopback ports: bound to :0, read, released just before etcd binds them.
        let listeners = (0..2 * n)
            .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .collect::<std::io::Result<Vec<_>>>()?;
        let ports = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<std::io::Result<Vec<u16>>>()?;
        drop(listeners);
        let (client, peer) = ports.split_at(usize::from(n));
        m.client_ports = client.to_vec();
        let url = |p: u16| format!("http://127.0.0.1:{p}");
        let initial: Vec<String> = (1..=n)
            .map(|i| format!("s{i}={}", url(peer[usize::from(i) - 1])))
            .collect();
        let initial = initial.join(",");
        let me = std::process::id() as i32;
        for i in 1..=n {
            let (c, p) = (client[usize::from(i) - 1], peer[usize::from(i) - 1]);
            let log = File::create(m.dir.join(format!("s{i}.log")))?;
            let mut cmd = tokio::process::Command::new(binary);
            cmd.arg("--name")
                .arg(format!("s{i}"))
                .arg("--data-dir")
                .arg(m.dir.join(format!("s{i}.etcd")))
                .arg("--listen-client-urls")
                .arg(url(c))
                .arg("--advertise-client-urls")
                .arg(url(c))
                .arg("--listen-peer-urls")
                .arg(url(p))
                .arg("--initial-advertise-peer-urls")
                .arg(url(p))
                .arg("--initial-cluster")
                .arg(&initial)
                .arg("--initial-cluster-token")
                .arg(format!("ticketlab-{run_id}"))
                .arg("--initial-cluster-state")
                .arg("new")
                .arg("--logger")
                .arg("zap")
                .arg("--log-level")
                .arg("warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log))
                .kill_on_drop(true)
                // One group: one kill reaches every member, and the terminal's Ctrl-C reaches
                // only ticketlab, which decides what to do.
                .process_group(m.pgid.unwrap_or(0));
            die_with(&mut cmd, me);
            let child = cmd
                .spawn()
                .map_err(|e| anyhow::anyhow!("cannot start {} (s{i}): {e}", binary.display()))?;
            if m.pgid.is_none() {
                m.pgid = child.id().map(|p| p as i32);
            }
            m.children.push(child);
        }
        Ok(m)
    }

    /// A member that exited (while none should): its id, status and the end of its log.
    pub(super) fn exited(&mut self) -> Option<String> {
        for (i, child) in self.children.iter_mut().enumerate() {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(self.dir.join(format!("s{}.log", i + 1)))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Some(format!(
                    "etcd member s{} exited ({status}); its log ends:\n{}",
                    i + 1,
                    tail.join("\n")
                ));
            }
        }
        None
    }

    /// kill -9 member s_i (a crash fault); it is reaped with the others at the end.
    pub(super) fn kill(&mut self, server: u16) {
        if let Some(child) = self.children.get_mut(usize::from(server) - 1) {
            let _ = child.start_kill();
        }
    }

    /// kill -9 the whole group, then each member (in case one left it).
    pub(super) fn kill_all(&mut self) {
        if let Some(pgid) = self.pgid {
            // SAFETY: kill(2) on the process group our first child leads.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        for child in &mut self.children {
            let _ = child.start_kill();
        }
    }

    /// Kill every member, wait for each (no zombie), remove the data folder.
    pub(super) async fn stop(&mut self) {
        self.kill_all();
        for child in &mut self.children {
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
        self.children.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        // A panic or an early return: nothing may survive (kill_on_drop covers each child too).
        if !self.children.is_empty() {
            self.kill_all();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// On Linux the member gets SIGKILL when ticketlab's spawning thread dies (kill -9 included),
/// and exits at once if ticketlab is already gone.
#[cfg(target_os = "linux")]
fn die_with(cmd: &mut tokio::process::Command, parent: i32) {
    // SAFETY: prctl, getppid and _exit are async-signal-safe; nothing else runs between fork
    // and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Elsewhere: the process group kill, kill_on_drop and the signal handler only.
#[cfg(not(target_os = "linux"))]
fn die_with(_cmd: &mut tokio::process::Command, _parent: i32) {}
