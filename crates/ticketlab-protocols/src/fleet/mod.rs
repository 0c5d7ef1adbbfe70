//! `bft-fleet`: exactly-one e-ticket validation through Fleet's consensus object (Malkhi–Reiter,
//! "Fleet", §3.2(3), §4–5), tolerating b < n/4 Byzantine servers.
//!
//! Every server plays both of Fleet's roles. As a *server* it stores, per ticket τ, one timed
//! append-only array (TAOA) per server (`server.rs`, [`Arrays`]). As a *client* — only for the
//! tickets users handed to it, its claims — it runs the randomized consensus protocol of Fig. 5 on those arrays,
//! proposing its own id, and accepts τ iff the object decides its id (`client.rs`; Fig. 5 itself
//! is [`step`], judged on others by [`Justifier`], in `rules.rs`).
//!
//! Every client operation is a quorum RPC (Q-RPC): the request goes to the n−1 others (the
//! client's own server answers locally), and the first q = ⌈(n+2b+1)/2⌉ answers (b-masking
//! quorums, |Q₁∩Q₂| ≥ 2b+1, n > 4b) complete it. An append is three Q-RPCs (init/gather,
//! write/echo, commit/done, Fig. 4), a global read (`Last`) is one scan Q-RPC (§4.1's "one large
//! scan"), a flip one more (§5.4).
//!
//! Signatures are real ed25519 ([`Keys`]): gathers, echoes, stored values and flip shares are
//! signed by the server that produced them, because clients forward them to other servers.
//! Keys are derived from the run's seed, so the simulator stays deterministic. The paper's
//! (b+1, n) threshold signature for `flip` is a set of b+1 ordinary signatures (the b+1
//! lowest-numbered signers among a Q-RPC's answers): unpredictable without b+1 servers, like the
//! paper's, but two clients that gathered different signers get different flips — that costs
//! rounds, never agreement, which needs nothing of the coin but that it returns a proposed value.
//!
//! Two deviations from the paper's text, both \[reconstructed\] and argued in docs/seeds/fleet.md:
//! the initial append ⟨0, pref⟩ is line 2 of a full round 0 (no decision in round 0), because
//! deciding in round 1 right after a lone ⟨0, pref⟩ append (the paper's "four append and three
//! Last") lets a late proposer that never read the decider pick its own value by coin; and
//! justification (§5.1) is checked by replaying Fig. 5 on the appender's timestamps, accepting
//! any proposed value for a coin.

mod client;
mod rules;
mod server;

use crate::{Msg, NodeConfig, Out, Outcome, Protocol, ServerId, Ticket, Time, Timer};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

pub use rules::{step, Action, Justifier, Obs, Pos, St, Val};
pub use server::Arrays;

/// An ed25519 signature (64 bytes), as sent.
pub type Sig = Vec<u8>;

/// One array element: the value ⟨round, val⟩ appended with its timestamp vector `ts` (ts[k−1]
/// is how far the appender had read τ_k when it appended).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entry {
    pub round: u32,
    pub val: Val,
    pub ts: Vec<u32>,
}

/// An element as a server stores it, with that server's signature on "element i of τ_j is entry".
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stamped {
    pub entry: Entry,
    pub sig: Sig,
}

/// Proof that element i of τ_j holds `entry`: b+1 servers' signatures on it (Fig. 3's C_{j,i}).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cert {
    pub array: ServerId,
    pub index: u32,
    pub entry: Entry,
    pub sigs: Vec<(ServerId, Sig)>,
}

/// A client's request to the servers (one Q-RPC).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Request {
    /// Append, first Q-RPC: ⟨τ_j-appendinit : i, t⟩ with the certificates for t.
    Init {
        index: u32,
        ts: Vec<u32>,
        certs: Vec<Cert>,
    },
    /// Append, second Q-RPC: the value and the q signed gathers of the first.
    Write {
        index: u32,
        entry: Entry,
        gathers: Vec<(ServerId, Vec<u32>, Sig)>,
    },
    /// Append, third Q-RPC: the q signed echoes.
    Commit {
        index: u32,
        entry: Entry,
        echoes: Vec<(ServerId, Sig)>,
    },
    /// `Last`: every array, whole.
    Scan,
    /// `flip` for round r: a signature share on "flip r".
    Flip { round: u32 },
}

