//! The protocols the lab knows ([`ProtocolKind`]: scenario names, the factory), what each one
//! claims ([`Property`]) and the papers' theory rows ([`Theory`]) the tool prints beside its
//! measurements — the only place theory values live.

use super::*;
use std::fmt;

/// The protocols the lab knows, by their scenario names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ProtocolKind {
    #[serde(rename = "2pe")]
    TwoPe,
    #[serde(rename = "se-ct")]
    SeCt,
    /// A deliberately broken 2PE that accepts in Phase 1 on ⌊n/2⌋ replies (a minority for odd
    /// n): two servers can both gather "majorities" and both accept. For teaching, and for
    /// checking that the checker and `explore` catch what they should. Not in Table 1.
    #[serde(rename = "2pe-minority")]
    TwoPeMinority,
    #[serde(rename = "se-opt")]
    SeOpt,
    #[serde(rename = "se-gb")]
    SeGb,
    /// Bug zoo: SE over CT-broadcast whose consensus coordinator counts C-ACKs of older rounds
    /// and earlier instances (`consensus::Flaw::StaleAck`). Not in Table 1.
    #[serde(rename = "ct-stale-ack")]
    CtStaleAck,
    /// Bug zoo: SE over CT-broadcast whose consensus coordinator of a round r > 1 proposes
    /// without a majority of estimates (`consensus::Flaw::EarlyPropose`). Not in Table 1.
    #[serde(rename = "ct-early-propose")]
    CtEarlyPropose,
    /// Bug zoo: 2PE whose Phase-2 walk waits for the server's own message only, ignoring an
    /// earlier covered one (`TwoPe::with_own_phase2_only`). Not in Table 1.
    #[serde(rename = "2pe-own-phase2")]
    TwoPeOwnPhase2,
    /// Bug zoo: SE over an OPT-broadcast that fast-delivers a prefix once a *majority* (itself
    /// included) reported it, instead of all n (`OptBroadcast::with_majority_fast`): the
    /// consensus fallback may then decide an order that does not start with it. Not in Table 1.
    #[serde(rename = "opt-majority-fast")]
    OptMajorityFast,
    /// Fleet's at-most-one quorum lock per ticket (`qlock.rs`): E-1 only. Not in Table 1.
    #[serde(rename = "qlock-amo")]
    QlockAmo,
    /// Masking-quorum at-most-one lock (`qlock.rs`, `QlockAmo::masking`): q = ⌈(n+3b+1)/2⌉
    /// answers, accept iff at most b are LOCKED; tolerates b < n/5 Byzantine servers. E-1_B,
    /// E-2_B. Not in Table 1.
    #[serde(rename = "bqlock-amo")]
    BqlockAmo,
    /// Exactly-one validation through Fleet's consensus object per ticket (`fleet/`): timed
    /// append-only arrays on b-masking quorums, randomized rounds, a signed flip; tolerates
    /// b < n/4 Byzantine servers. E-1_B, E-2_B. Not in Table 1.
    #[serde(rename = "bft-fleet")]
    BftFleet,
    /// CMR backoff mutex + ordering protocol per ticket (`qlock.rs`). Not in Table 1.
    #[serde(rename = "qlock-backoff")]
    QlockBackoff,
    /// 2PE made at-least-once (E-1′, E-2′; paper §2.2 and §6): see `twope/alo.rs`.
    #[serde(rename = "alo-2pe")]
    Alo2Pe,
    /// SE over Felber–Schiper optimistic active replication (`oar.rs`). Not in Table 1.
    #[serde(rename = "se-oar")]
    SeOar,
}

