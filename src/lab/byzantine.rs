//! Byzantine servers: a runtime-side adversary wrapped around an unchanged protocol.
//!
//! A server named by a `byzantine = { servers = [..], behaviour = .. }` fault runs the correct
//! protocol inside a [`Byzantine`] wrapper that, from the fault's time on, rewrites what the
//! protocol sends and decides. The correct protocols never contain adversary code, and a
//! Byzantine server cannot forge another's identity: the runtime stamps every message with the
//! real sender (authenticated links), and the wrapper only rewrites its own server's effects.
//!
//! Behaviours:
//! - `silent` — receives everything, sends nothing (its own decisions still happen locally);
//! - `lie` — answers the opposite of what a correct server would: QL-FREE ↔ QL-LOCKED,
//!   ACK ↔ NACK (2PE's Phase 1), C-ACK ↔ C-NACK, bft-fleet's FL-ARRAYS emptied (nothing
//!   appended); other messages pass unchanged;
//! - `equivocate` — different answers to different servers for the same request: the truth to
//!   odd-numbered servers, the lie to even-numbered ones (so a lock is granted to two claimants);
//! - `accept-all` — accepts every ticket it is handed, at once and locally, and otherwise runs
//!   the protocol;
//! - `random` — every message it sends is replaced by a well-formed message of the same type
//!   with random field values (numbers, flags, server ids; ticket names kept: a server can only
//!   name tickets it has seen), drawn from a stream seeded by the run seed and the server id.

use crate::protocol::{
    fleet, Control, Effect, Msg, NodeConfig, Out, Outcome, Protocol, ServerId, Ticket, Time, Timer,
};
use crate::scenario::{FaultAction, Scenario};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};

pub use crate::scenario::Behaviour;

/// The opposite answer, for the reply types that have one; `None` for the others.
pub fn lie(msg: &Msg) -> Option<Msg> {
    Some(match msg.clone() {
        Msg::QlFree { ticket, attempt } => Msg::QlLocked { ticket, attempt },
        Msg::QlLocked { ticket, attempt } => Msg::QlFree { ticket, attempt },
        Msg::Ack { owner, ticket } => Msg::Nack { owner, ticket },
        Msg::Nack { owner, ticket } => Msg::Ack { owner, ticket },
        Msg::CAck { k, r } => Msg::CNack { k, r },
        Msg::CNack { k, r } => Msg::CAck { k, r },
        // bft-fleet: a global read answered with empty arrays ("nothing appended"). Its other
        // answers are signed, and a changed one would only fail verification.
        Msg::FlReply {
            ticket,
            rpc,
            rep: fleet::Reply::Arrays { arrays },
        } => Msg::FlReply {
            ticket,
            rpc,
            rep: fleet::Reply::Arrays {
                arrays: vec![Vec::new(); arrays.len()],
            },
        },
        _ => return None,
    })
}

/// A correct protocol with an adversary around it (see the module doc).
pub struct Byzantine {
    inner: Box<dyn Protocol>,
    behaviour: Behaviour,
    /// From this time on (µs since the run's start) the server is Byzantine.
    from: Time,
    n: u16,
    rng: ChaCha8Rng,
    /// Tickets `accept-all` accepted (the inner protocol's own decisions on them are dropped).
    accepted: BTreeSet<Ticket>,
}

impl Byzantine {
    pub fn new(
        inner: Box<dyn Protocol>,
        cfg: &NodeConfig,
        behaviour: Behaviour,
        from: Time,
    ) -> Self {
        Byzantine {
            inner,
            behaviour,
            from,
            n: cfg.n,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed ^ (u64::from(cfg.me) << 48) ^ 0xB12A_4714),
            accepted: BTreeSet::new(),
        }
    }

    /// Rewrite the effects the inner protocol produced at `now` (appended to `out` after `mark`).
    fn rewrite(&mut self, now: Time, out: &mut Out, mark: usize) {
        if now < self.from {
            return;
        }
        let effects: Vec<Effect> = out.effects.drain(mark..).collect();
        for e in effects {
            match e {
                Effect::Send { to, msg } => {
                    let msg = match self.behaviour {
                        Behaviour::Silent => continue,
                        Behaviour::Lie => lie(&msg).unwrap_or(msg),
                        Behaviour::Equivocate if to % 2 == 0 => lie(&msg).unwrap_or(msg),
                        Behaviour::Equivocate | Behaviour::AcceptAll => msg,
                        Behaviour::Random => randomize(&msg, self.n, &mut self.rng),
                    };
                    out.effects.push(Effect::Send { to, msg });
                }
                Effect::Decide { ref ticket, .. } if self.accepted.contains(ticket) => {}
                other => out.effects.push(other),
            }
        }
    }
}