/// A server's answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reply {
    /// ⟨τ_j-gather : i, t, D_u⟩_u.
    Gather { d: Vec<u32>, sig: Sig },
    /// ⟨τ_j-echo : i, v, t⟩_u.
    Echo { sig: Sig },
    /// The element is stored; `sig` is the server's signature on it (a certificate share).
    Done { sig: Sig },
    /// The server's arrays: `arrays[k−1][i−1]` is its element i of τ_k, if it has it.
    Arrays { arrays: Vec<Vec<Option<Stamped>>> },
    /// A share of the round's flip.
    Share { sig: Sig },
}

impl Request {
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Init { .. } => "FL-INIT",
            Request::Write { .. } => "FL-WRITE",
            Request::Commit { .. } => "FL-COMMIT",
            Request::Scan => "FL-SCAN",
            Request::Flip { .. } => "FL-FLIP",
        }
    }
}

impl Reply {
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Gather { .. } => "FL-GATHER",
            Reply::Echo { .. } => "FL-ECHO",
            Reply::Done { .. } => "FL-DONE",
            Reply::Arrays { .. } => "FL-ARRAYS",
            Reply::Share { .. } => "FL-SHARE",
        }
    }
}

/// What a server signs: each statement names its kind, the ticket and the array, so a signature
/// never stands for another statement.
enum Statement<'a> {
    Gather {
        j: ServerId,
        i: u32,
        ts: &'a [u32],
        d: &'a [u32],
    },
    Echo {
        j: ServerId,
        i: u32,
        entry: &'a Entry,
    },
    Value {
        j: ServerId,
        i: u32,
        entry: &'a Entry,
    },
    Flip {
        round: u32,
    },
}

impl Statement<'_> {
    fn bytes(&self, ticket: &Ticket) -> Vec<u8> {
        fn nums(b: &mut Vec<u8>, xs: &[u32]) {
            b.extend((xs.len() as u32).to_le_bytes());
            for x in xs {
                b.extend(x.to_le_bytes());
            }
        }
        fn entry(b: &mut Vec<u8>, e: &Entry) {
            b.extend(e.round.to_le_bytes());
            b.extend(match e.val {
                Val::Bot => [0, 0, 0],
                Val::Id(s) => {
                    let [lo, hi] = s.to_le_bytes();
                    [1, lo, hi]
                }
            });
            nums(b, &e.ts);
        }
        let mut b = b"ticketlab/bft-fleet/".to_vec();
        let (tag, j, i): (&[u8], ServerId, u32) = match self {
            Statement::Gather { j, i, .. } => (b"gather", *j, *i),
            Statement::Echo { j, i, .. } => (b"echo", *j, *i),
            Statement::Value { j, i, .. } => (b"value", *j, *i),
            Statement::Flip { round } => (b"flip", 0, *round),
        };
        b.extend(tag);
        b.push(0);
        b.extend((ticket.0.len() as u32).to_le_bytes());
        b.extend(ticket.0.as_bytes());
        b.extend(j.to_le_bytes());
        b.extend(i.to_le_bytes());
        match self {
            Statement::Gather { ts, d, .. } => {
                nums(&mut b, ts);
                nums(&mut b, d);
            }
            Statement::Echo { entry: e, .. } | Statement::Value { entry: e, .. } => {
                entry(&mut b, e)
            }
            Statement::Flip { .. } => {}
        }
        b
    }
}

/// This server's signing key and every server's verifying key, derived from the run's seed
/// (SHA-256 of a label, the seed and the server id): deterministic, so a simulated run is a
/// function of its seed. The security issue's run secret is what a real deployment would use.
pub struct Keys {
    signing: SigningKey,
    verifying: Vec<VerifyingKey>,
}

impl Keys {
    pub fn derive(seed: u64, me: ServerId, n: u16) -> Self {
        let key = |s: ServerId| {
            let mut h = Sha256::new();
            h.update(b"ticketlab/bft-fleet/key");
            h.update(seed.to_le_bytes());
            h.update(s.to_le_bytes());
            SigningKey::from_bytes(&h.finalize().into())
        };
        Keys {
            signing: key(me),
            verifying: (1..=n).map(|s| key(s).verifying_key()).collect(),
        }
    }

    fn sign(&self, ticket: &Ticket, st: &Statement) -> Sig {
        self.signing.sign(&st.bytes(ticket)).to_bytes().to_vec()
    }