/// A property of e-ticket validation a protocol can claim (paper §2.2); the checker checks each
/// protocol against the ones it claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Property {
    /// At most once: no ticket is accepted by two servers, nor twice by one.
    #[serde(rename = "E-1")]
    E1,
    /// If no server of σ(τ) crashes, some server of σ(τ) accepts τ.
    #[serde(rename = "E-2")]
    E2,
    /// At most once among survivors: a server that accepts τ and does not crash is the only one
    /// to accept τ; no server accepts τ twice.
    #[serde(rename = "E-1'")]
    E1Prime,
    /// At least once: if not all servers of σ(τ) crash, some server of σ(τ) accepts τ.
    #[serde(rename = "E-2'")]
    E2Prime,
    /// At most once among correct servers (up to b Byzantine ones): no two correct servers
    /// accept τ, and no correct server accepts τ twice. Byzantine servers' accepts are reported
    /// apart, never counted.
    #[serde(rename = "E-1_B")]
    E1B,
    /// If exactly one server claims τ and that server is correct (not Byzantine, not crashed),
    /// it accepts τ.
    #[serde(rename = "E-2_B")]
    E2B,
}

impl Property {
    pub const ALL: &'static [Property] = &[
        Property::E1,
        Property::E2,
        Property::E1Prime,
        Property::E2Prime,
        Property::E1B,
        Property::E2B,
    ];

    /// Whether holding `self` means holding `other` too (E-1 ⇒ E-1′ and E-1_B; E-2′ ⇒ E-2 ⇒
    /// E-2_B).
    pub fn implies(self, other: Property) -> bool {
        use Property::*;
        self == other
            || matches!(
                (self, other),
                (E1, E1Prime) | (E1, E1B) | (E2Prime, E2) | (E2Prime, E2B) | (E2, E2B)
            )
    }

    /// Whether the property speaks of Byzantine servers (E-1_B, E-2_B).
    pub fn byzantine(self) -> bool {
        matches!(self, Property::E1B | Property::E2B)
    }

    /// The name used in summaries and messages: "E-1", "E-2", "E-1'", "E-2'".
    pub fn name(self) -> &'static str {
        match self {
            Property::E1 => "E-1",
            Property::E2 => "E-2",
            Property::E1Prime => "E-1'",
            Property::E2Prime => "E-2'",
            Property::E1B => "E-1_B",
            Property::E2B => "E-2_B",
        }
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The paper's Table 1 row for a protocol at size n (theory, never measured).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Theory {
    /// The paper's resilience claim, e.g. "f < n/2".
    pub resilience: String,
    /// Latency in units of δ (worst case, failure-free, tickets used once).
    pub latency_delta: f64,
    /// Server→server messages per ticket.
    pub messages_per_ticket: u64,
}

