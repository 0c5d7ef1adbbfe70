//! SIGINT/SIGTERM as a value every runtime can watch: once [`Interrupt::install`]ed, the signals
//! no longer kill ticketlab; whoever runs stops at its next boundary, kills what it started and
//! writes what it has (exit 130). Used by the process runtime, the etcd baseline and `explore`.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// SIGINT/SIGTERM, observed: once installed, the signals no longer kill the orchestrator; they
/// make every running loop stop, kill what it started and write what it has.
#[derive(Clone, Debug)]
pub struct Interrupt {
    rx: watch::Receiver<Option<&'static str>>,
}

impl Interrupt {
    /// Install the handlers (inside a tokio runtime).
    pub fn install() -> std::io::Result<Self> {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            let _ = tx.send(Some(name));
            // Keep the handlers (and the sender) alive: later signals are absorbed.
            loop {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
        });
        Ok(Interrupt { rx })
    }

    /// The signal received so far, if any.
    pub fn fired(&self) -> Option<&'static str> {
        *self.rx.borrow()
    }

    /// Wait for a signal.
    pub async fn wait(&mut self) -> &'static str {
        match self.rx.wait_for(Option::is_some).await {
            Ok(v) => v.unwrap_or("signal"),
            Err(_) => std::future::pending().await,
        }
    }
}

/// A current-thread tokio runtime with the SIGINT/SIGTERM watch installed in it: what a runtime
/// that runs real processes (the cluster's servers, the etcd members) starts with.
pub fn runtime_with_interrupt() -> anyhow::Result<(tokio::runtime::Runtime, Interrupt)> {
    use anyhow::Context;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let interrupt = rt
        .block_on(async { Interrupt::install() })
        .context("cannot install the SIGINT/SIGTERM handlers")?;
    Ok((rt, interrupt))
}
