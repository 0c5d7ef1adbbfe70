//! The recorded history of a run: what users submitted, what servers sent and decided, and which
//! servers crashed (docs/PROTOCOLS.md §13). Both runtimes produce it; the checker and the
//! statistics read nothing else. One event per line in `<protocol>/history.jsonl` (a user
//! contract: keep names).

use crate::protocol::{Outcome, ServerId, Ticket, Time};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Event {
    /// A user handed `ticket` to `server` (the server is then in σ(τ)).
    Submit {
        t_us: Time,
        ticket: Ticket,
        server: ServerId,
    },
    /// A user could not reach `server` (it had crashed): the server never received the ticket.
    Refused {
        t_us: Time,
        ticket: Ticket,
        server: ServerId,
    },
    /// A server→server protocol message, counted at the sender. Heartbeats are not recorded.
    Send {
        t_us: Time,
        from: ServerId,
        to: ServerId,
        msg: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticket: Option<Ticket>,
    },
    /// A server accepted or rejected a ticket; `phase` is 1 or 2 for 2PE, null otherwise.
    Decide {
        t_us: Time,
        ticket: Ticket,
        server: ServerId,
        outcome: Outcome,
        phase: Option<u8>,
    },
    /// A server crashed (crash-stop; in processes mode, kill -9).
    Crash { t_us: Time, server: ServerId },
    /// From then on `server` is Byzantine (a `byzantine` fault): its decisions are its own,
    /// reported apart, never counted against the properties.
    Byzantine {
        t_us: Time,
        server: ServerId,
        behaviour: String,
    },
}

impl Event {
    pub fn time(&self) -> Time {
        match self {
            Event::Submit { t_us, .. }
            | Event::Refused { t_us, .. }
            | Event::Send { t_us, .. }
            | Event::Decide { t_us, .. }
            | Event::Crash { t_us, .. }
            | Event::Byzantine { t_us, .. } => *t_us,
        }
    }
}

/// Write a history as JSON lines.
pub fn write_jsonl(path: &Path, events: &[Event]) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut w = std::io::BufWriter::new(file);
    for e in events {
        serde_json::to_writer(&mut w, e)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// Read a history written by [`write_jsonl`].
pub fn read_jsonl(path: &Path) -> anyhow::Result<Vec<Event>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}
