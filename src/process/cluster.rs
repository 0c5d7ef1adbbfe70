//! The server processes of one run: spawned as one process group, signalled one by one (kill -9,
//! SIGSTOP/SIGCONT), killed as a whole on any stop, and reaped so none is left behind.
//!
//! With a launch template (`[cluster] launch`), each child is `sh -c` of the template: the server
//! itself may be elsewhere (ssh, another network namespace, a container). Signals then go
//! through the same template (`kill -s SIG PID`, the pid from the server's hello), kill -9 also
//! as a [`ToServer::Crash`](super::wire::ToServer::Crash) on its control connection (the
//! orchestrator's side), and the end of its control connection ends a server wherever it runs.

use super::auth::Secret;
use super::ProcessError;
use crate::protocol::ServerId;
use crate::scenario::remote::{Remote, Template};
use std::collections::BTreeSet;
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
    /// The launch template and hosts, when servers are launched through one.
    launch: Option<(Template, Remote)>,
    /// Each launched server's shell command (for error messages).
    commands: Vec<String>,
    /// Each launched server's own pid, from its hello (signals go through the template).
    remote_pids: Vec<Option<u32>>,
    /// Launched servers stopped by SIGSTOP (a kill of the whole run must reach them).
    stopped: BTreeSet<ServerId>,
}

impl Cluster {
    pub(super) fn empty(n: u16) -> Self {
        Cluster {
            children: (0..=n).map(|_| None).collect(),
            pids: vec![None; usize::from(n) + 1],
            pgid: None,
            launch: None,
            commands: vec![String::new(); usize::from(n) + 1],
            remote_pids: vec![None; usize::from(n) + 1],
            stopped: BTreeSet::new(),
        }
    }

    /// Are the servers launched through a template (so not necessarily our children)?
    pub(super) fn launched(&self) -> bool {
        self.launch.is_some()
    }

    /// A launched server's own pid, from its hello.
    pub(super) fn set_remote_pid(&mut self, id: ServerId, pid: u32) {
        if let Some(p) = self.remote_pids.get_mut(usize::from(id)) {
            *p = Some(pid);
        }
    }

    /// The shell command that launched server `id` (empty for a local child).
    pub(super) fn command(&self, id: ServerId) -> &str {
        self.commands
            .get(usize::from(id))
            .map_or("", String::as_str)
    }

    /// Run `kill -s SIG PID` for launched server `id` through its template, in the background
    /// (bounded: 10 s, then the helper is killed).
    fn remote_kill(&self, id: ServerId, sig: &str) {
        let (Some((template, remote)), Some(pid)) =
            (&self.launch, self.remote_pids[usize::from(id)])
        else {
            return;
        };
        let args = ["-s".to_string(), sig.to_string(), pid.to_string()];
        let shell = template.expand(remote.host(id).unwrap_or(""), id, "kill", &args);
        let child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&shell)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        match child {
            Ok(mut child) => {
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
                });
            }
            Err(e) => tracing::warn!(server = id, "cannot run `{shell}`: {e}"),
        }
    }

    /// Spawn `ticketlab server` n times. Must run on a thread that outlives the servers (the main
    /// thread): PR_SET_PDEATHSIG fires when the spawning *thread* exits.
    /// Each gets the run's `secret` on its stdin (a pipe only it and we hold), then end of file.
    /// With `remote.launch`, each server is `sh -c` of the template instead (server `id` dials
    /// `control[id - 1]`; no parent pid: its parent is the shell or further away).
    pub(super) async fn spawn(
        n: u16,
        control: &[SocketAddr],
        run_id: &str,
        secret: &Secret,
        remote: &Remote,
    ) -> Result<Self, ProcessError> {
        let exe =
            std::env::current_exe().map_err(|source| ProcessError::Spawn { server: 1, source })?;
        let mut c = Cluster::empty(n);
        c.launch = remote.launch.clone().map(|t| (t, remote.clone()));
        let me = std::process::id();
        for id in 1..=n {
            let ctl = control[usize::from(id - 1).min(control.len() - 1)];
            let mut args: Vec<String> = vec![
                "server".into(),
                "--id".into(),
                id.to_string(),
                "--control".into(),
                ctl.to_string(),
                "--run-id".into(),
                run_id.to_string(),
            ];
            if let Some(listen) = remote.listen_addr(id) {
                args.extend(["--listen".into(), listen.to_string()]);
            }
            let mut cmd = match &remote.launch {
                None => {
                    let mut cmd = tokio::process::Command::new(&exe);
                    cmd.args(&args).arg("--parent-pid").arg(me.to_string());
                    cmd
                }
                Some(t) => {
                    let shell = t.expand(
                        remote.host(id).unwrap_or(""),
                        id,
                        &exe.to_string_lossy(),
                        &args,
                    );
                    let mut cmd = tokio::process::Command::new("sh");
                    cmd.arg("-c").arg(&shell);
                    c.commands[usize::from(id)] = shell;
                    cmd
                }
            };
            cmd.stdin(Stdio::piped())
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
                // 32 bytes fit in any pipe buffer: this does not wait for the child. A launch
                // command that exits at once may have closed it already: its exit is the error
                // the setup reports.
                if let Err(source) = stdin.write_all(secret.bytes()).await {
                    if c.launch.is_none() {
                        return Err(ProcessError::Spawn { server: id, source });
                    }
                }
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

    /// Send `sig` to server `id` (SIGSTOP/SIGCONT for pause/resume); through the template for a
    /// launched server.
    pub(super) fn signal(&mut self, id: ServerId, sig: libc::c_int) {
        if self.launched() {
            let name = match sig {
                libc::SIGSTOP => "STOP",
                libc::SIGCONT => "CONT",
                _ => "KILL",
            };
            if sig == libc::SIGSTOP {
                self.stopped.insert(id);
            } else {
                self.stopped.remove(&id);
            }
            return self.remote_kill(id, name);
        }
        if let Some(pid) = self.pid(id) {
            // SAFETY: kill(2) on our own child, which we have not reaped yet.
            unsafe { libc::kill(pid as i32, sig) };
        }
    }

    /// kill -9 one server (a launched one also gets `ToServer::Crash` from the orchestrator).
    pub(super) fn kill(&mut self, id: ServerId) {
        if self.launched() {
            self.stopped.remove(&id);
            self.remote_kill(id, "KILL");
        }
        if let Some(child) = self.children[usize::from(id)].as_mut() {
            let _ = child.start_kill();
        }
    }

    /// kill -9 every server (the whole group, then each one, in case one left the group).
    pub(super) fn kill_all(&mut self) {
        // A stopped launched server cannot see its control connection end.
        for id in std::mem::take(&mut self.stopped) {
            self.remote_kill(id, "KILL");
        }
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
                    if self.launch.is_some() {
                        return Err(ProcessError::Setup(format!(
                            "the launch command of s{id} exited ({status}) before the server said \
                             hello: `sh -c {}`",
                            crate::scenario::remote::shell_quote(&self.commands[id])
                        )));
                    }
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