/// A well-formed message of `msg`'s type with random numbers and flags (server ids within
/// 0..=n+1); ticket names and the message type are kept. Goes through the message's serde form,
/// so it covers every type without naming them.
fn randomize(msg: &Msg, n: u16, rng: &mut ChaCha8Rng) -> Msg {
    fn walk(v: &mut serde_json::Value, n: u16, rng: &mut ChaCha8Rng) {
        match v {
            serde_json::Value::Number(x) if x.is_u64() => {
                *x = serde_json::Number::from(rng.gen_range(0..=u64::from(n) + 1));
            }
            serde_json::Value::Bool(b) => *b = rng.gen(),
            serde_json::Value::Array(a) => {
                for x in a {
                    walk(x, n, rng);
                }
            }
            // Keys (the variant's name, field names) stay; strings (ticket names) too.
            serde_json::Value::Object(m) => {
                for x in m.values_mut() {
                    walk(x, n, rng);
                }
            }
            _ => {}
        }
    }
    let Ok(mut v) = serde_json::to_value(msg) else {
        return msg.clone();
    };
    walk(&mut v, n, rng);
    serde_json::from_value(v).unwrap_or_else(|_| msg.clone())
}

impl Protocol for Byzantine {
    fn on_start(&mut self, now: Time, out: &mut Out) {
        let mark = out.effects.len();
        self.inner.on_start(now, out);
        self.rewrite(now, out, mark);
    }

    fn on_ticket(&mut self, now: Time, ticket: Ticket, out: &mut Out) {
        if self.behaviour == Behaviour::AcceptAll
            && now >= self.from
            && self.accepted.insert(ticket.clone())
        {
            out.decide(ticket.clone(), Outcome::Accept, None);
        }
        // The adversary's own decision stays; the inner protocol's effects are rewritten.
        let mark = out.effects.len();
        self.inner.on_ticket(now, ticket, out);
        self.rewrite(now, out, mark);
    }

    fn on_message(&mut self, now: Time, from: ServerId, msg: Msg, out: &mut Out) {
        let mark = out.effects.len();
        self.inner.on_message(now, from, msg, out);
        self.rewrite(now, out, mark);
    }

    fn on_timer(&mut self, now: Time, timer: Timer, out: &mut Out) {
        let mark = out.effects.len();
        self.inner.on_timer(now, timer, out);
        self.rewrite(now, out, mark);
    }

    fn on_control(&mut self, now: Time, ctl: Control, out: &mut Out) {
        let mark = out.effects.len();
        self.inner.on_control(now, ctl, out);
        self.rewrite(now, out, mark);
    }

    fn state_hash(&self, mut h: &mut dyn Hasher) {
        self.inner.state_hash(h);
        self.behaviour.hash(&mut h);
        self.from.hash(&mut h);
        self.accepted.hash(&mut h);
    }
}

/// The Byzantine behaviour of server `me` in `scenario` and the time it starts (its first
/// `byzantine` fault naming it), if any.
pub fn role(scenario: &Scenario, me: ServerId) -> Option<(Behaviour, Time)> {
    scenario.faults.iter().find_map(|f| match &f.action {
        FaultAction::Byzantine { servers, behaviour } if servers.contains(&me) => {
            Some((*behaviour, f.at))
        }
        _ => None,
    })
}

