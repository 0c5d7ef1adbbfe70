//! The untimed model `check` searches: global states, their transitions, and how a transition is
//! computed by running the unchanged protocol code.
//!
//! A global state is: per server, whether it is alive, a fingerprint of its protocol state, its
//! logical clock, a hash chain over its decisions, and one input sequence that reaches that state
//! (a persistent list: the representative path, to rebuild the state and for the replay); the
//! messages in flight per FIFO link; the pending protocol timers; the submissions not made yet;
//! the crash suspicions owed; the false suspicions and crashes left; and the facts the checker
//! reads (submissions, decisions, crashes).
//!
//! Protocols are deterministic and the time a server sees is a function of its own inputs (a
//! per-server logical clock: +1 µs per input, a timer firing no earlier than its deadline), so a
//! server's future is a function of its protocol state (`Protocol::state_hash`, derived `Hash`
//! over everything the state machine holds) and its clock. Two global states with the same
//! fingerprint — per server: alive, protocol-state hash, clock, decisions made (the checker's
//! facts); the links' contents, the timers, the budgets — are the same state up to the facts'
//! timestamps, which makes pruning by fingerprint sound (up to 128-bit hash collisions), and
//! states reached through different input orders merge. A transition changes one server only (or
//! crashes one), so computing it needs that server's protocol object alone: rebuilt by replaying
//! its representative inputs into a fresh state machine, and the effects and resulting state hash
//! of (server state, input) are memoized since many global states share a server state.

use crate::history::Event;
use crate::protocol::{
    Control, Effect, Msg, NodeConfig, Out, Protocol, ProtocolKind, ServerId, Ticket, Time, Timer,
};
use serde::Serialize;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::rc::Rc;

/// A 128-bit fingerprint.
pub type Fp = u128;