impl ProtocolKind {
    /// Every protocol: the shipped ones (Table 1's, then the other seed papers'), then the zoo.
    pub const ALL: &'static [ProtocolKind] = &[
        ProtocolKind::TwoPe,
        ProtocolKind::SeCt,
        ProtocolKind::SeOpt,
        ProtocolKind::SeGb,
        ProtocolKind::SeOar,
        ProtocolKind::QlockAmo,
        ProtocolKind::QlockBackoff,
        ProtocolKind::Alo2Pe,
        ProtocolKind::BqlockAmo,
        ProtocolKind::BftFleet,
        ProtocolKind::TwoPeMinority,
        ProtocolKind::CtStaleAck,
        ProtocolKind::CtEarlyPropose,
        ProtocolKind::TwoPeOwnPhase2,
        ProtocolKind::OptMajorityFast,
    ];

    /// The protocols of the paper's Table 1 (the default of `explore`).
    pub const TABLE1: &'static [ProtocolKind] = &[
        ProtocolKind::TwoPe,
        ProtocolKind::SeCt,
        ProtocolKind::SeOpt,
        ProtocolKind::SeGb,
    ];

    /// The crash-tolerant protocols of the lab's other seed papers (optimistic active
    /// replication, quorum locking, at-least-once validation).
    pub const SEEDS: &'static [ProtocolKind] = &[
        ProtocolKind::SeOar,
        ProtocolKind::QlockAmo,
        ProtocolKind::QlockBackoff,
        ProtocolKind::Alo2Pe,
        ProtocolKind::BqlockAmo,
        ProtocolKind::BftFleet,
    ];

    /// The bug zoo: deliberately broken variants, each claiming what its correct protocol
    /// claims, for the checker, `explore` and students to catch.
    pub const ZOO: &'static [ProtocolKind] = &[
        ProtocolKind::TwoPeMinority,
        ProtocolKind::CtStaleAck,
        ProtocolKind::CtEarlyPropose,
        ProtocolKind::TwoPeOwnPhase2,
        ProtocolKind::OptMajorityFast,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProtocolKind::TwoPe => "2pe",
            ProtocolKind::SeCt => "se-ct",
            ProtocolKind::SeOpt => "se-opt",
            ProtocolKind::SeGb => "se-gb",
            ProtocolKind::TwoPeMinority => "2pe-minority",
            ProtocolKind::CtStaleAck => "ct-stale-ack",
            ProtocolKind::CtEarlyPropose => "ct-early-propose",
            ProtocolKind::TwoPeOwnPhase2 => "2pe-own-phase2",
            ProtocolKind::OptMajorityFast => "opt-majority-fast",
            ProtocolKind::QlockAmo => "qlock-amo",
            ProtocolKind::QlockBackoff => "qlock-backoff",
            ProtocolKind::BqlockAmo => "bqlock-amo",
            ProtocolKind::BftFleet => "bft-fleet",
            ProtocolKind::Alo2Pe => "alo-2pe",
            ProtocolKind::SeOar => "se-oar",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.name() == s)
    }

    /// Table 1 of the paper (§4), for n servers.
    pub fn theory(self, n: u16) -> Theory {
        let n = u64::from(n);
        match self {
            ProtocolKind::TwoPe | ProtocolKind::TwoPeMinority | ProtocolKind::TwoPeOwnPhase2 => {
                Theory {
                    resilience: "f < n/2".into(),
                    latency_delta: 2.0,
                    messages_per_ticket: 2 * (n - 1),
                }
            }
            ProtocolKind::SeCt | ProtocolKind::CtStaleAck | ProtocolKind::CtEarlyPropose => {
                Theory {
                    resilience: "f < n/2".into(),
                    latency_delta: 4.0,
                    messages_per_ticket: 4 * (n - 1),
                }
            }
            // f_opt = 0 is the fast path's condition, not OPT's resilience (paper §4): with a
            // crash it falls back to consensus and tolerates f < n/2 like CT-broadcast.
            ProtocolKind::SeOpt | ProtocolKind::OptMajorityFast => Theory {
                resilience: "f_opt = 0 (fast path)".into(),
                latency_delta: 2.0,
                messages_per_ticket: (n + 1) * (n - 1),
            },
            ProtocolKind::SeGb => Theory {
                resilience: "f < n/3".into(),
                latency_delta: 2.0,
                messages_per_ticket: (n + 1) * (n - 1),
            },
            // One quorum RPC (TRY/FREE), uncontended; see qlock.rs.
            ProtocolKind::QlockAmo => Theory {
                resilience: "f < n/2; E-2 only uncontended".into(),
                latency_delta: 2.0,
                messages_per_ticket: 2 * (n - 1),
            },
            // One quorum RPC of q ≤ n − b answers: the q-th remote one arrives at 2δ.
            ProtocolKind::BqlockAmo => Theory {
                resilience: "b < n/5".into(),
                latency_delta: 2.0,
                messages_per_ticket: 2 * (n - 1),
            },
            // Rounds 0 and 1 of Fig. 5, solo: six appends of three Q-RPCs and six scans, each Q-RPC
            // 2δ and 2(n−1) messages (fleet/mod.rs; docs/seeds/fleet.md derives it).
            ProtocolKind::BftFleet => Theory {
                resilience: "b < n/4".into(),
                latency_delta: 48.0,
                messages_per_ticket: 48 * (n - 1),
            },
            // Four quorum RPCs (TRY, get, propose, commit), decided at the own commit; qlock.rs.
            ProtocolKind::QlockBackoff => Theory {
                resilience: "f < n/2; E-2 w.p. 1 once stable".into(),
                latency_delta: 6.0,
                messages_per_ticket: 8 * (n - 1),
            },
            // Uncontended tickets end in 2PE's Phase 1: NEWTKT + ACK (see `twope/alo.rs`).
            ProtocolKind::Alo2Pe => Theory {
                resilience: "f < n/2".into(),
                latency_delta: 2.0,
                messages_per_ticket: 2 * (n - 1),
            },
            ProtocolKind::SeOar => oar::theory(n),
        }
    }

    /// The properties the protocol guarantees, which the checker holds it to. Every Table 1
    /// protocol claims exactly-once (E-1, E-2); `2pe-minority` claims them too, wrongly, which is
    /// what makes it a bug to find.
    pub fn properties(self) -> &'static [Property] {
        match self {
            ProtocolKind::TwoPe
            | ProtocolKind::SeCt
            | ProtocolKind::SeOpt
            | ProtocolKind::SeGb
            | ProtocolKind::TwoPeMinority
            | ProtocolKind::TwoPeOwnPhase2
            | ProtocolKind::CtStaleAck
            | ProtocolKind::CtEarlyPropose
            | ProtocolKind::OptMajorityFast
            | ProtocolKind::QlockBackoff => &[Property::E1, Property::E2],
            ProtocolKind::QlockAmo => &[Property::E1],
            ProtocolKind::BqlockAmo | ProtocolKind::BftFleet => &[Property::E1B, Property::E2B],
            ProtocolKind::Alo2Pe => &[Property::E1Prime, Property::E2Prime],
            ProtocolKind::SeOar => &[Property::E1, Property::E2],
        }
    }

    /// Whether a false suspicion can cost the suspected server (alo-2pe halts a server its peers
    /// excluded): fault campaigns then count suspicions against the fault budget.
    pub fn halts_on_suspicion(self) -> bool {
        matches!(self, ProtocolKind::Alo2Pe)
    }

    /// The most Byzantine servers the protocol tolerates at size n: bqlock-amo needs n > 5b
    /// (masking quorums of ⌈(n+3b+1)/2⌉ ≤ n − b); the crash-tolerant protocols tolerate none.
    pub fn byzantine_bound(self, n: u16) -> u16 {
        match self {
            ProtocolKind::BqlockAmo => n.saturating_sub(1) / 5,
            // b-masking quorums of ⌈(n+2b+1)/2⌉ ≤ n − b: n > 4b.
            ProtocolKind::BftFleet => n.saturating_sub(1) / 4,
            _ => 0,
        }
    }

    /// The condition on n and b behind [`Self::byzantine_bound`], as the papers state it:
    /// "n > 5b" (bqlock-amo), "n > 4b" (bft-fleet); None for the crash-tolerant protocols.
    pub fn byzantine_condition(self) -> Option<&'static str> {
        match self {
            ProtocolKind::BqlockAmo => Some("n > 5b"),
            ProtocolKind::BftFleet => Some("n > 4b"),
            _ => None,
        }
    }

    /// Whether the protocol sizes its quorums by b (`NodeConfig::byzantine`) to mask Byzantine
    /// servers: bqlock-amo, bft-fleet.
    pub fn masks_byzantine(self) -> bool {
        matches!(self, ProtocolKind::BqlockAmo | ProtocolKind::BftFleet)
    }

    /// Whether the protocol's liveness rests on timing, not only on the order of events:
    /// alo-2pe excludes a server only after its suspicion has held one heartbeat period, and
    /// qlock-backoff terminates with probability 1 once runs are synchronous (its backoff
    /// draws). An untimed search (`ticketlab check`) cannot judge their liveness, only safety.
    pub fn liveness_is_timed(self) -> bool {
        matches!(self, ProtocolKind::Alo2Pe | ProtocolKind::QlockBackoff)
    }

    /// Whether every ticket is its own object: a server's state is a map from ticket to that
    /// ticket's state, every message and timer belongs to one ticket, and nothing one ticket does
    /// (draws included) changes what another does. Then a run is an interleaving of independent
    /// per-ticket runs, and a search may explore each ticket alone (`ticketlab check` does): the
    /// quorum locks and bft-fleet. Not the broadcast-based protocols, whose tickets share one
    /// delivery order.
    pub fn tickets_independent(self) -> bool {
        matches!(
            self,
            ProtocolKind::QlockAmo
                | ProtocolKind::BqlockAmo
                | ProtocolKind::QlockBackoff
                | ProtocolKind::BftFleet
        )
    }

    /// The largest number of crashes the protocol is designed to tolerate at size n.
    ///
    /// SE/OPT: ⌊(n−1)/2⌋ — a crash only costs the fast path; the consensus fallback needs a
    /// majority. SE/GB: ⌈n/3⌉−1 for *both* of its paths — the fast path needs ⌈(2n+1)/3⌉ acks and
    /// stage termination waits for as many CHKs (docs/PROTOCOLS.md §8; see `gb.rs`), so with more
    /// crashes GB stays safe but may block.
    pub fn max_faults(self, n: u16) -> u16 {
        match self {
            ProtocolKind::TwoPe
            | ProtocolKind::SeCt
            | ProtocolKind::SeOpt
            | ProtocolKind::TwoPeMinority
            | ProtocolKind::TwoPeOwnPhase2
            | ProtocolKind::CtStaleAck
            | ProtocolKind::CtEarlyPropose
            | ProtocolKind::OptMajorityFast
            | ProtocolKind::QlockAmo
            | ProtocolKind::QlockBackoff => quorum::max_minority_faults(n),
            // With b = 0 its quorum is a majority; with b > 0 a crash is one of the b.
            ProtocolKind::BqlockAmo | ProtocolKind::BftFleet => quorum::max_minority_faults(n),
            ProtocolKind::SeGb => quorum::max_third_faults(n),
            // Crashes *and* halts (an excluded server halts): Phase 1 and CT need a majority.
            ProtocolKind::Alo2Pe => quorum::max_minority_faults(n),
            ProtocolKind::SeOar => quorum::max_minority_faults(n),
        }
    }

    /// A fresh state machine for one server.
    pub fn build(self, cfg: &NodeConfig) -> Box<dyn Protocol> {
        match self {
            ProtocolKind::TwoPe => Box::new(twope::TwoPe::new(cfg, ct::CtBroadcast::new(cfg))),
            ProtocolKind::TwoPeOwnPhase2 => {
                Box::new(twope::TwoPe::new(cfg, ct::CtBroadcast::new(cfg)).with_own_phase2_only())
            }
            ProtocolKind::TwoPeMinority => Box::new(
                twope::TwoPe::new(cfg, ct::CtBroadcast::new(cfg)).with_quorum((cfg.n / 2).max(1)),
            ),
            ProtocolKind::SeCt => Box::new(se::Se::new(cfg, ct::CtBroadcast::new(cfg))),
            ProtocolKind::SeOpt => Box::new(se::Se::new(cfg, opt::OptBroadcast::new(cfg))),
            ProtocolKind::SeGb => Box::new(se::Se::new(cfg, gb::GenericBroadcast::new(cfg))),
            ProtocolKind::OptMajorityFast => Box::new(se::Se::new(
                cfg,
                opt::OptBroadcast::new(cfg).with_majority_fast(),
            )),
            ProtocolKind::CtStaleAck => Box::new(se::Se::new(
                cfg,
                ct::CtBroadcast::new(cfg).with_flaw(consensus::Flaw::StaleAck),
            )),
            ProtocolKind::CtEarlyPropose => Box::new(se::Se::new(
                cfg,
                ct::CtBroadcast::new(cfg).with_flaw(consensus::Flaw::EarlyPropose),
            )),
            ProtocolKind::QlockAmo => Box::new(qlock::QlockAmo::new(cfg)),
            ProtocolKind::BqlockAmo => Box::new(qlock::QlockAmo::masking(cfg)),
            ProtocolKind::QlockBackoff => Box::new(qlock::QlockBackoff::new(cfg)),
            ProtocolKind::BftFleet => Box::new(fleet::Fleet::new(cfg)),
            ProtocolKind::Alo2Pe => {
                Box::new(twope::TwoPe::new(cfg, ct::CtBroadcast::new(cfg)).at_least_once(cfg))
            }
            ProtocolKind::SeOar => Box::new(oar::Oar::new(cfg)),
        }
    }
}

impl fmt::Display for ProtocolKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