/// Server `cfg.me`'s protocol instance: the correct one, wrapped if `role` (from [`role`])
/// makes it Byzantine. Both runtimes build their servers through this.
pub fn build(
    protocol: crate::protocol::ProtocolKind,
    cfg: &NodeConfig,
    role: Option<(Behaviour, Time)>,
) -> Box<dyn Protocol> {
    let inner = protocol.build(cfg);
    match role {
        Some((behaviour, from)) => Box::new(Byzantine::new(inner, cfg, behaviour, from)),
        None => inner,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ProtocolKind;

    fn cfg(me: ServerId) -> NodeConfig {
        NodeConfig {
            me,
            n: 4,
            heartbeat: 20_000,
            suspect_after: 100_000,
            seed: 1,
            delta: 10_000,
            byzantine: 0,
        }
    }

    /// s4 running qlock-amo answers three TRYs for one ticket (s1 first, then s2 and s3).
    fn answers(behaviour: Behaviour, from: Time) -> Vec<Effect> {
        let inner = ProtocolKind::QlockAmo.build(&cfg(4));
        let mut p = Byzantine::new(inner, &cfg(4), behaviour, from);
        let mut out = Out::new(4, 4);
        for s in 1..=3 {
            let m = Msg::QlTry {
                ticket: "t".into(),
                attempt: 0,
            };
            p.on_message(10, s, m, &mut out);
        }
        out.effects
    }

    fn replies(effects: &[Effect]) -> Vec<(ServerId, &'static str)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send { to, msg } => Some((*to, msg.kind())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_behaviour_rewrites_what_the_correct_server_would_send() {
        let truth = vec![(1, "QL-FREE"), (2, "QL-LOCKED"), (3, "QL-LOCKED")];
        assert_eq!(replies(&answers(Behaviour::AcceptAll, 0)), truth);
        // Not Byzantine yet: the truth.
        assert_eq!(replies(&answers(Behaviour::Lie, 11)), truth);
        assert_eq!(replies(&answers(Behaviour::Silent, 0)), vec![]);
        assert_eq!(
            replies(&answers(Behaviour::Lie, 0)),
            vec![(1, "QL-LOCKED"), (2, "QL-FREE"), (3, "QL-FREE")]
        );
        // The truth to odd servers, the lie to even ones: s1 and s2 both hear FREE.
        assert_eq!(
            replies(&answers(Behaviour::Equivocate, 0)),
            vec![(1, "QL-FREE"), (2, "QL-FREE"), (3, "QL-LOCKED")]
        );
        // Random keeps the type and the ticket; values are drawn.
        let random = answers(Behaviour::Random, 0);
        assert_eq!(replies(&random).len(), 3);
        for e in &random {
            if let Effect::Send { msg, .. } = e {
                assert!(msg.kind().starts_with("QL-"), "{msg:?}");
                assert_eq!(msg.ticket().map(|t| t.0.as_str()), Some("t"));
            }
        }
    }

    #[test]
    fn accept_all_accepts_at_once_and_drops_the_protocols_own_decision() {
        let inner = ProtocolKind::QlockAmo.build(&cfg(1));
        let mut p = Byzantine::new(inner, &cfg(1), Behaviour::AcceptAll, 0);
        let mut out = Out::new(1, 4);
        p.on_ticket(5, "t".into(), &mut out);
        // The other two answer LOCKED: the correct protocol would reject; the adversary accepted.
        for s in [2, 3] {
            let m = Msg::QlLocked {
                ticket: "t".into(),
                attempt: 0,
            };
            p.on_message(20, s, m, &mut out);
        }
        let decisions: Vec<&Effect> = out
            .effects
            .iter()
            .filter(|e| matches!(e, Effect::Decide { .. }))
            .collect();
        assert_eq!(
            decisions,
            vec![&Effect::Decide {
                ticket: "t".into(),
                outcome: Outcome::Accept,
                phase: None,
                why: None
            }]
        );
    }

    #[test]
    fn lie_swaps_exactly_the_reply_types_that_have_an_opposite() {
        let t = || crate::protocol::Ticket::from("t");
        let pairs = [
            (
                Msg::Ack {
                    owner: 2,
                    ticket: t(),
                },
                Msg::Nack {
                    owner: 2,
                    ticket: t(),
                },
            ),
            (Msg::CAck { k: 1, r: 2 }, Msg::CNack { k: 1, r: 2 }),
        ];
        for (a, b) in pairs {
            assert_eq!(lie(&a), Some(b.clone()));
            assert_eq!(lie(&b), Some(a));
        }
        assert_eq!(lie(&Msg::NewTkt { ticket: t() }), None);
    }

    #[test]
    fn behaviour_names_round_trip() {
        for &b in Behaviour::ALL {
            assert_eq!(Behaviour::from_name(b.name()), Some(b));
        }
        assert_eq!(Behaviour::from_name("liar"), None);
    }
}
