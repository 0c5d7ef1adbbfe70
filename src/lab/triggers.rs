//! Event-triggered faults (`after = { server, event, count }`): counting the protocol events a
//! server executes and saying which faults fire. One matcher for every runtime: the simulator
//! watches every server; a server process watches its own triggers, handed to it on the wire.

use crate::protocol::{Effect, Outcome, ServerId};
use crate::scenario::{EventKind, Fault};
use serde::{Deserialize, Serialize};

/// The protocol event a trigger counts (the scenario's [`EventKind`], in wire form).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TriggerEvent {
    Accept,
    Reject,
    Decide,
    /// A server→server message of this type.
    Send(String),
}

impl From<&EventKind> for TriggerEvent {
    fn from(e: &EventKind) -> Self {
        match e {
            EventKind::Accept => TriggerEvent::Accept,
            EventKind::Reject => TriggerEvent::Reject,
            EventKind::Decide => TriggerEvent::Decide,
            EventKind::Send(kind) => TriggerEvent::Send(kind.clone()),
        }
    }
}

/// "Right after the `count`-th `event` at `server`, fault number `fault` fires."
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// Index of the fault in the scenario's `[[fault]]` list.
    pub fault: u32,
    pub server: ServerId,
    pub event: TriggerEvent,
    pub count: u32,
}

impl Trigger {
    /// The event-triggered faults of a scenario, in fault order; only those at `server` if given.
    pub fn of(faults: &[Fault], server: Option<ServerId>) -> Vec<Trigger> {
        faults
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let after = f.after.as_ref()?;
                if server.is_some_and(|s| s != after.server) {
                    return None;
                }
                Some(Trigger {
                    fault: i as u32,
                    server: after.server,
                    event: (&after.event).into(),
                    count: after.count,
                })
            })
            .collect()
    }
}

/// What an executed effect was, as far as triggers care.
#[derive(Clone, Copy, Debug)]
pub enum Seen {
    /// A message of this type ([`crate::protocol::Msg::kind`]).
    Send(&'static str),
    Decide(Outcome),
}

impl Seen {
    /// The countable part of an effect (sends and decisions; timers and notes count for nothing).
    pub fn of(effect: &Effect) -> Option<Self> {
        match effect {
            Effect::Send { msg, .. } => Some(Seen::Send(msg.kind())),
            Effect::Decide { outcome, .. } => Some(Seen::Decide(*outcome)),
            _ => None,
        }
    }
}

/// The armed triggers with the matching events seen so far. A trigger fires once.
#[derive(Debug, Default)]
pub struct Triggers {
    armed: Vec<(Trigger, u32)>,
}

impl Triggers {
    pub fn new(triggers: Vec<Trigger>) -> Self {
        Triggers {
            armed: triggers.into_iter().map(|t| (t, 0)).collect(),
        }
    }

    /// Nothing left to watch: callers skip the bookkeeping.
    pub fn is_empty(&self) -> bool {
        self.armed.is_empty()
    }

    /// Count an event executed by `server`; returns the faults that fire now, in fault order.
    pub fn observe(&mut self, server: ServerId, seen: Seen) -> Vec<u32> {
        let mut fired = Vec::new();
        for (t, count) in &mut self.armed {
            if t.server != server {
                continue;
            }
            let hit = match (&t.event, seen) {
                (TriggerEvent::Accept, Seen::Decide(Outcome::Accept))
                | (TriggerEvent::Reject, Seen::Decide(Outcome::Reject))
                | (TriggerEvent::Decide, Seen::Decide(_)) => true,
                (TriggerEvent::Send(kind), Seen::Send(k)) => kind == k,
                _ => false,
            };
            if hit {
                *count += 1;
                if *count == t.count {
                    fired.push(t.fault);
                }
            }
        }
        self.armed.retain(|(t, _)| !fired.contains(&t.fault));
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(fault: u32, server: ServerId, event: TriggerEvent, count: u32) -> Trigger {
        Trigger {
            fault,
            server,
            event,
            count,
        }
    }

    #[test]
    fn fires_on_the_count_th_matching_event_at_its_server_only() {
        let mut t = Triggers::new(vec![
            trigger(0, 1, TriggerEvent::Send("NEWTKT".into()), 2),
            trigger(3, 2, TriggerEvent::Accept, 1),
        ]);
        assert!(
            t.observe(2, Seen::Send("NEWTKT")).is_empty(),
            "other server"
        );
        assert!(t.observe(1, Seen::Send("ACK")).is_empty(), "other message");
        assert!(
            t.observe(1, Seen::Send("NEWTKT")).is_empty(),
            "first of two"
        );
        assert_eq!(t.observe(1, Seen::Send("NEWTKT")), vec![0]);
        assert!(t.observe(1, Seen::Send("NEWTKT")).is_empty(), "fires once");
        assert!(t.observe(2, Seen::Decide(Outcome::Reject)).is_empty());
        assert_eq!(t.observe(2, Seen::Decide(Outcome::Accept)), vec![3]);
        assert!(t.is_empty());
    }

    #[test]
    fn decide_counts_both_outcomes_and_simultaneous_triggers_fire_in_fault_order() {
        let mut t = Triggers::new(vec![
            trigger(1, 4, TriggerEvent::Decide, 2),
            trigger(2, 4, TriggerEvent::Reject, 1),
        ]);
        assert!(t.observe(4, Seen::Decide(Outcome::Accept)).is_empty());
        assert_eq!(t.observe(4, Seen::Decide(Outcome::Reject)), vec![1, 2]);
    }
}
