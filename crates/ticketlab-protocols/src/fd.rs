//! A heartbeat failure detector of class ◇S (docs/PROTOCOLS.md §3, paper §4 footnote 3).
//!
//! Every `heartbeat` µs a server sends HEARTBEAT to all others and checks its peers: a peer silent
//! for longer than its timeout is suspected. Any message from a peer proves it alive and ends a
//! suspicion; a suspicion that ends was false, so that peer's timeout doubles (eventually no correct
//! server is suspected: the ◇S accuracy in practice). Forced suspicions ([`FailureDetector::force`])
//! come from the fault injector and hold until their deadline whatever the peer says.

use super::{Control, Msg, Out, ServerId, Time, Timer};

#[derive(Debug, Clone)]
pub struct FailureDetector {
    me: ServerId,
    n: u16,
    period: Time,
    timeout: Vec<Time>,
    last_heard: Vec<Time>,
    suspected: Vec<bool>,
    forced_until: Vec<Time>,
}

/// The state as far as `check` can tell it apart: `last_heard` and `timeout` are read only by
/// the heartbeat tick, which `check` never fires (it replaces the detector's timing by explicit
/// suspicion steps), so two detectors that differ only there behave alike in every checked run.
impl std::hash::Hash for FailureDetector {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.me.hash(h);
        self.n.hash(h);
        self.period.hash(h);
        self.suspected.hash(h);
        self.forced_until.hash(h);
    }
}

/// What changed in the detector's output.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FdChange {
    pub suspected: Vec<ServerId>,
    pub unsuspected: Vec<ServerId>,
}

impl FailureDetector {
    pub fn new(me: ServerId, n: u16, period: Time, timeout: Time) -> Self {
        let len = usize::from(n) + 1;
        FailureDetector {
            me,
            n,
            period: period.max(1),
            timeout: vec![timeout.max(1); len],
            last_heard: vec![0; len],
            suspected: vec![false; len],
            forced_until: vec![0; len],
        }
    }

    pub fn start(&mut self, out: &mut Out) {
        out.set_timer(Timer::FdTick, self.period);
    }

    /// Whether `p` is suspected; a server id out of range (a Byzantine server's made-up
    /// origin) is not a server, so never suspected.
    pub fn suspects(&self, p: ServerId) -> bool {
        self.suspected.get(usize::from(p)).copied().unwrap_or(false)
    }

    /// Any message from `from` arrived at `now`.
    pub fn heard_from(&mut self, now: Time, from: ServerId, out: &mut Out) -> FdChange {
        let i = usize::from(from);
        if from == 0 || from > self.n {
            return FdChange::default();
        }
        self.last_heard[i] = now;
        let mut change = FdChange::default();
        if self.suspected[i] && now >= self.forced_until[i] {
            self.suspected[i] = false;
            self.timeout[i] = self.timeout[i].saturating_mul(2);
            out.detector(from, false);
            change.unsuspected.push(from);
        }
        change
    }

    /// The periodic tick: heartbeats out, timeouts checked, timer re-armed.
    pub fn tick(&mut self, now: Time, out: &mut Out) -> FdChange {
        out.send_others(&Msg::Heartbeat);
        out.set_timer(Timer::FdTick, self.period);
        let mut change = FdChange::default();
        for p in 1..=self.n {
            let i = usize::from(p);
            if p == self.me {
                continue;
            }
            let silent = now.saturating_sub(self.last_heard[i]) > self.timeout[i];
            let forced = now < self.forced_until[i];
            if !self.suspected[i] && (silent || forced) {
                self.suspected[i] = true;
                out.detector(p, true);
                change.suspected.push(p);
            } else if self.suspected[i] && !silent && !forced {
                self.suspected[i] = false;
                out.detector(p, false);
                change.unsuspected.push(p);
            }
        }
        change
    }

    /// A timer input of the protocol that owns this detector; only [`Timer::FdTick`] is the
    /// detector's, any other timer changes nothing here.
    pub fn on_timer(&mut self, now: Time, timer: Timer, out: &mut Out) -> FdChange {
        match timer {
            Timer::FdTick => self.tick(now, out),
            Timer::Protocol(_) => FdChange::default(),
        }
    }

