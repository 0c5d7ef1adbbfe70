//! The client side of `bft-fleet`: one claimant's run of Fig. 5 for one ticket, as a sequence
//! of Q-RPCs — append (init, write, commit: Fig. 4), `Last` (one scan), flip (§5.4).

use super::rules::{step, Action, Justifier, Pos, St, Val};
use super::server::Arrays;
use super::{Cert, Entry, Keys, Reply, Request, Sig, Sizes, Stamped, Statement};
use crate::{Msg, Out, ServerId, Ticket};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// What one client call works with: the sizes, the keys, the ticket, this server's own arrays
/// (the client's requests are answered locally too) and the effect sink.
pub(super) struct Ctx<'a> {
    pub sizes: &'a Sizes,
    pub keys: &'a Keys,
    pub ticket: &'a Ticket,
    pub server: &'a mut Arrays,
    pub out: &'a mut Out,
}

/// The servers reporting one element in a scan, with their signatures on it.
type Reporters<'a> = Vec<(ServerId, &'a Sig)>;

/// The Q-RPC in progress.
#[derive(Clone, Debug, Hash)]
enum Op {
    /// Append, first Q-RPC (collecting gathers).
    Init { index: u32, entry: Entry },
    /// Second (collecting echoes).
    Write { index: u32, entry: Entry },
    /// Third (collecting acknowledgements).
    Commit { index: u32, entry: Entry },
    /// A global read.
    Scan,
    /// A flip for Coin() in `round`, over `view`.
    Flip {
        round: u32,
        view: BTreeSet<ServerId>,
    },
}

#[derive(Debug, Hash)]
pub(super) struct Client {
    st: St,
    /// The value decided, once decided (the client then stops).
    decided: Option<ServerId>,
    /// Elements this client appended to its own array.
    appended: u32,
    /// seen[k−1]: how far it has read τ_k (its timestamp for the next append).
    seen: Vec<u32>,
    reads: Justifier,
    /// b+1 servers' signatures on each element read (its certificate, Fig. 3's C_{k,i}).
    certs: BTreeMap<(ServerId, u32), Vec<(ServerId, Sig)>>,
    /// The Q-RPC in progress (None before the first) and its number.
    op: Option<Op>,
    rpc: u32,
    /// Its valid answers so far, by server.
    replies: BTreeMap<ServerId, Reply>,
}

impl Client {
    pub(super) fn new(sizes: &Sizes) -> Self {
        Client {
            st: St {
                round: 0,
                pref: sizes.me,
                pos: Pos::Main,
            },
            decided: None,
            appended: 0,
            seen: vec![0; usize::from(sizes.n)],
            reads: Justifier::default(),
            certs: BTreeMap::new(),
            op: None,
            rpc: 0,
            replies: BTreeMap::new(),
        }
    }

    /// Record `from`'s answer to Q-RPC `rpc` if it is one to the Q-RPC in progress and valid.
    pub(super) fn reply(
        &mut self,
        sizes: &Sizes,
        keys: &Keys,
        t: &Ticket,
        from: ServerId,
        rpc: u32,
        rep: Reply,
    ) {
        if rpc != self.rpc || self.replies.contains_key(&from) {
            return;
        }
        if let Some(op) = &self.op {
            if valid(sizes, keys, t, from, op, &rep) {
                self.replies.insert(from, rep);
            }
        }
    }

