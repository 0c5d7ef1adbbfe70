//! Fig. 5 of Fleet as a pure function ([`step`]): what a correct client does after a global
//! read, given its round, preferred value and place in the round. The live client runs it, and
//! [`Justifier`] replays it on another client's timestamps to decide whether that client's
//! appends are justified (§5.1): "consistent with correct execution, assuming it observed exactly
//! the appends in its justification set".

use super::Entry;
use crate::ServerId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A value in a consensus array: ⊥ (Fig. 5's "leaders disagree" announcement) or a proposer's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Val {
    Bot,
    Id(ServerId),
}

/// Where a client is in its round, after an append and before the `Last` that follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pos {
    /// Line 4: the main loop's `Last`.
    Main,
    /// Line 13: after LeadersAgree's first announcement.
    Agree1,
    /// Line 17: after the second.
    Agree2,
    /// Line 26: after LeadersDisagree's first ⊥.
    Disagree1,
    /// Line 30: after the second.
    Disagree2,
}

/// A client's control state: round r, pref, and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct St {
    pub round: u32,
    pub pref: ServerId,
    pub pos: Pos,
}

/// What a global read (`Last`) returned: every client's latest justified ⟨r_j, v_j⟩, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Obs {
    pub last: Vec<Option<(u32, Val)>>,
}

impl Obs {
    /// leaderRound: the highest round read.
    pub fn leader_round(&self) -> u32 {
        self.last
            .iter()
            .flatten()
            .map(|&(r, _)| r)
            .max()
            .unwrap_or(0)
    }

    /// leaderVals: the values at leaderRound.
    pub fn leader_vals(&self) -> BTreeSet<Val> {
        let lr = self.leader_round();
        self.last
            .iter()
            .flatten()
            .filter(|&&(r, _)| r == lr)
            .map(|&(_, v)| v)
            .collect()
    }

    /// The leaders agree: one value, not ⊥ (Fig. 5 line 5's negation).
    fn agree(&self) -> Option<ServerId> {
        let vals = self.leader_vals();
        match vals.iter().collect::<Vec<_>>()[..] {
            [Val::Id(v)] => Some(*v),
            _ => None,
        }
    }
}

/// What a client does after a `Last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Append ⟨round, val⟩, then be at `then`.
    Append { then: St, val: Val },
    /// "return": run the main loop's `Last` again, at `then` (pos Main).
    Rescan { then: St },
    /// Decide pref (line 21).
    Decide(ServerId),
    /// Lines 33–35: pref ← Coin(), then round r+1 starts with append ⟨r+1, pref⟩.
    Coin { round: u32 },
}

/// Fig. 5 after a `Last` that returned `obs`, at `st`. \[reconstructed\] Round 0 is a full round
/// whose line 2 is the initial ⟨0, pref⟩, and no client decides in it (docs/seeds/fleet.md).
pub fn step(st: St, obs: &Obs) -> Action {
    let St {
        round: r,
        pref,
        pos,
    } = st;
    let at = |pos| St { pos, ..st };
    let next_round = Action::Append {
        then: St {
            round: r + 1,
            pref,
            pos: Pos::Main,
        },
        val: Val::Id(pref),
    };
    let same = |o: &Obs| o.agree() == Some(pref);
    match pos {
        Pos::Main => match obs.agree() {
            Some(v) => Action::Append {
                then: St {
                    round: r,
                    pref: v,
                    pos: Pos::Agree1,
                },
                val: Val::Id(v),
            },
            None => Action::Append {
                then: at(Pos::Disagree1),
                val: Val::Bot,
            },
        },
        Pos::Agree1 if !same(obs) => Action::Rescan {
            then: at(Pos::Main),
        },
        Pos::Agree1 => Action::Append {
            then: at(Pos::Agree2),
            val: Val::Id(pref),
        },
        Pos::Agree2 if !same(obs) => Action::Rescan {
            then: at(Pos::Main),
        },
        Pos::Agree2 => {
            let lr = obs.leader_round();
            // Line 20: all who disagree are two rounds behind.
            let behind =
                obs.last.iter().flatten().all(|&(rj, vj)| {
                    vj == Val::Id(pref) || rj.checked_add(2).is_some_and(|x| x <= lr)
                });
            if r >= 1 && r == lr && behind {
                Action::Decide(pref)
            } else {
                next_round
            }
        }
        Pos::Disagree1 | Pos::Disagree2 if obs.agree().is_some() => Action::Rescan {
            then: at(Pos::Main),
        },
        Pos::Disagree1 => Action::Append {
            then: at(Pos::Disagree2),
            val: Val::Bot,
        },
        Pos::Disagree2 if obs.leader_round() == r => Action::Coin { round: r },
        Pos::Disagree2 => next_round,
    }
}