/// Fingerprint of server `s`'s protocol state (two SipHash passes with different prefixes).
pub fn fp_protocol(s: ServerId, p: &dyn Protocol) -> Fp {
    let mut a = DefaultHasher::new();
    let mut b = DefaultHasher::new();
    0xC3u8.hash(&mut a);
    0x3Cu8.hash(&mut b);
    s.hash(&mut a);
    s.hash(&mut b);
    p.state_hash(&mut a);
    p.state_hash(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

/// Hash bytes into 128 bits (two SipHash passes with different prefixes).
pub fn fp_bytes(parts: &[&[u8]]) -> Fp {
    let mut a = DefaultHasher::new();
    let mut b = DefaultHasher::new();
    0xA5u8.hash(&mut a);
    0x5Au8.hash(&mut b);
    for p in parts {
        p.hash(&mut a);
        p.hash(&mut b);
    }
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    bincode::serialize(v).expect("protocol values serialize")
}

/// One input of one server.
#[derive(Clone, Debug, Serialize)]
pub enum Input {
    Start,
    Ticket(Ticket),
    Message { from: ServerId, msg: Msg },
    Timer(Timer),
    Control(Control),
}

/// A server's input sequence, newest first, shared between states.
#[derive(Debug)]
pub struct Hist {
    pub input: Input,
    pub now: Time,
    pub prev: Option<Rc<Hist>>,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub alive: bool,
    /// Fingerprint of the protocol state (`Protocol::state_hash`, with the server's id).
    pub hash: Fp,
    /// Hash chain over the decisions this server made (the checker's facts about it).
    pub decided: Fp,
    /// The server's logical clock: the `now` of its last input.
    pub now: Time,
    pub hist: Option<Rc<Hist>>,
}

/// A message on a link.
#[derive(Clone, Debug)]
pub struct Packet {
    pub hash: Fp,
    pub msg: Rc<Msg>,
    /// The step (1-based index along this state's own path; 0 = on_start) that sent it. Not part
    /// of the fingerprint; used to time the replay.
    pub sent_at: u32,
    /// A unique id (not part of the fingerprint), for the replay.
    pub id: u64,
}

/// A pending protocol timer.
#[derive(Clone, Copy, Debug)]
pub struct PendingTimer {
    /// In the server's logical clock.
    pub deadline: Time,
    /// The step that set it (as [`Packet::sent_at`]) and its delay, for the replay.
    pub set_at: u32,
    pub after: Time,
}

/// A transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// A user hands ticket `ticket` (index into the workload) to `server`.
    Submit { ticket: u8, server: ServerId },
    /// The oldest message on link `from` → `to` arrives.
    Deliver { from: ServerId, to: ServerId },
    /// A pending protocol timer of `server` fires.
    Timer { server: ServerId, timer: Timer },
    /// `server` crashes (crash-stop; its messages in flight are lost).
    Crash { server: ServerId },
    /// `by`'s failure detector suspects the crashed `server` (for good: completeness).
    SuspectCrashed { by: ServerId, server: ServerId },
    /// `by`'s failure detector falsely suspects the live `server`, until `by` next hears from it.
    FalseSuspicion { by: ServerId, server: ServerId },
}

/// What the search explores: protocol, cluster size, workload, fault bounds.
#[derive(Clone, Debug)]
pub struct Model {
    pub protocol: ProtocolKind,
    pub n: u16,
    /// Ticket names and the servers each is submitted to.
    pub tickets: Vec<(Ticket, Vec<ServerId>)>,
    pub crashes: u8,
    pub suspicions: u8,
    /// Protocol timer firings allowed per server along one path. A protocol that retries on
    /// timers (qlock-backoff's backoff) has an unbounded state space; this bounds it. Per server,
    /// so that timer steps of different servers stay independent (partial-order reduction).
    pub timers: u8,
    /// The node configuration every state machine is built with (the replay scenario matches it).
    pub cfg: NodeConfig,
}

impl Model {
    /// (ticket index, server) of every submission, in a fixed order; bit i of
    /// [`State::submits`] is submission i.
    pub fn submissions(&self) -> Vec<(u8, ServerId)> {
        self.tickets
            .iter()
            .enumerate()
            .flat_map(|(i, (_, servers))| servers.iter().map(move |&s| (i as u8, s)))
            .collect()
    }

    pub fn link(&self, from: ServerId, to: ServerId) -> usize {
        usize::from(from - 1) * usize::from(self.n) + usize::from(to - 1)
    }

    /// The (by, server) of a link index.
    fn pair(&self, p: u8) -> (ServerId, ServerId) {
        let n = usize::from(self.n);
        let p = usize::from(p);
        ((p / n) as ServerId + 1, (p % n) as ServerId + 1)
    }

    fn pair_bit(&self, by: ServerId, server: ServerId) -> u64 {
        1u64 << self.link(by, server)
    }
}

/// A global state.
#[derive(Clone, Debug)]
pub struct State {
    /// Servers s_1..s_n at indices 0..n.
    pub nodes: Vec<Node>,
    /// Link (from, to) at index (from−1)·n + (to−1).
    pub links: Vec<VecDeque<Packet>>,
    pub timers: BTreeMap<(ServerId, Timer), PendingTimer>,
    /// Submissions not made yet (bit i = `Model::submissions()[i]`).
    pub submits: u32,
    /// Crash suspicions owed: bit of link (by, server).
    pub owed: u64,
    /// Servers planned to crash that have not yet (bit s−1): each crash transition is enabled
    /// until it happens. A run without that crash is another plan's.
    pub crash_plan: u8,
    /// False suspicions planned, not yet made: (by, server) as link indices, sorted, with
    /// multiplicity.
    pub fs_plan: Vec<u8>,
    /// Crashes injected (protocol halts not counted).
    pub crashed_injected: u8,
    /// Protocol timer firings left per server (index s − 1; [`Model::timers`]).
    pub timers_left: [u8; 8],
    /// Submissions, decisions and crashes so far (the checker's input), `t_us` = step index.
    pub facts: Rc<Vec<Event>>,
    /// Steps from the initial state along this state's path.
    pub depth: u32,
}

impl State {
    pub fn fingerprint(&self) -> Fp {
        let mut bytes: Vec<u8> = Vec::with_capacity(256);
        for node in &self.nodes {
            bytes.push(u8::from(node.alive));
            bytes.extend_from_slice(&node.hash.to_le_bytes());
            bytes.extend_from_slice(&node.decided.to_le_bytes());
            bytes.extend_from_slice(&node.now.to_le_bytes());
        }
        for link in &self.links {
            bytes.extend_from_slice(&(link.len() as u32).to_le_bytes());
            for p in link {
                bytes.extend_from_slice(&p.hash.to_le_bytes());
            }
        }
        for ((s, t), p) in &self.timers {
            bytes.extend_from_slice(&encode(&(s, t, p.deadline)));
        }
        bytes.extend_from_slice(&self.submits.to_le_bytes());
        bytes.extend_from_slice(&self.owed.to_le_bytes());
        bytes.push(self.crash_plan);
        bytes.extend_from_slice(&self.timers_left);
        bytes.push(self.fs_plan.len() as u8);
        bytes.extend_from_slice(&self.fs_plan);
        fp_bytes(&[&bytes])
    }

    pub fn alive(&self, s: ServerId) -> bool {
        self.nodes[usize::from(s - 1)].alive
    }
}

/// Counters of the work done.
#[derive(Clone, Debug, Default)]
pub struct Work {
    /// Protocol calls made (rebuilding server states included).
    pub protocol_calls: u64,
    pub memo_hits: u64,
    /// Protocol halts (`Effect::Halt`) met.
    pub halts: u64,
}

/// Computes transitions, with the effects memo.
pub struct Engine {
    pub model: Model,
    submissions: Vec<(u8, ServerId)>,
    /// (protocol state, input) → (effects, protocol state after).
    memo: HashMap<(Fp, Fp), Memo>,
    next_packet: u64,
    pub work: Work,
}

/// A memoized transition of one server: its effects and its protocol state's fingerprint after.
type Memo = (Rc<Vec<Effect>>, Fp);

/// Entries kept in the effects memo before it is cleared (bounds its memory).
const MEMO_LIMIT: usize = 4_000_000;

impl Engine {
    pub fn new(model: Model) -> Self {
        let submissions = model.submissions();
        Engine {
            model,
            submissions,
            memo: HashMap::new(),
            next_packet: 0,
            work: Work::default(),
        }
    }

    /// The initial state with no fault planned: every server started (at time 0), nothing
    /// submitted.
    pub fn initial(&mut self) -> State {
        let n = self.model.n;
        let nn = usize::from(n) * usize::from(n);
        let mut st = State {
            nodes: (1..=n)
                .map(|s| Node {
                    alive: true,
                    hash: fp_bytes(&[b"fresh", &s.to_le_bytes()]),
                    decided: 0,
                    now: 0,
                    hist: None,
                })
                .collect(),
            links: vec![VecDeque::new(); nn],
            timers: BTreeMap::new(),
            submits: (1u32 << self.submissions.len()) - 1,
            owed: 0,
            crash_plan: 0,
            fs_plan: Vec::new(),
            crashed_injected: 0,
            timers_left: [self.model.timers; 8],
            facts: Rc::new(Vec::new()),
            depth: 0,
        };
        for s in 1..=n {
            self.input(&mut st, s, Input::Start, 0);
        }
        st
    }

    /// One initial state per fault plan: every set of at most `crashes` servers to crash, times
    /// every multiset of at most `suspicions` false suspicions (by, server). Planned faults
    /// happen at some point of every run from that state; the runs where they do not are those
    /// of smaller plans.
    pub fn initials(&mut self) -> Vec<State> {
        let n = self.model.n;
        let base = self.initial();
        let mut crash_sets: Vec<u8> = (0u16..(1 << n))
            .map(|m| m as u8)
            .filter(|m| m.count_ones() <= u32::from(self.model.crashes))
            .collect();
        crash_sets.sort_by_key(|m| (m.count_ones(), *m));
        let pairs: Vec<u8> = (1..=n)
            .flat_map(|by| (1..=n).filter(move |&s| s != by).map(move |s| (by, s)))
            .map(|(by, s)| self.model.link(by, s) as u8)
            .collect();
        let mut fs_sets: Vec<Vec<u8>> = vec![Vec::new()];
        let mut last: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..self.model.suspicions {
            let mut grown = Vec::new();
            for v in &last {
                for &p in &pairs {
                    if v.last().is_none_or(|&l| l <= p) {
                        let mut w = v.clone();
                        w.push(p);
                        grown.push(w);
                    }
                }
            }
            fs_sets.extend(grown.iter().cloned());
            last = grown;
        }
        let mut out = Vec::new();
        for &c in &crash_sets {
            for f in &fs_sets {
                let mut st = base.clone();
                st.crash_plan = c;
                st.fs_plan = f.clone();
                out.push(st);
            }
        }
        out
    }

    /// The enabled transitions, in a fixed order.
    pub fn enabled(&self, st: &State) -> Vec<Step> {
        let n = self.model.n;
        let mut v = Vec::new();
        for (i, &(ticket, server)) in self.submissions.iter().enumerate() {
            if st.submits & (1 << i) != 0 && st.alive(server) {
                v.push(Step::Submit { ticket, server });
            }
        }
        for from in 1..=n {
            for to in 1..=n {
                if from != to && !st.links[self.model.link(from, to)].is_empty() {
                    v.push(Step::Deliver { from, to });
                }
            }
        }
        for &(server, timer) in st.timers.keys() {
            if st.timers_left[usize::from(server - 1)] > 0 {
                v.push(Step::Timer { server, timer });
            }
        }
        for by in 1..=n {
            for server in 1..=n {
                if st.owed & self.model.pair_bit(by, server) != 0 {
                    v.push(Step::SuspectCrashed { by, server });
                }
            }
        }
        let mut prev = None;
        for &p in &st.fs_plan {
            if prev == Some(p) {
                continue;
            }
            prev = Some(p);
            let (by, server) = self.model.pair(p);
            if st.alive(by) {
                v.push(Step::FalseSuspicion { by, server });
            }
        }
        for server in 1..=n {
            if st.crash_plan & (1 << (server - 1)) != 0 && st.alive(server) {
                v.push(Step::Crash { server });
            }
        }
        v
    }

    /// The server a transition is an input of (a crash: the crashed server).
    pub fn node_of(step: &Step) -> ServerId {
        match *step {
            Step::Submit { server, .. } | Step::Timer { server, .. } | Step::Crash { server } => {
                server
            }
            Step::Deliver { to, .. } => to,
            Step::SuspectCrashed { by, .. } | Step::FalseSuspicion { by, .. } => by,
        }
    }

    /// A persistent subset of `enabled` (partial-order reduction): the enabled transitions of a
    /// set N of servers closed under
    /// - a server planned to crash (alive) is in N, and so is every server with a message in
    ///   flight from it (its crash would disable that delivery);
    /// - if m is in N, every live server k with an empty link k → m is in N (a step of k could
    ///   send m a new input).
    ///
    /// Then no sequence of transitions of servers outside N can enable or disable an input of N,
    /// nor fail to commute with one (they touch other servers' states; a message they send to N
    /// goes behind one already in flight, on a link whose delivery is in the set). So every
    /// terminal state stays reachable (the state graph is acyclic: every step consumes an
    /// input), and every state the reduced search meets is reachable. Of the candidate sets
    /// (one per seed server), the smallest is taken. Assumes no protocol halts itself: a halt
    /// of a server outside N would drop its messages to N (the search restarts without the
    /// reduction if a halt is ever seen).
    pub fn persistent(&self, st: &State, enabled: &[Step]) -> Vec<Step> {
        let n = self.model.n;
        let mut best: Option<u32> = None;
        let mut best_count = usize::MAX;
        let mut seeds = 0u32;
        for step in enabled {
            seeds |= 1 << (Self::node_of(step) - 1);
        }
        for j in 1..=n {
            if seeds & (1 << (j - 1)) == 0 {
                continue;
            }
            let mut set: u32 = 1 << (j - 1);
            loop {
                let before = set;
                for c in 1..=n {
                    if st.crash_plan & (1 << (c - 1)) != 0 && st.alive(c) {
                        set |= 1 << (c - 1);
                        for k in 1..=n {
                            if k != c && !st.links[self.model.link(c, k)].is_empty() {
                                set |= 1 << (k - 1);
                            }
                        }
                    }
                }
                for m in 1..=n {
                    if set & (1 << (m - 1)) == 0 || !st.alive(m) {
                        continue;
                    }
                    for k in 1..=n {
                        if k != m && st.alive(k) && st.links[self.model.link(k, m)].is_empty() {
                            set |= 1 << (k - 1);
                        }
                    }
                }
                if set == before {
                    break;
                }
            }
            let count = enabled
                .iter()
                .filter(|s| set & (1 << (Self::node_of(s) - 1)) != 0)
                .count();
            if count < best_count {
                best_count = count;
                best = Some(set);
            }
        }
        match best {
            Some(set) => enabled
                .iter()
                .copied()
                .filter(|s| set & (1 << (Self::node_of(s) - 1)) != 0)
                .collect(),
            None => enabled.to_vec(),
        }
    }

    /// The state after `step` (enabled in `st`); the bool says whether the checker's facts changed.
    pub fn apply(&mut self, st: &State, step: Step) -> (State, bool) {
        let mut next = st.clone();
        next.depth += 1;
        let facts_before = next.facts.len();
        match step {
            Step::Submit { ticket, server } => {
                let i = self
                    .submissions
                    .iter()
                    .position(|&x| x == (ticket, server))
                    .expect("a known submission");
                next.submits &= !(1 << i);
                let t = self.model.tickets[usize::from(ticket)].0.clone();
                Rc::make_mut(&mut next.facts).push(Event::Submit {
                    t_us: Time::from(next.depth),
                    ticket: t.clone(),
                    server,
                });
                let now = next.nodes[usize::from(server - 1)].now + 1;
                self.input(&mut next, server, Input::Ticket(t), now);
            }
            Step::Deliver { from, to } => {
                let p = next.links[self.model.link(from, to)]
                    .pop_front()
                    .expect("an enabled delivery");
                let now = next.nodes[usize::from(to - 1)].now + 1;
                let msg = Rc::try_unwrap(p.msg).unwrap_or_else(|rc| (*rc).clone());
                self.input(&mut next, to, Input::Message { from, msg }, now);
            }
            Step::Timer { server, timer } => {
                let t = next
                    .timers
                    .remove(&(server, timer))
                    .expect("an enabled timer");
                next.timers_left[usize::from(server - 1)] -= 1;
                let now = (next.nodes[usize::from(server - 1)].now + 1).max(t.deadline);
                self.input(&mut next, server, Input::Timer(timer), now);
            }
            Step::Crash { server } => {
                next.crash_plan &= !(1 << (server - 1));
                next.crashed_injected += 1;
                self.crash(&mut next, server);
            }
            Step::SuspectCrashed { by, server } => {
                next.owed &= !self.model.pair_bit(by, server);
                let now = next.nodes[usize::from(by - 1)].now + 1;
                let ctl = Control::Suspect {
                    server,
                    until: Time::MAX,
                };
                self.input(&mut next, by, Input::Control(ctl), now);
            }
            Step::FalseSuspicion { by, server } => {
                let pair = self.model.link(by, server) as u8;
                if let Some(i) = next.fs_plan.iter().position(|&p| p == pair) {
                    next.fs_plan.remove(i);
                }
                let now = next.nodes[usize::from(by - 1)].now + 1;
                // Until `now`: the next message from `server` (at a later `now`) ends it.
                let ctl = Control::Suspect { server, until: now };
                self.input(&mut next, by, Input::Control(ctl), now);
            }
        }
        let changed = next.facts.len() != facts_before;
        (next, changed)
    }

    /// `s` stops: its links, timers and owed suspicions go; every live server owes a suspicion
    /// of it; its submissions not made yet will be refused.
    fn crash(&self, st: &mut State, s: ServerId) {
        let n = self.model.n;
        st.nodes[usize::from(s - 1)].alive = false;
        for other in 1..=n {
            if other != s {
                st.links[self.model.link(s, other)].clear();
                st.links[self.model.link(other, s)].clear();
                st.owed &= !self.model.pair_bit(s, other);
                st.owed &= !self.model.pair_bit(other, s);
                if st.alive(other) {
                    st.owed |= self.model.pair_bit(other, s);
                }
            }
        }
        st.timers.retain(|(server, _), _| *server != s);
        st.crash_plan &= !(1 << (s - 1));
        let n = usize::from(self.model.n);
        st.fs_plan
            .retain(|&p| usize::from(p) / n + 1 != usize::from(s));
        for (i, &(_, server)) in self.submissions.iter().enumerate() {
            if server == s {
                st.submits &= !(1 << i);
            }
        }
        Rc::make_mut(&mut st.facts).push(Event::Crash {
            t_us: Time::from(st.depth),
            server: s,
        });
    }

    /// `s` consumes `input` at `now`: its hash chain grows, its effects are carried out.
    fn input(&mut self, st: &mut State, s: ServerId, input: Input, now: Time) {
        let idx = usize::from(s - 1);
        let node = &st.nodes[idx];
        let input_fp = fp_bytes(&[&encode(&input), &now.to_le_bytes()]);
        let key = (node.hash, input_fp);
        let (effects, after) = match self.memo.get(&key) {
            Some(e) => {
                self.work.memo_hits += 1;
                e.clone()
            }
            None => {
                let mut p = self.rebuild(s, node.hist.as_ref());
                let e = Rc::new(self.call(&mut *p, s, &input, now));
                let after = fp_protocol(s, &*p);
                if self.memo.len() >= MEMO_LIMIT {
                    self.memo.clear();
                }
                self.memo.insert(key, (e.clone(), after));
                (e, after)
            }
        };
        let node = &mut st.nodes[idx];
        node.hash = after;
        node.now = now;
        node.hist = Some(Rc::new(Hist {
            input,
            now,
            prev: node.hist.take(),
        }));
        let depth = st.depth;
        for e in effects.iter() {
            match e {
                Effect::Send { to, msg } => {
                    if matches!(msg, Msg::Heartbeat) || !st.alive(*to) {
                        continue;
                    }
                    let hash = fp_bytes(&[&encode(msg)]);
                    self.next_packet += 1;
                    st.links[self.model.link(s, *to)].push_back(Packet {
                        hash,
                        msg: Rc::new(msg.clone()),
                        sent_at: depth,
                        id: self.next_packet,
                    });
                }
                // The heartbeat detector is replaced by explicit suspicion transitions.
                Effect::SetTimer {
                    timer: Timer::FdTick,
                    ..
                }
                | Effect::CancelTimer {
                    timer: Timer::FdTick,
                } => {}
                Effect::SetTimer { timer, after } => {
                    st.timers.insert(
                        (s, *timer),
                        PendingTimer {
                            deadline: now.saturating_add(*after),
                            set_at: depth,
                            after: *after,
                        },
                    );
                }
                Effect::CancelTimer { timer } => {
                    st.timers.remove(&(s, *timer));
                }
                Effect::Decide {
                    ticket,
                    outcome,
                    phase,
                    ..
                } => {
                    let node = &mut st.nodes[idx];
                    node.decided = fp_bytes(&[
                        &node.decided.to_le_bytes(),
                        &encode(&(ticket, outcome, phase)),
                    ]);
                    Rc::make_mut(&mut st.facts).push(Event::Decide {
                        t_us: Time::from(depth),
                        ticket: ticket.clone(),
                        server: s,
                        outcome: *outcome,
                        phase: *phase,
                        why: None,
                    });
                }
                Effect::Note { .. } | Effect::Detector { .. } => {}
                Effect::Halt => {
                    self.work.halts += 1;
                    self.crash(st, s);
                    break;
                }
            }
        }
    }

    /// A fresh state machine for `s` fed its inputs, oldest first.
    fn rebuild(&mut self, s: ServerId, hist: Option<&Rc<Hist>>) -> Box<dyn Protocol> {
        let mut cfg = self.model.cfg.clone();
        cfg.me = s;
        let mut p = self.model.protocol.build(&cfg);
        let mut chain = Vec::new();
        let mut h = hist;
        while let Some(x) = h {
            chain.push(x);
            h = x.prev.as_ref();
        }
        if chain.is_empty() {
            return p;
        }
        for x in chain.into_iter().rev() {
            self.call(&mut *p, s, &x.input, x.now);
        }
        p
    }

    fn call(&mut self, p: &mut dyn Protocol, s: ServerId, input: &Input, now: Time) -> Vec<Effect> {
        self.work.protocol_calls += 1;
        let mut out = Out::new(s, self.model.n);
        match input {
            Input::Start => p.on_start(now, &mut out),
            Input::Ticket(t) => p.on_ticket(now, t.clone(), &mut out),
            Input::Message { from, msg } => p.on_message(now, *from, msg.clone(), &mut out),
            Input::Timer(t) => p.on_timer(now, *t, &mut out),
            Input::Control(c) => p.on_control(now, c.clone(), &mut out),
        }
        out.effects
    }
}
