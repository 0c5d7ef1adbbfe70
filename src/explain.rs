//! Runs that explain themselves: for every scripted ticket (`[[ticket]]`), what happened to it —
//! who received it when, who decided what, when, in which phase and why (the facts the protocol
//! recorded with the decision), and which of its servers crashed. From the history alone, like
//! every other figure; in `summary.json` as `scripted_tickets` and under the terminal table.

use crate::history::Event;
use crate::protocol::{Outcome, ServerId, Ticket, Time};
use crate::scenario::Scenario;
use crate::text::wrap;
use serde::Serialize;

/// One scripted ticket's story.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Story {
    pub ticket: Ticket,
    /// Who received it, when (ms); a submission refused by a crashed server is not here.
    pub received: Vec<(ServerId, f64)>,
    pub decisions: Vec<StoryDecision>,
    /// Servers that received it and crashed, when (ms).
    pub crashed: Vec<(ServerId, f64)>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoryDecision {
    pub server: ServerId,
    pub outcome: Outcome,
    pub phase: Option<u8>,
    pub t_ms: f64,
    pub why: Option<String>,
}

fn ms(t: Time) -> f64 {
    t as f64 / 1000.0
}

/// The stories of `scenario`'s scripted tickets in `history`.
pub fn stories(scenario: &Scenario, history: &[Event]) -> Vec<Story> {
    let mut out: Vec<Story> = scenario
        .tickets
        .iter()
        .map(|t| Story {
            ticket: Ticket(t.id.clone()),
            received: Vec::new(),
            decisions: Vec::new(),
            crashed: Vec::new(),
        })
        .collect();
    for e in history {
        match e {
            Event::Submit {
                t_us,
                ticket,
                server,
            } => {
                if let Some(s) = out.iter_mut().find(|s| &s.ticket == ticket) {
                    s.received.push((*server, ms(*t_us)));
                }
            }
            Event::Decide {
                t_us,
                ticket,
                server,
                outcome,
                phase,
                why,
            } => {
                if let Some(s) = out.iter_mut().find(|s| &s.ticket == ticket) {
                    s.decisions.push(StoryDecision {
                        server: *server,
                        outcome: *outcome,
                        phase: *phase,
                        t_ms: ms(*t_us),
                        why: why.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    for e in history {
        if let Event::Crash { t_us, server } = e {
            for s in &mut out {
                if s.received.iter().any(|(r, _)| r == server) {
                    s.crashed.push((*server, ms(*t_us)));
                }
            }
        }
    }
    out
}

fn num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// The stories as terminal text, 80 columns, words never broken.
pub fn render(label: &str, stories: &[Story]) -> String {
    let mut text = String::new();
    for s in stories {
        let got: Vec<String> = s
            .received
            .iter()
            .map(|(srv, t)| format!("s{srv} at {} ms", num(*t)))
            .collect();
        let head = format!(
            "  {label}, ticket {}: received by {}",
            s.ticket,
            if got.is_empty() {
                "nobody".to_string()
            } else {
                got.join(", ")
            }
        );
        text.push_str(&wrap(&head, " ", 80, 6));
        let mut events: Vec<(f64, String)> = Vec::new();
        for d in &s.decisions {
            let verb = match d.outcome {
                Outcome::Accept => "accepts",
                Outcome::Reject => "rejects",
            };
            let phase = d
                .phase
                .map(|p| format!(" in Phase {p}"))
                .unwrap_or_default();
            let why = d
                .why
                .as_ref()
                .map(|w| format!(" — {w}"))
                .unwrap_or_default();
            events.push((
                d.t_ms,
                format!("    s{} {verb}{phase} at {} ms{why}", d.server, num(d.t_ms)),
            ));
        }
        for (srv, t) in &s.crashed {
            events.push((*t, format!("    s{srv} crashes at {} ms", num(*t))));
        }
        events.sort_by(|a, b| a.0.total_cmp(&b.0));
        if events.is_empty() {
            events.push((0.0, "    nobody decided it".to_string()));
        }
        for (_, line) in events {
            text.push_str(&wrap(&line, " ", 80, 6));
        }
    }
    text
}