    /// Whether `sig` is `signer`'s signature on `st` (false for a server that does not exist).
    fn verify(&self, signer: ServerId, ticket: &Ticket, st: &Statement, sig: &[u8]) -> bool {
        let Some(key) = self.verifying.get(usize::from(signer).wrapping_sub(1)) else {
            return false;
        };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        key.verify(&st.bytes(ticket), &sig).is_ok()
    }
}

/// The sizes every part works with.
#[derive(Clone, Copy, Debug, Hash)]
struct Sizes {
    me: ServerId,
    n: u16,
    /// b, the Byzantine servers masked.
    b: u16,
    /// The Q-RPC quorum ⌈(n+2b+1)/2⌉.
    q: u16,
}

/// The masking quorum for b Byzantine servers among n: ⌈(n+2b+1)/2⌉ (Fleet §3.1).
pub fn quorum(n: u16, b: u16) -> u16 {
    (n + 2 * b + 1).div_ceil(2)
}

/// One ticket's consensus object at this server: the arrays it stores, and its client if it
/// claims the ticket.
#[derive(Hash)]
struct Object {
    server: server::Arrays,
    client: Option<client::Client>,
}

/// `bft-fleet` (see the module doc).
pub struct Fleet {
    sizes: Sizes,
    keys: Keys,
    objects: BTreeMap<Ticket, Object>,
}

impl Fleet {
    pub fn new(cfg: &NodeConfig) -> Self {
        let b = cfg.byzantine;
        Fleet {
            sizes: Sizes {
                me: cfg.me,
                n: cfg.n,
                b,
                q: quorum(cfg.n, b),
            },
            keys: Keys::derive(cfg.seed, cfg.me, cfg.n),
            objects: BTreeMap::new(),
        }
    }

    fn object(&mut self, ticket: &Ticket) -> &mut Object {
        let n = self.sizes.n;
        self.objects
            .entry(ticket.clone())
            .or_insert_with(|| Object {
                server: server::Arrays::new(n),
                client: None,
            })
    }

    /// Let the ticket's client act on what it has, and report its decision once.
    fn drive(&mut self, ticket: &Ticket, out: &mut Out) {
        let (sizes, keys) = (self.sizes, &self.keys);
        let Some(o) = self.objects.get_mut(ticket) else {
            return;
        };
        let Some(c) = o.client.as_mut() else {
            return;
        };
        let mut cx = client::Ctx {
            sizes: &sizes,
            keys,
            ticket,
            server: &mut o.server,
            out,
        };
        if let Some(winner) = c.advance(&mut cx) {
            let outcome = if winner == sizes.me {
                Outcome::Accept
            } else {
                Outcome::Reject
            };
            out.decide(ticket.clone(), outcome, None);
        }
    }
}

impl Protocol for Fleet {
    fn on_start(&mut self, _now: Time, _out: &mut Out) {}

    fn on_ticket(&mut self, _now: Time, ticket: Ticket, out: &mut Out) {
        let sizes = self.sizes;
        let o = self.object(&ticket);
        if o.client.is_some() {
            // A resubmission to the same server: it proposed once already.
            out.decide(ticket, Outcome::Reject, None);
            return;
        }
        o.client = Some(client::Client::new(&sizes));
        self.drive(&ticket, out);
    }

    fn on_message(&mut self, _now: Time, from: ServerId, msg: Msg, out: &mut Out) {
        match msg {
            Msg::FlRequest { ticket, rpc, req } => {
                let (sizes, keys) = (self.sizes, &self.keys);
                let o = self
                    .objects
                    .entry(ticket.clone())
                    .or_insert_with(|| Object {
                        server: server::Arrays::new(sizes.n),
                        client: None,
                    });
                if let Some(rep) = o.server.serve(&sizes, keys, &ticket, from, req) {
                    out.send(from, Msg::FlReply { ticket, rpc, rep });
                }
            }
            Msg::FlReply { ticket, rpc, rep } => {
                let (sizes, keys) = (self.sizes, &self.keys);
                if let Some(c) = self
                    .objects
                    .get_mut(&ticket)
                    .and_then(|o| o.client.as_mut())
                {
                    c.reply(&sizes, keys, &ticket, from, rpc, rep);
                    self.drive(&ticket, out);
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, _now: Time, _timer: Timer, _out: &mut Out) {}

    fn on_control(&mut self, _now: Time, _ctl: crate::Control, _out: &mut Out) {}

    fn state_hash(&self, mut h: &mut dyn Hasher) {
        // The keys follow from the configuration; the objects are the state.
        self.objects.hash(&mut h);
    }
}
