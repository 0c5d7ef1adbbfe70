//! The server side of `bft-fleet`: one ticket's timed append-only arrays at one server, and the
//! checks of Fleet's Fig. 4 before it gathers, echoes or stores.

use super::{Cert, Entry, Keys, Reply, Request, Sizes, Stamped, Statement};
use crate::{ServerId, Ticket};
use std::collections::BTreeSet;

/// Server u's state for one ticket (Fleet §4.1).
#[derive(Debug, Hash)]
pub struct Arrays {
    /// τ_{k,u}: `arr[k−1][i−1]`, with u's own signature on it.
    arr: Vec<Vec<Option<Stamped>>>,
    /// D_u: D_u[k−1] is the highest i u knows the i-th append to τ_k completed.
    d: Vec<u32>,
    /// L_{u,j}: D_u when p_j last wrote at u, the lower bound on p_j's next timestamp.
    l: Vec<Vec<u32>>,
    /// e_{u,j}: the last index u echoed for τ_j (it echoes one value per index).
    e: Vec<u32>,
}

fn at(v: &[Vec<Option<Stamped>>], k: ServerId, i: u32) -> Option<&Stamped> {
    let k = usize::from(k).checked_sub(1)?;
    let i = usize::try_from(i).ok()?.checked_sub(1)?;
    v.get(k)?.get(i)?.as_ref()
}

impl Arrays {
    pub fn new(n: u16) -> Self {
        let n = usize::from(n);
        Arrays {
            arr: vec![Vec::new(); n],
            d: vec![0; n],
            l: vec![vec![0; n]; n],
            e: vec![0; n],
        }
    }

    /// Element i of τ_k at u, if u holds it.
    pub fn get(&self, k: ServerId, i: u32) -> Option<&Stamped> {
        at(&self.arr, k, i)
    }

    /// Store τ_{k,u}[i] ← entry (write-once), signed by u.
    fn store(&mut self, keys: &Keys, t: &Ticket, k: ServerId, i: u32, e: &Entry) {
        let (ku, iu) = (usize::from(k) - 1, i as usize - 1);
        let array = &mut self.arr[ku];
        if array.len() <= iu {
            array.resize(iu + 1, None);
        }
        if array[iu].is_none() {
            let sig = keys.sign(t, &Statement::Value { j: k, i, entry: e });
            array[iu] = Some(Stamped {
                entry: e.clone(),
                sig,
            });
        }
    }

    /// Count the distinct servers among `sigs` whose signature on `st` verifies.
    fn valid<'a>(
        keys: &Keys,
        t: &Ticket,
        st: impl Fn(usize) -> Statement<'a>,
        sigs: &[(ServerId, &[u8])],
    ) -> usize {
        let mut signers = BTreeSet::new();
        for (x, (s, sig)) in sigs.iter().enumerate() {
            if !signers.contains(s) && keys.verify(*s, t, &st(x), sig) {
                signers.insert(*s);
            }
        }
        signers.len()
    }

    /// Install a certified element u missed (b+1 servers signed it, so a correct one stores it).
    fn install(&mut self, sizes: &Sizes, keys: &Keys, t: &Ticket, c: &Cert) {
        if c.index == 0 || !(1..=sizes.n).contains(&c.array) || c.entry.ts.len() != sizes.n.into() {
            return;
        }
        if self.get(c.array, c.index).is_some() {
            return;
        }
        let st = |_| Statement::Value {
            j: c.array,
            i: c.index,
            entry: &c.entry,
        };
        let sigs: Vec<(ServerId, &[u8])> = c.sigs.iter().map(|(s, g)| (*s, &g[..])).collect();
        if Self::valid(keys, t, st, &sigs) > usize::from(sizes.b) {
            self.store(keys, t, c.array, c.index, &c.entry);
        }
    }

    /// Answer p_j's request, or refuse (None: the request fails a check of Fig. 4, and a
    /// correct client never sends one that does).
    pub(super) fn serve(
        &mut self,
        sizes: &Sizes,
        keys: &Keys,
        t: &Ticket,
        j: ServerId,
        req: Request,
    ) -> Option<Reply> {
        let n = usize::from(sizes.n);
        if !(1..=sizes.n).contains(&j) {
            return None;
        }
        let ju = usize::from(j) - 1;
        match req {
            Request::Init { index, ts, certs } => {
                if index == 0 || ts.len() != n || ts[ju] != index - 1 {
                    return None;
                }
                for c in &certs {
                    self.install(sizes, keys, t, c);
                }
                // Every element t names exists here, and t reflects what was complete at p_j's
                // previous write (Lemma 4.4's lower bound).
                for (k, &tk) in (1..=sizes.n).zip(&ts) {
                    let ku = usize::from(k) - 1;
                    if (tk > 0 && self.get(k, tk).is_none()) || tk < self.l[ju][ku] {
                        return None;
                    }
                }
                // The (index−1)-th append to τ_j completed: p_j began the next one.
                self.d[ju] = self.d[ju].max(index - 1);
                let d = self.d.clone();
                let sig = keys.sign(
                    t,
                    &Statement::Gather {
                        j,
                        i: index,
                        ts: &ts,
                        d: &d,
                    },
                );
                Some(Reply::Gather { d, sig })
            }
            Request::Write {
                index,
                entry,
                gathers,
            } => {
                if index == 0 || entry.ts.len() != n {
                    return None;
                }
                // q servers' signed gathers for this very (i, t).
                let mut seen = BTreeSet::new();
                let mut ds: Vec<&Vec<u32>> = Vec::new();
                for (s, d, sig) in &gathers {
                    let st = Statement::Gather {
                        j,
                        i: index,
                        ts: &entry.ts,
                        d,
                    };
                    if d.len() == n && !seen.contains(s) && keys.verify(*s, t, &st, sig) {
                        seen.insert(*s);
                        ds.push(d);
                    }
                }
                if ds.len() < usize::from(sizes.q) {
                    return None;
                }
                // D_u[k] ← what b+1 of them vouch for: the (b+1)-th largest D[k].
                for k in 0..n {
                    let mut col: Vec<u32> = ds.iter().map(|d| d[k]).collect();
                    col.sort_unstable_by(|a, b| b.cmp(a));
                    self.d[k] = self.d[k].max(col[usize::from(sizes.b)]);
                }
                self.l[ju] = self.d.clone();
                if index <= self.e[ju] {
                    return None;
                }
                self.e[ju] = index;
                let sig = keys.sign(
                    t,
                    &Statement::Echo {
                        j,
                        i: index,
                        entry: &entry,
                    },
                );
                Some(Reply::Echo { sig })
            }
            Request::Commit {
                index,
                entry,
                echoes,
            } => {
                if index == 0 || entry.ts.len() != n {
                    return None;
                }
                let st = |_| Statement::Echo {
                    j,
                    i: index,
                    entry: &entry,
                };
                let sigs: Vec<(ServerId, &[u8])> =
                    echoes.iter().map(|(s, g)| (*s, &g[..])).collect();
                if Self::valid(keys, t, st, &sigs) < usize::from(sizes.q) {
                    return None;
                }
                self.store(keys, t, j, index, &entry);
                let sig = self.get(j, index)?.sig.clone();
                Some(Reply::Done { sig })
            }
            Request::Scan => Some(Reply::Arrays {
                arrays: self.arr.clone(),
            }),
            Request::Flip { round } => Some(Reply::Share {
                sig: keys.sign(t, &Statement::Flip { round }),
            }),
        }
    }
}
