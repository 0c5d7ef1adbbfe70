//! The recorded history of a run: what users submitted, what servers sent, received and decided
//! (and why), which servers crashed, every injected fault and every failure-detector change
//! (docs/PROTOCOLS.md §13). Both runtimes produce it; the checker and the
//! statistics read nothing else. One event per line in `<protocol>/history.jsonl` (a user
//! contract: keep names).

use crate::protocol::{Note, Outcome, ServerId, Ticket, Time};
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
    /// A user could not reach `server` (it had crashed: no `reason`), or `server` rejected the
    /// ticket's credential when it took it in (`reason`: forged, tampered, expired): either way
    /// the server's protocol never received the ticket.
    Refused {
        t_us: Time,
        ticket: Ticket,
        server: ServerId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<Rejection>,
    },
    /// A server→server protocol message, counted at the sender. Heartbeats are not recorded.
    /// `seq` numbers the sender's messages (0, 1, …): (`from`, `seq`) names the message, and its
    /// `deliver` carries the same pair.
    Send {
        t_us: Time,
        from: ServerId,
        to: ServerId,
        msg: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticket: Option<Ticket>,
        #[serde(default)]
        seq: u64,
    },
    /// The message (`from`, `seq`) reached `to`'s protocol. Not counted: a delivery is not a
    /// message. A message to a crashed server, or lost on a link that never healed, has a `send`
    /// and no `deliver`.
    Deliver {
        t_us: Time,
        from: ServerId,
        to: ServerId,
        msg: String,
        seq: u64,
    },
    /// A server accepted or rejected a ticket; `phase` is 1 or 2 for 2PE, null otherwise; `why`
    /// is what the server knew, as its protocol sees it (when the protocol says).
    Decide {
        t_us: Time,
        ticket: Ticket,
        server: ServerId,
        outcome: Outcome,
        phase: Option<u8>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        why: Option<String>,
    },
    /// An injected fault other than a crash (`crash` has its own event): `fault` is pause,
    /// resume, suspect (a forced false suspicion), delay, loss, block, partition or heal;
    /// `servers` are the servers it names; `detail` says the rest in words.
    Fault {
        t_us: Time,
        fault: String,
        servers: Vec<ServerId>,
        detail: String,
    },
    /// `by`'s failure detector began suspecting `server`.
    Suspect {
        t_us: Time,
        by: ServerId,
        server: ServerId,
    },
    /// `by`'s failure detector stopped suspecting `server` (it trusts it again).
    Trust {
        t_us: Time,
        by: ServerId,
        server: ServerId,
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
    /// The same event at another time.
    pub fn at(mut self, t: Time) -> Event {
        *self.time_mut() = t;
        self
    }

    fn time_mut(&mut self) -> &mut Time {
        match self {
            Event::Submit { t_us, .. }
            | Event::Refused { t_us, .. }
            | Event::Send { t_us, .. }
            | Event::Deliver { t_us, .. }
            | Event::Decide { t_us, .. }
            | Event::Fault { t_us, .. }
            | Event::Suspect { t_us, .. }
            | Event::Trust { t_us, .. }
            | Event::Crash { t_us, .. }
            | Event::Byzantine { t_us, .. } => t_us,
        }
    }

    pub fn time(&self) -> Time {
        match self {
            Event::Submit { t_us, .. }
            | Event::Refused { t_us, .. }
            | Event::Send { t_us, .. }
            | Event::Deliver { t_us, .. }
            | Event::Decide { t_us, .. }
            | Event::Fault { t_us, .. }
            | Event::Suspect { t_us, .. }
            | Event::Trust { t_us, .. }
            | Event::Crash { t_us, .. }
            | Event::Byzantine { t_us, .. } => *t_us,
        }
    }
}

/// What a failure-detector change at `by` counts as, and its history event.
pub fn detector_event(t_us: Time, by: ServerId, server: ServerId, suspects: bool) -> (Note, Event) {
    if suspects {
        (Note::Suspected, Event::Suspect { t_us, by, server })
    } else {
        (Note::Unsuspected, Event::Trust { t_us, by, server })
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

/// Why a server rejected a ticket's credential (the `reason` of a `refused` event; see
/// `lab::tickets`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rejection {
    Forged,
    Tampered,
    Expired,
}

impl Rejection {
    pub fn name(self) -> &'static str {
        match self {
            Rejection::Forged => "forged",
            Rejection::Tampered => "tampered",
            Rejection::Expired => "expired",
        }
    }
}