    /// Move on as far as the answers allow. Returns the decided value when it is decided (once).
    pub(super) fn advance(&mut self, cx: &mut Ctx) -> Option<ServerId> {
        let sizes = cx.sizes;
        if self.decided.is_some() {
            return None;
        }
        let Some(op) = self.op.clone() else {
            // Round 0's line 2: append ⟨0, pref⟩, pref = this claimant's own id.
            self.append(cx, Val::Id(sizes.me));
            return self.advance(cx);
        };
        if self.replies.len() < usize::from(sizes.q) {
            return None;
        }
        let replies = std::mem::take(&mut self.replies);
        match op {
            Op::Init { index, entry } => {
                let gathers = replies
                    .into_iter()
                    .filter_map(|(s, r)| match r {
                        Reply::Gather { d, sig } => Some((s, d, sig)),
                        _ => None,
                    })
                    .collect();
                let req = Request::Write {
                    index,
                    entry: entry.clone(),
                    gathers,
                };
                self.start(cx, Op::Write { index, entry }, req);
            }
            Op::Write { index, entry } => {
                let echoes = sigs(replies);
                let req = Request::Commit {
                    index,
                    entry: entry.clone(),
                    echoes,
                };
                self.start(cx, Op::Commit { index, entry }, req);
            }
            Op::Commit { index, entry } => {
                let mut done = sigs(replies);
                done.truncate(usize::from(sizes.b) + 1);
                self.appended = index;
                self.seen[usize::from(sizes.me) - 1] = index;
                self.reads.learn(sizes.me, index, entry);
                self.certs.insert((sizes.me, index), done);
                self.scan(cx);
            }
            Op::Scan => {
                self.absorb(cx, replies);
                match self.reads.observe(&self.seen) {
                    // An element below what it read is not known yet: it is (complete at a
                    // quorum, so) in the next scan.
                    None => self.scan(cx),
                    Some(obs) => match step(self.st, &obs) {
                        Action::Append { then, val } => {
                            self.st = then;
                            self.append(cx, val);
                        }
                        Action::Rescan { then } => {
                            self.st = then;
                            self.scan(cx);
                        }
                        Action::Decide(v) => {
                            self.decided = Some(v);
                            return Some(v);
                        }
                        Action::Coin { round } => match self.reads.view(&self.seen) {
                            None => self.scan(cx),
                            Some(view) => {
                                let op = Op::Flip { round, view };
                                self.start(cx, op, Request::Flip { round });
                            }
                        },
                    },
                }
            }
            Op::Flip { round, view } => {
                // The (b+1, n) threshold signature: the b+1 lowest-numbered signers' shares.
                let mut h = Sha256::new();
                for (_, sig) in sigs(replies).iter().take(usize::from(sizes.b) + 1) {
                    h.update(sig);
                }
                let digest = h.finalize();
                let flip = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
                // Fig. 6: the k-th largest of the view, k = (flip mod |view|) + 1.
                let k = (flip % view.len() as u64) as usize;
                let pick = *view.iter().rev().nth(k).expect("k < |view|");
                self.st = St {
                    round: round + 1,
                    pref: pick,
                    pos: Pos::Main,
                };
                self.append(cx, Val::Id(pick));
            }
        }
        self.advance(cx)
    }

    /// Start appending ⟨st.round, val⟩ as the next element of the own array.
    fn append(&mut self, cx: &mut Ctx, val: Val) {
        let index = self.appended + 1;
        let ts = self.seen.clone();
        let certs = (1..=cx.sizes.n)
            .zip(&ts)
            // (An array not read, ts[k−1] = 0, has no element 0 to certify.)
            .filter_map(|(k, &i)| {
                Some(Cert {
                    array: k,
                    index: i,
                    entry: self.reads.entry(k, i)?.clone(),
                    sigs: self.certs.get(&(k, i))?.clone(),
                })
            })
            .collect();
        let entry = Entry {
            round: self.st.round,
            val,
            ts: ts.clone(),
        };
        let req = Request::Init { index, ts, certs };
        self.start(cx, Op::Init { index, entry }, req);
    }

    fn scan(&mut self, cx: &mut Ctx) {
        self.start(cx, Op::Scan, Request::Scan);
    }

    /// Send `req` to the others and answer it locally.
    #[allow(clippy::too_many_arguments)]
    fn start(&mut self, cx: &mut Ctx, op: Op, req: Request) {
        self.rpc += 1;
        self.replies.clear();
        self.op = Some(op);
        let msg = Msg::FlRequest {
            ticket: cx.ticket.clone(),
            rpc: self.rpc,
            req: req.clone(),
        };
        cx.out.send_others(&msg);
        let (sizes, keys, t) = (cx.sizes, cx.keys, cx.ticket);
        if let Some(rep) = cx.server.serve(sizes, keys, t, sizes.me, req) {
            self.reply(sizes, keys, t, sizes.me, self.rpc, rep);
        }
    }

