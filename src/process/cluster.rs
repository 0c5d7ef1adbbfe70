//! The server processes of one run: spawned as one process group, signalled one by one (kill -9,
//! SIGSTOP/SIGCONT), killed as a whole on any stop, and reaped so none is left behind.

use super::auth::Secret;
use super::ProcessError;
use crate::protocol::ServerId;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::Child;

/// The server processes of one run: one process group, killed as a whole.
pub(super) struct Cluster {
    children: Vec<Option<Child>>,
    pids: Vec<Option<u32>>,
    pgid: Option<i32>,
}

impl Cluster {
    pub(super) fn empty(n: u16) -> Self {
        Cluster {
            children: (0..=n).map(|_| None).collect(),
            pids: vec![None; usize::from(n) + 1],
            pgid: None,
        }
    }

    /// Spawn `ticketlab server` n times. Must run on a thread that outlives the servers (the main
    /// thread): PR_SET_PDEATHSIG fires when the spawning *thread* exits.
    /// Each gets the run's `secret` on its stdin (a pipe only it and we hold), then end of file.
    pub(super) async fn spawn(
        n: u16,
        control: SocketAddr,
        run_id: &str,
        secret: &Secret,
    ) -> Result<Self, ProcessError> {
        let exe =
            std::env::current_exe().map_err(|source| ProcessError::Spawn { server: 1, source })?;
        let mut c = Cluster::empty(n);
        let me = std::process::id();
        for id in 1..=n {
            let mut cmd = tokio::process::Command::new(&exe);
            cmd.arg("server")
                .arg("--id")
                .arg(id.to_string())
                .arg("--control")
                .arg(control.to_string())
                .arg("--parent-pid")
                .arg(me.to_string())
                .arg("--run-id")
                .arg(run_id)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                // All servers in one new process group: one kill reaches them all, and the
                // terminal's Ctrl-C reaches only the orchestrator, which decides what to do.
                .process_group(c.pgid.unwrap_or(0));
            let mut child = cmd
                .spawn()
                .map_err(|source| ProcessError::Spawn { server: id, source })?;
            if let Some(mut stdin) = child.stdin.take() {
                // 32 bytes fit in any pipe buffer: this does not wait for the child.
                stdin
                    .write_all(secret.bytes())
                    .await
                    .map_err(|source| ProcessError::Spawn { server: id, source })?;
            }
            let pid = child.id();
            if c.pgid.is_none() {
                c.pgid = pid.map(|p| p as i32);
            }
            c.pids[usize::from(id)] = pid;
            c.children[usize::from(id)] = Some(child);
        }
        Ok(c)
    }

    pub(super) fn pid(&self, id: ServerId) -> Option<u32> {
        self.pids.get(usize::from(id)).copied().flatten()
    }

    pub(super) fn spawned(&self) -> Vec<ServerId> {
        (1..self.pids.len() as u16)
            .filter(|&s| self.pids[usize::from(s)].is_some())
            .collect()
    }

    /// Send `sig` to server `id` (SIGSTOP/SIGCONT for pause/resume).
    pub(super) fn signal(&self, id: ServerId, sig: libc::c_int) {
        if let Some(pid) = self.pid(id) {
            // SAFETY: kill(2) on our own child, which we have not reaped yet.
            unsafe { libc::kill(pid as i32, sig) };
        }
    }

    /// kill -9 one server.
    pub(super) fn kill(&mut self, id: ServerId) {
        if let Some(child) = self.children[usize::from(id)].as_mut() {
            let _ = child.start_kill();
        }
    }

    /// kill -9 every server (the whole group, then each one, in case one left the group).
    pub(super) fn kill_all(&mut self) {
        if let Some(pgid) = self.pgid {
            // SAFETY: kill(2) on our own process group.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        for child in self.children.iter_mut().flatten() {
            let _ = child.start_kill();
        }
    }

    /// A server exited during setup: that is a setup failure.
    pub(super) fn check_exited(&mut self) -> Result<(), ProcessError> {
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

    pub(super) fn status(&mut self, id: ServerId) -> String {
        match self.children[usize::from(id)]
            .as_mut()
            .map(|c| c.try_wait())
        {
            Some(Ok(Some(status))) => status.to_string(),
            _ => "its control connection closed".into(),
        }
    }

    /// The exit status of server `id` if it exits within `timeout`.
    pub(super) async fn wait_status(&mut self, id: ServerId, timeout: Duration) -> Option<String> {
        let child = self.children[usize::from(id)].as_mut()?;
        match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// Wait for every server to be gone (killing stragglers), so none is left as a zombie.
    pub(super) async fn reap(&mut self) {
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