/// Reads of one ticket's arrays as a client knows them: the elements it read (each vouched for
/// by b+1 servers), and which of them are justified.
#[derive(Debug, Default, Hash)]
pub struct Justifier {
    /// (k, i) → τ_k[i].
    known: BTreeMap<(ServerId, u32), Entry>,
    /// Settled answers (an element's justification never changes once it can be decided).
    memo: BTreeMap<(ServerId, u32), bool>,
}

impl Justifier {
    pub fn learn(&mut self, k: ServerId, i: u32, e: Entry) {
        self.known.entry((k, i)).or_insert(e);
    }

    pub fn entry(&self, k: ServerId, i: u32) -> Option<&Entry> {
        self.known.get(&(k, i))
    }

    /// What a `Last` whose reads reached `ts` returned: each array's latest justified element at
    /// or below ts[k−1]. None if some element below is not known (yet).
    pub fn observe(&mut self, ts: &[u32]) -> Option<Obs> {
        let mut last = Vec::with_capacity(ts.len());
        for (k, &tk) in (1..).zip(ts) {
            let mut found = None;
            for i in (1..=tk).rev() {
                if self.justified(k, i)? {
                    let e = &self.known[&(k, i)];
                    found = Some((e.round, e.val));
                    break;
                }
            }
            last.push(found);
        }
        Some(Obs { last })
    }

    /// The view Coin() reads (Fig. 6): the proposers whose first element, within `ts`, is a
    /// justified ⟨0, v⟩.
    pub fn view(&mut self, ts: &[u32]) -> Option<BTreeSet<ServerId>> {
        let mut view = BTreeSet::new();
        for (k, &tk) in (1..).zip(ts) {
            if tk >= 1 && self.justified(k, 1)? {
                if let Val::Id(v) = self.known[&(k, 1)].val {
                    view.insert(v);
                }
            }
        }
        Some(view)
    }

    /// Whether element i of τ_k is justified: None while some element it depends on is unknown.
    ///
    /// Replays p_k's Fig. 5 over its own elements 1..=i: element 1 must be ⟨0, k⟩ (a claimant
    /// proposes itself); element m+1 must be what a correct client at one of the states element
    /// m can lead to does after a `Last` that returned what element m+1's timestamp says.
    /// Between two appends a client may have run one extra `Last` whose result no timestamp
    /// records ("return" to line 4), so the main loop's action is allowed too; a coin may return
    /// any justified proposal within the timestamp.
    pub fn justified(&mut self, k: ServerId, i: u32) -> Option<bool> {
        if let Some(&j) = self.memo.get(&(k, i)) {
            return Some(j);
        }
        // Guard against a made-up cycle of timestamps: an element under examination is not
        // justified by itself.
        self.memo.insert((k, i), false);
        let r = self.replay(k, i);
        match r {
            Some(j) => {
                self.memo.insert((k, i), j);
            }
            None => {
                self.memo.remove(&(k, i));
            }
        }
        r
    }

    fn replay(&mut self, k: ServerId, i: u32) -> Option<bool> {
        let ku = usize::from(k).checked_sub(1)?;
        let first = self.known.get(&(k, 1))?.clone();
        let n = first.ts.len();
        let ok_first = first.round == 0
            && first.val == Val::Id(k)
            && ku < n
            && first.ts.iter().enumerate().all(|(x, &t)| x != ku || t == 0);
        if !ok_first {
            return Some(false);
        }
        let mut states: BTreeSet<St> = BTreeSet::from([St {
            round: 0,
            pref: k,
            pos: Pos::Main,
        }]);
        for m in 2..=i {
            let e = self.known.get(&(k, m))?.clone();
            if e.ts.len() != n || e.ts[ku] != m - 1 {
                return Some(false);
            }
            let obs = self.observe(&e.ts)?;
            let mut next = BTreeSet::new();
            for &st in &states {
                let main = St {
                    pos: Pos::Main,
                    ..st
                };
                // A rescan ("return") goes back to `main`, whose action is tried here anyway.
                for from in [st, main] {
                    match step(from, &obs) {
                        Action::Append { then, val } if then_matches(then, val, &e) => {
                            next.insert(then);
                        }
                        Action::Coin { round } => {
                            let pick = match e.val {
                                Val::Id(v) if e.round == round + 1 => v,
                                _ => continue,
                            };
                            if self.view(&e.ts)?.contains(&pick) {
                                next.insert(St {
                                    round: round + 1,
                                    pref: pick,
                                    pos: Pos::Main,
                                });
                            }
                        }
                        _ => {}
                    }
                }
            }
            if next.is_empty() {
                return Some(false);
            }
            states = next;
        }
        Some(true)
    }
}

/// Whether appending `val` in `then`'s round is element `e`.
fn then_matches(then: St, val: Val, e: &Entry) -> bool {
    e.round == then.round && e.val == val
}
