//! The network between servers as the fault injector shapes it: per-link delay, cuts
//! (partitions and one-way blocks) and loss with retransmission. Pure and seeded, shared by both
//! runtimes (the simulator asks it for each message's transit time; a server process asks it
//! for its outgoing links).
//!
//! Links stay reliable whatever the faults (the paper's model, §2.1): a message on a cut link
//! waits and is delivered, in order, after the heal; a lost transmission is retransmitted after a
//! timeout of one round trip (2 × the link delay), so loss shows up as latency, not as missing
//! messages.

use crate::protocol::{ServerId, Time};
use crate::scenario::FaultAction;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
pub struct LinkModel {
    delta: Time,
    jitter: Time,
    delay: BTreeMap<(ServerId, ServerId), Time>,
    loss: BTreeMap<(ServerId, ServerId), f64>,
    cut: BTreeSet<(ServerId, ServerId)>,
}

/// One message's way over a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transit {
    /// Time from send to arrival, µs.
    pub time: Time,
    /// Transmissions lost (and retransmitted) on the way.
    pub retransmissions: u32,
}

impl LinkModel {
    pub fn new(delta: Time, jitter: Time) -> Self {
        LinkModel {
            delta,
            jitter,
            delay: BTreeMap::new(),
            loss: BTreeMap::new(),
            cut: BTreeSet::new(),
        }
    }

    /// Apply a link fault. Returns true when the action healed cuts (held messages may go).
    /// Actions that are not about links are ignored.
    pub fn apply(&mut self, action: &FaultAction) -> bool {
        let pairs = |from: &[ServerId], to: &[ServerId]| -> Vec<(ServerId, ServerId)> {
            from.iter()
                .flat_map(|&f| to.iter().filter(move |&&t| t != f).map(move |&t| (f, t)))
                .collect()
        };
        match action {
            FaultAction::Delay { from, to, delay } => {
                for l in pairs(from, to) {
                    self.delay.insert(l, *delay);
                }
            }
            FaultAction::Loss { from, to, rate } => {
                for l in pairs(from, to) {
                    if *rate > 0.0 {
                        self.loss.insert(l, *rate);
                    } else {
                        self.loss.remove(&l);
                    }
                }
            }
            FaultAction::Block { from, to } => self.cut.extend(pairs(from, to)),
            FaultAction::Partition(groups) => {
                for (i, a) in groups.iter().enumerate() {
                    for (j, b) in groups.iter().enumerate() {
                        if i != j {
                            self.cut.extend(pairs(a, b));
                        }
                    }
                }
            }
            FaultAction::Heal => {
                let healed = !self.cut.is_empty();
                self.cut.clear();
                return healed;
            }
            FaultAction::Crash(_)
            | FaultAction::Pause(_)
            | FaultAction::Resume(_)
            | FaultAction::Suspect { .. }
            | FaultAction::Byzantine { .. } => {}
        }
        false
    }

    /// Whether messages from `from` to `to` must wait for a heal.
    pub fn is_cut(&self, from: ServerId, to: ServerId) -> bool {
        self.cut.contains(&(from, to))
    }

    /// The link's one-way delay before loss: an override, or δ plus a jitter draw.
    fn one_way(&self, from: ServerId, to: ServerId, rng: &mut impl Rng) -> Time {
        match self.delay.get(&(from, to)) {
            Some(d) => *d,
            None if self.jitter > 0 => self.delta + rng.gen_range(0..=self.jitter),
            None => self.delta,
        }
    }

    /// Draw one message's transit over `from` → `to`.
    pub fn transit(&self, from: ServerId, to: ServerId, rng: &mut impl Rng) -> Transit {
        let base = self.one_way(from, to, rng);
        let mut retransmissions = 0;
        if let Some(&rate) = self.loss.get(&(from, to)) {
            while rng.gen_bool(rate) {
                retransmissions += 1;
            }
        }
        let rto = 2 * base.max(1);
        Transit {
            time: base + Time::from(retransmissions) * rto,
            retransmissions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn partitions_cut_both_ways_between_groups_and_heal_clears_them() {
        let mut m = LinkModel::new(10, 0);
        m.apply(&FaultAction::Partition(vec![vec![1, 2], vec![3]]));
        assert!(m.is_cut(1, 3) && m.is_cut(3, 2));
        assert!(!m.is_cut(1, 2) && !m.is_cut(2, 1));
        assert!(m.apply(&FaultAction::Heal));
        assert!(!m.is_cut(1, 3));
        assert!(!m.apply(&FaultAction::Heal));
    }

    #[test]
    fn a_block_is_one_way() {
        let mut m = LinkModel::new(10, 0);
        m.apply(&FaultAction::Block {
            from: vec![1],
            to: vec![3],
        });
        assert!(m.is_cut(1, 3));
        assert!(!m.is_cut(3, 1));
    }

    #[test]
    fn loss_adds_round_trips_and_delay_overrides_delta() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut m = LinkModel::new(10, 0);
        assert_eq!(
            m.transit(1, 2, &mut rng),
            Transit {
                time: 10,
                retransmissions: 0
            }
        );
        m.apply(&FaultAction::Delay {
            from: vec![1],
            to: vec![2],
            delay: 30,
        });
        assert_eq!(m.transit(1, 2, &mut rng).time, 30);
        m.apply(&FaultAction::Loss {
            from: vec![2],
            to: vec![1],
            rate: 0.5,
        });
        let draws: Vec<Transit> = (0..200).map(|_| m.transit(2, 1, &mut rng)).collect();
        assert!(draws
            .iter()
            .all(|t| t.time == 10 + 20 * Time::from(t.retransmissions)));
        let lost: u32 = draws.iter().map(|t| t.retransmissions).sum();
        // Geometric with p = 0.5: mean 1 retransmission per message.
        assert!((120..=280).contains(&lost), "{lost}");
    }
}