    /// Learn from a scan's answers every element b+1 servers report identically, with valid
    /// signatures; then read each array up to its known prefix.
    fn absorb(&mut self, cx: &Ctx, replies: BTreeMap<ServerId, Reply>) {
        let (sizes, keys, t) = (cx.sizes, cx.keys, cx.ticket);
        let need = usize::from(sizes.b) + 1;
        // (k, i, entry) → the servers reporting it, with their signatures.
        let mut reports: BTreeMap<(ServerId, u32, &Entry), Reporters> = BTreeMap::new();
        let arrays: Vec<(ServerId, &Vec<Vec<Option<Stamped>>>)> = replies
            .iter()
            .filter_map(|(s, r)| match r {
                Reply::Arrays { arrays } => Some((*s, arrays)),
                _ => None,
            })
            .collect();
        for (s, arrays) in &arrays {
            for (k, array) in (1..=sizes.n).zip(arrays.iter()) {
                for (i, stamped) in (1..).zip(array) {
                    if let Some(x) = stamped {
                        if self.reads.entry(k, i).is_none() {
                            reports
                                .entry((k, i, &x.entry))
                                .or_default()
                                .push((*s, &x.sig));
                        }
                    }
                }
            }
        }
        for ((k, i, entry), by) in reports {
            if by.len() < need || entry.ts.len() != usize::from(sizes.n) {
                continue;
            }
            let st = Statement::Value { j: k, i, entry };
            let good: Vec<(ServerId, Sig)> = by
                .into_iter()
                .filter(|(s, sig)| keys.verify(*s, t, &st, sig))
                .map(|(s, sig)| (s, sig.clone()))
                .take(need)
                .collect();
            if good.len() == need && self.reads.entry(k, i).is_none() {
                self.reads.learn(k, i, entry.clone());
                self.certs.insert((k, i), good);
            }
        }
        for k in 1..=sizes.n {
            if k != sizes.me {
                let mut top = self.seen[usize::from(k) - 1];
                while self.reads.entry(k, top + 1).is_some() {
                    top += 1;
                }
                self.seen[usize::from(k) - 1] = top;
            }
        }
    }
}

/// The signatures of echo, done or share answers, in server order.
fn sigs(replies: BTreeMap<ServerId, Reply>) -> Vec<(ServerId, Sig)> {
    replies
        .into_iter()
        .filter_map(|(s, r)| match r {
            Reply::Echo { sig } | Reply::Done { sig } | Reply::Share { sig } => Some((s, sig)),
            _ => None,
        })
        .collect()
}

/// Whether `rep` answers `op` and carries a valid signature of its sender on what it should.
fn valid(sizes: &Sizes, keys: &Keys, t: &Ticket, from: ServerId, op: &Op, rep: &Reply) -> bool {
    let me = sizes.me;
    let n = usize::from(sizes.n);
    match (op, rep) {
        (Op::Init { index, entry }, Reply::Gather { d, sig }) => {
            let st = Statement::Gather {
                j: me,
                i: *index,
                ts: &entry.ts,
                d,
            };
            d.len() == n && keys.verify(from, t, &st, sig)
        }
        (Op::Write { index, entry }, Reply::Echo { sig }) => {
            let st = Statement::Echo {
                j: me,
                i: *index,
                entry,
            };
            keys.verify(from, t, &st, sig)
        }
        (Op::Commit { index, entry }, Reply::Done { sig }) => {
            let st = Statement::Value {
                j: me,
                i: *index,
                entry,
            };
            keys.verify(from, t, &st, sig)
        }
        (Op::Scan, Reply::Arrays { arrays }) => arrays.len() == n,
        (Op::Flip { round, .. }, Reply::Share { sig }) => {
            keys.verify(from, t, &Statement::Flip { round: *round }, sig)
        }
        _ => false,
    }
}