    /// A control input: every control command is a failure-detector override.
    pub fn on_control(&mut self, ctl: Control, out: &mut Out) -> FdChange {
        match ctl {
            Control::Suspect { server, until } => self.force(server, until, out),
        }
    }

    /// A false suspicion forced by the fault injector: suspect `p` now and until `until`.
    pub fn force(&mut self, p: ServerId, until: Time, out: &mut Out) -> FdChange {
        let i = usize::from(p);
        let mut change = FdChange::default();
        if p == self.me || p == 0 || p > self.n {
            return change;
        }
        self.forced_until[i] = self.forced_until[i].max(until);
        if !self.suspected[i] {
            self.suspected[i] = true;
            out.detector(p, true);
            change.suspected.push(p);
        }
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_suspected_and_a_message_ends_it_with_a_longer_timeout() {
        let mut out = Out::new(1, 3);
        let mut fd = FailureDetector::new(1, 3, 10, 25);
        fd.start(&mut out);
        assert_eq!(fd.tick(10, &mut out), FdChange::default());
        fd.heard_from(15, 2, &mut out);
        let c = fd.tick(30, &mut out);
        assert_eq!(c.suspected, vec![3]);
        assert!(fd.suspects(3) && !fd.suspects(2));
        let c = fd.heard_from(31, 3, &mut out);
        assert_eq!(c.unsuspected, vec![3]);
        // Timeout for 3 is now 50: silent 40 µs is not enough.
        assert!(fd.tick(71, &mut out).suspected.iter().all(|&p| p != 3));
        assert!(fd.tick(82, &mut out).suspected.contains(&3));
        // Heartbeats went to both others on every tick.
        let hb = out
            .effects
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    crate::Effect::Send {
                        msg: Msg::Heartbeat,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(hb, 2 * 4);
    }

    fn hash_of(fd: &FailureDetector) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        fd.hash(&mut h);
        h.finish()
    }

    /// `check` merges detectors that differ only in what the tick alone reads (last-heard times,
    /// timeouts), never ones that differ in what they suspect or how long a suspicion is forced.
    #[test]
    fn the_state_hash_leaves_out_only_what_the_tick_reads() {
        let mut out = Out::new(1, 3);
        let fresh = FailureDetector::new(1, 3, 10, 25);
        let mut heard = fresh.clone();
        heard.heard_from(7, 2, &mut out);
        heard.timeout[3] = 99;
        assert_eq!(hash_of(&fresh), hash_of(&heard));
        let mut suspecting = fresh.clone();
        suspecting.force(2, 0, &mut out);
        assert_ne!(hash_of(&fresh), hash_of(&suspecting));
        let mut forced = suspecting.clone();
        forced.force(2, 50, &mut out);
        assert_ne!(hash_of(&suspecting), hash_of(&forced));
        for (me, n, period) in [(2, 3, 10), (1, 4, 10), (1, 3, 11)] {
            assert_ne!(
                hash_of(&fresh),
                hash_of(&FailureDetector::new(me, n, period, 25))
            );
        }
    }

    #[test]
    fn server_ids_out_of_range_are_ignored() {
        let mut out = Out::new(1, 3);
        let mut fd = FailureDetector::new(1, 3, 10, 25);
        assert!(!fd.suspects(0) && !fd.suspects(4) && !fd.suspects(200));
        assert_eq!(fd.heard_from(5, 4, &mut out), FdChange::default());
        assert_eq!(fd.heard_from(5, 0, &mut out), FdChange::default());
        assert_eq!(fd.force(4, 50, &mut out), FdChange::default());
        assert!(out.effects.is_empty());
    }

    #[test]
    fn forced_suspicion_holds_until_its_deadline() {
        let mut out = Out::new(1, 3);
        let mut fd = FailureDetector::new(1, 3, 10, 1000);
        assert_eq!(fd.force(2, 50, &mut out).suspected, vec![2]);
        assert!(fd.heard_from(20, 2, &mut out).unsuspected.is_empty());
        assert!(fd.suspects(2));
        assert_eq!(fd.heard_from(60, 2, &mut out).unsuspected, vec![2]);
    }
}
