//! What the checker keeps per ticket: σ(τ) with submission times, and every decision — compact,
//! since a streamed run of a million tickets keeps these and nothing else of its history.

use crate::protocol::{Outcome, ServerId, Time};

/// One server's decision about a ticket, as the history recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub server: ServerId,
    /// When the server decided, µs since the run's start.
    pub t_us: Time,
    pub outcome: Outcome,
    /// The protocol's phase (2PE: 1 or 2), `None` for protocols without phases.
    pub phase: Option<u8>,
}

/// Per-ticket facts gathered from a history.
#[derive(Clone, Debug, Default)]
pub struct TicketFacts {
    /// σ(τ): servers that received τ from a user, with the time of every submission at each
    /// (a resubmission to the same server adds a time).
    pub sigma: Sigma,
    /// Every decision about τ, in history order.
    pub decisions: Vec<Decision>,
}

impl TicketFacts {
    /// Validation latencies (µs) of this ticket: each decision at a server answers that
    /// server's oldest unanswered submission (a resubmission is decided at once, so decisions
    /// at one server come in submission order).
    pub fn latencies(&self) -> impl Iterator<Item = Time> + '_ {
        self.sigma.keys().flat_map(move |&server| {
            self.decisions
                .iter()
                .filter(move |d| d.server == server)
                .zip(self.sigma.times(server))
                .map(|(d, t)| d.t_us - t)
        })
    }
}

/// σ(τ) with submission times, compact (a million tickets' facts stay in memory while a
/// streamed run goes on): (server, time) pairs in one vector, ordered by server, each server's
/// times in submission order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sigma(Vec<(ServerId, Time)>);

impl Sigma {
    /// A submission of τ to `server` at `t`.
    pub fn add(&mut self, server: ServerId, t: Time) {
        let at = self.0.partition_point(|&(s, _)| s <= server);
        self.0.insert(at, (server, t));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The servers of σ(τ), in order, each once.
    pub fn keys(&self) -> impl Iterator<Item = &ServerId> + '_ {
        let pairs = self.0.iter().enumerate();
        pairs
            .filter(|&(i, &(s, _))| i == 0 || self.0[i - 1].0 != s)
            .map(|(_, (s, _))| s)
    }

    /// How many servers σ(τ) has.
    pub fn len(&self) -> usize {
        self.keys().count()
    }

    /// The times τ was submitted to `server`, in order.
    pub fn times(&self, server: ServerId) -> impl Iterator<Item = Time> + '_ {
        let at = self.0.iter().filter(move |p| p.0 == server);
        at.map(|p| p.1)
    }

    /// Every submission, by server, then in order.
    pub fn iter(&self) -> impl Iterator<Item = (ServerId, Time)> + '_ {
        self.0.iter().copied()
    }
}
